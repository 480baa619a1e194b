"""The CRM objects agree with the seed methods: funnels are directories, stage moves are stage history,
findbycomm and mergeBatch work on the contacts the API made."""

from __future__ import annotations

from typing import Any

from tests.emulator.conftest import Portal


def history_of(portal: Portal, entity_type_id: int, owner: int) -> list[dict[str, Any]]:
    # Records written now, not the fixture's synthetic ones (stage_history=1000, dated 2024).
    flt = {"OWNER_ID": owner, ">=CREATED_TIME": "2025-01-01T00:00:00+00:00"}
    body = portal.ok("crm.stagehistory.list", {"entityTypeId": entity_type_id, "filter": flt})
    items: list[dict[str, Any]] = body["result"]["items"]
    return items


def stage_ids(portal: Portal, entity_id: str) -> list[str]:
    rows = portal.ok("crm.status.list", {"filter": {"ENTITY_ID": entity_id}})["result"]
    return [r["STATUS_ID"] for r in rows]


def test_stage_must_belong_to_the_funnel(portal: Portal) -> None:
    deal_id = portal.ok("crm.deal.add", {"fields": {"TITLE": "Funnel 2", "CATEGORY_ID": 2}})["result"]
    assert portal.ok("crm.deal.get", {"id": deal_id})["result"]["STAGE_ID"] == stage_ids(portal, "DEAL_STAGE_2")[0]
    # The classic proxy answers no such error: a stage from another funnel is not taken, the deal stays put.
    portal.ok("crm.deal.update", {"id": deal_id, "fields": {"STAGE_ID": "WON"}})
    assert portal.ok("crm.deal.get", {"id": deal_id})["result"]["STAGE_ID"] == "C2:NEW"
    lost = portal.ok("crm.deal.add", {"fields": {"TITLE": "No such funnel", "CATEGORY_ID": 999}})["result"]
    assert portal.ok("crm.deal.get", {"id": lost})["result"]["CATEGORY_ID"] == "0"
    wrong = portal.call("crm.item.update", {"entityTypeId": 2, "id": deal_id, "fields": {"stageId": "C1:NEW"}})
    assert wrong.status == 400 and wrong.json["error"] == "CRM_FIELD_ERROR_VALUE_NOT_VALID"
    inferred = portal.ok("crm.deal.add", {"fields": {"TITLE": "By prefix", "STAGE_ID": "C1:DECISION"}})["result"]
    assert portal.ok("crm.deal.get", {"id": inferred})["result"]["CATEGORY_ID"] == "1"


def test_stage_changes_write_stage_history(portal: Portal) -> None:
    deal_id = portal.ok("crm.deal.add", {"fields": {"TITLE": "Moving"}})["result"]
    portal.ok("crm.deal.update", {"id": deal_id, "fields": {"STAGE_ID": "PREPARATION"}})
    portal.ok("crm.deal.update", {"id": deal_id, "fields": {"TITLE": "No move"}})
    portal.ok("crm.item.update", {"entityTypeId": 2, "id": deal_id, "fields": {"stageId": "WON"}})
    records = history_of(portal, 2, deal_id)
    assert [(r["TYPE_ID"], r["STAGE_ID"], r["STAGE_SEMANTIC_ID"]) for r in records] == [
        (1, "NEW", "P"),
        (2, "PREPARATION", "P"),
        (3, "WON", "S"),
    ]
    deal = portal.ok("crm.deal.get", {"id": deal_id})["result"]
    assert (
        deal["CLOSED"] == "Y" and deal["STAGE_SEMANTIC_ID"] == "S" and deal["MOVED_TIME"] == records[-1]["CREATED_TIME"]
    )
    moved = portal.ok("crm.item.update", {"entityTypeId": 2, "id": deal_id, "fields": {"categoryId": 1}})
    assert moved["result"]["item"]["stageId"] == "C1:NEW"
    assert history_of(portal, 2, deal_id)[-1]["TYPE_ID"] == 5  # a change of funnel
    lead_id = portal.ok("crm.lead.add", {"fields": {"TITLE": "Lead moves"}})["result"]
    portal.ok("crm.lead.update", {"id": lead_id, "fields": {"STATUS_ID": "IN_PROCESS"}})
    portal.ok("crm.lead.update", {"id": lead_id, "fields": {"STATUS_ID": "JUNK"}})
    records = history_of(portal, 1, lead_id)
    assert [(r["TYPE_ID"], r["STATUS_ID"]) for r in records] == [(1, "NEW"), (2, "IN_PROCESS"), (4, "JUNK")]
    assert records[-1]["STATUS_SEMANTIC_ID"] == "F"


