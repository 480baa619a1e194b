"""crm.enum.*, crm.multifield.fields, crm.settings.mode.get: the docs' tables (docs/protocol.md#crm-enums)."""

from __future__ import annotations

import pytest

from tests.emulator.conftest import Portal

ACTIVITY = {
    "crm.enum.activitytype": ["", "Meeting", "Call", "Task", "E-mail", "Action", "Custom Action"],
    "crm.enum.activitystatus": ["", "Pending", "Completed", "Automatically completed"],
    "crm.enum.activitydirection": ["", "Incoming", "Outgoing"],
    "crm.enum.activitypriority": ["", "low", "medium", "high"],
    "crm.enum.activitynotifytype": ["", "min.", "hr.", "day."],
    "crm.enum.contenttype": ["", "Plain text", "bbCode", "HTML"],
}


@pytest.mark.parametrize("method", sorted(ACTIVITY))
def test_activity_enums_start_at_zero(portal: Portal, method: str) -> None:
    rows = portal.ok(method)["result"]
    assert [r["ID"] for r in rows] == list(range(len(ACTIVITY[method])))
    assert [r["NAME"] for r in rows] == ACTIVITY[method]
    assert all(r["SYMBOL_CODE"] is None and r["SYMBOL_CODE_SHORT"] is None for r in rows)


def test_ownertype_includes_smart_processes(portal: Portal) -> None:
    rows = {r["ID"]: r for r in portal.ok("crm.enum.ownertype")["result"]}
    assert rows[1] == {"ID": 1, "NAME": "Lead", "SYMBOL_CODE": "LEAD", "SYMBOL_CODE_SHORT": "L"}
    assert rows[31]["SYMBOL_CODE_SHORT"] == "SI"
    assert rows[177] == {
        "ID": 177,
        "NAME": "Equipment Purchase",
        "SYMBOL_CODE": "DYNAMIC_177",
        "SYMBOL_CODE_SHORT": "Tb1",
    }


def test_other_tables(portal: Portal) -> None:
    assert [r["ID"] for r in portal.ok("crm.enum.addresstype")["result"]] == [11, 1, 6, 4, 8, 9]
    assert [r["NAME"] for r in portal.ok("crm.enum.settings.mode")["result"]] == ["Classic CRM", "Simple CRM"]
    assert portal.ok("crm.enum.getorderownertypes")["result"] == [
        {"attribute": "DYN", "code": "DEAL", "id": 2, "name": "Deal"}
    ]
    assert set(portal.ok("crm.enum.fields")["result"]) == {"ID", "NAME", "SYMBOL_CODE", "SYMBOL_CODE_SHORT"}
    multifield = portal.ok("crm.multifield.fields")["result"]
    assert multifield["ID"]["type"] == "int" and multifield["VALUE"]["isReadOnly"] is False


def test_settings_mode(portal: Portal) -> None:
    assert portal.ok("crm.settings.mode.get")["result"] == 1
    portal.emu.set_crm_mode(2)
    assert portal.ok("crm.settings.mode.get")["result"] == 2
