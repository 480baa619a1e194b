"""Time as the runtime sees it, behind one small interface.

Retries, the rate limiter, the operating-time tracker and token expiry all read and wait on a clock; passing
a fake one makes their behaviour testable without sleeping and without timing assertions.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic time for intervals, wall time for the portal's unix timestamps, and a way to wait."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()
