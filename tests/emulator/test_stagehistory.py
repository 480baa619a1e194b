"""crm.stagehistory.list: D7 paging, filters, order, select, synthetic volume.

docs/protocol.md#paging, #crm-filters, #crm-stagehistory.
"""

from __future__ import annotations

import time

import pytest

from b24crm.testing import Emulator
from tests.emulator.conftest import Portal, stored_history


def history(portal: Portal, **params: object) -> dict[str, object]:
    return portal.ok("crm.stagehistory.list", {"entityTypeId": 2, **params})  # type: ignore[no-any-return]


def test_first_page_with_next_and_total(portal: Portal) -> None:
    body = history(portal)
    items = body["result"]["items"]  # type: ignore[index]
    assert len(items) == 50 and body["next"] == 50 and body["total"] == 1000 + len(stored_history(portal.emu))
    assert set(items[0]) == {
        "ID",
        "TYPE_ID",
        "OWNER_ID",
        "CREATED_TIME",
        "CATEGORY_ID",
        "STAGE_SEMANTIC_ID",
        "STAGE_ID",
    }
    assert items[0]["TYPE_ID"] == 1 and items[4]["TYPE_ID"] == 3 and items[4]["STAGE_SEMANTIC_ID"] in "SF"


def test_start_is_floored_and_last_page_has_no_next(portal: Portal) -> None:
    assert (
        history(portal, start=73)["result"]["items"][0]["ID"] == history(portal, start=50)["result"]["items"][0]["ID"]
    )  # type: ignore[index]
    total = 1000 + len(stored_history(portal.emu))
    last = history(portal, start=total // 50 * 50 - (50 if total % 50 == 0 else 0))
    assert "next" not in last and last["total"] == total and 0 < len(last["result"]["items"]) <= 50  # type: ignore[index]
    beyond = history(portal, start=5000)
    assert beyond["result"]["items"] == [] and beyond["total"] == total and "next" not in beyond  # type: ignore[index]


def test_start_minus_one_has_no_total_or_next(portal: Portal) -> None:
    body = history(portal, start=-1, order={"ID": "ASC"}, filter={">ID": 500})
    assert "total" not in body and "next" not in body
    assert body["result"]["items"][0]["ID"] == 501  # type: ignore[index]


def test_filters(portal: Portal) -> None:
    won = history(portal, filter={"STAGE_ID": "WON"}, select=["ID", "STAGE_ID"])
    assert all(i["STAGE_ID"] == "WON" for i in won["result"]["items"]) and won["total"] > 0  # type: ignore[index]
    assert set(won["result"]["items"][0]) == {"ID", "STAGE_ID"}  # type: ignore[index]
    typed = history(portal, filter={"@TYPE_ID": [1, 3], "<=ID": 40, "!STAGE_SEMANTIC_ID": "F"})
    assert {i["TYPE_ID"] for i in typed["result"]["items"]} <= {1, 3}  # type: ignore[index]
    like = history(portal, filter={"%STAGE_ID": "invoice", "><ID": [15, 60]})
    assert like["total"] == 9 and all("INVOICE" in i["STAGE_ID"] for i in like["result"]["items"])  # type: ignore[index]
    pattern = history(portal, filter={"=%STAGE_ID": "C1:%"})
    assert pattern["total"] > 0 and all(i["STAGE_ID"].startswith("C1:") for i in pattern["result"]["items"])  # type: ignore[index]
    timed = history(
        portal, filter={">=CREATED_TIME": "2024-01-01T00:30:00+00:00", "<CREATED_TIME": "2024-01-01T01:00:00Z"}
    )
    assert 0 < timed["total"] < 100  # type: ignore[operator]
    either = history(portal, filter={"LOGIC": "OR", "ID": 20, "OWNER_ID": 3})
    owner_3 = sum(1 for r in stored_history(portal.emu) if r["OWNER_ID"] == 3)
    assert either["total"] == 6 + owner_3  # type: ignore[index]
    select_all = history(portal, select=["NOPE"])
    assert len(select_all["result"]["items"][0]) == 7  # type: ignore[index]


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        ({"NOPE": 1}, "Invalid filter: field 'NOPE' is not allowed in filter"),
        ({">OWNER_ID": "abc"}, "Invalid filter: field '>OWNER_ID' has invalid value"),
        ({">TYPE_ID": [1, 2]}, "Invalid filter: field '>TYPE_ID' has invalid value"),
        ({"STATUS_ID": "NEW"}, "Invalid filter: field 'STATUS_ID' is not allowed in filter"),
    ],
)
def test_filter_errors(portal: Portal, flt: dict[str, object], message: str) -> None:
    reply = portal.call("crm.stagehistory.list", {"entityTypeId": 2, "filter": flt})
    assert (reply.status, reply.json) == (400, {"error": "INVALID_ARG_VALUE", "error_description": message})


