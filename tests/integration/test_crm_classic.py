"""crm.{deal,lead,contact,company}.* (24 methods) through the generated client: typed models, select, UF_* fields.

The per-entity API answers UPPER_CASE fields with numbers as strings and ``Y``/``N`` flags; the client gives
typed models (``Deal``, ``Lead``, ``Contact``, ``Company``) with ints, bools, datetimes and multifield lists,
and keeps whatever the spec does not name (user fields ``UF_*``) in ``additional_properties``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from b24crm import Client, enums, errors, models

#: The per-entity methods are marked deprecated by Bitrix24 (in favour of crm.item.*); the client warns on each
#: call (checked once below) and they keep working.
pytestmark = pytest.mark.filterwarnings(r"ignore:crm\.\w+\.\w+ is deprecated:DeprecationWarning")

MODELS: dict[str, type[Any]] = {
    "deal": models.Deal,
    "lead": models.Lead,
    "contact": models.Contact,
    "company": models.Company,
}
NEW_FIELDS: dict[str, dict[str, Any]] = {
    "deal": {"TITLE": "Integration deal", "OPPORTUNITY": "1500.5", "CATEGORY_ID": 1},
    "lead": {"TITLE": "Integration lead", "NAME": "Ivy"},
    "contact": {"NAME": "Ivy", "LAST_NAME": "Stone"},
    "company": {"TITLE": "Stone & Co"},
}


def _api(client: Client, entity: str) -> Any:
    return getattr(client.crm, entity)


@pytest.mark.parametrize("entity", sorted(MODELS))
def test_crud_cycle_is_typed(client: Client, entity: str) -> None:
    api = _api(client, entity)
    new_id = api.add(fields={**NEW_FIELDS[entity], "COMMENTS": "first", "UF_CRM_1750": "ext-1"})
    assert isinstance(new_id, int) and new_id > 0

    got = api.get(id=new_id)
    assert isinstance(got, MODELS[entity])
    assert got.id == new_id and got.comments == "first"
    assert got.assigned_by_id == 1 and got.created_by_id == 1  # "1" on the wire, an int in the model
    assert got.opened is True  # "Y" on the wire
    assert isinstance(got.date_create, dt.datetime) and got.date_create.tzinfo is not None
    assert got.additional_properties["UF_CRM_1750"] == "ext-1"  # a user field: kept, not dropped

    assert api.update(id=new_id, fields={"COMMENTS": "second"}) is True
    assert api.get(id=new_id).comments == "second"

    page = api.list(filter={"ID": new_id}, select=["ID", "COMMENTS"])
    assert page.total == 1 and [(r.id, r.comments) for r in page] == [(new_id, "second")]

    assert api.delete(id=new_id) is True
    assert api.list(filter={"ID": new_id}).items == []
    with pytest.raises(errors.B24Error) as caught:
        api.get(id=new_id)
    assert isinstance(caught.value, errors.NotFound)


@pytest.mark.parametrize("entity", sorted(MODELS))
def test_fields_describe_the_entity(client: Client, entity: str) -> None:
    api = _api(client, entity)
    api.add(fields={**NEW_FIELDS[entity], "UF_CRM_1750": "x"})  # a user field the portal now knows
    fields = api.fields()
    assert all(isinstance(d, models.CrmRestFieldDescriptor) for d in fields.values())
    assert fields["ID"].is_read_only is True and fields["ID"].type == "integer"
    assert fields["DATE_CREATE"].type == "datetime" and fields["DATE_CREATE"].is_read_only is True
    assert fields["UF_CRM_1750"].is_dynamic is True
    if entity in ("lead", "contact", "company"):
        assert fields["PHONE"].type == "crm_multifield" and fields["PHONE"].is_multiple is True


def test_deal_list_is_deprecated_but_works(client: Client) -> None:
    with pytest.warns(DeprecationWarning, match="crm.deal.list"):
        page = client.crm.deal.list(select=["ID"], order={"ID": "ASC"})
    assert [d.id for d in page] == list(range(1, 10))  # the demo's nine deals


def test_deal_money_stages_and_flags(client: Client) -> None:
    deal_id = client.crm.deal.add(fields=NEW_FIELDS["deal"])
    deal = client.crm.deal.get(id=deal_id)
    assert deal.opportunity == "1500.50"  # money: the wire's decimal string, not a float
    assert deal.category_id == 1 and deal.stage_id == "C1:NEW"  # the funnel's first stage
    assert deal.stage_semantic_id is enums.StageHistorySemantic.PROCESS
    assert deal.closed is False and deal.is_new is True

    assert client.crm.deal.update(id=deal_id, fields={"STAGE_ID": "C1:WON"}) is True
    won = client.crm.deal.get(id=deal_id)
    assert won.stage_id == "C1:WON" and won.closed is True
    assert won.stage_semantic_id is enums.StageHistorySemantic.SUCCESS


def test_partial_select_leaves_other_fields_none(client: Client) -> None:
    """A field the select left out is None in the model, never a default that looks like data."""
    deal_id = client.crm.deal.add(fields={**NEW_FIELDS["deal"], "UF_CRM_1750": "kept"})
    (narrow,) = client.crm.deal.list(filter={"ID": deal_id}, select=["ID", "TITLE"])
    assert (narrow.id, narrow.title) == (deal_id, "Integration deal")
    assert narrow.stage_id is None and narrow.opportunity is None and narrow.opened is None
    assert narrow.closed is None and narrow.is_new is None  # not False: the flag was not read
    assert narrow.additional_properties == {}  # UF_* not selected, so not there

    (wide,) = client.crm.deal.list(filter={"ID": deal_id}, select=["*", "UF_*"])
    assert wide.stage_id == "C1:NEW" and wide.opportunity == "1500.50" and wide.closed is False
    assert wide.additional_properties["UF_CRM_1750"] == "kept"
    assert wide == client.crm.deal.get(id=deal_id)  # a deal has no multifields: "*" + "UF_*" is all of it


def test_list_filters_order_and_counted_pages(client: Client) -> None:
    for n in range(55):
        client.crm.company.add(fields={"TITLE": f"Filter Co {n:02d}", "REVENUE": n})
    first = client.crm.company.list(
        filter={"%TITLE": "Filter Co ", ">=REVENUE": 3}, order={"REVENUE": "DESC"}, select=["ID", "TITLE", "REVENUE"]
    )
    assert first.total == 52 and first.next == 50 and len(first) == 50
    assert first.items[0].title == "Filter Co 54" and first.items[0].revenue == "54.00"  # numeric order, money string
    rest = client.crm.company.list(
        filter={"%TITLE": "Filter Co ", ">=REVENUE": 3}, order={"REVENUE": "DESC"}, start=first.next
    )
    assert [c.title for c in rest] == ["Filter Co 04", "Filter Co 03"] and rest.next is None
    fast = client.crm.company.list(filter={"%TITLE": "Filter Co "}, select=["ID"], start=-1)
    assert fast.total == 0 and fast.next is None and len(fast) == 50  # start=-1: no count


def test_contact_multifields_are_typed_values(client: Client) -> None:
    contact_id = client.crm.contact.add(
        fields={
            "NAME": "Multi",
            "PHONE": [{"VALUE": "+1 555 0101", "VALUE_TYPE": "WORK"}],
            "EMAIL": [{"VALUE": "multi@example.com", "VALUE_TYPE": "HOME"}],
        }
    )
    contact = client.crm.contact.get(id=contact_id)
    assert contact.has_phone is True and contact.has_email is True and contact.has_imol is False
    assert contact.phone is not None and len(contact.phone) == 1
    phone = contact.phone[0]
    assert isinstance(phone, models.MultifieldValue)
    assert (phone.value, phone.value_type, phone.type_id) == ("+1 555 0101", "WORK", enums.MultifieldTypeId.PHONE)
    assert contact.email is not None and contact.email[0].value == "multi@example.com"

    assert phone.id is not None
    replaced = [{"ID": phone.id, "DELETE": "Y"}, {"VALUE": "+1 555 0202", "VALUE_TYPE": "MOBILE"}]
    assert client.crm.contact.update(id=contact_id, fields={"PHONE": replaced}) is True
    after = client.crm.contact.get(id=contact_id)
    assert after.phone is not None and [(p.value, p.value_type) for p in after.phone] == [("+1 555 0202", "MOBILE")]
    # '*' leaves the multifields out of a list; they must be named
    (listed,) = client.crm.contact.list(filter={"ID": contact_id})
    assert listed.phone is None and listed.name == "Multi"
    (named,) = client.crm.contact.list(filter={"ID": contact_id}, select=["ID", "PHONE"])
    assert named.phone is not None and named.phone[0].value == "+1 555 0202"


def test_lead_and_company_seeded_objects(client: Client) -> None:
    lead = client.crm.lead.get(id=1)
    assert lead.status_id == "NEW" and lead.status_semantic_id is enums.StageHistorySemantic.PROCESS
    assert lead.phone is not None and lead.phone[0].value == "+1 555 010 0001"
    company = client.crm.company.get(id=1)
    assert company.title == "Northwind Traders" and company.company_type == "CUSTOMER"
    assert company.has_phone is True and company.email is not None


def test_deal_is_the_item_in_both_apis(client: Client) -> None:
    """One store: the deal crm.deal.add made is the item crm.item.get(entityTypeId=2) returns, and back."""
    contact_id = client.crm.contact.add(fields={"NAME": "Both"})
    deal_id = client.crm.deal.add(
        fields={"TITLE": "Both APIs", "OPPORTUNITY": 99.5, "CATEGORY_ID": 1, "CONTACT_ID": contact_id, "UF_CRM_9": "u"}
    )
    classic = client.crm.deal.get(id=deal_id)
    item = client.crm.item.get(entity_type_id=2, id=deal_id).item
    assert isinstance(item, models.Item)
    assert item.id == classic.id == deal_id and item.title == classic.title == "Both APIs"
    assert item.opportunity == 99.5 and classic.opportunity == "99.50"  # typed per API: float / money string
    assert item.stage_id == classic.stage_id == "C1:NEW" and item.category_id == classic.category_id == 1
    assert item.contact_id == classic.contact_id == contact_id
    assert item.created_time == classic.date_create and item.created_by == classic.created_by_id == 1
    assert item.additional_properties["ufCrm_9"] == classic.additional_properties["UF_CRM_9"] == "u"

    updated = client.crm.item.update(entity_type_id=2, id=deal_id, fields={"title": "Renamed", "stageId": "C1:WON"})
    assert updated.item.title == "Renamed"
    again = client.crm.deal.get(id=deal_id)
    assert (again.title, again.stage_id, again.closed) == ("Renamed", "C1:WON", True)
    assert client.crm.deal.delete(id=deal_id) is True
    with pytest.raises(errors.ItemNotFoundError):
        client.crm.item.get(entity_type_id=2, id=deal_id)
