"""Staying under the portal's limits instead of bouncing off them.

Two limits apply (docs/protocol.md#rate-limit): a leaky bucket per portal (each HTTP request adds 1, the counter
drains by
``rate`` per second, once it exceeds ``burst`` the next requests get 503 QUERY_LIMIT_EXCEEDED) and an
operating-time budget per method (``time.operating`` seconds accumulated over 10 minutes; over the limit the
method gets 429 until ``time.operating_reset_at``). ``RateLimiter`` makes callers wait for a slot before
sending; ``OperatingTracker`` makes callers of a nearly spent method wait for the reset before the portal
refuses them.

All state lives behind ``LimiterStore`` so that several processes sharing one portal can later share one
store (e.g. Redis); ``InMemoryLimiterStore`` is the thread-safe single-process implementation.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from b24crm.runtime import forksafe, limits
from b24crm.runtime.clock import SYSTEM_CLOCK, Clock

RatePlan = str | tuple[int, float] | None

_log = logging.getLogger("b24crm")


@attrs.frozen
class OperatingState:
    """The last operating figures the portal reported for one method, plus a block after a 429."""

    operating: float
    reset_at: float | None
    blocked_until: float | None = None


class LimiterStore(Protocol):
    """Where limiter state lives. Each call must be atomic with respect to other users of the store.

    ``now`` is whatever clock the limiter uses (monotonic in-process; a store shared between processes
    should be used with wall time).
    """

    def reserve(self, key: str, burst: int, rate: float, now: float) -> float:
        """Take one request slot; return how many seconds the caller must wait before sending."""
        ...

    def saturate(self, key: str, burst: int, rate: float, now: float) -> None:
        """The portal said the bucket is full: make later reservations wait as if it were."""
        ...

    def get_operating(self, key: str) -> OperatingState | None: ...

    def set_operating(self, key: str, state: OperatingState) -> None: ...


class InMemoryLimiterStore:
    """Thread-safe state for one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._operating: dict[str, OperatingState] = {}
        forksafe.register(self)

    def after_fork_in_child(self) -> None:
        """A fresh lock (a parent thread may have held it at the fork); the copied levels stay as a start."""
        self._lock = threading.Lock()

    def _drained(self, key: str, rate: float, now: float) -> float:
        level, updated = self._buckets.get(key, (0.0, now))
        return max(0.0, level - max(0.0, now - updated) * rate)

    def reserve(self, key: str, burst: int, rate: float, now: float) -> float:
        with self._lock:
            level = self._drained(key, rate, now)
            # Reservation: the level includes requests already promised a future slot, so concurrent
            # callers queue up behind each other instead of all waking at the same instant.
            wait = max(0.0, (level + 1.0 - burst) / rate)
            self._buckets[key] = (level + 1.0, now)
            return wait

    def saturate(self, key: str, burst: int, rate: float, now: float) -> None:
        with self._lock:
            level = self._drained(key, rate, now)
            self._buckets[key] = (max(level, float(burst)), now)

    def get_operating(self, key: str) -> OperatingState | None:
        with self._lock:
            return self._operating.get(key)

    def set_operating(self, key: str, state: OperatingState) -> None:
        with self._lock:
            self._operating[key] = state


def resolve_plan(plan: RatePlan) -> tuple[int, float] | None:
    """``"standard"`` / ``"enterprise"`` / ``(burst, rate)`` / ``"off"`` or None → (burst, rate) or None."""
    if plan is None or plan == "off":
        return None
    if isinstance(plan, str):
        try:
            return limits.RATE_PLANS[plan]
        except KeyError:
            known = ", ".join([*limits.RATE_PLANS, "off"])
            raise ValueError(f"unknown rate_limit {plan!r}; use one of {known} or a (burst, rate) tuple") from None
    burst, rate = plan
    if burst < 1 or rate <= 0:
        raise ValueError(f"rate_limit needs burst >= 1 and rate > 0, got {plan!r}")
    return int(burst), float(rate)


