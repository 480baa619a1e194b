"""The bulk-read plan, sans-IO: given the last reply, which request comes next. Nothing here sends or sleeps.

A plan hands out :class:`Step` values (one page as a lone JSON call, or several pages as ``batch``
commands) and is fed the replies as :class:`PageReply` values; it answers with the raw records to yield.
``paging.iter_all`` is the sync driver; the asyncio client drives the same plans.

Strategies (``plan_for`` picks one):

* :class:`CursorPlan` — count-free (docs/protocol.md#paging): order by the ID field, filter ``>ID`` (ascending) or
  ``<ID`` (descending) from a cursor, ``start=-1``. The first page goes alone (small lists cost one
  request); then up to 50 pages per ``batch``, each command's cursor taken from the previous command's last
  record (``$result[p00][items][49][ID]``): N records cost at most ⌈N/2500⌉+1 requests.
* When a page's parameters would not survive as a batch command (more than ``limits.MAX_INPUT_VARS``
  variables, which the server would silently cut — the cursor, ``order`` and ``start`` with them — or user
  text the server would substitute), the plan changes strategy instead of sending a truncated command:
  an IN-list filter too long for one command is split into several filters (:class:`MergedPlan` reads
  each with chained batches and merges them in ID order, dropping repeats), and anything else is read
  one JSON request per page (JSON bodies have no variable cap and no substitution).
* :class:`OffsetPlan` — counted ``start`` offsets when the order is not by ID (or the method is not
  count-free), batched 50 pages per request when the first page reports a ``total`` and the pages fit.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs

from b24crm.runtime import limits
from b24crm.runtime.batchwire import BatchResponse, command_error, keys, lone_reason
from b24crm.runtime.errors import ResponseDecodeError
from b24crm.runtime.phpquery import count_vars
from b24crm.runtime.spec import ErrorRow, MethodSpec, Pagination

__all__ = ["CursorPlan", "MergedPlan", "OffsetPlan", "PageReply", "Plan", "Step", "dig", "plan_for", "replies_of"]

_PAGE_KEY = "p"
#: Filter keys whose list value means "one of" (IN): plain, ``=`` and ``@``. Only these split safely.
_IN_KEY = re.compile(r"^(=|@)?[A-Za-z_]")


@attrs.frozen
class Step:
    """One request the plan wants: ``params`` of one page as a lone call, or ``commands`` (key -> page params)."""

    params: Mapping[str, Any] | None = None
    commands: Mapping[str, Mapping[str, Any]] | None = None
    #: Which sub-plan asked (MergedPlan); 0 otherwise.
    tag: int = 0


@attrs.frozen
class PageReply:
    """One page's answer: its ``result`` / ``next`` / ``total``, or a failed command's error body."""

    result: Any = None
    next: int | None = None
    total: int | None = None
    error: Any = None
    failed: bool = False
    missing: bool = False


def replies_of(step: Step, parsed: BatchResponse) -> list[PageReply]:
    """A batch answer as one PageReply per command of ``step``, in command order."""
    out: list[PageReply] = []
    for key in step.commands or {}:
        if key in parsed.result:
            out.append(PageReply(parsed.result[key], parsed.int_of(parsed.next, key), parsed.int_of(parsed.total, key)))
        elif key in parsed.error:
            out.append(PageReply(error=parsed.error[key], failed=True))
        else:
            out.append(PageReply(missing=True))
    return out


class Plan(Protocol):
    """What a driver needs: the next step (None when done) and a way to feed it the step's replies."""

    def next_step(self) -> Step | None: ...

    def feed(self, step: Step, replies: Sequence[PageReply]) -> list[list[Any]]:
        """The raw records the replies complete, as pages (progress is reported per page)."""
        ...


def dig(result: Any, path: Sequence[str]) -> Any:
    """The records inside ``result`` at ``items_path`` (an empty result may arrive as ``[]``)."""
    current = result
    for key in path:
        if isinstance(current, Mapping):
            current = current.get(key, [])
        elif isinstance(current, list) and not current:
            return []
        else:
            return current  # not the declared shape: from_wire will say so
    return current


