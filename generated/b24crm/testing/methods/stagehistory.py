"""``crm.stagehistory.list``: a D7 controller (typed values, D7 filter grammar, 50-per-page paging;
docs/protocol.md#crm-filters, #crm-stagehistory).

Why the odd storage: ``stage_history=N`` must give a million deal records in seconds, so those records are
*synthetic* — row ``i`` is computed from ``i`` on demand (:class:`Synthetic`) and never stored. Queries in
ID order (the bulk-read pattern: ``>ID``, ``order ID``, ``start=-1``) walk the ID range directly and stop after
one page; anything else scans. Seeded and user rows live in the ``history`` table next to them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from b24crm.runtime.limits import PAGE_SIZE, START_NO_COUNT
from b24crm.testing.api import BitrixError, CallContext, Handler, Result
from b24crm.testing.methods.common import d7_int
from b24crm.testing.state import Store

__all__ = ["HANDLERS", "Synthetic", "fields_for", "iso"]

LEAD_FIELDS = ("ID", "TYPE_ID", "OWNER_ID", "CREATED_TIME", "STATUS_SEMANTIC_ID", "STATUS_ID")
DEAL_FIELDS = ("ID", "TYPE_ID", "OWNER_ID", "CREATED_TIME", "CATEGORY_ID", "STAGE_SEMANTIC_ID", "STAGE_ID")
_INT_FIELDS = {"ID", "TYPE_ID", "OWNER_ID", "CATEGORY_ID"}
_OPERATORS = ("!><", "!%=", "!=%", "><", ">=", "<=", "!=", "!@", "!%", "=%", "%=", ">", "<", "@", "%", "=", "!", "")
_ARRAY_OPERATORS = {"", "=", "!=", "@", "!@", "><", "!><"}
_NAMES = {3: "CONTACT", 4: "COMPANY", 7: "QUOTE", 8: "REQUISITE"}
_INT_RE = re.compile(r"^-?[0-9]+$")

Row = dict[str, Any]
Predicate = Callable[[Row], bool]


def iso(ts: float) -> str:
    """Unix time -> ISO-8601 with offset, as the D7 layer renders ``CREATED_TIME``."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def fields_for(entity_type_id: int) -> tuple[str, ...]:
    """The allowed fields for ``entityTypeId`` or ENTITY_TYPE_NOT_SUPPORTED."""
    if entity_type_id in (1, 5):
        return LEAD_FIELDS
    if (
        entity_type_id in (2, 31, 36, 39)
        or 128 <= entity_type_id <= 191
        or (entity_type_id >= 1030 and entity_type_id % 2 == 0)
    ):
        return DEAL_FIELDS
    name = _NAMES.get(entity_type_id, str(entity_type_id))
    raise BitrixError("ENTITY_TYPE_NOT_SUPPORTED", f"Entity type {name} is not supported")


@attrs.frozen
class Synthetic:
    """``count`` deal stage-history records with IDs ``base+1 .. base+count``, computed on demand."""

    base: int
    count: int
    t0: float
    categories: tuple[int, ...] = (0,)
    step_seconds: int = 37

    @classmethod
    def from_store(cls, store: Store) -> Synthetic | None:
        """The generator described in the store's metadata, if any."""
        meta = store.meta_get("synthetic_history")
        if not meta or not meta.get("count"):
            return None
        return cls(int(meta["base"]), int(meta["count"]), float(meta["t0"]), tuple(meta["categories"]))

    @property
    def first_id(self) -> int:
        return self.base + 1

    @property
    def last_id(self) -> int:
        return self.base + self.count

    def row(self, row_id: int) -> Row:
        """Record ``row_id``: five moves per deal, NEW -> ... -> WON or LOSE."""
        i = row_id - self.first_id
        owner, step = divmod(i, 5)
        owner += 1
        category = self.categories[owner % len(self.categories)]
        final = "WON" if owner % 4 else "LOSE"
        stage = ("NEW", "PREPARATION", "EXECUTING", "FINAL_INVOICE", final)[step]
        ts = self.t0 + i * self.step_seconds
        return {
            "ID": row_id,
            "TYPE_ID": (1, 2, 2, 2, 3)[step],
            "OWNER_ID": owner,
            "CREATED_TIME": iso(ts),
            "CATEGORY_ID": category,
            "STAGE_SEMANTIC_ID": "P" if step < 4 else ("S" if final == "WON" else "F"),
            "STAGE_ID": f"C{category}:{stage}" if category else stage,
            "_ts": ts,
        }


# -- filter -----------------------------------------------------------------------------------------------
@attrs.define
class _Bounds:
    """ID bounds implied by top-level AND conditions, used to walk only part of the ID range."""

    lo: int = -(2**62)
    hi: int = 2**62
    id_only: bool = True


def _split(key: str, allowed: tuple[str, ...]) -> tuple[str, str] | None:
    for op in _OPERATORS:
        if key.startswith(op) and key[len(op) :] in allowed:
            return op, key[len(op) :]
    return None


