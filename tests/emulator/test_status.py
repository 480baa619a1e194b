"""crm.status.*: directories, prefixes, system items, filter/order rules.

docs/protocol.md#crm-status.
"""

from __future__ import annotations

from typing import Any

from tests.emulator.conftest import Portal


def add(portal: Portal, **fields: Any) -> Any:
    return portal.call("crm.status.add", {"fields": fields})


def test_add_applies_funnel_prefix_and_defaults(portal: Portal) -> None:
    reply = add(portal, ENTITY_ID="DEAL_STAGE_1", STATUS_ID="REVIEW", NAME="Review", SORT=0, COLOR="AABBCC")
    assert reply.status == 200
    new_id = reply.json["result"]
    assert isinstance(new_id, int)
    row = portal.ok("crm.status.get", {"id": new_id})["result"]
    assert row == {
        "ID": str(new_id),
        "ENTITY_ID": "DEAL_STAGE_1",
        "STATUS_ID": "C1:REVIEW",
        "NAME": "Review",
        "NAME_INIT": "",
        "SORT": "10",
        "SYSTEM": "N",
        "CATEGORY_ID": "1",
        "COLOR": "#AABBCC",
        "SEMANTICS": "P",
        "EXTRA": {"SEMANTICS": "process", "COLOR": "#AABBCC"},
    }


def test_add_with_existing_prefix_and_smart_process(portal: Portal) -> None:
    assert add(portal, ENTITY_ID="DEAL_STAGE_2", STATUS_ID="C2:CHECK", NAME="Check").status == 200
    assert add(portal, ENTITY_ID="DEAL_STAGE_2", STATUS_ID="C9:CHECK2", NAME="Check").status == 200
    reply = add(portal, ENTITY_ID="DYNAMIC_177_STAGE_9", STATUS_ID="PAID", NAME="Paid", SEMANTICS="S")
    row = portal.ok("crm.status.get", {"id": reply.json["result"]})["result"]
    assert (row["STATUS_ID"], row["SEMANTICS"], row["CATEGORY_ID"]) == ("DT177_9:PAID", "S", "9")
    assert "EXTRA" not in row  # never for smart processes
    codes = [r["STATUS_ID"] for r in portal.ok("crm.status.entity.items", {"entityId": "DEAL_STAGE_2"})["result"]]
    assert "C2:CHECK" in codes and "C2:CHECK2" in codes


def test_add_errors(portal: Portal) -> None:
    assert add(portal).json == {
        "error": "",
        "error_description": "The field ENTITY_ID is required.\nThe field STATUS_ID is required.",
    }
    assert (
        add(portal, ENTITY_ID="NOPE", STATUS_ID="X", NAME="x").json["error_description"]
        == "Specified entity type is not supported."
    )
    assert add(portal, ENTITY_ID="SOURCE", STATUS_ID="X").json["error_description"] == "The field Title is required."
    duplicate = add(portal, ENTITY_ID="SOURCE", STATUS_ID="CALL", NAME="again")
    assert (duplicate.status, duplicate.json) == (
        400,
        {"error": "ERROR_CORE", "error_description": "The specified status ID already exists."},
    )
    assert (
        add(portal, ENTITY_ID="STATUS", STATUS_ID="BAD CODE!", NAME="x").json["error_description"]
        == "Error on creating status."
    )
    assert add(portal, ENTITY_ID="STATUS", STATUS_ID="X" * 22, NAME="x").status == 400
    late = add(portal, ENTITY_ID="DEAL_STAGE", STATUS_ID="LATE", NAME="late", SORT=65)
    assert late.json["error_description"].startswith("Cannot create more stages after the final stage")
    assert add(portal, ENTITY_ID="DEAL_STAGE", STATUS_ID="LATE_F", NAME="late", SORT=90, SEMANTICS="F").status == 200
    assert (
        portal.call("crm.status.add", {"fields": "x"}).json["error_description"] == "Parameter 'fields' must be array."
    )


