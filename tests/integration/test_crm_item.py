"""crm.item.* (6 methods) through the generated client: one API for every object type, {item}/{items} wrappers.

crm.item answers camelCase fields with typed values (ints, floats, ISO times) and wraps them: ``{"item": ...}``
for one, ``{"items": [...]}`` for a page. The client gives ``ItemResult`` / ``Page[Item]``: the wrapper of one
item stays visible (the docs' shape), the page's is unwrapped. User fields (``ufCrm…``) and whatever the
spec's Item does not name are kept in ``additional_properties``.
"""

from __future__ import annotations

import datetime as dt

import pytest

from b24crm import Client, enums, errors, models
from b24crm.runtime.errors import RequestValidationError
from b24crm.testing import Emulator

#: The per-entity calls used to cross-check are deprecated by Bitrix24 (tests/integration/test_crm_classic.py).
pytestmark = pytest.mark.filterwarnings(r"ignore:crm\.\w+\.\w+ is deprecated:DeprecationWarning")


def test_add_get_update_delete_a_deal_item(client: Client) -> None:
    made = client.crm.item.add(
        entity_type_id=2, fields={"title": "Item deal", "opportunity": 250.75, "categoryId": 2, "ufCrm_42": "u"}
    )
    assert isinstance(made, models.ItemResult) and isinstance(made.item, models.Item)
    item = made.item
    assert item.id is not None and item.id > 9  # after the demo's nine deals
    assert (item.title, item.opportunity, item.category_id, item.stage_id) == ("Item deal", 250.75, 2, "C2:NEW")
    assert item.stage_semantic_id is enums.ItemStageSemantic.PROCESS
    assert isinstance(item.created_time, dt.datetime) and item.created_by == 1 and item.opened is True
    assert item.additional_properties["ufCrm_42"] == "u"

    assert client.crm.item.get(entity_type_id=2, id=item.id) == made

    updated = client.crm.item.update(entity_type_id=2, id=item.id, fields={"stageId": "C2:WON", "opportunity": 300})
    assert updated.item.stage_id == "C2:WON" and updated.item.closed is True and updated.item.opportunity == 300
    assert updated.item.stage_semantic_id is enums.ItemStageSemantic.SUCCESS
    assert client.crm.item.get(entity_type_id=2, id=item.id).item.stage_id == "C2:WON"

    assert client.crm.item.delete(entity_type_id=2, id=item.id) == []  # success is an empty PHP array
    with pytest.raises(errors.ItemNotFoundError) as caught:
        client.crm.item.get(entity_type_id=2, id=item.id)
    assert isinstance(caught.value, errors.NotFound)
    with pytest.raises(errors.ItemDeleteNotFoundError):
        client.crm.item.delete(entity_type_id=2, id=item.id)


def test_the_same_contact_through_crm_item(client: Client) -> None:
    contact_id = client.crm.contact.add(
        fields={"NAME": "Iris", "LAST_NAME": "Item", "PHONE": [{"VALUE": "+1 555 0303", "VALUE_TYPE": "WORK"}]}
    )
    item = client.crm.item.get(entity_type_id=3, id=contact_id).item
    assert (item.name, item.last_name, item.has_phone) == ("Iris", "Item", True)
    assert item.fm is not None and [(m.type_id, m.value) for m in item.fm] == [("PHONE", "+1 555 0303")]
    client.crm.item.update(entity_type_id=3, id=contact_id, fields={"post": "CTO"})
    assert client.crm.contact.get(id=contact_id).post == "CTO"


def test_original_uf_names(client: Client) -> None:
    made = client.crm.item.add(entity_type_id=1, fields={"title": "UF lead", "ufCrm_17": "v"})
    assert made.item.id is not None and made.item.stage_id == "NEW"
    original = client.crm.item.get(entity_type_id=1, id=made.item.id, use_original_uf_names=True).item
    assert original.additional_properties["UF_CRM_17"] == "v" and "ufCrm_17" not in original.additional_properties
    assert client.crm.lead.get(id=made.item.id).additional_properties["UF_CRM_17"] == "v"


