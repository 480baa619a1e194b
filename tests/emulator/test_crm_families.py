"""Object families recognised from the spec's registry are emulated without a hand-written handler."""

from __future__ import annotations

from b24crm._registry import REGISTRY
from b24crm.runtime.spec import MethodSpec, Pagination
from b24crm.testing.crm.families import family_handlers, find_families
from tests.emulator.conftest import Portal

CLASSIC_PAGES = Pagination(50, (), "ID", "order", "filter", "start", True)


def spec(name: str, *, pages: Pagination | None = None) -> MethodSpec:
    return MethodSpec(name, True, True, False, "crm", None, pages, ())


def family(
    prefix: str, verbs: tuple[str, ...] = ("add", "get", "list", "update", "delete", "fields")
) -> list[MethodSpec]:
    return [spec(f"{prefix}.{v}", pages=CLASSIC_PAGES if v == "list" else None) for v in verbs]


def test_the_rule_on_the_real_spec() -> None:
    found = find_families(REGISTRY.methods.values())
    assert {"crm.deal", "crm.lead", "crm.contact", "crm.company"} <= set(found)
    assert "crm.item" not in found  # a D7 list ({items}) is not a classic family


def test_the_rule() -> None:
    methods = [
        *family("crm.quote"),
        *family("crm.widget", ("add", "get", "list")),
        *family("crm.half", ("add", "list")),  # no get: not a family
        spec("crm.unpaged.add"),
        spec("crm.unpaged.get"),
        spec("crm.unpaged.list"),  # no pagination: not a family
        spec("crm.d7.add"),
        spec("crm.d7.get"),
        spec("crm.d7.list", pages=Pagination(50, ("items",), "id", "order", "filter", "start", True)),
    ]
    assert find_families(methods) == {
        "crm.quote": ["add", "get", "list", "update", "delete", "fields"],
        "crm.widget": ["add", "get", "list"],
    }
    served = family_handlers(methods, served=["crm.widget.get"])
    assert "crm.widget.get" not in served and "crm.widget.add" in served and "crm.quote.fields" in served


def test_a_quote_family_added_to_the_spec_shares_the_item_store(portal: Portal) -> None:
    for name, handler in family_handlers(family("crm.quote")).items():
        portal.emu.register(name, handler, validate=False)
    quote_id = portal.ok("crm.quote.add", {"fields": {"TITLE": "Offer", "OPPORTUNITY": 120}})["result"]
    quote = portal.ok("crm.quote.get", {"id": quote_id})["result"]
    assert quote["OPPORTUNITY"] == "120.00" and quote["STATUS_ID"] == "DRAFT"
    item = portal.ok("crm.item.get", {"entityTypeId": 7, "id": quote_id})["result"]["item"]
    assert item["title"] == "Offer" and item["stageId"] == "DRAFT"
    assert portal.ok("crm.quote.list", {"filter": {">OPPORTUNITY": 100}, "select": ["ID"]})["result"] == [
        {"ID": str(quote_id)}
    ]


def test_an_unknown_family_gets_its_own_open_table(portal: Portal) -> None:
    for name, handler in family_handlers(family("crm.widget")).items():
        portal.emu.register(name, handler, validate=False)
    ids = [portal.ok("crm.widget.add", {"fields": {"NAME": f"w{n}", "SIZE": n}})["result"] for n in range(60)]
    assert ids == list(range(ids[0], ids[0] + 60))
    page = portal.ok("crm.widget.list", {"filter": {">=SIZE": 5}, "order": {"ID": "DESC"}})
    first = page["result"][0]
    assert page["total"] == 55 and page["next"] == 50
    assert (first["ID"], first["NAME"], first["SIZE"]) == (str(ids[-1]), "w59", "59") and first["CREATED_BY"] == "1"
    portal.ok("crm.widget.update", {"id": ids[0], "fields": {"NAME": "renamed"}})
    assert portal.ok("crm.widget.get", {"id": ids[0]})["result"]["NAME"] == "renamed"
    portal.ok("crm.widget.delete", {"id": ids[0]})
    assert portal.call("crm.widget.get", {"id": ids[0]}).status == 400