def test_demo_deals_sit_in_their_funnels_with_history(portal: Portal) -> None:
    deals = portal.ok("crm.deal.list", {"select": ["ID", "CATEGORY_ID", "STAGE_ID"]})["result"]
    assert {d["CATEGORY_ID"] for d in deals} == {"0", "1", "2"}
    for deal in deals:
        funnel = "DEAL_STAGE" if deal["CATEGORY_ID"] == "0" else f"DEAL_STAGE_{deal['CATEGORY_ID']}"
        assert deal["STAGE_ID"] in stage_ids(portal, funnel)
        assert history_of(portal, 2, int(deal["ID"]))[-1]["STAGE_ID"] == deal["STAGE_ID"]
    assert len({d["STAGE_ID"] for d in deals}) > 5
    items = portal.ok("crm.item.list", {"entityTypeId": 177})["result"]["items"]
    for item in items:  # the demo's smart-process items sit where their seeded history left them
        flt = {"OWNER_ID": item["id"]}
        records = portal.ok("crm.stagehistory.list", {"entityTypeId": 177, "filter": flt})["result"]["items"]
        assert records and records[-1]["STAGE_ID"] == item["stageId"]
    assert len(items) == 2


def test_category_add_creates_the_directory(portal: Portal) -> None:
    category = portal.ok("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Enterprise", "sort": 10}})
    new_id = category["result"]["category"]["id"]
    assert category["result"]["category"] == {
        "id": new_id,
        "name": "Enterprise",
        "sort": 10,
        "entityTypeId": 2,
        "isDefault": "N",
    }
    types = portal.ok("crm.status.entity.types")["result"]
    assert any(t["ID"] == f"DEAL_STAGE_{new_id}" for t in types)
    stages = stage_ids(portal, f"DEAL_STAGE_{new_id}")
    assert stages[0] == f"C{new_id}:NEW" and f"C{new_id}:WON" in stages
    deal_id = portal.ok("crm.deal.add", {"fields": {"TITLE": "In it", "CATEGORY_ID": new_id}})["result"]
    assert portal.ok("crm.deal.get", {"id": deal_id})["result"]["STAGE_ID"] == f"C{new_id}:NEW"
    listed = portal.ok("crm.category.list", {"entityTypeId": 2})["result"]["categories"]
    assert listed[0]["id"] == new_id and any(c["id"] == 0 and c["isDefault"] == "Y" for c in listed)
    busy = portal.call("crm.category.delete", {"entityTypeId": 2, "id": new_id})
    assert busy.status == 400 and "Enterprise" in busy.json["error_description"]
    portal.ok("crm.deal.delete", {"id": deal_id})
    portal.ok("crm.category.update", {"entityTypeId": 2, "id": new_id, "fields": {"name": "Renamed"}})
    assert portal.ok("crm.category.get", {"entityTypeId": 2, "id": new_id})["result"]["category"]["name"] == "Renamed"
    portal.ok("crm.category.delete", {"entityTypeId": 2, "id": new_id})
    assert stage_ids(portal, f"DEAL_STAGE_{new_id}") == []
    gone = portal.call("crm.category.get", {"entityTypeId": 2, "id": new_id})
    assert gone.status == 400 and gone.json["error"] == "NOT_FOUND"
    assert portal.call("crm.category.list", {"entityTypeId": 3}).json["error"] == "ENTITY_TYPE_NOT_SUPPORTED"
    fields = portal.ok("crm.category.fields", {"entityTypeId": 2})["result"]["fields"]
    assert fields["name"]["isRequired"] is True


