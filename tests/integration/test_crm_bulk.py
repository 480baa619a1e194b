"""Bulk work on the CRM core: count-free exports of N deals, batches of the new methods, and the generic
``client.iter_all(method, params)`` on an object family the spec does not describe (crm.quote.*).

Request counts come from the emulator's own stats: ``counted_pages`` is every list page it answered with a
``total`` (a count it had to run), ``requests`` every HTTP request it saw.
"""

from __future__ import annotations

import math

import pytest

from b24crm import Client, models
from b24crm.runtime.paging import Page
from b24crm.runtime.spec import MethodSpec, Pagination
from b24crm.testing import Emulator
from b24crm.testing.crm.families import family_handlers

#: The per-entity methods are deprecated by Bitrix24 (tests/integration/test_crm_classic.py checks the warning).
pytestmark = pytest.mark.filterwarnings(r"ignore:crm\.\w+\.\w+ is deprecated:DeprecationWarning")

DEALS = 6000
#: The count-free bound: one chained batch of 50 pages per 2,500 records, plus the last short answer.
BOUND = math.ceil(DEALS / 2500) + 1


@pytest.mark.b24_emulator(seed="empty", deals=DEALS)
def test_deal_export_is_count_free_and_typed(emu: Emulator, client: Client) -> None:
    ids: list[int] = []
    for deal in client.crm.deal.iter_all(select=["*", "UF_*"]):
        assert isinstance(deal, models.Deal)
        assert deal.id is not None and deal.stage_id is not None and deal.category_id is not None
        assert deal.additional_properties["UF_CRM_1700000000"] == f"EXT-{deal.id:06d}"  # the user field, kept
        ids.append(deal.id)
    stats = emu.stats()
    assert ids == list(range(1, DEALS + 1))
    assert stats["counted_pages"] == 0 and stats["requests"] <= BOUND, stats


@pytest.mark.b24_emulator(seed="empty", deals=DEALS)
def test_the_same_deals_through_crm_item(emu: Emulator, client: Client) -> None:
    items = list(client.crm.item.iter_all(entity_type_id=2, select=["id", "stageId", "opportunity"]))
    stats = emu.stats()
    assert [i.id for i in items] == list(range(1, DEALS + 1))
    assert stats["counted_pages"] == 0 and stats["requests"] <= BOUND, stats
    classic = {d.id: d for d in client.crm.deal.list(filter={"@ID": [1, 2500, DEALS]}, select=["ID", "STAGE_ID"])}
    for item in (items[0], items[2499], items[-1]):
        assert item.stage_id == classic[item.id].stage_id and item.title is None  # title not selected


@pytest.mark.b24_emulator(seed="empty", deals=DEALS)
def test_filtered_export_and_resume(emu: Emulator, client: Client) -> None:
    won = [d.id for d in client.crm.deal.iter_all(filter={"STAGE_ID": "WON"}, select=["ID", "STAGE_ID"])]
    assert won and won == sorted(won)
    assert won == [d.id for d in client.crm.item.iter_all(entity_type_id=2, filter={"stageId": "WON"})]
    tail = [d.id for d in client.crm.deal.iter_all(select=["ID"], after_id=DEALS - 120)]
    assert tail == list(range(DEALS - 119, DEALS + 1))
    assert emu.stats()["counted_pages"] == 0


def test_batch_of_the_crm_core(emu: Emulator, client: Client) -> None:
    batch = client.batch()
    deal = batch.crm.deal.add(fields={"TITLE": "Batched", "CATEGORY_ID": 2, "OPPORTUNITY": 70})
    as_item = batch.crm.item.get(entity_type_id=2, id=deal.ref())
    moved = batch.crm.item.update(entity_type_id=2, id=deal.ref(), fields={"stageId": "C2:WON"})
    again = batch.crm.deal.get(id=deal.ref())
    contacts = batch.crm.contact.list(filter={"%NAME": "a"}, select=["ID", "NAME"])
    items = batch.crm.item.list(entity_type_id=3, select=["id"], use_original_uf_names=True)
    funnels = batch.crm.category.list(entity_type_id=2)
    kind = batch.crm.type.get_by_entity_type_id(entity_type_id=177)
    batch.execute()

    assert emu.stats()["requests"] == 1 and emu.stats()["batch_subcalls"] == 8
    assert isinstance(deal.result, int)
    assert isinstance(as_item.result, models.ItemResult) and as_item.result.item.id == deal.result
    assert as_item.result.item.stage_id == "C2:NEW" and moved.result.item.stage_id == "C2:WON"
    assert isinstance(again.result, models.Deal) and again.result.stage_id == "C2:WON" and again.result.closed
    assert type(contacts.result) is Page and all(isinstance(c, models.Contact) for c in contacts.result)
    alone = client.crm.contact.list(filter={"%NAME": "a"}, select=["ID", "NAME"])
    assert contacts.result.items == alone.items and contacts.result.total == alone.total
    assert type(items.result) is Page and all(isinstance(i, models.Item) for i in items.result)
    assert [c.name for c in funnels.result.categories] == ["General", "Partners", "Wholesale"]
    assert kind.result.type.title == "Equipment Purchase"


#: crm.quote.* as a user would add it to the spec: a classic family (items_path [], ID cursor).
QUOTE_LIST_PAGES = Pagination(50, (), "ID", "order", "filter", "start", True)


def _quote_family() -> list[MethodSpec]:
    verbs = ("add", "get", "list", "update", "delete", "fields")
    return [
        MethodSpec(f"crm.quote.{v}", True, True, False, "crm", None, QUOTE_LIST_PAGES if v == "list" else None, ())
        for v in verbs
    ]


@pytest.mark.b24_emulator(seed="demo")
def test_generic_iter_all_on_a_family_outside_the_spec(emu: Emulator, client: Client) -> None:
    """``client.iter_all("crm.quote.list", ...)``: dicts, count-free, from a family served by the generic rule."""
    for name, handler in family_handlers(_quote_family()).items():
        emu.register(name, handler, validate=False)
    batch = client.batch()
    for n in range(130):
        batch.call("crm.quote.add", {"fields": {"TITLE": f"Offer {n}", "OPPORTUNITY": 100 + n}})
    made = [h.result for h in batch.execute()]
    before = emu.stats()

    quotes = list(client.iter_all("crm.quote.list", {"select": ["ID", "TITLE", "OPPORTUNITY"]}))
    after = emu.stats()
    assert [int(q["ID"]) for q in quotes] == made  # every quote once, in ID order
    assert all(isinstance(q, dict) and set(q) == {"ID", "TITLE", "OPPORTUNITY"} for q in quotes)
    assert quotes[0]["TITLE"] == "Offer 0" and quotes[0]["OPPORTUNITY"] == "100.00"  # wire values: dicts as sent
    assert after["counted_pages"] == before["counted_pages"]
    assert after["requests"] - before["requests"] <= math.ceil(130 / 2500) + 1

    pricey = list(client.iter_all("crm.quote.list", {"filter": {">=OPPORTUNITY": 200}, "select": ["ID"]}))
    assert [int(q["ID"]) for q in pricey] == made[100:]
    # the family shares the CRM store: a quote is the item crm.item.get(entityTypeId=7) returns
    assert client.crm.item.get(entity_type_id=7, id=made[0]).item.title == "Offer 0"
