"""List methods: one ``Page`` at a time, or every record through the cheapest strategy the method allows.

``iter_all`` on a method whose spec says ``count_free`` uses count-free chained batches (protocol.md §3):
order by the ID field, filter ``>ID`` (ascending) or ``<ID`` (descending) from a cursor, ``start=-1`` (no COUNT
query), and inside one ``batch`` request up to 50 pages, each command's cursor taken from the previous one's
50th item (``$result[prev][items][49][ID]``). The first page goes alone, so small lists cost one request; N records
cost at most ⌈N/2500⌉+1 requests, and only one batch of records is held in memory at a time. The cursor
makes the read safe against inserts and deletes between requests (no skipped or repeated rows).

Only when the user orders by a field other than ID (or the method is not count-free) does it fall back to counted
``start`` offsets, batched 50 pages per request when the first page reports a ``total``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from b24crm.runtime import limits
from b24crm.runtime.converter import from_wire
from b24crm.runtime.errors import ResponseDecodeError, error_from_wire
from b24crm.runtime.spec import MethodSpec, Pagination
from b24crm.runtime.types import RequestOptions

if TYPE_CHECKING:
    from b24crm.runtime.client import BaseClient

T = TypeVar("T")

#: Batch command keys for chained pages: letters first, never purely numeric.
_KEY = "p{:02d}"


@attrs.frozen
class Page(Generic[T]):
    """One page of a list method: the records, the offset of the next page, the count, the timing."""

    items: Sequence[T]
    next: int | None = None
    total: int | None = None
    time: Mapping[str, Any] | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


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


def _id_direction(order: Any, id_field: str) -> str | None:
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


def iter_all(
    client: BaseClient,
    method: MethodSpec,
    params: Mapping[str, Any],
    item_type: Any,
    *,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    after_id: int | None = None,
    options: RequestOptions | None = None,
) -> Iterator[Any]:
    """Every record of a list method, lazily. ``params`` are already validated wire params.

    ``limit`` stops after that many records, ``progress`` is called with the running count after each page,
    and ``after_id`` resumes an interrupted export after the last ID it saw: IDs above it when ordered by ID
    ascending (the default), IDs below it when ordered by ID descending.
    """
    pg = method.pagination
    if pg is None:
        raise TypeError(f"{method.name} is not a paginated method")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    direction = _id_direction(params.get(pg.order_param), pg.id_field)
    if after_id is not None and direction is None:
        raise ValueError("after_id needs an order by ID (ascending or descending); it cannot resume another order")
    reader = _Reader(client, method, pg, item_type, limit, progress, options, descending=direction == "DESC")
    if pg.count_free and direction is not None and method.batchable:
        return reader.chained(params, after_id)
    return reader.offsets(params, after_id)


class _Reader:
    """State shared by the strategies: counting, limit, progress, decoding."""

    def __init__(
        self,
        client: BaseClient,
        method: MethodSpec,
        pg: Pagination,
        item_type: Any,
        limit: int | None,
        progress: Callable[[int], None] | None,
        options: RequestOptions | None,
        *,
        descending: bool = False,
    ) -> None:
        self.client = client
        self.method = method
        self.pg = pg
        self.list_type = list[item_type]  # type: ignore[valid-type, unused-ignore]
        self.limit = limit
        self.progress = progress
        self.options = options
        self.descending = descending
        #: The cursor filter key: ``>ID`` walking up, ``<ID`` walking down.
        self.cursor_key = ("<" if descending else ">") + pg.id_field
        self.count = 0
        #: HTTP requests made so far (tests and benchmarks read it).
        self.requests = 0

    @property
    def page_size(self) -> int:
        return self.pg.page_size or limits.PAGE_SIZE

    def remaining_pages(self) -> int:
        if self.limit is None:
            return limits.BATCH_MAX_COMMANDS
        return max(0, math.ceil((self.limit - self.count) / self.page_size))

    def single(self, params: Mapping[str, Any]) -> tuple[list[Any], int | None, int | None]:
        self.requests += 1
        raw = self.client._execute(
            self.method.name, params, idempotent=self.method.idempotent, rows=self.method.errors, options=self.options
        )
        return self.items_of(raw.result), raw.next, raw.total

    def batch(self, cmds: Mapping[str, Mapping[str, Any]]) -> Any:
        from b24crm.runtime.batch import encode_command, parse_batch_result

        self.requests += 1
        raw = self.client._execute(
            "batch",
            {"halt": 1, "cmd": {k: encode_command(self.method.name, p) for k, p in cmds.items()}},
            idempotent=self.method.idempotent,
            rows=(),
            options=self.options,
            budget_methods=(self.method.name,),
        )
        parsed = parse_batch_result("batch", raw.result)
        for key in cmds:
            time = parsed.time.get(key)
            self.client._operating.record(self.method.name, time if isinstance(time, Mapping) else None)
        return parsed

    def items_of(self, result: Any) -> list[Any]:
        items = dig(result, self.pg.items_path)
        if isinstance(items, list) and not items:
            return []
        if not isinstance(items, list):
            raise ResponseDecodeError(self.method.name, f"expected a list of records, got {type(items).__name__}")
        return items

    def command_error(self, key: str, body: Any) -> Exception:
        body = body if isinstance(body, Mapping) else {"error": "", "error_description": str(body)}
        return error_from_wire(
            self.method.name,
            body.get("error"),
            body.get("error_description"),
            400,
            method_rows=self.method.errors,
            system_rows=self.client._registry.system_errors,
        )

    def emit(self, raw_items: list[Any]) -> Iterator[Any]:
        """Decode and yield one page, honouring ``limit``; report progress."""
        if self.limit is not None:
            raw_items = raw_items[: max(0, self.limit - self.count)]
        decoded = from_wire(raw_items, self.list_type, self.method.name)
        self.count += len(decoded)
        if self.progress is not None and decoded:
            self.progress(self.count)
        yield from decoded

    def done(self) -> bool:
        return self.limit is not None and self.count >= self.limit

    def cursor_of(self, raw_items: list[Any]) -> int:
        last = raw_items[-1]
        value = last.get(self.pg.id_field) if isinstance(last, Mapping) else None
        if value is None:  # e.g. crm.item.* answer ``id`` while ordering by ``ID``
            value = next(
                (
                    v
                    for k, v in (last.items() if isinstance(last, Mapping) else ())
                    if k.upper() == self.pg.id_field.upper()
                ),
                None,
            )
        try:
            return int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ResponseDecodeError(
                self.method.name, f"records carry no usable {self.pg.id_field!r} for the cursor (got {value!r})"
            ) from None

    # --- count-free chained batches ---------------------------------------------------------------------------

    def _base(
        self, params: Mapping[str, Any], after_id: int | None
    ) -> tuple[dict[str, Any], dict[str, Any], int | None]:
        pg = self.pg
        base = dict(params)
        base[pg.order_param] = {pg.id_field: "DESC" if self.descending else "ASC"}
        base[pg.start_param] = limits.START_NO_COUNT
        flt = dict(base.get(pg.filter_param) or {})
        own = flt.pop(self.cursor_key, None)
        cursor = after_id
        if own is not None:  # the user's own bound and the resume point: the tighter one wins
            tighter = min if self.descending else max
            cursor = int(own) if cursor is None else tighter(cursor, int(own))
        select = base.get("select")
        if isinstance(select, list) and select and "*" not in select and pg.id_field not in select:
            base["select"] = [*select, pg.id_field]  # the cursor needs the ID of every record
        return base, flt, cursor

    def _with_cursor(self, base: Mapping[str, Any], flt: Mapping[str, Any], cursor: Any) -> dict[str, Any]:
        out = dict(base)
        if cursor is None:
            out[self.pg.filter_param] = dict(flt)
        else:
            out[self.pg.filter_param] = {**flt, self.cursor_key: cursor}
        if not out[self.pg.filter_param]:
            del out[self.pg.filter_param]
        return out

    def chained(self, params: Mapping[str, Any], after_id: int | None) -> Iterator[Any]:
        base, flt, cursor = self._base(params, after_id)
        if self.limit == 0:
            return
        items, _, _ = self.single(self._with_cursor(base, flt, cursor))
        yield from self.emit(items)
        if len(items) < self.page_size or self.done():
            return
        cursor = self.cursor_of(items)
        ref_tail = "".join(f"[{p}]" for p in self.pg.items_path) + f"[{self.page_size - 1}][{self.pg.id_field}]"
        while True:
            pages = min(limits.BATCH_MAX_COMMANDS, self.remaining_pages())
            keys = [_KEY.format(i) for i in range(pages)]
            cmds: dict[str, Mapping[str, Any]] = {}
            for i, key in enumerate(keys):
                ref: Any = cursor if i == 0 else f"$result[{keys[i - 1]}]{ref_tail}"
                cmds[key] = self._with_cursor(base, flt, ref)
            parsed = self.batch(cmds)
            for key in keys:
                if key in parsed.result:
                    page = self.items_of(parsed.result[key])
                    yield from self.emit(page)
                    if len(page) < self.page_size or self.done():
                        return  # later chained commands hold garbage or errors: ignored
                    cursor = self.cursor_of(page)
                elif key in parsed.error:
                    raise self.command_error(key, parsed.error[key])
                else:
                    raise ResponseDecodeError("batch", f"chained page {key} is missing from the batch answer")

    # --- counted offsets -------------------------------------------------------------------------------------

    def offsets(self, params: Mapping[str, Any], after_id: int | None) -> Iterator[Any]:
        pg = self.pg
        base = dict(params)
        if after_id is not None:
            flt = dict(base.get(pg.filter_param) or {})
            own = flt.get(self.cursor_key)
            if own is not None:
                tighter = min if self.descending else max
                after_id = tighter(after_id, int(own))
            base[pg.filter_param] = {**flt, self.cursor_key: after_id}
        if self.limit == 0:
            return
        base[pg.start_param] = 0
        items, nxt, total = self.single(base)
        yield from self.emit(items)
        last_start = 0
        while nxt is not None and nxt > last_start and items and not self.done():
            if total is not None and self.method.batchable:
                starts = list(range(nxt, max(total, nxt + 1), self.page_size))[
                    : min(limits.BATCH_MAX_COMMANDS, self.remaining_pages())
                ]
            else:
                starts = [nxt]
            if len(starts) == 1:
                last_start = starts[0]
                items, nxt, total = self.single({**base, pg.start_param: starts[0]})
                yield from self.emit(items)
                continue
            keys = [_KEY.format(i) for i in range(len(starts))]
            parsed = self.batch({k: {**base, pg.start_param: s} for k, s in zip(keys, starts, strict=True)})
            nxt = None
            for key, start in zip(keys, starts, strict=True):
                if key in parsed.error:
                    raise self.command_error(key, parsed.error[key])
                items = self.items_of(parsed.result.get(key, []))
                yield from self.emit(items)
                last_start = start
                if not items or self.done():
                    return
                nxt_raw = parsed.next.get(key)
                total_raw = parsed.total.get(key)
                nxt = int(nxt_raw) if nxt_raw is not None else None
                total = int(total_raw) if total_raw is not None else total
