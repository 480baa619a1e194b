"""fast_bitrix24 and b24pysdk, unchanged, on the emulated CRM core (deals, contacts, crm.item): their results
agree with the raw answers b24crm's ``call`` gets from the same emulator."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from b24pysdk import BitrixWebhook
from b24pysdk import Client as PyClient
from fast_bitrix24 import Bitrix

from b24crm import Client
from b24crm.testing import Emulator

pytestmark = pytest.mark.peers

DEALS = 620  # synthetic deals: thirteen pages, the last one short


@pytest.fixture(scope="module")
def crm_http() -> Iterator[Emulator]:
    with Emulator(seed="demo", deals=DEALS) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def crm_tls() -> Iterator[Emulator]:
    with Emulator(seed="demo", deals=DEALS, tls=True) as emulator:
        yield emulator


def raw_all(client: Client, method: str, params: dict[str, Any], id_key: str = "ID") -> list[dict[str, Any]]:
    """Every row by the documented count-free walk, with b24crm's untyped ``call``."""
    rows: list[dict[str, Any]] = []
    while True:
        flt = {**params.get("filter", {}), f">{id_key}": rows[-1][id_key] if rows else 0}
        result = client.call(method, {**params, "filter": flt, "order": {id_key: "ASC"}, "start": -1})
        page = result["items"] if isinstance(result, dict) else result
        rows += page
        if len(page) < 50:
            return rows


def test_fast_bitrix24_get_all_deals(crm_http: Emulator) -> None:
    crm_http.reset()
    fb = Bitrix(crm_http.webhook_url, verbose=False)
    theirs = fb.get_all("crm.deal.list", {"select": ["*", "UF_*"]})
    with crm_http.client() as ours:
        expected = raw_all(ours, "crm.deal.list", {"select": ["*", "UF_*"]})
    assert len(theirs) == len(expected) == DEALS + 9  # the synthetic deals and the demo's nine
    assert sorted(theirs, key=lambda r: int(r["ID"])) == expected
    assert crm_http.stats()["counted_pages"] > 0  # fast_bitrix24 pages by counted offsets


def test_fast_bitrix24_call_adds_contacts_in_batches(crm_http: Emulator) -> None:
    crm_http.reset()
    fb = Bitrix(crm_http.webhook_url, verbose=False)
    batch = [{"fields": {"NAME": f"Imported {n}", "PHONE": [{"VALUE": f"+1 555 77{n:02d}"}]}} for n in range(60)]
    ids = fb.call("crm.contact.add", batch)
    assert len(ids) == 60 and crm_http.stats()["by_method"].get("batch", 0) >= 2
    with crm_http.client() as ours:
        # fast_bitrix24 sends its batches in parallel and lists the IDs as the batches complete: compare sets.
        rows = [ours.call("crm.contact.get", {"id": i}) for i in ids]
        made = {row["NAME"]: row for row in rows}
        assert set(made) == {f"Imported {n}" for n in range(60)}
        assert all(made[f"Imported {n}"]["PHONE"][0]["VALUE"] == f"+1 555 77{n:02d}" for n in range(60))
        found = ours.call("crm.duplicate.findbycomm", {"type": "PHONE", "values": ["15557705"]})
        assert found == {"CONTACT": [int(made["Imported 5"]["ID"])]}


@pytest.fixture
def py(crm_tls: Emulator, monkeypatch: pytest.MonkeyPatch) -> PyClient:
    crm_tls.reset()
    assert crm_tls.ca_file is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", crm_tls.ca_file)
    parts = urllib.parse.urlsplit(crm_tls.webhook_url)
    user_id, code = parts.path.strip("/").split("/")[1:3]
    return PyClient(BitrixWebhook(domain=parts.netloc, webhook_token=f"{user_id}/{code}"))


def test_b24pysdk_crm_deal(crm_tls: Emulator, py: PyClient) -> None:
    new_id = py.crm.deal.add({"TITLE": "From b24pysdk", "CATEGORY_ID": 1, "OPPORTUNITY": 10}).result
    with crm_tls.client() as ours:
        assert ours.call("crm.deal.get", {"id": new_id}) == py.crm.deal.get(int(new_id)).result
        assert ours.call("crm.deal.get", {"id": new_id})["STAGE_ID"] == "C1:NEW"
        theirs = list(py.crm.deal.list(select=["ID", "TITLE", "STAGE_ID"], filter={"CATEGORY_ID": 1}).as_list().result)
        assert theirs == raw_all(
            ours, "crm.deal.list", {"select": ["ID", "TITLE", "STAGE_ID"], "filter": {"CATEGORY_ID": 1}}
        )


def test_b24pysdk_crm_item(crm_tls: Emulator, py: PyClient) -> None:
    made = py.crm.item.add(2, {"title": "Item from b24pysdk", "opportunity": 5}).result
    item = made["item"]
    assert py.crm.item.get(2, item["id"]).result["item"] == item
    theirs = list(py.crm.item.list(2, select=["id", "title", "stageId"]).as_list_fast().result)
    with crm_tls.client() as ours:
        expected = raw_all(ours, "crm.item.list", {"entityTypeId": 2, "select": ["id", "title", "stageId"]}, "id")
        assert theirs == expected and len(theirs) == DEALS + 10
        assert ours.call("crm.deal.get", {"id": item["id"]})["TITLE"] == "Item from b24pysdk"