def id_direction(order: Any, id_field: str) -> str | None:
    """``"ASC"`` for no order or exactly ``{ID: ASC}``, ``"DESC"`` for exactly ``{ID: DESC}``, else None.

    Only these two orders let a cursor on the ID field walk the list.
    """
    if order is None or (isinstance(order, (Mapping, list)) and not order):
        return "ASC"
    if not isinstance(order, Mapping) or len(order) != 1:
        return None
    ((field, direction),) = order.items()
    if str(field).upper() != id_field.upper():
        return None
    direction = str(direction).upper()
    return direction if direction in ("ASC", "DESC") else None


@attrs.define
class _Shared:
    """What every strategy needs to read pages: the method, the limit, error mapping."""

    method: MethodSpec
    pg: Pagination
    system_rows: Sequence[ErrorRow]
    limit: int | None
    produced: int = 0

    @property
    def page_size(self) -> int:
        return self.pg.page_size or limits.PAGE_SIZE

    def remaining_pages(self) -> int:
        if self.limit is None:
            return limits.BATCH_MAX_COMMANDS
        return max(0, math.ceil((self.limit - self.produced) / self.page_size))

    def done(self) -> bool:
        return self.limit is not None and self.produced >= self.limit

    def items_of(self, result: Any) -> list[Any]:
        items = dig(result, self.pg.items_path)
        if isinstance(items, list) and not items:
            return []
        if not isinstance(items, list):
            raise ResponseDecodeError(self.method.name, f"expected a list of records, got {type(items).__name__}")
        return items

    def take(self, items: list[Any]) -> list[Any]:
        """``items`` cut to what the limit still allows, counted."""
        if self.limit is not None:
            items = items[: max(0, self.limit - self.produced)]
        self.produced += len(items)
        return items

    def check(self, reply: PageReply) -> None:
        if reply.failed:
            raise command_error(
                self.method.name, reply.error, method_rows=self.method.errors, system_rows=self.system_rows
            )
        if reply.missing:
            raise ResponseDecodeError("batch", f"a page of {self.method.name} is missing from the batch answer")

    def id_of(self, record: Any) -> int:
        field = self.pg.id_field
        value = record.get(field) if isinstance(record, Mapping) else None
        if value is None and isinstance(record, Mapping):  # e.g. crm.item.* answer ``id`` while ordering by ``ID``
            value = next((v for k, v in record.items() if str(k).upper() == field.upper()), None)
        try:
            return int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            raise ResponseDecodeError(
                self.method.name, f"records carry no usable {field!r} for the cursor (got {value!r})"
            ) from None


def _fits(user: Mapping[str, Any], rendered: Mapping[str, Any]) -> bool:
    return lone_reason(user, rendered) is None


# --- count-free cursor ---------------------------------------------------------------------------------------


class CursorPlan:
    """Count-free reading along the ID field; ``batched``: 50 chained pages per request after the first."""

    def __init__(
        self,
        shared: _Shared,
        base: Mapping[str, Any],
        flt: Mapping[str, Any],
        cursor: int | None,
        *,
        descending: bool,
        batched: bool,
    ) -> None:
        self.shared = shared
        self.base = base
        self.flt = flt
        self.cursor = cursor
        self.descending = descending
        self.batched = batched
        self.cursor_key = ("<" if descending else ">") + shared.pg.id_field
        self.finished = shared.limit == 0
        self._first = True

    def page_params(self, cursor: Any) -> dict[str, Any]:
        out = dict(self.base)
        flt = dict(self.flt) if cursor is None else {**self.flt, self.cursor_key: cursor}
        if flt:
            out[self.shared.pg.filter_param] = flt
        else:
            out.pop(self.shared.pg.filter_param, None)
        return out

    def ref_tail(self) -> str:
        pg = self.shared.pg
        return "".join(f"[{p}]" for p in pg.items_path) + f"[{self.shared.page_size - 1}][{pg.id_field}]"

    def next_step(self) -> Step | None:
        if self.finished:
            return None
        if self._first or not self.batched:
            return Step(params=self.page_params(self.cursor))
        names = list(keys(_PAGE_KEY, min(limits.BATCH_MAX_COMMANDS, self.shared.remaining_pages())))
        commands: dict[str, Mapping[str, Any]] = {}
        for i, key in enumerate(names):
            ref: Any = self.cursor if i == 0 else f"$result[{names[i - 1]}]{self.ref_tail()}"
            commands[key] = self.page_params(ref)
        return Step(commands=commands)

    def feed(self, step: Step, replies: Sequence[PageReply]) -> list[list[Any]]:
        self._first = False
        out: list[list[Any]] = []
        for reply in replies:
            self.shared.check(reply)
            page = self.shared.items_of(reply.result)
            out.append(self.shared.take(page))
            if len(page) < self.shared.page_size or self.shared.done():
                self.finished = True  # later chained commands hold garbage or errors: ignored
                break
            self.cursor = self.shared.id_of(page[-1])
        return out


