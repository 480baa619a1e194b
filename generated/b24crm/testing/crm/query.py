"""One list engine for ``crm.<entity>.list`` and ``crm.item.list``: filter, order, page, count.

Paging (docs/protocol.md#paging): 50 per page, ``start`` floored to a multiple of 50, ``next`` while more remain.
``start=-1`` skips the count — the classic proxies still send ``total: 0`` (``NavRecordCount`` is null),
the D7 controllers send neither ``total`` nor ``next``. Ordered by ID (the bulk-read pattern ``>ID`` +
``start=-1``), the engine walks the sorted ID array from the filter's ID bounds and stops after one page;
with only ID conditions it counts by bisection; anything else scans the matching ID range.
"""

from __future__ import annotations

from typing import Any

import attrs

from b24crm.runtime.limits import PAGE_SIZE, START_NO_COUNT
from b24crm.testing.crm.fields import Field, Schema
from b24crm.testing.crm.filters import Bounds, Predicate, row_value
from b24crm.testing.crm.store import Objects

__all__ = ["Page", "run_list"]

Row = dict[str, Any]


@attrs.frozen
class Page:
    rows: list[Row]
    next: int | None
    #: None = no count ran (start=-1).
    total: int | None


def _sort_key(field: Field, row: Row) -> tuple[int, Any]:
    values = row_value(field, row)
    value = values[0] if values else None
    return (0, 0) if value is None else (1, value)


def run_list(
    objects: Objects,
    schema: Schema,
    predicate: Predicate,
    bounds: Bounds,
    order: list[tuple[Field, bool]],
    start: int | None,
) -> Page:
    """The page of matching rows at ``start`` (None = 0), with ``next``/``total`` as counted pages get."""
    etid = schema.entity_type_id
    start = 0 if start is None else start
    counted = start != START_NO_COUNT
    offset = max(start, 0) // PAGE_SIZE * PAGE_SIZE
    by_id = not order or order[0][0].upper == "ID"
    desc = bool(order) and order[0][1]
    total = 0
    page: list[Row] = []
    if by_id and bounds.id_only:
        ids, first, stop = objects.id_window(etid, bounds.lo, bounds.hi)
        total = stop - first
        if desc:
            positions = range(stop - 1 - offset, max(stop - 1 - offset - PAGE_SIZE, first - 1), -1)
        else:
            positions = range(first + offset, min(first + offset + PAGE_SIZE, stop))
        for position in positions:
            row = objects.get(etid, ids[position])
            if row is not None:
                page.append(row)
    elif by_id:
        for row in objects.scan(etid, bounds.lo, bounds.hi, desc):
            if not predicate(row):
                continue
            if total >= offset and len(page) < PAGE_SIZE:
                page.append(row)
            total += 1
            if not counted and len(page) >= PAGE_SIZE:
                break
    else:
        matched = [row for row in objects.scan(etid, bounds.lo, bounds.hi) if predicate(row)]
        for field, descending in reversed(order):
            matched.sort(key=lambda r, f=field: _sort_key(f, r), reverse=descending)  # type: ignore[misc]
        total = len(matched)
        page = matched[offset : offset + PAGE_SIZE]
    if not counted:
        return Page(page, None, None)
    following = offset + len(page)
    return Page(page, following if following < total else None, total)
