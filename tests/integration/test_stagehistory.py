"""crm.stagehistory.list: one typed Page, and iter_all's count-free chained batches (completeness, request counts)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from typing import Any

import pytest

from b24crm import Client, Page, enums, errors, models
from b24crm.testing import Emulator
from b24crm.testing.api import CallContext

from .conftest import STAGE_HISTORY, Connect, deal_history


def _all_ids_by_pages(client: Client, **params: Any) -> list[int]:
    """The reference answer: plain counted pages, one request each, following ``next``."""
    ids: list[int] = []
    start = 0
    while True:
        page = client.crm.stagehistory.list(entity_type_id=2, order={"ID": "ASC"}, start=start, **params)
        ids.extend(item.id for item in page)
        if page.next is None:
            return ids
        start = page.next


class StartRecorder:
    """Wraps the emulator's own handler and records how each stage-history page was asked for."""

    def __init__(self, emu: Emulator) -> None:
        self.original = emu.portal.handlers["crm.stagehistory.list"]
        self.calls: list[tuple[int | None, bool]] = []
        emu.register("crm.stagehistory.list", self)

    def __call__(self, params: dict[str, Any], ctx: CallContext) -> Any:
        self.calls.append((ctx.start, ctx.in_batch))
        return self.original(params, ctx)


def test_first_page_is_typed(emu: Emulator, client: Client) -> None:
    page = client.crm.stagehistory.list(entity_type_id=2)
    assert isinstance(page, Page)
    assert (len(page.items), page.total, page.next) == (50, deal_history(emu), 50)
    assert page.time is not None and "duration" in page.time
    for item in page:
        assert isinstance(item, models.StageHistoryItem)
        assert isinstance(item.id, int)
        assert isinstance(item.type_id, enums.StageHistoryEntryType)
        assert isinstance(item.created_time, dt.datetime) and item.created_time.tzinfo is not None
        assert isinstance(item.category_id, int) and isinstance(item.owner_id, int)
        assert isinstance(item.stage_semantic_id, enums.StageHistorySemantic)
        assert item.stage_id is not None
        assert item.stage_id.startswith(f"C{item.category_id}:") if item.category_id else ":" not in item.stage_id
        assert item.status_id is None and item.status_semantic_id is None  # lead-only fields


def test_paging_offsets_and_the_last_page(emu: Emulator, client: Client) -> None:
    total = deal_history(emu)
    second = client.crm.stagehistory.list(entity_type_id=2, start=50)
    first = client.crm.stagehistory.list(entity_type_id=2)
    assert second.next == 100 and second.total == total
    assert not {i.id for i in first} & {i.id for i in second}
    last_start = (total - 1) // 50 * 50
    last = client.crm.stagehistory.list(entity_type_id=2, start=last_start)
    assert len(last) == total - last_start and last.next is None
    uncounted = client.crm.stagehistory.list(entity_type_id=2, start=-1)
    assert len(uncounted) == 50 and uncounted.total is None and uncounted.next is None


def test_filter_order_select(client: Client) -> None:
    ids = _all_ids_by_pages(client)
    pivot = ids[100]
    page = client.crm.stagehistory.list(
        entity_type_id=2, filter={">ID": pivot, "CATEGORY_ID": 1}, order={"ID": "DESC"}, select=["ID", "STAGE_ID"]
    )
    assert page.items and all(i.id > pivot for i in page)
    got = [i.id for i in page]
    assert got == sorted(got, reverse=True)
    assert all(i.stage_id is not None and i.stage_id.startswith("C1:") for i in page)
    assert all(i.owner_id is None and i.created_time is None for i in page)  # not selected
    assert page.total is not None and page.total < STAGE_HISTORY


def test_leads_use_status_fields(client: Client) -> None:
    page = client.crm.stagehistory.list(entity_type_id=1, filter={"OWNER_ID": 5})
    assert [i.status_id for i in page] == ["NEW", "JUNK"]
    assert [i.type_id for i in page] == [enums.StageHistoryEntryType.CREATION, enums.StageHistoryEntryType.JUNK]
    assert page.items[-1].status_semantic_id is enums.StageHistorySemantic.FAILURE
    assert all(i.stage_id is None and i.category_id is None for i in page)


def test_unsupported_entity_type(emu: Emulator, client: Client) -> None:
    # contacts (3) are known not to have stage history: refused before sending
    with pytest.raises(errors.RequestValidationError) as refused:
        client.crm.stagehistory.list(entity_type_id=3)
    assert [p.path for p in refused.value.problems] == ["entityTypeId"]
    assert emu.stats()["requests"] == 0
    # 200 is outside the dynamic range only the server knows about: its typed error
    with pytest.raises(errors.StageHistoryEntityTypeNotSupportedError) as caught:
        client.crm.stagehistory.list(entity_type_id=200)
    assert caught.value.code == "ENTITY_TYPE_NOT_SUPPORTED" and emu.stats()["requests"] == 1


