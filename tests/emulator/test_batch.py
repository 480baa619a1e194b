"""batch: command forms, references, halt, the 50 cap, nested batch, result_* maps (docs/protocol.md#batch)."""

from __future__ import annotations

from typing import Any

from b24crm.runtime.phpquery import encode_query
from tests.emulator.conftest import Portal, stored_history


def batch(portal: Portal, cmd: Any, halt: Any = 0, encoding: str = "json") -> Any:
    return portal.ok("batch", {"halt": halt, "cmd": cmd}, encoding)["result"]


def test_map_commands_and_result_maps(portal: Portal) -> None:
    result = batch(
        portal,
        {
            "mode": "crm.settings.mode.get",
            "stages": "crm.status.list?" + encode_query({"filter": {"ENTITY_ID": "DEAL_STAGE"}}),
            "history": "crm.stagehistory.list?entityTypeId=2",
            "bad": "crm.status.get?id=999999",
        },
    )
    assert result["result"]["mode"] == 1
    assert len(result["result"]["stages"]) == 8
    assert result["result_total"] == {"stages": 8, "history": 1000 + len(stored_history(portal.emu))}
    assert result["result_next"] == {"history": 50}
    assert set(result["result_time"]) == {"mode", "stages", "history"}
    assert result["result_error"] == {"bad": {"error": "", "error_description": "Status is not found."}}
    assert "bad" not in result["result"]


def test_list_commands_answer_with_lists_and_empty_maps_as_lists(portal: Portal) -> None:
    reply = portal.call("batch", {"cmd": ["crm.settings.mode.get", "crm.enum.settings.mode"]})
    assert b'"result_error":[]' in reply.raw and b'"result_total":[]' in reply.raw and b'"result_next":[]' in reply.raw
    result = reply.json["result"]
    assert isinstance(result["result"], list) and result["result"][0] == 1
    assert isinstance(result["result_time"], list)


def test_references_whole_embedded_and_unresolved(portal: Portal) -> None:
    result = batch(
        portal,
        {
            "first": "crm.stagehistory.list?entityTypeId=2&order[ID]=ASC&start=-1",
            "next": "crm.stagehistory.list?entityTypeId=2&order[ID]=ASC&start=-1"
            "&filter[>ID]=$result[first][items][49][ID]",
            "owner": "crm.stagehistory.list?entityTypeId=2&filter[OWNER_ID]=$result[first][items][0][OWNER_ID]",
            "embedded": "crm.status.entity.items?entityId=DEAL_STAGE_$result[mode]",
            "mode": "crm.settings.mode.get",
            "later": "crm.status.entity.items?entityId=DEAL_STAGE_$result[mode]",
            "whole": "crm.duplicate.findbycomm?type=EMAIL&values=$result[missing]",
            "count": "crm.stagehistory.list?entityTypeId=2&start=$total[first]",
        },
    )
    first_ids = [i["ID"] for i in result["result"]["first"]["items"]]
    assert result["result"]["next"]["items"][0]["ID"] == first_ids[-1] + 1
    assert {i["OWNER_ID"] for i in result["result"]["owner"]["items"]} == {1}
    assert result["result"]["embedded"] == []  # "$result[mode]" unresolved (later command) -> no such entity
    assert next(i["STATUS_ID"] for i in result["result"]["later"]) == "C1:NEW"  # embedded scalar is replaced
    # a whole-value reference that cannot be resolved yields the deepest value reached: the whole result map
    assert "whole" in result["result"] or "whole" in result["result_error"]
    assert "count" in result["result"]


def test_form_encoded_batch_and_upper_case_keys(portal: Portal) -> None:
    params = {"HALT": "0", "CMD": {"a": "crm.status.entity.items?entityId=HONORIFIC"}}
    result = portal.ok("batch", params, "form")["result"]
    assert result["result"]["a"][0]["STATUS_ID"] == "HNR_EN_1"


def test_halt_stops_after_first_failure(portal: Portal) -> None:
    cmd = {"a": "crm.settings.mode.get", "b": "crm.status.get?id=0", "c": "crm.settings.mode.get"}
    halted = batch(portal, cmd, halt=1)
    assert list(halted["result"]) == ["a"] and list(halted["result_error"]) == ["b"]
    assert batch(portal, cmd, halt="true")["result_error"] == halted["result_error"]
    assert "c" in batch(portal, cmd, halt="0")["result"]
    assert "c" not in batch(portal, cmd, halt="false")["result"]  # the string "false" is truthy in PHP


def test_over_fifty_commands(portal: Portal) -> None:
    cmd = {f"c{i}": "crm.settings.mode.get" for i in range(53)}
    result = batch(portal, cmd)
    assert len(result["result"]) == 50
    assert result["result_error"] == {
        f"c{i}": {"error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded"}
        for i in range(50, 53)
    }


def test_nested_batch_and_unknown_and_non_string_commands(portal: Portal) -> None:
    result = batch(
        portal, {"n": "batch?cmd[x]=crm.settings.mode.get", "u": "crm.nope", "s": 5, "ok": "CRM.SETTINGS.MODE.GET"}
    )
    assert result["result_error"]["n"] == {
        "error": "ERROR_BATCH_METHOD_NOT_ALLOWED",
        "error_description": "Method is not allowed for batch usage",
    }
    assert result["result_error"]["u"]["error"] == "ERROR_METHOD_NOT_FOUND"
    assert "s" not in result["result"] and "s" not in result["result_error"]
    assert result["result"]["ok"] == 1


def test_batch_writes_and_stats(portal: Portal) -> None:
    result = batch(
        portal,
        {
            "add": "crm.status.add?"
            + encode_query({"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "B1", "NAME": "Batch"}}),
            "get": "crm.status.get?id=$result[add]",
        },
    )
    assert result["result"]["get"]["STATUS_ID"] == "B1"
    stats = portal.emu.stats()
    assert stats["by_method"]["batch"] == 1 and stats["batch_subcalls"] == 2
