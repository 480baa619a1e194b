"""The seam between the surface (invoker, paging, batch) and the engine that sends requests.

Paging and batch decide *what* to send as plain data — a :class:`Call` — and hand it to a :class:`Sender`;
they never touch the client's attempt loop, limiter or registry. The sync ``BaseClient`` provides one
sender, the asyncio client (``runtime.aio``) an :class:`AsyncSender` with the same four members (``send``
awaited); the decisions that build the calls (``pageplan``, ``batchwire``, ``batch._Run``) are the same code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs

from b24crm.runtime.envelope import RawResponse
from b24crm.runtime.spec import ErrorRow, MethodSpec
from b24crm.runtime.types import RequestOptions

__all__ = ["AsyncSender", "Call", "Sender", "SenderBase"]


@attrs.frozen
class Call:
    """One HTTP request: a method, its wire params, and what the send policy needs to know about it."""

    #: The REST method name as sent (``crm.status.list``, ``batch``).
    method: str
    #: JSON-ready wire params (already encoded and validated).
    params: Mapping[str, Any]
    options: RequestOptions | None = None
    #: The method's spec (its error rows, its idempotency); None for ``batch`` and methods outside the spec.
    spec: MethodSpec | None = None
    #: Whether repeating the call is safe; None: the spec says (False without a spec).
    idempotent: bool | None = None
    #: For ``batch``: the commands' methods, whose operating-time budgets are waited for before sending.
    budget_methods: tuple[str, ...] = ()

    @property
    def safe_to_repeat(self) -> bool:
        if self.idempotent is not None:
            return self.idempotent
        return self.spec is not None and self.spec.idempotent

    @property
    def error_rows(self) -> tuple[ErrorRow, ...]:
        return self.spec.errors if self.spec is not None else ()


class SenderBase(Protocol):
    """What the engine offers the surface besides sending: account a batch command's time, look a method up."""

    @property
    def system_errors(self) -> Sequence[ErrorRow]:
        """The spec's system error rows (to map a batch command's error body)."""
        ...

    def find(self, method: str) -> MethodSpec | None:
        """The spec of ``method`` (case-insensitive), None when the spec does not have it."""
        ...

    def spent(self, method: str, time: Mapping[str, Any] | None) -> None:
        """Account the operating time a batch command of ``method`` reported (its ``result_time`` entry)."""
        ...


class Sender(SenderBase, Protocol):
    """The sync client's engine: ``send`` blocks."""

    def send(self, call: Call) -> RawResponse:
        """Send ``call`` with the full policy (limits, retries, refresh, moves): the envelope, or a typed error."""
        ...


class AsyncSender(SenderBase, Protocol):
    """The asyncio client's engine: ``send`` is awaited."""

    async def send(self, call: Call) -> RawResponse:
        """As ``Sender.send``, without blocking the event loop."""
        ...
