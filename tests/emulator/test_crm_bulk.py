"""Large data: ``deals=N`` synthetic deals, count-free export, overlay writes, and persistence with ``state``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from b24crm.testing import Emulator
from tests.emulator.conftest import Portal, Raw

DEALS = 3000
CLI = "import sys; from b24crm.testing.cli import main; sys.exit(main(sys.argv[1:]))"


def export(portal: Portal, method: str, params: dict[str, Any], id_key: str) -> list[int]:
    """The documented bulk read: order by ID, ``>ID`` the last one seen, ``start=-1``, until a short page."""
    seen: list[int] = []
    while True:
        flt = {**params.get("filter", {}), ">" + id_key: seen[-1] if seen else 0}
        body = portal.ok(method, {**params, "filter": flt, "order": {id_key: "ASC"}, "start": -1})
        page = body["result"]["items"] if method == "crm.item.list" else body["result"]
        assert "next" not in body
        seen += [int(row[id_key]) for row in page]
        if len(page) < 50:
            return seen


def test_synthetic_deals_export_count_free_through_both_apis() -> None:
    with Emulator(seed="empty", deals=DEALS) as emu:
        portal = Portal(emu)
        classic = export(portal, "crm.deal.list", {"select": ["ID", "STAGE_ID", "UF_*"]}, "ID")
        assert classic == list(range(1, DEALS + 1))
        items = export(portal, "crm.item.list", {"entityTypeId": 2, "select": ["id"]}, "id")
        assert items == classic
        assert emu.stats()["counted_pages"] == 0
        counted = portal.ok("crm.deal.list", {"filter": {">ID": 100, "<=ID": 200}})
        assert counted["total"] == 100 and counted["next"] == 50
        won = portal.ok("crm.deal.list", {"filter": {"STAGE_ID": "WON"}, "select": ["ID", "STAGE_ID", "CLOSED"]})
        assert won["total"] > 0 and all(d["STAGE_ID"] == "WON" and d["CLOSED"] == "Y" for d in won["result"])
        deal = portal.ok("crm.deal.get", {"id": 7})["result"]
        assert deal["TITLE"] == "Deal #7" and deal["UF_CRM_1700000000"] == "EXT-000007"
        stages = {
            r["STATUS_ID"] for r in portal.ok("crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE"}})["result"]
        }
        assert deal["STAGE_ID"] in stages
        portal.raw.close()


def test_synthetic_deals_change_and_persist(tmp_path: Path) -> None:
    state = str(tmp_path / "portal.sqlite")
    with Emulator(seed="empty", deals=DEALS, state=state) as emu:
        portal = Portal(emu)
        portal.ok("crm.deal.update", {"id": 10, "fields": {"TITLE": "Changed", "STAGE_ID": "PREPARATION"}})
        portal.ok("crm.deal.delete", {"id": 11})
        added = portal.ok("crm.deal.add", {"fields": {"TITLE": "After the synthetic ones"}})["result"]
        assert added == DEALS + 1
        portal.raw.close()
    with Emulator(seed="empty", deals=DEALS, state=state) as emu:
        portal = Portal(emu)
        assert portal.ok("crm.deal.get", {"id": 10})["result"]["TITLE"] == "Changed"
        assert portal.call("crm.deal.get", {"id": 11}).status == 400
        assert portal.ok("crm.deal.get", {"id": added})["result"]["TITLE"] == "After the synthetic ones"
        total = portal.ok("crm.deal.list", {"select": ["ID"]})["total"]
        assert total == DEALS  # one deleted, one added
        history = portal.ok("crm.stagehistory.list", {"entityTypeId": 2, "filter": {"OWNER_ID": 10}})["result"]
        assert [r["STAGE_ID"] for r in history["items"]] == ["PREPARATION"]
        portal.raw.close()


def test_cli_deals_option() -> None:
    from b24crm.testing.cli import main

    assert main(["--deals", "-1"]) == 2
    process = subprocess.Popen(
        [sys.executable, "-c", CLI, "--seed", "empty", "--deals", "120"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(8)]
        webhook = urllib.parse.urlsplit(next(line.split()[-1] for line in lines if line.startswith("webhook URL")))
        raw = Raw(f"{webhook.scheme}://{webhook.netloc}")
        reply = raw.request("GET", webhook.path + "crm.deal.list?select[]=ID")
        assert reply.json["total"] == 120 and reply.json["result"][0] == {"ID": "1"}
        raw.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
