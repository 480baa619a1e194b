"""``paginate``: classic list-method paging for handlers of user-registered methods.

A user who adds ``crm.deal.list`` to the spec and serves it with ``emu.register`` should not rewrite the
server's list semantics: this applies ``filter`` (operator-prefixed keys), ``order``, ``select`` and
``start`` the way classic CRM list methods do (docs/protocol.md#paging, #crm-filters), so the client's ``list`` and
count-free ``iter_all`` work against the handler unchanged.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from b24crm.runtime.limits import PAGE_SIZE, START_NO_COUNT
from b24crm.testing.api import CallContext, Result

__all__ = ["paginate"]

#: Longest prefixes first, so ``>=`` is not read as ``>``.
_OPERATORS: tuple[tuple[str, Callable[[Any, Any], bool]], ...] = (
    (">=", lambda a, b: a >= b),
    ("<=", lambda a, b: a <= b),
    ("!=", lambda a, b: a != b),
    ("!@", lambda a, b: a not in b),
    (">", lambda a, b: a > b),
    ("<", lambda a, b: a < b),
    ("=", lambda a, b: a == b),
    ("@", lambda a, b: a in b),
    ("!", lambda a, b: a != b),
)


def _comparable(value: Any) -> Any:
    """Numbers sent as strings compare as numbers, like the server's typed columns."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text) if "." in text else int(text)
        except ValueError:
            return value
    if isinstance(value, (list, tuple)):
        return [_comparable(v) for v in value]
    return value


def _predicate(key: str, expected: Any) -> tuple[str, Callable[[Any], bool]]:
    for prefix, compare in _OPERATORS:
        if key.startswith(prefix):
            return key[len(prefix) :], _matcher(compare, expected)
    return key, _matcher(operator.eq, expected)


def _matcher(compare: Callable[[Any, Any], bool], expected: Any) -> Callable[[Any], bool]:
    want = _comparable(expected)

    def matches(actual: Any) -> bool:
        return _safe(compare, _comparable(actual), want)

    return matches


def _safe(compare: Callable[[Any, Any], bool], actual: Any, expected: Any) -> bool:
    try:
        return compare(actual, expected)
    except TypeError:  # e.g. a number against a word: the row does not match
        return False


def paginate(
    records: Iterable[Mapping[str, Any]],
    params: Mapping[str, Any],
    ctx: CallContext,
    *,
    id_field: str = "ID",
) -> Result:
    """One page of ``records`` for a list request: filtered, ordered, selected and paged.

    ``start`` absent or >= 0 gives a counted page (``total``, and ``next`` while more remain); ``start=-1``
    gives the first page with ``total`` 0 and no ``next``, as classic methods answer it (docs/protocol.md#paging).
    Filters on fields the records do not have are ignored, as the server drops unknown fields.
    """
    rows = list(records)
    filters = params.get("filter") or {}
    if isinstance(filters, Mapping):
        known = set().union(*(r.keys() for r in rows)) if rows else set()
        for key, expected in filters.items():
            field, matches = _predicate(str(key), expected)
            if field.upper() in known:
                rows = [r for r in rows if matches(r.get(field.upper()))]
    order = params.get("order") or {id_field: "ASC"}
    if isinstance(order, Mapping):
        for field, direction in reversed(list(order.items())):
            rows.sort(key=partial(_sort_key, str(field).upper()), reverse=str(direction).upper() == "DESC")
    select = params.get("select")
    if isinstance(select, Sequence) and not isinstance(select, str) and select and "*" not in select:
        wanted = {str(s).upper() for s in select} | {id_field}
        rows = [{k: v for k, v in r.items() if k in wanted} for r in rows]
    start = ctx.start if ctx.start is not None else 0
    if start == START_NO_COUNT:
        return Result(rows[:PAGE_SIZE], total=0, counted=False)
    offset = max(start, 0) // PAGE_SIZE * PAGE_SIZE
    page = rows[offset : offset + PAGE_SIZE]
    more = offset + PAGE_SIZE < len(rows)
    return Result(page, next=offset + PAGE_SIZE if more else None, total=len(rows))


def _sort_key(field: str, row: Mapping[str, Any]) -> tuple[int, Any]:
    value = _comparable(row.get(field))
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, "" if value is None else str(value))
