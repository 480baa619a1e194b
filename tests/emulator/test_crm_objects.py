"""The CRM core over raw HTTP: crm.{deal,lead,contact,company}.*, crm.item.*, one object through both APIs."""

from __future__ import annotations

from typing import Any

import pytest

from b24crm._registry import REGISTRY
from tests.emulator.conftest import Portal

ENTITIES = {
    "lead": (1, {"TITLE": "Lead", "NAME": "Ann"}),
    "deal": (2, {"TITLE": "Deal"}),
    "contact": (3, {"NAME": "Bo", "LAST_NAME": "Li"}),
    "company": (4, {"TITLE": "Acme"}),
}


def documented(method: str, contains: str) -> str:
    """The message of the method's documented error row containing ``contains`` (the spec is the oracle)."""
    spec = REGISTRY.find(method)
    assert spec is not None, method
    return next(row.wire_message for row in spec.errors if contains in row.wire_message.lower())


def error(portal: Portal, method: str, params: dict[str, Any]) -> dict[str, Any]:
    reply = portal.call(method, params)
    assert reply.status == 400, reply.raw
    body: dict[str, Any] = reply.json
    return body


@pytest.mark.parametrize("entity", sorted(ENTITIES))
def test_classic_crud_cycle(portal: Portal, entity: str) -> None:
    _, fields = ENTITIES[entity]
    new_id = portal.ok(f"crm.{entity}.add", {"fields": {**fields, "COMMENTS": "first", "UF_CRM_1750": "x"}})["result"]
    assert isinstance(new_id, int)
    got = portal.ok(f"crm.{entity}.get", {"id": new_id})["result"]
    assert got["ID"] == str(new_id) and got["COMMENTS"] == "first" and got["UF_CRM_1750"] == "x"
    assert got["ASSIGNED_BY_ID"] == "1" and got["OPENED"] == "Y"
    assert portal.ok(f"crm.{entity}.update", {"id": new_id, "fields": {"COMMENTS": "second"}})["result"] is True
    assert portal.ok(f"crm.{entity}.get", {"ID": new_id})["result"]["COMMENTS"] == "second"
    listed = portal.ok(f"crm.{entity}.list", {"filter": {"ID": new_id}, "select": ["ID", "COMMENTS"]})
    assert listed["result"] == [{"ID": str(new_id), "COMMENTS": "second"}] and listed["total"] == 1
    described = portal.ok(f"crm.{entity}.fields")["result"]
    assert described["ID"]["isReadOnly"] is True and described["UF_CRM_1750"]["isDynamic"] is True
    assert portal.ok(f"crm.{entity}.delete", {"id": new_id})["result"] is True
    not_found = {"error": "", "error_description": documented(f"crm.{entity}.get", "not found")}
    assert error(portal, f"crm.{entity}.get", {"id": new_id}) == not_found
    no_id = error(portal, f"crm.{entity}.get", {"id": 0})["error_description"]
    assert no_id == documented(f"crm.{entity}.get", "not defined")
    no_fields = error(portal, f"crm.{entity}.add", {"fields": "x"})["error_description"]
    assert no_fields == documented(f"crm.{entity}.add", "must be array")


def test_deal_is_the_item(portal: Portal) -> None:
    deal_id = portal.ok(
        "crm.deal.add",
        {"fields": {"TITLE": "Both APIs", "OPPORTUNITY": "1500.5", "CATEGORY_ID": 1, "CONTACT_ID": 2, "OPENED": "N"}},
    )["result"]
    classic = portal.ok("crm.deal.get", {"id": deal_id})["result"]
    item = portal.ok("crm.item.get", {"entityTypeId": 2, "id": deal_id})["result"]["item"]
    assert classic["OPPORTUNITY"] == "1500.50" and item["opportunity"] == 1500.5
    assert classic["CATEGORY_ID"] == "1" and item["categoryId"] == 1
    assert classic["STAGE_ID"] == item["stageId"] == "C1:NEW"
    assert classic["CONTACT_ID"] == "2" and item["contactId"] == 2
    assert classic["OPENED"] == "N" and item["opened"] == "N"
    assert classic["DATE_CREATE"] == item["createdTime"] and classic["CREATED_BY_ID"] == "1" and item["createdBy"] == 1
    updated = portal.ok(
        "crm.item.update", {"entityTypeId": 2, "id": deal_id, "fields": {"title": "Renamed", "opportunity": 99}}
    )["result"]["item"]
    assert updated["title"] == "Renamed"
    classic = portal.ok("crm.deal.get", {"id": deal_id})["result"]
    assert classic["TITLE"] == "Renamed" and classic["OPPORTUNITY"] == "99.00"
    portal.ok("crm.item.delete", {"entityTypeId": 2, "id": deal_id})
    assert error(portal, "crm.deal.get", {"id": deal_id})["error_description"] == documented(
        "crm.deal.get", "not found"
    )