def test_bad_datetime(portal: Portal) -> None:
    reply = portal.call("crm.stagehistory.list", {"entityTypeId": 2, "filter": {">CREATED_TIME": "yesterday"}})
    assert reply.status == 400 and reply.json["error"] == "WRONG_DATETIME_FORMAT"


def test_order_and_unknown_order_fields_dropped(portal: Portal) -> None:
    desc = history(portal, order={"ID": "DESC", "NOPE": "ASC"})
    ids = [i["ID"] for i in desc["result"]["items"]]  # type: ignore[index]
    assert ids == sorted(ids, reverse=True) and ids[0] == max([1014, *(r["ID"] for r in stored_history(portal.emu))])
    by_owner = history(portal, order={"OWNER_ID": "desc", "ID": "xyz"}, filter={"<ID": 40})
    owners = [i["OWNER_ID"] for i in by_owner["result"]["items"]]  # type: ignore[index]
    assert owners == sorted(owners, reverse=True)


def test_lead_and_smart_process_history(portal: Portal) -> None:
    leads = portal.ok("crm.stagehistory.list", {"entityTypeId": 1})
    assert leads["total"] == 9
    assert set(leads["result"]["items"][0]) == {
        "ID",
        "TYPE_ID",
        "OWNER_ID",
        "CREATED_TIME",
        "STATUS_SEMANTIC_ID",
        "STATUS_ID",
    }
    dynamic = portal.ok("crm.stagehistory.list", {"entityTypeId": 177, "filter": {"STAGE_SEMANTIC_ID": "S"}})
    assert [i["STAGE_ID"] for i in dynamic["result"]["items"]] == ["DT177_7:SUCCESS"]


def test_unsupported_and_missing_type(portal: Portal) -> None:
    reply = portal.call("crm.stagehistory.list", {"entityTypeId": 3})
    assert reply.json == {
        "error": "ENTITY_TYPE_NOT_SUPPORTED",
        "error_description": "Entity type CONTACT is not supported",
    }
    missing = portal.call("crm.stagehistory.list")
    assert (
        missing.status == 400
        and missing.json["error_description"] == "Could not find value for parameter {entityTypeId}"
    )


def test_a_million_records_are_fast() -> None:
    started = time.perf_counter()
    with Emulator(seed="empty", stage_history=1_000_000) as emu:
        portal = Portal(emu)
        first = portal.ok("crm.stagehistory.list", {"entityTypeId": 2})
        assert first["total"] == 1_000_000
        last_id = 0
        for _ in range(20):  # the bulk-read pattern: >ID, order by ID, start=-1
            page = portal.ok(
                "crm.stagehistory.list",
                {"entityTypeId": 2, "order": {"ID": "ASC"}, "filter": {">ID": last_id}, "start": -1},
            )
            last_id = page["result"]["items"][-1]["ID"]
        assert last_id == 1000
        tail = portal.ok("crm.stagehistory.list", {"entityTypeId": 2, "filter": {">ID": 999_990}})
        assert tail["total"] == 10
    assert time.perf_counter() - started < 10