def test_iter_all_is_complete_and_cheap(emu: Emulator, client: Client) -> None:
    expected = _all_ids_by_pages(client)
    assert len(expected) == deal_history(emu)

    recorder = StartRecorder(emu)
    before = emu.stats()["requests"]
    items = list(client.crm.stagehistory.iter_all(entity_type_id=2))
    used = emu.stats()["requests"] - before

    assert [i.id for i in items] == expected  # every record once, in ID order
    assert all(isinstance(i, models.StageHistoryItem) for i in items)
    assert used <= math.ceil(STAGE_HISTORY / 2500) + 1
    # the first page may count; no page after it does
    assert recorder.calls and all(start == -1 for start, _ in recorder.calls[1:])
    assert len(recorder.calls) >= STAGE_HISTORY // 50


def test_iter_all_is_lazy_with_limit_progress_and_resume(emu: Emulator, client: Client) -> None:
    expected = _all_ids_by_pages(client)

    before = emu.stats()["requests"]
    stream: Iterator[models.StageHistoryItem] = client.crm.stagehistory.iter_all(entity_type_id=2)
    assert emu.stats()["requests"] == before  # nothing is sent until the first record is asked for
    first = next(stream)
    assert first.id == expected[0]

    seen: list[int] = []
    limited = list(client.crm.stagehistory.iter_all(entity_type_id=2, limit=120, progress=seen.append))
    assert [i.id for i in limited] == expected[:120]
    assert seen and seen[-1] == 120 and seen == sorted(seen)

    resumed = list(client.crm.stagehistory.iter_all(entity_type_id=2, after_id=expected[599]))
    assert [i.id for i in resumed] == expected[600:]


def test_iter_all_with_a_filter_and_another_order(client: Client) -> None:
    in_funnel = [i.id for i in client.crm.stagehistory.iter_all(entity_type_id=2, filter={"CATEGORY_ID": 2})]
    assert in_funnel == sorted(in_funnel) and len(in_funnel) == len(set(in_funnel))
    by_pages: list[int] = []
    start = 0
    while True:
        page = client.crm.stagehistory.list(entity_type_id=2, filter={"CATEGORY_ID": 2}, start=start)
        by_pages += [i.id for i in page]
        if page.next is None:
            break
        start = page.next
    assert sorted(by_pages) == in_funnel

    descending = [i.id for i in client.crm.stagehistory.iter_all(entity_type_id=2, order={"ID": "DESC"})]
    assert descending == sorted(_all_ids_by_pages(client), reverse=True)
    by_date = [i.id for i in client.crm.stagehistory.iter_all(entity_type_id=2, order={"CREATED_TIME": "ASC"})]
    assert sorted(by_date) == sorted(descending)  # another field: counted offsets, still complete


def test_iter_all_descending_is_count_free(emu: Emulator, client: Client) -> None:
    expected = sorted(_all_ids_by_pages(client), reverse=True)
    recorder = StartRecorder(emu)
    before = emu.stats()["requests"]
    items = [i.id for i in client.crm.stagehistory.iter_all(entity_type_id=2, order={"ID": "DESC"})]
    used = emu.stats()["requests"] - before
    assert items == expected  # every record once, strictly descending
    assert used <= math.ceil(STAGE_HISTORY / 2500) + 1
    assert recorder.calls and all(start == -1 for start, _ in recorder.calls)  # no page was counted

    seen: list[int] = []
    limited = client.crm.stagehistory.iter_all(entity_type_id=2, order={"ID": "DESC"}, limit=120, progress=seen.append)
    assert [i.id for i in limited] == expected[:120] and seen[-1] == 120
    resumed = client.crm.stagehistory.iter_all(entity_type_id=2, order={"ID": "DESC"}, after_id=expected[599])
    assert [i.id for i in resumed] == expected[600:]  # resume: the IDs below after_id


@pytest.mark.parametrize("size", [0, 49, 50, 2500, 2550, 7501])
def test_iter_all_request_bound(size: int, connect: Connect) -> None:
    with Emulator(seed="empty", stage_history=size) as emu, connect(emu) as client:
        before = emu.stats()["requests"]
        ids = [i.id for i in client.crm.stagehistory.iter_all(entity_type_id=2)]
        used = emu.stats()["requests"] - before
    assert len(ids) == size and ids == sorted(set(ids))
    assert used <= math.ceil(size / 2500) + 1