def test_contact_multifields_in_both_namings(portal: Portal) -> None:
    contact_id = portal.ok(
        "crm.contact.add",
        {"fields": {"NAME": "Multi", "PHONE": [{"VALUE": "+1 555 1", "VALUE_TYPE": "WORK"}], "EMAIL": ["m@x.io"]}},
    )["result"]
    phones = portal.ok("crm.contact.get", {"id": contact_id})["result"]["PHONE"]
    assert phones == [{"ID": phones[0]["ID"], "VALUE_TYPE": "WORK", "VALUE": "+1 555 1", "TYPE_ID": "PHONE"}]
    portal.ok(
        "crm.contact.update",
        {"id": contact_id, "fields": {"PHONE": [{"ID": phones[0]["ID"], "DELETE": "Y"}, {"VALUE": "+1 555 2"}]}},
    )
    got = portal.ok("crm.contact.get", {"id": contact_id})["result"]
    assert [p["VALUE"] for p in got["PHONE"]] == ["+1 555 2"] and got["HAS_PHONE"] == "Y" and got["HAS_EMAIL"] == "Y"
    item = portal.ok("crm.item.get", {"entityTypeId": 3, "id": contact_id})["result"]["item"]
    assert sorted((m["typeId"], m["value"]) for m in item["fm"]) == [("EMAIL", "m@x.io"), ("PHONE", "+1 555 2")]
    seeded = portal.ok("crm.contact.get", {"id": 1})["result"]  # a demo contact, stored by the seed
    assert seeded["PHONE"] and seeded["HAS_PHONE"] == "Y" and seeded["HAS_IMOL"] == "N"
    assert portal.ok("crm.item.get", {"entityTypeId": 3, "id": 1})["result"]["item"]["hasPhone"] == "Y"
    listed = portal.ok("crm.contact.list", {"filter": {"ID": contact_id}})["result"][0]
    assert "PHONE" not in listed  # `*` excludes multifields: they must be named (docs/protocol.md#crm-filters)


def test_classic_list_select_paging_and_start_minus_one(portal: Portal) -> None:
    for n in range(60):
        portal.ok("crm.company.add", {"fields": {"TITLE": f"Co {n:02d}", "REVENUE": n}})
    first = portal.ok("crm.company.list", {"filter": {"%TITLE": "Co "}, "order": {"REVENUE": "DESC"}})
    assert first["total"] == 60 and first["next"] == 50 and len(first["result"]) == 50
    assert first["result"][0]["TITLE"] == "Co 59" and "UF_CRM_1750" not in first["result"][0]
    second = portal.ok("crm.company.list", {"filter": {"%TITLE": "Co "}, "order": {"REVENUE": "DESC"}, "start": 73})
    assert "next" not in second and [r["TITLE"] for r in second["result"]][-1] == "Co 00"
    fast = portal.ok("crm.company.list", {"filter": {"%TITLE": "Co "}, "start": -1, "select": ["ID"]})
    assert fast["total"] == 0 and "next" not in fast and len(fast["result"]) == 50
    assert set(fast["result"][0]) == {"ID"}
    assert portal.emu.stats()["counted_pages"] == 2
    unreadable = portal.ok("crm.company.list", {"filter": {"%TITLE": "Co ", "><REVENUE": 5}, "select": ["ID"]})
    assert unreadable["total"] == 60  # a between without two bounds is dropped, as unknown fields are
    bad_filter = error(portal, "crm.company.list", {"filter": "x"})["error_description"]
    assert bad_filter == documented("crm.company.list", "'filter'")


