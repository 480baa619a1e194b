"""Injected failures for testing clients: the ways a real portal or the network misbehaves (issue 6).

A fault matches a method name (lower case, or ``"*"`` for any) and fires on the next ``times`` calls to
it; ``times=None`` fires until cleared. Built-ins are applied by the HTTP layer, because several kinds
(``reset_before``, ``reset_after``, ``truncated``, ``moved``) are about the connection, not the method.
"""

from __future__ import annotations

import threading
from typing import Any

import attrs

__all__ = ["KINDS", "Fault", "Faults"]

KINDS = frozenset(
    {
        "query_limit",
        "operation_time_limit",
        "internal_error",
        "reset_before",
        "reset_after",
        "delay",
        "html",
        "truncated",
        "expired_token",
        "moved",
    }
)


@attrs.define
class Fault:
    """One injected failure."""

    method: str
    kind: str
    times: int | None = 1
    #: ``delay``: seconds to wait before the call runs.
    seconds: float = 1.0
    #: ``moved``: the ``Location`` base URL; default: the emulator's second listening address.
    location: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON view for ``GET /_emulator/faults``."""
        return attrs.asdict(self)


class Faults:
    """The fault queue; ``emu.faults.add(method=..., kind=..., times=...)`` is its public face."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.fired = 0

    def add(
        self,
        method: str = "*",
        kind: str = "internal_error",
        times: int | None = 1,
        *,
        seconds: float = 1.0,
        location: str | None = None,
    ) -> Fault:
        """Queue a fault for ``method`` (``"*"`` = every method, including ``batch``)."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(KINDS))}")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 (or None for every call)")
        fault = Fault(method.lower(), kind, times, float(seconds), location)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str) -> Fault | None:
        """The first fault matching ``method``, consuming one of its ``times``."""
        with self._lock:
            for fault in self._faults:
                if fault.method in ("*", method):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    self.fired += 1
                    return fault
        return None

    def pending(self) -> list[Fault]:
        """Faults still queued."""
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()
