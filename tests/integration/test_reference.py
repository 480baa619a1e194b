"""The reference methods: every crm.enum.* (11), crm.multifield.fields and crm.settings.mode.get."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest

from b24crm import Client, enums, models
from b24crm.testing import Emulator

#: The six enumerations Bitrix24 has discontinued, with the ID -> NAME table the docs give (ID 0 is "").
DEPRECATED: dict[str, dict[int, str]] = {
    "activitytype": {0: "", 1: "Meeting", 2: "Call", 3: "Task", 4: "E-mail", 5: "Action", 6: "Custom Action"},
    "activitydirection": {0: "", 1: "Incoming", 2: "Outgoing"},
    "activitypriority": {0: "", 1: "low", 2: "medium", 3: "high"},
    "activitynotifytype": {0: "", 1: "min.", 2: "hr.", 3: "day."},
    "contenttype": {0: "", 1: "Plain text", 2: "bbCode", 3: "HTML"},
    "activitystatus": {0: "", 1: "Pending", 2: "Completed", 3: "Automatically completed"},
}


@pytest.mark.parametrize("name", sorted(DEPRECATED))
def test_deprecated_enums_warn_and_answer(emu: Emulator, client: Client, name: str) -> None:
    method: Callable[[], list[models.EnumItem]] = getattr(client.crm.enum, name)
    with pytest.warns(DeprecationWarning, match=f"crm.enum.{name} is deprecated"):
        items = method()
    assert all(isinstance(i, models.EnumItem) for i in items)
    assert {i.id: i.name for i in items} == DEPRECATED[name]
    assert all(i.symbol_code is None and i.symbol_code_short is None for i in items)
    assert emu.stats()["by_method"] == {f"crm.enum.{name}": 1}  # the warning does not stop the call


@pytest.mark.parametrize("name", ["addresstype", "ownertype", "getorderownertypes", "fields"])
def test_current_enums_do_not_warn(client: Client, name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        getattr(client.crm.enum, name)()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        client.crm.enum.settings.mode()


def test_addresstype(client: Client) -> None:
    items = {i.id: i.name for i in client.crm.enum.addresstype()}
    assert items[1] == "Actual Address" and items[6] == "Legal Address" and items[11] == "Delivery Address"


def test_ownertype_includes_smart_processes(client: Client) -> None:
    items = {i.id: i for i in client.crm.enum.ownertype()}
    assert (items[1].symbol_code, items[1].symbol_code_short) == ("LEAD", "L")
    assert (items[31].symbol_code, items[31].symbol_code_short) == ("SMART_INVOICE", "SI")
    dynamic = items[177]  # the demo portal's "Equipment Purchase" smart process
    assert (dynamic.name, dynamic.symbol_code, dynamic.symbol_code_short) == (
        "Equipment Purchase",
        "DYNAMIC_177",
        "Tb1",
    )


def test_getorderownertypes(client: Client) -> None:
    rows = client.crm.enum.getorderownertypes()
    assert rows == [models.EnumOrderOwnerType(attribute="DYN", code="DEAL", id=2, name="Deal")]


def test_enum_fields_are_typed(client: Client) -> None:
    fields = client.crm.enum.fields()
    assert isinstance(fields, models.EnumFieldsResult)
    assert fields.id is not None and fields.id.is_read_only is True and fields.id.type == "int"
    assert fields.name is not None and fields.name.type == "string"
    assert fields.symbol_code is not None and fields.symbol_code_short is not None


def test_enum_settings_mode(client: Client) -> None:
    assert {i.id: i.name for i in client.crm.enum.settings.mode()} == {1: "Classic CRM", 2: "Simple CRM"}


def test_multifield_fields(client: Client) -> None:
    fields = client.crm.multifield.fields()
    assert isinstance(fields, models.MultifieldFieldsResult)
    assert fields.id is not None and fields.id.is_read_only is True
    assert fields.type_id is not None and fields.type_id.is_read_only is True
    assert fields.value is not None and fields.value.is_read_only is False and fields.value.type == "string"
    assert fields.value_type is not None and fields.value_type.title == "Value Type"


def test_settings_mode_get_follows_the_portal(emu: Emulator, client: Client) -> None:
    mode = client.crm.settings.mode.get()
    assert mode is enums.CrmMode.CLASSIC
    emu.set_crm_mode(2)
    assert client.crm.settings.mode.get() is enums.CrmMode.SIMPLE