class RateLimiter:
    """Blocks each caller until the leaky bucket has room for one more request."""

    def __init__(
        self,
        plan: RatePlan,
        *,
        key: str,
        store: LimiterStore,
        clock: Clock = SYSTEM_CLOCK,
        logger: logging.Logger | None = None,
    ) -> None:
        self._plan = resolve_plan(plan)
        self._key = f"bucket:{key}"
        self._store = store
        self._clock = clock
        self._log = logger or _log

    @property
    def plan(self) -> tuple[int, float] | None:
        return self._plan

    def reserve(self) -> float:
        """Take a slot without waiting: the seconds the caller must wait before sending (the sync client
        sleeps them, the asyncio client awaits them; the arithmetic is the store's)."""
        if self._plan is None:
            return 0.0
        burst, rate = self._plan
        return self._store.reserve(self._key, _usable(burst, rate), rate, self._clock.monotonic())

    def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited (0 when there was room)."""
        wait = self.reserve()
        if wait > 0:
            self._log.debug("b24crm: rate limiter: waiting %.2fs for a request slot", wait)
            self._clock.sleep(wait)
        return wait

    def saturate(self) -> None:
        """Called on QUERY_LIMIT_EXCEEDED: someone else (another app on this IP) is using the bucket too."""
        if self._plan is not None:
            burst, rate = self._plan
            self._store.saturate(self._key, _usable(burst, rate), rate, self._clock.monotonic())


def _usable(burst: int, rate: float) -> int:
    """The slots the client fills: what the portal admits from empty minus the headroom (never fewer than one).

    The portal blocks the request *after* its counter exceeds X (limits.md), so X + 1 requests fit from empty.
    The client keeps two slots of that unused (``RATE_HEADROOM``; more at fast custom rates): measured with
    ``bench/headroom.py`` on the standard plan, 60 calls from a fresh bucket, 5 runs sequential and 5 from 8
    threads: filling all 51 slots met a 503 in 10 of 10 runs (the client stamps a request before the portal
    counts it, so with no slack the first paced request arrives a little early), filling 50 met none (0 of 10,
    5.00 s), and 49 (the old fill, chosen when the emulator wrongly refused request 51) met none either but
    took 5.50 s, 0.5 s more per burst. But 1,000 concurrent asyncio tasks on a loaded 2-core CI machine met one
    503 while filling 50 (requests stamped in order arrive out of order when the machine is busy), so the
    client fills X - 1: 49 of 51 on standard, 249 of 251 on Enterprise — robust for 0.5 s per burst.
    """
    headroom = max(limits.RATE_HEADROOM, math.ceil(rate * limits.RATE_JITTER_SECONDS))
    return max(1, burst + 1 - headroom)


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class OperatingTracker:
    """Per-method operating-time budget: waits before the portal would answer 429 OPERATION_TIME_LIMIT."""

    def __init__(
        self,
        *,
        key: str,
        store: LimiterStore,
        clock: Clock = SYSTEM_CLOCK,
        limit: float = limits.OPERATING_LIMIT_SECONDS,
        margin: float = 5.0,
        enabled: bool = True,
        logger: logging.Logger | None = None,
    ) -> None:
        self._key = key
        self._store = store
        self._clock = clock
        self._log = logger or _log
        self._threshold = max(0.0, limit - margin)
        self._enabled = enabled

    def _k(self, method: str) -> str:
        return f"operating:{self._key}:{method.lower()}"

    def wait_time(self, method: str) -> float:
        """Seconds to wait before ``method`` may be sent (0 when its budget is not nearly spent)."""
        if method.lower() == "batch":  # batch itself is exempt (docs/protocol.md#operating-limit)
            return 0.0
        state = self._store.get_operating(self._k(method))
        if state is None:
            return 0.0
        now = self._clock.time()
        until: float | None = None
        if state.blocked_until is not None and now < state.blocked_until:
            until = state.blocked_until  # the portal said 429: honoured even when proactive waiting is off
        elif (
            self._enabled and state.operating >= self._threshold and state.reset_at is not None and now < state.reset_at
        ):
            until = state.reset_at
        if until is None:
            return 0.0
        # Never trust a reset far in the future (clock skew): one window is the most the portal can mean.
        return min(until - now + 1.0, float(limits.OPERATING_WINDOW_SECONDS))

    def before(self, method: str) -> float:
        """Block until ``method`` may be sent; returns the seconds waited."""
        wait = self.wait_time(method)
        if wait > 0:
            self._log.info("b24crm: %s: operating-time budget nearly spent, waiting %.1fs for its reset", method, wait)
            self._clock.sleep(wait)
        return wait

    def record(self, method: str, time: Mapping[str, Any] | None) -> None:
        """Feed the ``time`` block of a successful answer (or of one batch command)."""
        if time is None or method.lower() == "batch":
            return
        operating = _float(time.get("operating"))
        if operating is None:
            return  # the portal's limiter is off (self-hosted): nothing to track
        self._store.set_operating(self._k(method), OperatingState(operating, _float(time.get("operating_reset_at"))))

    def blocked(self, method: str) -> None:
        """The portal answered 429 for ``method``: hold it until the known reset (or one bucket's length)."""
        key = self._k(method)
        state = self._store.get_operating(key)
        now = self._clock.time()
        reset = state.reset_at if state is not None and state.reset_at is not None and state.reset_at > now else None
        until = reset if reset is not None else now + limits.OPERATING_BUCKET_SECONDS
        self._store.set_operating(
            key, OperatingState(state.operating if state else self._threshold, state.reset_at if state else None, until)
        )
