"""List methods: one ``Page`` at a time, or every record through the cheapest strategy the method allows.

Which requests a bulk read makes is decided in :mod:`b24crm.runtime.pageplan` (sans-IO: no sockets, no
sleeps — see its docstring for the strategies and their request counts). This module holds the ``Page``
type, :class:`PageReader` (sans-IO: each plan step as a :class:`~b24crm.runtime.sender.Call`, each reply fed
back to the plan and decoded) and :func:`iter_all`, the sync driver that sends the reader's calls through the
:class:`~b24crm.runtime.sender.Sender`. The asyncio client's driver (``aio.aiter_all``) is the same three lines
with ``await``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypedDict, TypeVar

import attrs

from b24crm.runtime.batchwire import encode_command, parse_batch_result
from b24crm.runtime.converter import RecordDecoder
from b24crm.runtime.envelope import RawResponse
from b24crm.runtime.pageplan import PageReply, Plan, Step, dig, plan_for, replies_of
from b24crm.runtime.sender import Call, Sender
from b24crm.runtime.spec import MethodSpec
from b24crm.runtime.types import RequestOptions

__all__ = ["Page", "PageReader", "PagingOptions", "dig", "iter_all", "step_call"]

T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    """One page of a list method: the records, the offset of the next page, the count, the timing.

    The same type whether the page came from a call (``client.x.list()``) or a batch command
    (``batch.x.list()``'s handle).
    """

    items: Sequence[T]
    next: int | None = None
    total: int | None = None
    time: Mapping[str, Any] | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class PagingOptions(TypedDict, total=False):
    """The keywords of a bulk read besides its params (see :func:`iter_all`)."""

    limit: int | None
    progress: Callable[[int], None] | None
    after_id: int | None


def step_call(method: MethodSpec, step: Step, options: RequestOptions | None) -> Call:
    """The request for one plan step (pure): a lone call of ``method``, or a ``batch`` of its pages."""
    if step.commands is None:
        return Call(method.name, step.params or {}, options, spec=method)
    cmd = {key: encode_command(method.name, params) for key, params in step.commands.items()}
    return Call("batch", {"halt": 1, "cmd": cmd}, options, idempotent=method.idempotent, budget_methods=(method.name,))


class PageReader:
    """One bulk read, sans-IO: the plan's next request and, for each answer, the decoded records. Both
    drivers (:func:`iter_all` here, ``aio.aiter_all``) only send :meth:`call`'s request and yield what
    :meth:`receive` returns."""

    def __init__(
        self,
        sender_errors: Sequence[Any],
        method: MethodSpec,
        params: Mapping[str, Any],
        item_type: Any,
        *,
        spent: Callable[[str, Mapping[str, Any] | None], None],
        limit: int | None = None,
        progress: Callable[[int], None] | None = None,
        after_id: int | None = None,
        options: RequestOptions | None = None,
    ) -> None:
        # Argument errors (limit, after_id, order) are raised here, before the first request.
        self._plan: Plan = plan_for(method, params, limit=limit, after_id=after_id, system_rows=sender_errors)
        self._method = method
        self._records = RecordDecoder(item_type, method.name)
        self._spent = spent
        self._progress = progress
        self._options = options
        self._count = 0

    def next_call(self) -> tuple[Step, Call] | None:
        """The next request (None: the read is complete)."""
        step = self._plan.next_step()
        return None if step is None else (step, step_call(self._method, step, self._options))

    def receive(self, step: Step, raw: RawResponse) -> list[Any]:
        """The records an answer completes, decoded, in order (progress reported per page)."""
        name = self._method.name
        if step.commands is None:
            replies = [PageReply(raw.result, raw.next, raw.total)]
        else:
            parsed = parse_batch_result("batch", raw.result)
            for key in step.commands:
                self._spent(name, parsed.time_of(key))
            replies = replies_of(step, parsed)
        out: list[Any] = []
        for records in self._plan.feed(step, replies):
            if not records:
                continue
            decoded = self._records.decode(records)
            self._count += len(decoded)
            if self._progress is not None:
                self._progress(self._count)
            out.extend(decoded)
        return out


def iter_all(
    sender: Sender,
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
    ascending (the default), IDs below it when ordered by ID descending. Argument errors are raised here,
    before the first request.
    """
    reader = PageReader(
        sender.system_errors,
        method,
        params,
        item_type,
        spent=sender.spent,
        limit=limit,
        progress=progress,
        after_id=after_id,
        options=options,
    )
    return _drive(sender, reader)


def _drive(sender: Sender, reader: PageReader) -> Iterator[Any]:
    # The records of each answer through a C-level chain: a generator resumed per record costs more.
    return itertools.chain.from_iterable(_answers(sender, reader))


def _answers(sender: Sender, reader: PageReader) -> Iterator[list[Any]]:
    while (next_call := reader.next_call()) is not None:
        step, call = next_call
        yield reader.receive(step, sender.send(call))