def _parse_time(field: str, value: Any) -> float:
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise BitrixError("WRONG_DATETIME_FORMAT", f"Wrong datetime format for field {field}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def _typed(field: str, key: str, value: Any) -> Any:
    if field in _INT_FIELDS:
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and _INT_RE.fullmatch(value))
        ):
            raise BitrixError("INVALID_ARG_VALUE", f"Invalid filter: field '{key}' has invalid value")
        return int(value)
    if field == "CREATED_TIME":
        return _parse_time(field, value)
    if isinstance(value, (list, dict)) or value is None:
        raise BitrixError("INVALID_ARG_VALUE", f"Invalid filter: field '{key}' has invalid value")
    return str(value).lower() if not isinstance(value, bool) else str(int(value))


def _row_value(row: Row, field: str) -> Any:
    if field == "CREATED_TIME":
        return row["_ts"]
    value = row.get(field)
    return value.lower() if isinstance(value, str) else value


def _like(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("^" + "".join(parts) + "$", re.DOTALL)


def _condition(op: str, field: str, key: str, raw: Any) -> Predicate:
    if isinstance(raw, dict):
        raw = list(raw.values())
    if isinstance(raw, list) and op not in _ARRAY_OPERATORS:
        raise BitrixError("INVALID_ARG_VALUE", f"Invalid filter: field '{key}' has invalid value")
    negate = op.startswith("!")
    base = op[1:] if negate else op
    if base in ("><",):
        if not isinstance(raw, list) or len(raw) != 2:
            raise BitrixError("INVALID_ARG_VALUE", f"Invalid filter: field '{key}' has invalid value")
        lo, hi = (_typed(field, key, v) for v in raw)

        def between(row: Row) -> bool:
            value = _row_value(row, field)
            return value is not None and lo <= value <= hi

        return (lambda row: not between(row)) if negate else between
    if base in ("%", "=%", "%="):
        text = str(raw).lower()
        regex = _like(f"%{text}%" if base == "%" else text)

        def like(row: Row) -> bool:
            value = row.get(field)
            return value is not None and bool(regex.match(str(value).lower()))

        return (lambda row: not like(row)) if negate else like
    values = raw if isinstance(raw, list) else [raw]
    typed = [_typed(field, key, v) for v in values]
    if base in ("", "=", "@"):
        wanted = set(typed)

        def member(row: Row) -> bool:
            return _row_value(row, field) in wanted

        return (lambda row: not member(row)) if negate else member
    target = typed[0]
    compare: dict[str, Callable[[Any], bool]] = {
        ">": lambda v: v > target,
        ">=": lambda v: v >= target,
        "<": lambda v: v < target,
        "<=": lambda v: v <= target,
    }
    check = compare[base]
    return lambda row: (value := _row_value(row, field)) is not None and check(value)


def _int_like(value: Any) -> bool:
    return not isinstance(value, bool) and (
        isinstance(value, int) or (isinstance(value, str) and bool(_INT_RE.fullmatch(value)))
    )


def _narrow(bounds: _Bounds, op: str, raw: Any) -> None:
    """Tighten the ID range; only plain range conditions keep ``id_only`` (counts without scanning)."""
    if isinstance(raw, dict):
        raw = list(raw.values())
    if isinstance(raw, list):
        bounds.id_only = False
        if op in ("><", "=", "@") and raw and all(_int_like(v) for v in raw):
            bounds.lo = max(bounds.lo, min(int(v) for v in raw))
            bounds.hi = min(bounds.hi, max(int(v) for v in raw))
            bounds.id_only = op == "><"
        return
    if not _int_like(raw):
        bounds.id_only = False
        return
    value = int(raw)
    if op == ">":
        bounds.lo = max(bounds.lo, value + 1)
    elif op == ">=":
        bounds.lo = max(bounds.lo, value)
    elif op == "<":
        bounds.hi = min(bounds.hi, value - 1)
    elif op == "<=":
        bounds.hi = min(bounds.hi, value)
    elif op in ("=", "@"):
        bounds.lo = max(bounds.lo, value)
        bounds.hi = min(bounds.hi, value)
    else:
        bounds.id_only = False


def compile_filter(flt: Any, allowed: tuple[str, ...], bounds: _Bounds | None) -> Predicate:
    """Validate a D7 filter and turn it into a predicate; fill ``bounds`` from top-level ID conditions."""
    if not isinstance(flt, dict):
        return lambda row: True
    logic = str(flt.get("LOGIC", "AND")).upper()
    parts: list[Predicate] = []
    for key, raw in flt.items():
        if key == "LOGIC":
            continue
        if _INT_RE.fullmatch(key):
            parts.append(compile_filter(raw, allowed, None))
            if bounds is not None:
                bounds.id_only = False
            continue
        split = _split(key, allowed)
        if split is None:
            name = key.lstrip("!=<>@%")
            raise BitrixError("INVALID_ARG_VALUE", f"Invalid filter: field '{name}' is not allowed in filter")
        op, field = split
        op = "=" if op == "" else op
        parts.append(_condition(op, field, key, raw))
        if bounds is not None:
            if field == "ID" and logic == "AND":
                _narrow(bounds, op, raw)
            else:
                bounds.id_only = False
    if logic == "OR":
        if bounds is not None and parts:
            bounds.id_only = False
            bounds.lo, bounds.hi = _Bounds().lo, _Bounds().hi
        return (lambda row: any(p(row) for p in parts)) if parts else (lambda row: True)
    return lambda row: all(p(row) for p in parts)


# -- the method -------------------------------------------------------------------------------------------
def _stored(store: Store, entity_type_id: int) -> dict[int, Row]:
    return {i: r for i, r in store.rows("history").items() if r.get("ENTITY_TYPE_ID") == entity_type_id}


def _iter_ids(stored: Mapping[int, Row], synth: Synthetic | None, lo: int, hi: int, desc: bool) -> Iterator[Row]:
    stored_ids = sorted((i for i in stored if lo <= i <= hi), reverse=desc)
    s_lo = max(lo, synth.first_id) if synth else 1
    s_hi = min(hi, synth.last_id) if synth else 0
    synth_ids = range(s_hi, s_lo - 1, -1) if desc else range(s_lo, s_hi + 1)
    si = iter(stored_ids)
    gi = iter(synth_ids)
    next_s = next(si, None)
    next_g = next(gi, None)
    while next_s is not None or next_g is not None:
        take_stored = next_g is None or (next_s is not None and ((next_s > next_g) if desc else (next_s < next_g)))
        if take_stored:
            assert next_s is not None
            yield stored[next_s]
            next_s = next(si, None)
        else:
            assert synth is not None and next_g is not None
            yield synth.row(next_g)
            next_g = next(gi, None)


def stagehistory_list(params: dict[str, Any], ctx: CallContext) -> Any:
    """``crm.stagehistory.list``: ``{"items": [...]}`` + ``total``/``next`` (none of them for ``start=-1``)."""
    entity_type_id = d7_int(params, "entityTypeId")
    assert entity_type_id is not None
    allowed = fields_for(entity_type_id)
    bounds = _Bounds()
    predicate = compile_filter(params.get("filter"), allowed, bounds)
    order: list[tuple[str, bool]] = []
    raw_order = params.get("order")
    if isinstance(raw_order, dict):
        for key, direction in raw_order.items():
            if key in allowed:
                order.append((key, str(direction).upper() == "DESC"))
    select_raw = params.get("select")
    select_list = list(select_raw.values()) if isinstance(select_raw, dict) else select_raw
    chosen = [f for f in allowed if isinstance(select_list, list) and f in select_list]
    select = tuple(chosen) if chosen else allowed
    if "ID" not in select:
        select = ("ID", *select)
    start = ctx.start if ctx.start is not None else 0
    count = start != START_NO_COUNT
    offset = (start // PAGE_SIZE) * PAGE_SIZE if start > 0 else 0
    stored = _stored(ctx.store, entity_type_id)
    synth = Synthetic.from_store(ctx.store) if entity_type_id == 2 else None
    by_id = not order or order[0][0] == "ID"
    desc = bool(order) and order[0][1]
    page: list[Row] = []
    total = 0
    rows = _iter_ids(stored, synth, bounds.lo, bounds.hi, desc)
    if by_id:
        if count and bounds.id_only:
            # Only ID conditions: walk one page, count the rest arithmetically.
            for row in rows:
                if predicate(row):
                    if total >= offset and len(page) < PAGE_SIZE:
                        page.append(row)
                    total += 1
                    if len(page) >= PAGE_SIZE:
                        break
            total += _count_rest(stored, synth, bounds, page, desc, predicate)
        else:
            for row in rows:
                if predicate(row):
                    if total >= offset and len(page) < PAGE_SIZE:
                        page.append(row)
                    total += 1
                    if len(page) >= PAGE_SIZE and not count:
                        break
    else:
        matched = [row for row in rows if predicate(row)]
        for name, descending in reversed(order):
            matched.sort(key=lambda r, n=name: _row_value(r, n), reverse=descending)  # type: ignore[misc]
        total = len(matched)
        page = matched[offset : offset + PAGE_SIZE]
    items = [{f: row[f] for f in select} for row in page]
    result = {"items": items}
    if not count:
        return Result(result)
    following = offset + len(page)
    return Result(result, next=following if following < total else None, total=total)


def _count_rest(
    stored: Mapping[int, Row],
    synth: Synthetic | None,
    bounds: _Bounds,
    page: list[Row],
    desc: bool,
    predicate: Predicate,
) -> int:
    """Matches after the last row of a full page when the filter is a plain ID range: no row generation."""
    if len(page) < PAGE_SIZE:
        return 0
    last = page[-1]["ID"]
    lo, hi = (bounds.lo, last - 1) if desc else (last + 1, bounds.hi)
    rest = sum(1 for i, r in stored.items() if lo <= i <= hi and predicate(r))
    if synth is not None:
        s_lo, s_hi = max(lo, synth.first_id), min(hi, synth.last_id)
        rest += max(0, s_hi - s_lo + 1)
    return rest


HANDLERS: dict[str, Handler] = {"crm.stagehistory.list": stagehistory_list}