def test_type_add_creates_a_smart_process_with_funnels(portal: Portal) -> None:
    made = portal.ok("crm.type.add", {"fields": {"title": "Projects", "isCategoriesEnabled": "Y"}})["result"]["type"]
    etid = made["entityTypeId"]
    assert etid >= 1030 and etid % 2 == 0 and made["title"] == "Projects"
    assert portal.ok("crm.type.get", {"id": made["id"]})["result"]["type"]["entityTypeId"] == etid
    assert portal.ok("crm.type.getByEntityTypeId", {"entityTypeId": etid})["result"]["type"]["id"] == made["id"]
    assert any(t["entityTypeId"] == etid for t in portal.ok("crm.type.list")["result"]["types"])
    funnels = portal.ok("crm.category.list", {"entityTypeId": etid})["result"]["categories"]
    assert len(funnels) == 1 and funnels[0]["isDefault"] == "Y"
    default = funnels[0]["id"]
    assert stage_ids(portal, f"DYNAMIC_{etid}_STAGE_{default}")[0] == f"DT{etid}_{default}:NEW"
    second = portal.ok("crm.category.add", {"entityTypeId": etid, "fields": {"name": "Second"}})["result"]["category"]
    item = portal.ok("crm.item.add", {"entityTypeId": etid, "fields": {"title": "P1", "categoryId": second["id"]}})
    item_id = item["result"]["item"]["id"]
    assert item["result"]["item"]["stageId"] == f"DT{etid}_{second['id']}:NEW"
    portal.ok(
        "crm.item.update",
        {"entityTypeId": etid, "id": item_id, "fields": {"stageId": f"DT{etid}_{second['id']}:SUCCESS"}},
    )
    assert [r["TYPE_ID"] for r in history_of(portal, etid, item_id)] == [1, 3]
    busy = portal.call("crm.type.delete", {"id": made["id"]})
    assert busy.status == 400 and busy.json["error"] == "BX_ERROR"
    portal.ok("crm.item.delete", {"entityTypeId": etid, "id": item_id})
    portal.ok("crm.type.update", {"id": made["id"], "fields": {"title": "Renamed"}})
    # the update action defaults fields to [] (docs/protocol.md#errors): no fields, nothing changes; add needs them
    assert portal.ok("crm.type.update", {"id": made["id"]})["result"]["type"]["title"] == "Renamed"
    assert portal.call("crm.type.add", {}).json == {
        "error": "100",
        "error_description": "Could not find value for parameter {fields}",
    }
    portal.ok("crm.type.delete", {"id": made["id"]})
    assert portal.call("crm.item.list", {"entityTypeId": etid}).json["error"] == "NOT_FOUND"
    assert stage_ids(portal, f"DYNAMIC_{etid}_STAGE_{default}") == []
    assert portal.ok("crm.type.fields")["result"]["fields"]["title"]["isRequired"] is True


def test_findbycomm_and_merge_on_objects_made_by_the_api(portal: Portal) -> None:
    phone = "+49 30 1234 5678"
    first = portal.ok("crm.contact.add", {"fields": {"NAME": "Kim", "PHONE": [{"VALUE": phone}]}})["result"]
    second = portal.ok(
        "crm.contact.add",
        {"fields": {"NAME": "Kim", "POST": "CTO", "PHONE": [{"VALUE": "4930-12345678"}], "EMAIL": ["k@x.de"]}},
    )["result"]
    company = portal.ok("crm.company.add", {"fields": {"TITLE": "Kim GmbH", "PHONE": [{"VALUE": phone}]}})["result"]
    found = portal.ok("crm.duplicate.findbycomm", {"type": "PHONE", "values": ["493012345678"]})["result"]
    assert found == {"CONTACT": [first, second], "COMPANY": [company]}
    merged = portal.ok("crm.entity.mergeBatch", {"params": {"entityTypeId": 3, "entityIds": [first, second]}})
    assert merged["result"] == {"STATUS": "SUCCESS", "ENTITY_IDS": [second]}
    kept = portal.ok("crm.contact.get", {"id": first})["result"]
    assert kept["POST"] == "CTO" and [e["VALUE"] for e in kept["EMAIL"]] == ["k@x.de"] and len(kept["PHONE"]) == 1
    assert portal.call("crm.contact.get", {"id": second}).status == 400
    assert (
        portal.ok("crm.item.list", {"entityTypeId": 3, "filter": {"@id": [first, second]}})["result"]["items"][0]["id"]
        == first
    )
    found = portal.ok("crm.duplicate.findbycomm", {"type": "PHONE", "values": [phone], "entity_type": "CONTACT"})
    assert found["result"] == {"CONTACT": [first]}


def test_merge_batch_merges_deals_and_items(portal: Portal) -> None:
    first = portal.ok("crm.deal.add", {"fields": {"TITLE": "Dup", "OPPORTUNITY": 5}})["result"]
    second = portal.ok("crm.deal.add", {"fields": {"TITLE": "Dup", "OPPORTUNITY": 5, "COMMENTS": "note"}})["result"]
    merged = portal.ok("crm.entity.mergeBatch", {"params": {"entityTypeId": 2, "entityIds": [first, second]}})
    assert merged["result"] == {"STATUS": "SUCCESS", "ENTITY_IDS": [second]}
    assert portal.ok("crm.item.get", {"entityTypeId": 2, "id": first})["result"]["item"]["comments"] == "note"
    assert portal.call("crm.deal.get", {"id": second}).status == 400
    third = portal.ok("crm.deal.add", {"fields": {"TITLE": "Other", "OPPORTUNITY": 5}})["result"]
    clash = portal.ok("crm.entity.mergeBatch", {"params": {"entityTypeId": 2, "entityIds": [first, third]}})
    assert clash["result"]["STATUS"] == "CONFLICT" and portal.ok("crm.deal.get", {"id": third})["result"]