class MergedPlan:
    """Several cursor plans (one per part of a split IN-list) merged in ID order, each record once."""

    def __init__(self, shared: _Shared, parts: Sequence[CursorPlan], *, descending: bool) -> None:
        self.shared = shared
        self.parts = list(parts)
        self.descending = descending
        self.buffers: list[deque[Any]] = [deque() for _ in parts]
        self.last_id: int | None = None
        self.finished = shared.limit == 0

    def next_step(self) -> Step | None:
        if self.finished:
            return None
        for i, part in enumerate(self.parts):
            if not self.buffers[i] and not part.finished:
                step = part.next_step()
                if step is not None:
                    return attrs.evolve(step, tag=i)
        return None

    def feed(self, step: Step, replies: Sequence[PageReply]) -> list[list[Any]]:
        for page in self.parts[step.tag].feed(step, replies):
            self.buffers[step.tag].extend(page)
        out: list[Any] = []
        while not self.finished:
            waiting = any(not b and not p.finished for b, p in zip(self.buffers, self.parts, strict=True))
            ready = [i for i, b in enumerate(self.buffers) if b]
            if waiting or not ready:
                self.finished = not waiting and not ready
                break
            heads = [(self.shared.id_of(self.buffers[i][0]), i) for i in ready]
            record_id, i = max(heads) if self.descending else min(heads)
            record = self.buffers[i].popleft()
            if record_id == self.last_id:
                continue  # matched by two parts (a multi-valued field): once is enough
            self.last_id = record_id
            out.extend(self.shared.take([record]))
            if self.shared.done():
                self.finished = True
        return [out] if out else []


# --- counted offsets -----------------------------------------------------------------------------------------


class OffsetPlan:
    """Counted ``start`` offsets; 50 pages per batch once a ``total`` is known and the pages fit a command."""

    def __init__(self, shared: _Shared, base: Mapping[str, Any]) -> None:
        self.shared = shared
        self.base = base
        start = shared.pg.start_param
        self.batched = shared.method.batchable and _fits(base, {**base, start: 2**31})
        self.finished = shared.limit == 0
        self.nxt: int | None = 0
        self.total: int | None = None
        self.last_start = -1

    def page(self, start: int) -> dict[str, Any]:
        return {**self.base, self.shared.pg.start_param: start}

    def next_step(self) -> Step | None:
        if self.finished or self.nxt is None or self.nxt <= self.last_start or self.shared.done():
            return None
        nxt = self.nxt
        starts = [nxt]
        if self.total is not None and self.batched:
            wanted = min(limits.BATCH_MAX_COMMANDS, self.shared.remaining_pages())
            starts = list(range(nxt, max(self.total, nxt + 1), self.shared.page_size))[:wanted]
        if len(starts) == 1:
            return Step(params=self.page(nxt))
        return Step(commands={k: self.page(s) for k, s in zip(keys(_PAGE_KEY, len(starts)), starts, strict=True)})

    def feed(self, step: Step, replies: Sequence[PageReply]) -> list[list[Any]]:
        if step.params is not None:
            starts = [int(step.params[self.shared.pg.start_param])]
        else:
            starts = [int(p[self.shared.pg.start_param]) for p in (step.commands or {}).values()]
        out: list[list[Any]] = []
        self.nxt = None
        for start, reply in zip(starts, replies, strict=True):
            if not reply.missing:  # a page absent from the answer reads as the end of the list
                self.shared.check(reply)
            items = self.shared.items_of(reply.result if not reply.missing else [])
            out.append(self.shared.take(items))
            self.last_start = start
            if not items or self.shared.done():
                self.finished = True
                return out
            self.nxt = reply.next
            self.total = reply.total if reply.total is not None else self.total
        return out


# --- choosing --------------------------------------------------------------------------------------------------