def test_item_api_wrappers_errors_and_start_minus_one(portal: Portal) -> None:
    made = portal.ok(
        "crm.item.add", {"entityTypeId": 1, "fields": {"title": "Via item", "name": "Ivy", "ufCrm_17": "u"}}
    )
    item = made["result"]["item"]
    assert item["stageId"] == "NEW" and item["ufCrm_17"] == "u" and isinstance(item["id"], int)
    lead = portal.ok("crm.lead.get", {"id": item["id"]})["result"]
    assert lead["STATUS_ID"] == "NEW" and lead["UF_CRM_17"] == "u"
    original = portal.ok("crm.item.get", {"entityTypeId": 1, "id": item["id"], "useOriginalUfNames": "Y"})
    assert original["result"]["item"]["UF_CRM_17"] == "u"
    page = portal.ok("crm.item.list", {"entityTypeId": 1, "select": ["id", "title"], "start": -1})
    assert (
        "total" not in page and "next" not in page and all(set(i) == {"id", "title"} for i in page["result"]["items"])
    )
    counted = portal.ok("crm.item.list", {"entityTypeId": 1, "order": {"id": "DESC"}})
    assert counted["total"] == 6 and counted["result"]["items"][0]["id"] == item["id"]
    fields = portal.ok("crm.item.fields", {"entityTypeId": 1})["result"]["fields"]
    assert fields["stageId"]["upperName"] == "STATUS_ID" and fields["stageId"]["statusType"] == "STATUS"
    missing = error(portal, "crm.item.get", {"entityTypeId": 2, "id": 999_999})
    assert missing["error"] == "NOT_FOUND"
    assert error(portal, "crm.item.list", {"entityTypeId": 9999})["error"] == "NOT_FOUND"
    bad = error(portal, "crm.item.list", {"entityTypeId": 2, "filter": {">nope": 1}})
    assert bad == {
        "error": "INVALID_ARG_VALUE",
        "error_description": "Invalid filter: field 'nope' is not allowed in filter",
    }
    bad = error(portal, "crm.item.list", {"entityTypeId": 2, "filter": {">id": "abc"}})
    assert bad["error_description"] == "Invalid filter: field 'id' has invalid value"
    bad = error(portal, "crm.item.list", {"entityTypeId": 2, "order": {"id": "UP"}})
    assert "But got 'UP' for field 'id'" in bad["error_description"]
    bad = error(portal, "crm.item.add", {"entityTypeId": 2, "fields": {"opportunity": "lots"}})
    assert bad["error"] == "CRM_FIELD_ERROR_VALUE_NOT_VALID" and "Amount" in bad["error_description"]
    bad = error(portal, "crm.item.add", {"entityTypeId": 2, "fields": {"contactIds": 5}})
    assert bad["error"] == "100" and "got integer instead" in bad["error_description"]


def test_item_or_groups(portal: Portal) -> None:
    for title, amount in (("a", 10), ("b", 20), ("c", 30)):
        portal.ok("crm.item.add", {"entityTypeId": 2, "fields": {"title": title, "opportunity": amount}})
    flt = {"logic": "OR", "0": {"=title": "a"}, "1": {">=opportunity": 30, "<opportunity": 31}}
    found = portal.ok("crm.item.list", {"entityTypeId": 2, "filter": flt, "select": ["title"]})["result"]["items"]
    assert sorted(i["title"] for i in found) == ["a", "c"]
    nested = {"!@title": ["b"], "0": {"logic": "OR", "=%title": "a%", "<opportunity": 25}, ">opportunity": 0}
    found = portal.ok("crm.item.list", {"entityTypeId": 2, "filter": nested})["result"]["items"]
    assert [i["title"] for i in found] == ["a"]
