"""The two server-side limits (docs/protocol.md#rate-limit): a leaky bucket per portal and operating time per method.

Why both are simulated rather than real: a loopback call takes microseconds, so the operating meter
records a configurable *simulated* cost per call (``costs``) on top of the measured time; the bucket uses
the plan's real numbers so client-side throttles can be tested against it.
"""

from __future__ import annotations

import math
import threading
import time

import attrs

from b24crm.runtime.limits import (
    OPERATING_BUCKET_SECONDS,
    OPERATING_LIMIT_SECONDS,
    OPERATING_MIN_RECORDED_SECONDS,
    OPERATING_WINDOW_SECONDS,
    RATE_PLANS,
)

__all__ = ["LeakyBucket", "OperatingMeter", "parse_plan"]


def parse_plan(plan: str) -> tuple[int, float] | None:
    """``standard`` / ``enterprise`` / ``unlimited`` / ``"BURST/RATE"`` -> (burst, rate per s) or None."""
    name = plan.strip().lower()
    if name == "unlimited":
        return None
    if name in RATE_PLANS:
        return RATE_PLANS[name]
    burst, sep, rate = name.partition("/")
    try:
        if sep and int(burst) > 0 and float(rate) > 0:
            return int(burst), float(rate)
    except ValueError:
        pass
    raise ValueError(f"unknown plan {plan!r}: use standard, enterprise, unlimited or BURST/RATE such as 50/2")


class LeakyBucket:
    """Counter +1 per admitted request, draining ``rate`` per second; refused once it *exceeds* ``burst``.

    The limits page (settings/performance/limits.md): "Once the counter value exceeds the threshold value X,
    each subsequent incoming request is blocked." A request is checked against the counter *before* it is
    counted, so from empty X + 1 requests pass (the last one takes the counter to X + 1, above X) and the
    X + 2nd is refused: on the standard plan 51 pass and the 52nd gets 503. (Refusing the 51st, as this class
    once did, gave the official JS SDK — default limiter X = 50, Y = 2 — a 503 at request 51 every time.)

    A portal has one (``Portal.bucket``), and every webhook and OAuth app of it counts into that one — "If
    several applications on a single server work with the same Bitrix24, they share a common request rate
    limit" — so several worker processes with different credentials meet the same limit as on a real portal.
    """

    def __init__(self, limits: tuple[int, float] | None) -> None:
        self.limits = limits
        self._level = 0.0
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def admit(self) -> bool:
        """Count one request; False when the bucket is full (the request is then not counted)."""
        if self.limits is None:
            return True
        burst, rate = self.limits
        with self._lock:
            now = time.monotonic()
            self._level = max(0.0, self._level - (now - self._last) * rate)
            self._last = now
            if self._level > burst:  # the counter already exceeds X: this request is blocked
                return False
            self._level += 1
            return True

    @property
    def level(self) -> float:
        """The current counter (after draining), for stats."""
        if self.limits is None:
            return 0.0
        with self._lock:
            return max(0.0, self._level - (time.monotonic() - self._last) * self.limits[1])

    def reset(self) -> None:
        """Empty the bucket."""
        with self._lock:
            self._level = 0.0
            self._last = time.monotonic()


@attrs.define
class _Bucket:
    first_call: float
    seconds: float


class OperatingMeter:
    """Per (auth kind, app or webhook, method): 10 one-minute buckets of recorded run time."""

    def __init__(self, limit: float = OPERATING_LIMIT_SECONDS) -> None:
        self.limit = limit
        self._buckets: dict[tuple[str, str, str], dict[int, _Bucket]] = {}
        self._lock = threading.Lock()

    def _live(self, key: tuple[str, str, str], now: float) -> dict[int, _Bucket]:
        buckets = self._buckets.setdefault(key, {})
        for index in [i for i, b in buckets.items() if b.first_call + OPERATING_WINDOW_SECONDS <= now]:
            del buckets[index]
        return buckets

    def blocked(self, key: tuple[str, str, str], now: float) -> bool:
        """Checked before a call runs: blocked once the sum is strictly above the limit."""
        with self._lock:
            return sum(b.seconds for b in self._live(key, now).values()) > self.limit

    def record(self, key: tuple[str, str, str], now: float, seconds: float) -> None:
        """Record one finished run (runs under ``minimalFixTime`` are not recorded)."""
        if seconds <= OPERATING_MIN_RECORDED_SECONDS:
            return
        with self._lock:
            buckets = self._live(key, now)
            index = math.floor(now / OPERATING_BUCKET_SECONDS)
            bucket = buckets.get(index)
            if bucket is None:
                buckets[index] = _Bucket(now, seconds)
            else:
                bucket.seconds += seconds

    def snapshot(self, key: tuple[str, str, str], now: float) -> tuple[float, int]:
        """(``operating``, ``operating_reset_at``) as the ``time`` block shows them."""
        with self._lock:
            buckets = self._live(key, now)
            operating = sum(b.seconds for b in buckets.values())
            oldest = min((b.first_call for b in buckets.values()), default=now)
            return operating, int(oldest + OPERATING_WINDOW_SECONDS)

    def reset(self) -> None:
        """Forget every recorded run."""
        with self._lock:
            self._buckets.clear()