def plan_for(
    method: MethodSpec,
    params: Mapping[str, Any],
    *,
    limit: int | None,
    after_id: int | None,
    system_rows: Sequence[ErrorRow],
) -> Plan:
    """The cheapest plan that reads every record of ``params`` (validated wire params) exactly once."""
    pg = method.pagination
    if pg is None:
        raise TypeError(f"{method.name} is not a paginated method")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    direction = id_direction(params.get(pg.order_param), pg.id_field)
    if after_id is not None and direction is None:
        raise ValueError("after_id needs an order by ID (ascending or descending); it cannot resume another order")
    shared = _Shared(method, pg, system_rows, limit)
    descending = direction == "DESC"
    cursor_key = ("<" if descending else ">") + pg.id_field
    if not (pg.count_free and direction is not None and method.batchable):
        return OffsetPlan(shared, _offset_base(params, pg, cursor_key, after_id, descending))
    base, flt, cursor = _cursor_base(params, pg, cursor_key, after_id, descending)

    def cursor_plan(part: Mapping[str, Any], *, batched: bool, into: _Shared = shared) -> CursorPlan:
        return CursorPlan(into, base, part, cursor, descending=descending, batched=batched)

    whole = cursor_plan(flt, batched=False)
    probe = whole.page_params("$result[p00]" + whole.ref_tail())
    if _fits(whole.page_params(cursor), probe):
        return cursor_plan(flt, batched=True)
    parts = _split_in_list(flt, count_vars(probe))
    if parts is not None:
        plans = [cursor_plan(p, batched=True, into=_Shared(method, pg, system_rows, limit)) for p in parts]
        if all(_fits(p.page_params(cursor), p.page_params("$result[p00]" + p.ref_tail())) for p in plans):
            return MergedPlan(shared, plans, descending=descending)
    return whole  # one JSON request per page


def _cursor_base(
    params: Mapping[str, Any], pg: Pagination, cursor_key: str, after_id: int | None, descending: bool
) -> tuple[dict[str, Any], dict[str, Any], int | None]:
    """The fixed page params (order, start=-1, ID selected), the user's filter without a cursor, the cursor."""
    base = dict(params)
    base.pop(pg.filter_param, None)
    base[pg.order_param] = {pg.id_field: "DESC" if descending else "ASC"}
    base[pg.start_param] = limits.START_NO_COUNT
    flt = dict(params.get(pg.filter_param) or {})
    own = flt.pop(cursor_key, None)
    cursor = after_id
    if own is not None:  # the user's own bound and the resume point: the tighter one wins
        tighter = min if descending else max
        cursor = int(own) if cursor is None else tighter(cursor, int(own))
    select = base.get("select")
    if isinstance(select, list) and select and "*" not in select and pg.id_field not in select:
        base["select"] = [*select, pg.id_field]  # the cursor needs the ID of every record
    return base, flt, cursor


def _offset_base(
    params: Mapping[str, Any], pg: Pagination, cursor_key: str, after_id: int | None, descending: bool
) -> dict[str, Any]:
    base = dict(params)
    if after_id is not None:
        flt = dict(base.get(pg.filter_param) or {})
        own = flt.get(cursor_key)
        if own is not None:
            tighter = min if descending else max
            after_id = tighter(after_id, int(own))
        base[pg.filter_param] = {**flt, cursor_key: after_id}
    return base


def _split_in_list(flt: Mapping[str, Any], variables: int) -> list[dict[str, Any]] | None:
    """``flt`` with its longest IN-list cut into parts small enough for a batch command, or None.

    Splitting is exact only where the filter is a conjunction: under ``LOGIC: OR`` it is not attempted.
    """
    if str(flt.get("LOGIC", "AND")).upper() != "AND":
        return None
    candidates = [k for k, v in flt.items() if isinstance(v, list) and _IN_KEY.match(str(k)) and len(v) > 1]
    if not candidates:
        return None
    key = max(candidates, key=lambda k: len(flt[k]))
    values = list({str(v): v for v in flt[key]}.values())  # repeats would only cost variables
    room = limits.MAX_INPUT_VARS - (variables - len(flt[key]))
    if room < 1:
        return None
    count = math.ceil(len(values) / room)
    size = math.ceil(len(values) / count)
    return [{**flt, key: values[i : i + size]} for i in range(0, len(values), size)]