def test_update_only_name_sort_color(portal: Portal) -> None:
    row = portal.ok("crm.status.list", {"filter": {"ENTITY_ID": "SOURCE", "STATUS_ID": "WEB"}})["result"][0]
    assert (
        portal.ok("crm.status.update", {"id": row["ID"], "fields": {"STATUS_ID": "HACK", "SEMANTICS": "S"}})["result"]
        is True
    )
    same = portal.ok("crm.status.get", {"id": row["ID"]})["result"]
    assert same == row
    portal.ok("crm.status.update", {"id": row["ID"], "fields": {"SORT": -5, "EXTRA": {"COLOR": "123456"}}})
    changed = portal.ok("crm.status.get", {"id": row["ID"]})["result"]
    assert (changed["NAME"], changed["SORT"], changed["COLOR"], changed["STATUS_ID"]) == (
        "Website",
        "10",
        "#123456",
        "WEB",
    )
    assert (
        portal.call("crm.status.update", {"id": 0, "fields": {}}).json["error_description"]
        == "ID is not defined or invalid."
    )
    assert (
        portal.call("crm.status.update", {"id": 99999, "fields": {}}).json["error_description"]
        == "Status is not found."
    )


def test_delete_system_needs_forced(portal: Portal) -> None:
    row = portal.ok("crm.status.list", {"filter": {"ENTITY_ID": "SOURCE", "STATUS_ID": "CALL"}})["result"][0]
    assert row["SYSTEM"] == "Y"
    refused = portal.call("crm.status.delete", {"id": row["ID"]})
    assert refused.json == {
        "error": "",
        "error_description": 'CRM System Status can be deleted only if parameter FORCED is specified and equal to "Y".',
    }
    assert portal.ok("crm.status.delete", {"id": row["ID"], "params": {"FORCED": "Y"}}, "form")["result"] is True
    assert portal.call("crm.status.get", {"id": row["ID"]}).json["error_description"] == "Status is not found."


def test_delete_in_use_and_plain(portal: Portal) -> None:
    in_use = portal.ok("crm.status.list", {"filter": {"ENTITY_ID": "STATUS", "STATUS_ID": "IN_PROCESS"}})["result"][0]
    assert (
        portal.call("crm.status.delete", {"id": in_use["ID"]}).json["error_description"]
        == "There are active items in this status."
    )
    plain = portal.ok("crm.status.list", {"filter": {"ENTITY_ID": "SOURCE", "STATUS_ID": "WEB"}})["result"][0]
    assert portal.ok("crm.status.delete", {"ID": plain["ID"]})["result"] is True


def test_list_filter_rules(portal: Portal) -> None:
    everything = portal.ok("crm.status.list")
    assert everything["total"] == len(everything["result"]) > 100
    assert "next" not in everything
    stages = portal.ok("crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE"}, "start": 50})
    assert [r["STATUS_ID"] for r in stages["result"]] == [
        "NEW",
        "PREPARATION",
        "PREPAYMENT_INVOICE",
        "EXECUTING",
        "FINAL_INVOICE",
        "WON",
        "LOSE",
        "APOLOGY",
    ]
    assert stages["total"] == 8
    ignored = portal.ok("crm.status.list", {"filter": {"=ENTITY_ID": "DEAL_STAGE", "entity_id": "X", ">SORT": 50}})
    assert ignored["total"] == everything["total"]
    system = portal.ok("crm.status.list", {"filter": {"ENTITY_ID": "SOURCE", "SYSTEM": "whatever"}})["result"]
    assert system and all(r["SYSTEM"] == "N" for r in system)
    by_sort = portal.ok("crm.status.list", {"filter": {"ENTITY_ID": "QUOTE_STATUS", "SORT": "30"}})["result"]
    assert [r["STATUS_ID"] for r in by_sort] == ["APPROVED"]
    by_name = portal.ok("crm.status.list", {"filter": {"NAME": "deal w"}})["result"]
    assert {r["STATUS_ID"] for r in by_name} == {"WON", "C1:WON", "C2:WON"}
    error = portal.call("crm.status.list", {"filter": {"ENTITY_ID": ["SOURCE", "STATUS"]}})
    assert (error.status, error.json) == (
        400,
        {"error": "", "error_description": "Filter by ENTITY_ID must be a string"},
    )


