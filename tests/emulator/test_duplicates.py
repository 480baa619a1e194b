"""findbycomm, mergeBatch, volatileType.* (docs/protocol.md#crm-duplicates and the VolatileType controller)."""

from __future__ import annotations

from b24crm.testing import Emulator
from tests.emulator.conftest import Portal


def find(portal: Portal, **params: object) -> object:
    return portal.ok("crm.duplicate.findbycomm", params)["result"]


def test_findbycomm_normalizes_phones_and_emails(portal: Portal) -> None:
    assert find(portal, type="PHONE", values=["+1 (555) 010-0001"]) == {"LEAD": [1], "CONTACT": [1, 4]}
    assert find(portal, type="email", values=["  ANNA@example.com"]) == {"LEAD": [1], "CONTACT": [1, 4]}
    assert find(portal, type="PHONE", values=["1-555-010-2000 #99"]) == {"CONTACT": [5], "COMPANY": [1]}
    assert find(portal, type="PHONE", values=["15550100002"], entity_type="CONTACT") == {"CONTACT": [2, 6]}
    assert find(portal, type="PHONE", values=[15550100002]) == []
    assert find(portal, type="EMAIL", values=["nobody@example.com"]) == []


def test_findbycomm_errors(portal: Portal) -> None:
    def error(**params: object) -> str:
        reply = portal.call("crm.duplicate.findbycomm", params)
        assert reply.status == 400 and reply.json["error"] == ""
        return str(reply.json["error_description"])

    assert error(values=["x"]) == "Communication type is not defined."
    assert error(type="FAX", values=["x"]) == "Communication type 'FAX' is not supported in current context."
    assert error(type="EMAIL") == "Communication values is not defined."
    assert error(type="EMAIL", values=[]) == "Communication values is not defined."
    assert error(type="EMAIL", values=["a@b.c"], entity_type="DEAL") == "Deal is not supported in current context."


def test_findbycomm_caps() -> None:
    with Emulator(seed="empty") as emu:
        for _ in range(25):
            emu.add_entity("LEAD", {"TITLE": "x", "PHONE": [{"VALUE": "+1 000", "VALUE_TYPE": "WORK"}]})
        emu.add_entity("CONTACT", {"NAME": "c", "PHONE": [{"VALUE": "1000", "VALUE_TYPE": "WORK"}]})
        for n in range(25):
            emu.add_entity("COMPANY", {"TITLE": f"c{n}", "EMAIL": [{"VALUE": f"c{n}@x.example", "VALUE_TYPE": "WORK"}]})
        portal = Portal(emu)
        hit = find(portal, type="PHONE", values=["1000"])
        assert hit == {"LEAD": list(range(1, 21))}  # 20 matches per value: leads hide the contact
        assert find(portal, type="PHONE", values=["1000"], entity_type="CONTACT") == {"CONTACT": [1]}
        many = find(portal, type="EMAIL", values=[f"c{n}@x.example" for n in range(25)])
        assert many == {"COMPANY": list(range(1, 21))}  # only the first 20 distinct values are used


def test_merge_success_deletes_others() -> None:
    with Emulator(seed="demo") as emu:
        portal = Portal(emu)
        result = portal.ok("crm.entity.mergeBatch", {"params": {"entityTypeId": 3, "entityIds": [1, 4, 999]}})["result"]
        assert result == {"STATUS": "SUCCESS", "ENTITY_IDS": [4]}
        assert find(portal, type="EMAIL", values=["anna@example.com"]) == {"LEAD": [1], "CONTACT": [1]}
        assert emu.portal.store.get("contact", 4) is None


def test_merge_conflict_and_error(portal: Portal) -> None:
    conflict = portal.ok("crm.entity.mergeBatch", {"params": {"entityTypeId": "3", "entityIds": ["2", "6"]}})["result"]
    assert conflict == {"STATUS": "CONFLICT", "ENTITY_IDS": [6]}
    assert portal.emu.portal.store.get("contact", 6) is not None
    error = portal.ok("crm.entity.mergeBatch", {"params": {"entityTypeId": 4, "entityIds": [2, 2]}})["result"]
    assert error == {"STATUS": "ERROR", "ENTITY_IDS": [2]}
    same = portal.ok("crm.entity.mergeBatch", {"params": {"entityTypeId": 4, "entityIds": [2, 4]}})["result"]
    assert same == {"STATUS": "SUCCESS", "ENTITY_IDS": [4]}


def test_merge_errors(portal: Portal) -> None:
    def error(inner: object) -> tuple[str, str]:
        reply = portal.call("crm.entity.mergeBatch", {"params": inner})
        assert reply.status == 400
        return reply.json["error"], reply.json["error_description"]

    assert error({"entityIds": [1, 2]}) == ("0", "The parameter entityTypeId is required.")
    assert error({"entityTypeId": 999, "entityIds": [1, 2]}) == ("OWNER_NOT_FOUND", "Owner was not found")
    assert error({"entityTypeId": 3, "entityIds": [998, 999]}) == (
        "0",
        "The parameter entityIds does not contains valid elements.",
    )
    assert error({"entityTypeId": 3, "entityIds": [1, 999]}) == (
        "0",
        "The parameter entityIds must contains at least two elements.",
    )


def test_volatile_types(portal: Portal) -> None:
    fields = portal.ok("crm.duplicate.volatileType.fields", {"entityTypeId": 1})["result"]
    assert {"entityTypeId": 1, "fieldCode": "TITLE", "fieldTitle": "Lead Name"} in fields
    everything = portal.ok("crm.duplicate.volatileType.fields")["result"]
    assert {f["entityTypeId"] for f in everything} == {1, 3, 4}
    first = portal.ok("crm.duplicate.volatileType.register", {"entityTypeId": 1, "fieldCode": "TITLE"})["result"]
    again = portal.ok("crm.duplicate.volatileType.register", {"entityTypeId": "1", "fieldCode": "TITLE"})["result"]
    assert first == again and isinstance(first["id"], int)
    assert portal.ok("crm.duplicate.volatileType.list")["result"] == [
        {"id": first["id"], "entityTypeId": 1, "fieldCode": "TITLE"}
    ]
    missing = portal.call("crm.duplicate.volatileType.register", {"entityTypeId": 1, "fieldCode": "NOPE"})
    assert missing.json == {"error": "FIELD_NOT_FOUND", "error_description": "Field not found"}
    codes = [("NAME", 1), ("LAST_NAME", 1), ("NAME", 3), ("LAST_NAME", 3), ("TITLE", 4), ("ADDRESS", 4)]
    for code, type_id in codes:
        portal.ok("crm.duplicate.volatileType.register", {"entityTypeId": type_id, "fieldCode": code})
    full = portal.call("crm.duplicate.volatileType.register", {"entityTypeId": 4, "fieldCode": "COMMENTS"})
    assert full.json["error"] == "MAX_TYPES_COUNT_EXCEEDED"
    assert portal.ok("crm.duplicate.volatileType.unregister", {"id": first["id"]})["result"] is True
    gone = portal.call("crm.duplicate.volatileType.unregister", {"id": first["id"]})
    assert gone.json == {"error": "TYPE_IS_NOT_ASSIGNED", "error_description": "This type is not assigned"}
    bad = portal.call("crm.duplicate.volatileType.unregister", {"id": "abc"})
    assert bad.status == 400 and "Should be value of type int" in bad.json["error_description"]
