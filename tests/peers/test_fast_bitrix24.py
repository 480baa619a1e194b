"""fast_bitrix24 1.8.14 (its sync ``Bitrix`` wrapper): get_all, call, call_batch against the emulator."""

from __future__ import annotations

import importlib.metadata

import fast_bitrix24
import pytest
from fast_bitrix24 import Bitrix

from b24crm import Client
from b24crm.testing import Emulator

from .conftest import STAGE_HISTORY, deal_history

pytestmark = pytest.mark.peers


def test_pinned_version() -> None:
    assert importlib.metadata.version("fast-bitrix24") == "1.8.14"


def test_get_all_stage_history_agrees_with_b24crm(fb_emu: Emulator, fb: Bitrix, ours_fb: Client) -> None:
    rows = fb.get_all("crm.stagehistory.list", {"entityTypeId": 2})
    theirs = {row["ID"]: row for row in rows}
    assert len(rows) == len(theirs) == deal_history(fb_emu)
    ours = {item.id: item for item in ours_fb.crm.stagehistory.iter_all(entity_type_id=2)}
    assert set(theirs) == set(ours)
    for record_id, row in theirs.items():  # same records, not just the same IDs
        item = ours[record_id]
        assert (row["OWNER_ID"], row["STAGE_ID"], row["CATEGORY_ID"]) == (
            item.owner_id,
            item.stage_id,
            item.category_id,
        )
        assert row["TYPE_ID"] == item.type_id and row["STAGE_SEMANTIC_ID"] == item.stage_semantic_id
    # fast_bitrix24 counts every page (start=0, 50, ...) in parallel batches: the emulator served all of them
    assert fb_emu.stats()["batch_subcalls"] >= STAGE_HISTORY // 50 - 1


def test_get_all_status_list_agrees_with_b24crm(fb: Bitrix, ours_fb: Client) -> None:
    rows = fb.get_all("crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE_1"}})
    assert rows == ours_fb.call("crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE_1"}, "order": {"ID": "ASC"}})
    typed = ours_fb.crm.status.list(filter={"ENTITY_ID": "DEAL_STAGE_1"})
    assert sorted((int(r["ID"]), r["STATUS_ID"], int(r["SORT"])) for r in rows) == sorted(
        (s.id, s.status_id, s.sort) for s in typed
    )


def test_get_all_whole_directory_is_one_request(fb_emu: Emulator, fb: Bitrix, ours_fb: Client) -> None:
    rows = fb.get_all("crm.status.list")
    # crm.status.list returns everything with total = count and no next, so fast_bitrix24 stops after one call
    assert fb_emu.stats()["by_method"] == {"crm.status.list": 1}
    assert len(rows) > 50 and len(rows) == len(ours_fb.crm.status.list())


def test_call_list_of_items_is_batched_in_order(fb_emu: Emulator, fb: Bitrix, ours_fb: Client) -> None:
    ids = [s.id for s in ours_fb.crm.status.list(filter={"ENTITY_ID": "SOURCE"})]
    rows = fb.call("crm.status.get", [{"id": i} for i in ids])
    assert [int(r["ID"]) for r in rows] == ids
    assert [r["STATUS_ID"] for r in rows] == [ours_fb.crm.status.get(id=i).status_id for i in ids]
    assert fb_emu.stats()["by_method"].get("batch") == 1


def test_call_writes_are_seen_by_b24crm(fb: Bitrix, ours_fb: Client) -> None:
    new_id = fb.call(
        "crm.status.add", {"fields": {"ENTITY_ID": "DEAL_STAGE_2", "STATUS_ID": "PEER", "NAME": "Peer", "SORT": 41}}
    )
    assert isinstance(new_id, int)
    item = ours_fb.crm.status.get(id=new_id)
    assert (item.status_id, item.name, item.sort) == ("C2:PEER", "Peer", 41)
    assert fb.call("crm.status.update", {"id": new_id, "fields": {"NAME": "Peer 2"}}) is True
    assert ours_fb.crm.status.get(id=new_id).name == "Peer 2"


def test_call_raw_findbycomm_agrees(fb: Bitrix, ours_fb: Client) -> None:
    raw = fb.call("crm.duplicate.findbycomm", {"type": "PHONE", "values": ["+1 555 010 0001"]}, raw=True)
    ours = ours_fb.crm.duplicate.findbycomm(type="PHONE", values=["+1 555 010 0001"])
    assert raw["result"] == {"LEAD": ours.lead, "CONTACT": ours.contact}
    assert "time" in raw


def test_call_batch_with_a_reference(fb: Bitrix, ours_fb: Client) -> None:
    result = fb.call_batch(
        {
            "halt": 0,
            "cmd": {
                "stages": "crm.status.list?filter[ENTITY_ID]=DEAL_STAGE_1&order[SORT]=ASC",
                "first": "crm.status.get?id=$result[stages][0][ID]",
                "mode": "crm.settings.mode.get",
            },
        }
    )
    assert result["first"]["STATUS_ID"] == "C1:NEW"
    assert result["mode"] == ours_fb.crm.settings.mode.get() == 1
    assert [r["STATUS_ID"] for r in result["stages"]] == [
        i.status_id for i in ours_fb.crm.status.entity.items(entity_id="DEAL_STAGE_1")
    ]


def test_call_batch_error_is_raised_by_the_peer(fb: Bitrix) -> None:
    with pytest.raises(fast_bitrix24.server_response.ErrorInServerResponseException) as caught:
        fb.call_batch({"halt": 0, "cmd": {"bad": "crm.status.get?id=999999", "ok": "crm.settings.mode.get"}})
    assert caught.value.args[0] == {"bad": {"error": "", "error_description": "Status is not found."}}
