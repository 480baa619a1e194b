"""List methods: one ``Page`` at a time, or every record through the cheapest strategy the method allows.

Which requests a bulk read makes is decided in :mod:`b24crm.runtime.pageplan` (sans-IO: no sockets, no
sleeps — see its docstring for the strategies and their request counts). This module holds the ``Page``
type and :func:`iter_all`, the sync driver: it turns each plan step into a :class:`~b24crm.runtime.sender.Call`,
sends it through the :class:`~b24crm.runtime.sender.Sender`, feeds the reply back and decodes the records.
The asyncio client needs only its own driver of the same few lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs

from b24crm.runtime.batchwire import encode_command, parse_batch_result
from b24crm.runtime.converter import from_wire
from b24crm.runtime.pageplan import PageReply, Plan, Step, dig, plan_for, replies_of
from b24crm.runtime.sender import Call, Sender
from b24crm.runtime.spec import MethodSpec
from b24crm.runtime.types import RequestOptions

__all__ = ["Page", "dig", "iter_all", "step_call"]

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


def step_call(method: MethodSpec, step: Step, options: RequestOptions | None) -> Call:
    """The request for one plan step (pure): a lone call of ``method``, or a ``batch`` of its pages."""
    if step.commands is None:
        return Call(method.name, step.params or {}, options, spec=method)
    cmd = {key: encode_command(method.name, params) for key, params in step.commands.items()}
    return Call("batch", {"halt": 1, "cmd": cmd}, options, idempotent=method.idempotent, budget_methods=(method.name,))


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
    plan = plan_for(method, params, limit=limit, after_id=after_id, system_rows=sender.system_errors)
    return _drive(sender, method, plan, list[item_type], progress, options)  # type: ignore[valid-type, unused-ignore]


def _drive(
    sender: Sender,
    method: MethodSpec,
    plan: Plan,
    list_type: Any,
    progress: Callable[[int], None] | None,
    options: RequestOptions | None,
) -> Iterator[Any]:
    count = 0
    while (step := plan.next_step()) is not None:
        raw = sender.send(step_call(method, step, options))
        if step.commands is None:
            replies = [PageReply(raw.result, raw.next, raw.total)]
        else:
            parsed = parse_batch_result("batch", raw.result)
            for key in step.commands:
                sender.spent(method.name, parsed.time_of(key))
            replies = replies_of(step, parsed)
        for records in plan.feed(step, replies):
            if not records:
                continue
            decoded = from_wire(records, list_type, method.name)
            count += len(decoded)
            if progress is not None:
                progress(count)
            yield from decoded
