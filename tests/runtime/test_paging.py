"""Bulk reads: count-free chained batches (request counts, completeness under gaps and deletes), offsets."""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b24crm.runtime.paging import Page
from b24crm.runtime.types import Decoded

from .fakes import COUNTED_LIST, ITEM_LIST, LEGACY_LIST, Item, ListPortal, make_client, parse_str

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ids_strategy(max_n: int = 6000) -> st.SearchStrategy[list[int]]:
    """Sorted unique IDs with random gaps (dense runs and big jumps)."""
    return st.tuples(st.integers(0, max_n), st.integers(0, 2**31)).map(_make_ids)


def _make_ids(args: tuple[int, int]) -> list[int]:
    n, seed = args
    rnd = random.Random(seed)
    out, cur = [], rnd.randint(1, 100)
    for _ in range(n):
        out.append(cur)
        cur += 1 if rnd.random() < 0.7 else rnd.randint(2, 500)
    return out


def read_all(spec: Any, portal: ListPortal, **kw: Any) -> list[int]:
    client, _, _ = make_client(portal)
    params = kw.pop("params", {})
    it = client._invoker.iter_all(spec, params, Decoded(Item), **kw)
    return [item.id for item in it]


@SETTINGS
@given(ids=ids_strategy(), path=st.sampled_from([("items",), ()]))
def test_chained_reads_everything_within_the_request_bound(ids: list[int], path: tuple[str, ...]) -> None:
    portal = ListPortal(ids, items_path=path)
    spec = ITEM_LIST if path else LEGACY_LIST
    got = read_all(spec, portal)
    assert got == ids
    assert portal.http_requests <= math.ceil(len(ids) / 2500) + 1
    assert set(portal.seen_start_values) == {-1}  # no page was ever counted


@SETTINGS
@given(ids=ids_strategy(4000), seed=st.integers(0, 2**31), rate=st.floats(0.0, 0.3))
def test_deletes_between_requests_never_skip_or_repeat_survivors(ids: list[int], seed: int, rate: float) -> None:
    rnd = random.Random(seed)
    deleted: set[int] = set()

    def delete_some(p: ListPortal) -> None:
        victims = {i for i in p.ids if rnd.random() < rate}
        deleted.update(victims)
        p.ids = [i for i in p.ids if i not in victims]

    portal = ListPortal(ids, on_request=delete_some)
    got = read_all(ITEM_LIST, portal)
    assert len(got) == len(set(got))  # no duplicates
    assert got == sorted(got)
    survivors = [i for i in ids if i not in deleted]
    assert set(survivors) <= set(got)  # every record that was never deleted was read
    assert set(got) <= set(ids)


@SETTINGS
@given(ids=ids_strategy(3000), limit=st.integers(0, 3200))
def test_limit(ids: list[int], limit: int) -> None:
    portal = ListPortal(ids)
    got = read_all(ITEM_LIST, portal, limit=limit)
    assert got == ids[:limit]
    assert portal.commands <= math.ceil(limit / 50) + 1  # no pages fetched beyond what the limit needs


@SETTINGS
@given(ids=ids_strategy(3000), cut=st.integers(0, 3000))
def test_after_id_resumes(ids: list[int], cut: int) -> None:
    after = ids[cut - 1] if 0 < cut <= len(ids) else 0
    got = read_all(ITEM_LIST, ListPortal(ids), after_id=after)
    assert got == [i for i in ids if i > after]


def test_users_own_cursor_filter_is_merged() -> None:
    ids = list(range(1, 201))
    got = read_all(ITEM_LIST, ListPortal(ids), params={"filter": {">ID": 150}}, after_id=120)
    assert got == list(range(151, 201))


def test_progress_reports_running_count() -> None:
    counts: list[int] = []
    read_all(ITEM_LIST, ListPortal(range(1, 131)), progress=counts.append)
    assert counts == [50, 100, 130]