def test_list_is_a_page_of_items_with_select_filter_and_order(client: Client) -> None:
    page = client.crm.item.list(
        entity_type_id=2, select=["id", "title"], filter={">opportunity": 10_000}, order={"opportunity": "DESC"}
    )
    assert all(isinstance(i, models.Item) for i in page)
    assert [i.title for i in page] == [
        "Bulk order Q2",
        "Bulk order Q1",
        "Hardware refresh",
        "Reseller licence",
        "Website redesign",
    ]
    assert page.total == 5 and page.next is None
    assert all(i.stage_id is None and i.opportunity is None for i in page)  # not selected: None, not a default

    either = client.crm.item.list(
        entity_type_id=2,
        select=["id"],
        filter={"logic": "OR", "0": {"=title": "Spare parts"}, "1": {"@categoryId": [1]}},
        order={"id": "ASC"},
    )
    assert [i.id for i in either] == [5, 6, 9]

    fast = client.crm.item.list(entity_type_id=2, select=["id"], start=-1)
    assert fast.total is None and fast.next is None and len(fast) == 9  # no count with start=-1


def test_list_errors_are_typed(emu: Emulator, client: Client) -> None:
    with pytest.raises(RequestValidationError, match=r"order\.id"):  # the spec's enum: refused before sending
        client.crm.item.list(entity_type_id=2, order={"id": "UP"})
    assert emu.stats()["requests"] == 0
    with pytest.raises(errors.ItemFilterFieldNotAllowedError):
        client.crm.item.list(entity_type_id=2, filter={">nope": 1})
    with pytest.raises(errors.ItemFilterValueInvalidError):
        client.crm.item.list(entity_type_id=2, filter={">id": "abc"})
    with pytest.raises(errors.CrmSmartProcessNotFoundError):
        client.crm.item.list(entity_type_id=9999)


def test_fields_are_keyed_by_camel_case_with_upper_names(client: Client) -> None:
    fields = client.crm.item.fields(entity_type_id=1).fields
    assert all(isinstance(d, models.CrmRestFieldDescriptor) for d in fields.values())
    assert fields["stageId"].upper_name == "STATUS_ID" and fields["stageId"].status_type == "STATUS"
    assert fields["id"].is_read_only is True and fields["id"].type == "integer"
    deal = client.crm.item.fields(entity_type_id=2).fields
    assert deal["opportunity"].type == "double" and deal["categoryId"].upper_name == "CATEGORY_ID"


def test_iter_all_uses_the_id_cursor_and_unwraps_items(emu: Emulator, client: Client) -> None:
    for n in range(120):
        client.crm.item.add(entity_type_id=177, fields={"title": f"Machine {n}", "categoryId": 7})
    before = emu.stats()
    items = list(client.crm.item.iter_all(entity_type_id=177, select=["id", "title"]))
    after = emu.stats()
    assert [i.title for i in items[:2]] == ["Laser cutter", "3D printer"]  # the demo's two, then ours
    assert len(items) == 122 and [i.id for i in items] == sorted(i.id for i in items if i.id is not None)
    assert all(isinstance(i, models.Item) and i.stage_id is None for i in items)
    assert after["counted_pages"] == before["counted_pages"]  # count-free: every page start=-1
    assert after["requests"] - before["requests"] <= 122 // 2500 + 2

    resumed = [i.id for i in client.crm.item.iter_all(entity_type_id=177, select=["id"], after_id=items[100].id)]
    assert resumed == [i.id for i in items[101:]]
    newest = [i.id for i in client.crm.item.iter_all(entity_type_id=177, order={"id": "DESC"}, limit=3)]
    assert newest == [i.id for i in items[-1:-4:-1]]