def test_list_order_rules(portal: Portal) -> None:
    asc = portal.ok("crm.status.list", {"filter": {"ENTITY_ID": "STATUS"}})["result"]
    assert [int(r["SORT"]) for r in asc] == sorted(int(r["SORT"]) for r in asc)
    desc = portal.ok("crm.status.list", {"filter": {"ENTITY_ID": "STATUS"}, "order": {"sort": "whatever"}})["result"]
    assert desc == list(reversed(asc))
    fallback = portal.ok("crm.status.list", {"filter": {"ENTITY_ID": "STATUS"}, "order": {"BOGUS": "ASC"}})["result"]
    assert [int(r["ID"]) for r in fallback] == sorted((int(r["ID"]) for r in asc), reverse=True)


def test_extra_only_for_lead_deal_quote(portal: Portal) -> None:
    rows = portal.ok("crm.status.list")["result"]
    for row in rows:
        has_extra = row["ENTITY_ID"] in ("STATUS", "QUOTE_STATUS") or row["ENTITY_ID"].startswith("DEAL_STAGE")
        assert ("EXTRA" in row) == has_extra, row
    words = {r["STATUS_ID"]: r["EXTRA"]["SEMANTICS"] for r in rows if r["ENTITY_ID"] == "DEAL_STAGE"}
    assert words == {
        "NEW": "process",
        "PREPARATION": "process",
        "PREPAYMENT_INVOICE": "process",
        "EXECUTING": "process",
        "FINAL_INVOICE": "process",
        "WON": "success",
        "LOSE": "failure",
        "APOLOGY": "apology",
    }


def test_entity_items_and_types_and_fields(portal: Portal) -> None:
    items = portal.ok("crm.status.entity.items", {"entityId": "deal_stage"})["result"]
    assert items[0] == {"NAME": "New", "SORT": 10, "STATUS_ID": "NEW"}
    assert portal.ok("crm.status.entity.items", {"ENTITY_ID": "NOPE"})["result"] == []
    missing = portal.call("crm.status.entity.items")
    assert missing.json == {"error": "", "error_description": "The parameter entityId is not defined or invalid."}
    types = {t["ID"]: t for t in portal.ok("crm.status.entity.types")["result"]}
    assert {
        "STATUS",
        "SOURCE",
        "DEAL_STAGE",
        "DEAL_STAGE_1",
        "QUOTE_STATUS",
        "HONORIFIC",
        "CALL_LIST",
        "SMART_INVOICE_STAGE_3",
        "DYNAMIC_177_STAGE_7",
        "DYNAMIC_177_STAGE_9",
    } <= set(types)
    assert types["DEAL_STAGE_1"]["PREFIX"] == "C1" and types["DEAL_STAGE_1"]["PARENT_ID"] == "DEAL_STAGE"
    assert types["DEAL_STAGE_1"]["SEMANTIC_INFO"]["FINAL_SUCCESS_FIELD"] == "C1:WON"
    assert types["DYNAMIC_177_STAGE_7"]["IS_DEFAULT_CATEGORY"] is True
    assert types["DYNAMIC_177_STAGE_7"]["SEMANTIC_INFO"] == []
    assert types["SOURCE"] == {"ID": "SOURCE", "NAME": "Sources"}
    fields = portal.ok("crm.status.fields")["result"]
    assert fields["STATUS_ID"]["isImmutable"] is True and fields["EXTRA"]["type"] == "crm_status_extra"


def test_empty_seed_has_defaults_only() -> None:
    from b24crm.testing import Emulator

    with Emulator(seed="empty") as emu:
        portal = Portal(emu)
        types = [t["ID"] for t in portal.ok("crm.status.entity.types")["result"]]
        assert "DEAL_STAGE_1" not in types and "DEAL_STAGE" in types
        assert portal.ok("crm.duplicate.findbycomm", {"type": "PHONE", "values": ["+1 555 010 0001"]})["result"] == []