def test_exact_multiple_of_a_page_and_of_a_batch() -> None:
    for n, requests in ((0, 1), (49, 1), (50, 2), (2500, 2), (2550, 3), (5000, 3)):
        portal = ListPortal(range(1, n + 1))
        assert read_all(ITEM_LIST, portal) == list(range(1, n + 1))
        assert portal.http_requests == requests, n


def test_lazy_streaming_holds_one_batch() -> None:
    portal = ListPortal(range(1, 10_001))
    client, _, _ = make_client(portal)
    it = client._invoker.iter_all(ITEM_LIST, {}, Decoded(Item))
    assert portal.http_requests == 0  # nothing sent until the first record is wanted
    first = next(iter(it))
    assert first.id == 1 and portal.http_requests == 1
    for _ in range(60):
        next(it)
    assert portal.http_requests == 2


def test_select_gets_the_id_field() -> None:
    seen: list[Any] = []
    portal = ListPortal(range(1, 20))
    client, transport, _ = make_client(portal)
    list(client._invoker.iter_all(ITEM_LIST, {"select": ["NAME"]}, Decoded(Item)))
    seen = transport.requests[0].json["select"]
    assert seen == ["NAME", "ID"]


# --- ID DESC: the same count-free chain, walking down with a ``<ID`` cursor ------------------------------------


@SETTINGS
@given(ids=ids_strategy(), path=st.sampled_from([("items",), ()]), spelling=st.sampled_from(["DESC", "desc"]))
def test_descending_chained_reads_everything_within_the_request_bound(
    ids: list[int], path: tuple[str, ...], spelling: str
) -> None:
    portal = ListPortal(ids, items_path=path)
    spec = ITEM_LIST if path else LEGACY_LIST
    got = read_all(spec, portal, params={"order": {"ID": spelling}})
    assert got == list(reversed(ids))  # complete, each ID once
    assert all(a > b for a, b in itertools.pairwise(got))  # strictly descending
    assert portal.http_requests <= math.ceil(len(ids) / 2500) + 1
    assert set(portal.seen_start_values) == {-1}  # count-free: no page was ever counted


def test_descending_chain_shape() -> None:
    portal = ListPortal(range(1, 201))
    client, transport, _ = make_client(portal)
    got = [i.id for i in client._invoker.iter_all(ITEM_LIST, {"order": {"ID": "DESC"}}, Decoded(Item))]
    assert got == list(range(200, 0, -1))
    first, second = (r.json for r in transport.requests)
    assert first["order"] == {"ID": "DESC"} and first["start"] == -1 and "filter" not in first
    cmds = {k: parse_str(v.partition("?")[2]) for k, v in second["cmd"].items()}
    assert cmds["p00"] == {"order": {"ID": "DESC"}, "start": "-1", "filter": {"<ID": "151"}}
    assert cmds["p01"]["filter"] == {"<ID": "$result[p00][items][49][ID]"}


@SETTINGS
@given(ids=ids_strategy(3000), limit=st.integers(0, 3200))
def test_descending_limit(ids: list[int], limit: int) -> None:
    portal = ListPortal(ids)
    got = read_all(ITEM_LIST, portal, params={"order": {"ID": "DESC"}}, limit=limit)
    assert got == list(reversed(ids))[:limit]
    assert portal.commands <= math.ceil(limit / 50) + 1


@SETTINGS
@given(ids=ids_strategy(3000), cut=st.integers(0, 3000))
def test_descending_after_id_resumes_below_it(ids: list[int], cut: int) -> None:
    after = ids[cut] if cut < len(ids) else 10**9
    got = read_all(ITEM_LIST, ListPortal(ids), params={"order": {"ID": "DESC"}}, after_id=after)
    assert got == [i for i in reversed(ids) if i < after]


