"""State files, OAuth refresh, TLS, the CLI, the pytest plugin and user-registered methods."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from b24crm.testing import BitrixError, CallContext, Emulator, Result, StateFileInUseError
from tests.emulator.conftest import Portal, Raw


def test_state_file_survives_restart(tmp_path: Path) -> None:
    state = str(tmp_path / "portal.sqlite")
    with Emulator(seed="demo", state=state) as emu:
        portal = Portal(emu)
        new_id = portal.ok("crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "KEPT", "NAME": "Kept"}})[
            "result"
        ]
        portal.ok("crm.duplicate.volatileType.register", {"entityTypeId": 3, "fieldCode": "NAME"})
        portal.ok("crm.entity.mergeBatch", {"params": {"entityTypeId": 3, "entityIds": [1, 4]}})
        code = emu.portal.default_webhook.code
    with Emulator(seed="empty", state=state) as emu:  # the file wins over the seed argument
        portal = Portal(emu)
        assert emu.portal.default_webhook.code == code
        assert portal.ok("crm.status.get", {"id": new_id})["result"]["STATUS_ID"] == "KEPT"
        assert portal.ok("crm.duplicate.volatileType.list")["result"][0]["fieldCode"] == "NAME"
        assert emu.portal.store.get("contact", 4) is None
        again = portal.ok("crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "NEXT", "NAME": "n"}})[
            "result"
        ]
        assert again == new_id + 1


def test_acknowledged_write_is_on_disk_before_shutdown(tmp_path: Path) -> None:
    import sqlite3

    state = str(tmp_path / "portal.sqlite")
    with Emulator(seed="empty", state=state) as emu:
        Portal(emu).ok("crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "DURABLE", "NAME": "d"}})
        other = sqlite3.connect(state)  # a second connection sees only committed data
        rows = other.execute("SELECT data FROM rows WHERE tbl = 'status'").fetchall()
        other.close()
        assert any(json.loads(r[0])["STATUS_ID"] == "DURABLE" for r in rows)


def test_second_emulator_on_one_state_file_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "portal.sqlite"
    with Emulator(seed="empty", state=str(state)) as first:
        with pytest.raises(StateFileInUseError) as caught:
            Emulator(seed="empty", state=str(state))
        message = str(caught.value)
        assert str(state) in message and f"process {os.getpid()}" in message
        assert caught.value.path == state
        # the first emulator still owns the file and still acknowledges writes
        Portal(first).ok("crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "ONE", "NAME": "one"}})
    with Emulator(seed="empty", state=str(state)) as again:  # stop() released the lock
        assert Portal(again).ok("crm.status.list", {"filter": {"STATUS_ID": "ONE"}})["total"] == 1


def test_cli_refuses_a_state_file_another_emulator_holds(tmp_path: Path) -> None:
    state = str(tmp_path / "held.sqlite")
    with Emulator(seed="empty", state=state):
        done = subprocess.run(
            [sys.executable, "-m", "b24crm", "emulator", "--seed", "empty", "--state", state],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: state file ") and state in lines[0], done.stderr


def test_oauth_refresh_rotates_tokens(emu: Emulator) -> None:
    raw = Raw(emu.base_url)
    creds = emu.oauth
    query = urllib.parse.urlencode(
        {
            "grant_type": "refresh_token",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "refresh_token": creds.refresh_token,
        }
    )
    fresh = raw.request("GET", "/oauth/token/?" + query)
    assert fresh.status == 200
    tokens = fresh.json
    assert tokens["refresh_token"] != creds.refresh_token and tokens["expires_in"] == 3600
    assert tokens["client_endpoint"] == f"{emu.base_url}/rest/" and tokens["member_id"]
    assert raw.request("GET", "/oauth/token/?" + query).json["error"] == "invalid_grant"  # used once already
    body = urllib.parse.urlencode(
        {
            "grant_type": "refresh_token",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "refresh_token": tokens["refresh_token"],
        }
    )
    posted = raw.request("POST", "/oauth/token", body.encode(), {"Content-Type": "application/x-www-form-urlencoded"})
    assert posted.status == 200
    assert raw.request("GET", f"/rest/crm.settings.mode.get?auth={posted.json['access_token']}").status == 200
    wrong = raw.request("GET", "/oauth/token/?grant_type=refresh_token&client_id=x&client_secret=y&refresh_token=z")
    assert (wrong.status, wrong.json["error"]) == (400, "invalid_client")
    assert emu.stats()["oauth_refreshes"] == 2


def test_access_token_expires_after_ttl() -> None:
    with Emulator(seed="empty", token_ttl=1) as emu:
        raw = Raw(emu.base_url)
        path = f"/rest/crm.settings.mode.get?auth={emu.oauth.access_token}"
        assert raw.request("GET", path).status == 200
        time.sleep(1.2)
        assert raw.request("GET", path).json["error"] == "expired_token"


def test_tls_serves_https_with_a_trusted_ca() -> None:
    with Emulator(seed="empty", tls=True) as emu:
        assert emu.base_url.startswith("https://") and emu.ca_file and os.path.exists(emu.ca_file)
        portal = Portal(emu)
        assert portal.ok("crm.settings.mode.get")["result"] == 1
        import urllib3

        pool = urllib3.PoolManager(ca_certs=emu.ca_file)
        reply = pool.request("GET", emu.webhook_url + "crm.enum.fields")
        assert reply.status == 200 and b"SYMBOL_CODE" in reply.data


def test_register_user_method(emu: Emulator) -> None:
    deals = [{"ID": str(i), "TITLE": f"Deal {i}"} for i in range(1, 121)]

    def deal_list(params: dict[str, Any], ctx: CallContext) -> Result:
        start = max(ctx.start or 0, 0)
        page = deals[start : start + 50]
        following = start + 50
        return Result(page, next=following if following < len(deals) else None, total=len(deals))

    def deal_get(params: dict[str, Any], ctx: CallContext) -> Any:
        raise BitrixError("", "Not found")

    emu.register("crm.deal.list", deal_list)
    emu.register("crm.deal.get", deal_get, scope=None)
    portal = Portal(emu)
    page = portal.ok("crm.deal.list", {"start": 100})
    assert len(page["result"]) == 20 and page["total"] == 120 and "next" not in page
    assert portal.ok("CRM.DEAL.LIST")["next"] == 50
    assert portal.call("crm.deal.get", {"id": 1}).json == {"error": "", "error_description": "Not found"}
    batch = portal.ok("batch", {"cmd": {"a": "crm.deal.list", "b": "crm.deal.list?start=$next[a]"}})["result"]
    assert batch["result"]["b"][0]["ID"] == "51" and batch["result_total"] == {"a": 120, "b": 120}


def test_register_validates_against_the_spec(emu: Emulator) -> None:
    emu.register("crm.status.get", lambda params, ctx: {"ID": "1"})
    if "crm.status.get" not in emu.portal.schemas:
        pytest.skip("generated registry not importable")
    reply = Portal(emu).call("crm.status.get", {"id": {"x": 1}})
    assert reply.status == 400 and reply.json["error"] == "ERROR_ARGUMENT"


def test_cli_prints_credentials_and_serves(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from b24crm.testing.cli import main; sys.exit(main(sys.argv[1:]))",
            "--seed",
            "empty",
            "--plan",
            "10/5",
            "--stage-history",
            "100",
            "--state",
            str(tmp_path / "s.sqlite"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(8)]
        webhook = next(line.split()[-1] for line in lines if line.startswith("webhook URL"))
        token = next(line.split()[2] for line in lines if line.startswith("control token:"))
        assert any(line.startswith("OAuth client_secret") for line in lines)
        parts = urllib.parse.urlsplit(webhook)
        raw = Raw(f"{parts.scheme}://{parts.netloc}")
        reply = raw.request("GET", parts.path + "crm.stagehistory.list?entityTypeId=2")
        assert reply.json["total"] == 100
        assert raw.request("GET", "/_emulator/stats").status == 401
        stats = raw.request("GET", "/_emulator/stats", headers={"X-Emulator-Token": token})
        assert stats.status == 200 and stats.json["requests"] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_cli_rejects_bad_plan() -> None:
    from b24crm.testing.cli import main

    assert main(["--plan", "gold"]) == 2


def test_pytest_plugin_fixture(b24_emulator: Emulator) -> None:
    assert Portal(b24_emulator).ok("crm.settings.mode.get")["result"] == 1


@pytest.mark.b24_emulator(seed="empty", plan="standard")
def test_pytest_plugin_marker(b24_emulator: Emulator) -> None:
    assert b24_emulator.plan == "standard"
    assert Portal(b24_emulator).ok("crm.duplicate.findbycomm", {"type": "PHONE", "values": ["1"]})["result"] == []


def test_throughput_helper_runs(emu: Emulator) -> None:
    from b24crm.testing.throughput import measure

    assert measure(emu, calls=200, connections=2) > 0  # the number itself is reported by `make bench`


def test_cli_keeps_serving_when_its_reader_has_gone(tmp_path: Path) -> None:
    """``b24crm emulator | head -1`` style: the banner meets a closed pipe; no traceback, the server stays up."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "b24crm", "emulator", "--seed", "empty", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # the reader is gone before the banner is printed
        deadline = time.monotonic() + 20
        status = 0
        while time.monotonic() < deadline and process.poll() is None and status == 0:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/rest/1/x/crm.status.list", timeout=1) as r:
                    status = r.status
            except urllib.error.HTTPError as exc:
                status = exc.code  # a Bitrix error body: the server answers
            except OSError:
                time.sleep(0.1)
        assert process.poll() is None, process.stderr.read()
        assert status in (200, 401)
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=10)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
