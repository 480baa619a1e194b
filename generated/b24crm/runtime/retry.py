"""When to repeat a call, decided from the spec's idempotency flag and error kinds, never from the HTTP verb.

Every Bitrix24 call is a POST, so the verb says nothing. What matters is whether the portal may have run the
call. It did not when the connection was never made or when it answered with an error whose kind (the spec's
``x-b24-error-kinds``) says so and allows a repeat (``backoff``: the rate limit; ``reset``: the operating
limit): those are repeated for every method. After a read timeout, a reset after sending, an error of kind
``retry: idempotent`` or an unreadable body it may have, so only methods the spec marks idempotent are
repeated; a write is surfaced at once with ``may_have_run`` set rather than applied twice.
"""

from __future__ import annotations

import enum
import random
from typing import Literal

import attrs

from b24crm.runtime.errors import APIError, ResponseDecodeError
from b24crm.runtime.transport import MaybeSent, NotSent, TransportFailure

Jitter = Literal["full", "equal", "none"]


class Fault(enum.Enum):
    """What a failed attempt tells us about the portal's state."""

    NOT_SENT = "not sent"  # connect failure: the portal never saw it
    RATE_LIMITED = "rate limited"  # kind retry=backoff (QUERY_LIMIT_EXCEEDED): refused before running
    OPERATING_LIMIT = "operating limit"  # kind retry=reset (OPERATION_TIME_LIMIT): wait for the reset
    MAY_HAVE_RUN = "may have run"  # read timeout, reset after sending, 5xx, unreadable body
    FINAL = "final"  # a deterministic answer (4xx, bad TLS): repeating cannot help


def classify(exc: BaseException) -> Fault:
    """Sort a failure by what it implies about whether the call ran."""
    if isinstance(exc, NotSent):
        return Fault.NOT_SENT
    if isinstance(exc, MaybeSent):
        return Fault.MAY_HAVE_RUN
    if isinstance(exc, TransportFailure):
        return Fault.FINAL  # Fatal: TLS verification, bad URL
    if isinstance(exc, APIError):
        rule = exc.kind.retry
        if rule == "backoff":
            return Fault.RATE_LIMITED
        if rule == "reset":
            return Fault.OPERATING_LIMIT
        return Fault.MAY_HAVE_RUN if rule == "idempotent" else Fault.FINAL
    if isinstance(exc, ResponseDecodeError):
        # An HTML 502 from a proxy, or a 200 cut short: the call may have run. A 4xx page will not change.
        return Fault.MAY_HAVE_RUN if exc.may_have_run else Fault.FINAL
    return Fault.FINAL


@attrs.frozen
class Decision:
    """Whether to try again, after how long, and why (for the log line)."""

    retry: bool
    delay: float
    fault: Fault
    reason: str


class RetryPolicy:
    """Exponential backoff with jitter and a cap, bounded by an attempt budget."""

    def __init__(
        self,
        *,
        max_attempts: int = 4,
        base_delay: float = 0.5,
        max_delay: float = 20.0,
        jitter: Jitter = "equal",
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.jitter = jitter
        self._rng = rng or random.Random()

    def backoff(self, attempt: int) -> float:
        """Delay after failed attempt number ``attempt`` (1-based)."""
        ceiling: float = min(self.max_delay, self.base_delay * 2.0 ** max(0, attempt - 1))
        if self.jitter == "full":
            return float(self._rng.uniform(0.0, ceiling))
        if self.jitter == "equal":
            return ceiling / 2 + float(self._rng.uniform(0.0, ceiling / 2))
        return ceiling

    def decide(
        self, exc: BaseException, *, idempotent: bool, attempt: int, max_attempts: int | None = None
    ) -> Decision:
        """Decide about failed attempt ``attempt`` of a call to a method with the given idempotency."""
        budget = self.max_attempts if max_attempts is None else max_attempts
        fault = classify(exc)
        if fault is Fault.FINAL:
            return Decision(False, 0.0, fault, "not retryable")
        if fault is Fault.MAY_HAVE_RUN and not idempotent:
            return Decision(False, 0.0, fault, "the method is not idempotent and may have run")
        if attempt >= budget:
            return Decision(False, 0.0, fault, f"attempt budget ({budget}) spent")
        # OPERATION_TIME_LIMIT: the operating tracker waits for the reset; no extra backoff on top.
        delay = 0.0 if fault is Fault.OPERATING_LIMIT else self.backoff(attempt)
        return Decision(True, delay, fault, fault.value)