def test_descending_progress_and_own_cursor_filter() -> None:
    counts: list[int] = []
    got = read_all(
        ITEM_LIST,
        ListPortal(range(1, 301)),
        params={"order": {"ID": "DESC"}, "filter": {"<ID": 200}},
        after_id=250,
        progress=counts.append,
    )
    assert got == list(range(199, 0, -1))  # the tighter bound of the user's filter and after_id
    assert counts == [50, 100, 150, 199]


@SETTINGS
@given(ids=ids_strategy(4000), seed=st.integers(0, 2**31), rate=st.floats(0.0, 0.3))
def test_descending_deletes_never_skip_or_repeat_survivors(ids: list[int], seed: int, rate: float) -> None:
    rnd = random.Random(seed)
    deleted: set[int] = set()

    def delete_some(p: ListPortal) -> None:
        victims = {i for i in p.ids if rnd.random() < rate}
        deleted.update(victims)
        p.ids = [i for i in p.ids if i not in victims]

    got = read_all(ITEM_LIST, ListPortal(ids, on_request=delete_some), params={"order": {"ID": "DESC"}})
    assert got == sorted(set(got), reverse=True)
    assert {i for i in ids if i not in deleted} <= set(got) <= set(ids)


@SETTINGS
@given(ids=ids_strategy(3000))
def test_descending_on_a_counted_method_resumes_with_offsets(ids: list[int]) -> None:
    after = ids[len(ids) // 2] if ids else 0
    portal = ListPortal(ids, items_path=())
    got = read_all(COUNTED_LIST, portal, params={"order": {"ID": "DESC"}}, after_id=after)
    assert got == [i for i in reversed(ids) if i < after]
    assert -1 not in portal.seen_start_values


@SETTINGS
@given(ids=ids_strategy(6000))
def test_other_order_falls_back_to_counted_offsets(ids: list[int]) -> None:
    portal = ListPortal(ids)
    got = read_all(ITEM_LIST, portal, params={"order": {"DATE_CREATE": "DESC"}})
    assert got == list(reversed(ids))  # the fake sorts any DESC order by ID
    assert -1 not in portal.seen_start_values
    assert portal.http_requests <= 1 + math.ceil(max(0, len(ids) - 50) / 2500) + 1


@SETTINGS
@given(ids=ids_strategy(3000))
def test_non_count_free_method_uses_start_next(ids: list[int]) -> None:
    portal = ListPortal(ids, items_path=())
    assert read_all(COUNTED_LIST, portal) == ids
    assert -1 not in portal.seen_start_values


def test_method_that_ignores_start_returns_everything_once() -> None:
    portal = ListPortal(range(1, 300), items_path=(), ignores_start=True)
    assert read_all(COUNTED_LIST, portal) == list(range(1, 300))
    assert portal.http_requests == 1


def test_after_id_with_other_order_is_refused() -> None:
    client, _, _ = make_client(ListPortal([]))
    with pytest.raises(ValueError, match="after_id"):
        client._invoker.iter_all(ITEM_LIST, {"order": {"NAME": "ASC"}}, Decoded(Item), after_id=5)


def test_invoke_page() -> None:
    portal = ListPortal(range(1, 80))
    client, _, _ = make_client(portal)
    page = client._invoker.invoke_page(ITEM_LIST, {"start": 0}, Decoded(Item), None)
    assert isinstance(page, Page)
    assert [i.id for i in page.items][:3] == [1, 2, 3] and len(page) == 50
    assert (page.next, page.total) == (50, 79)


def test_error_in_a_chained_page_is_raised() -> None:
    class Failing(ListPortal):
        def _list(self, params: Any) -> Any:
            if self.commands >= 3:
                raise ValueError("boom")
            return super()._list(params)

    from b24crm.runtime.errors import InvalidParams

    client, _, _ = make_client(Failing(range(1, 1000)))
    with pytest.raises(InvalidParams):
        list(client._invoker.iter_all(ITEM_LIST, {}, Decoded(Item)))
