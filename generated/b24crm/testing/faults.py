"""Injected failures for testing clients: the ways a real portal or the network misbehaves (issue 6).

A fault matches a method name (lower case, or ``"*"`` for any) and fires on the next ``times`` calls to
it; ``times=None`` fires until cleared. Built-ins are applied by the HTTP layer, because several kinds
(``reset_before``, ``reset_after``, ``truncated``, ``moved``) are about the connection, not the method.

Hostile answers (issue 14), each the call's real answer sent badly: ``bad_headers`` adds a malformed header
line (urllib3 then logs a WARNING with the URL), ``drip`` writes the body in ten pieces ``seconds`` apart (no
single read times out, the whole takes ten times as long), ``gzip_bomb`` sends it gzip-compressed whatever the
client asked for, padded with whitespace to ``size`` bytes once inflated. ``moved`` may carry another redirect
``status`` than the documented 302.

Batch sub-commands (opt-in, ``in_batch=True``): such a fault targets the method only when it runs as a
command inside ``batch`` and never fires on a top-level request (and a default fault, ``in_batch=False``,
never fires on a sub-command, so ``method="*"`` keeps meaning "every HTTP request"). Only the kinds a real
portal produces per command are allowed (``BATCH_KINDS``): ``operation_time_limit`` (each sub-command has its
own ``LoadLimiter`` check,
docs/protocol.md#batch, #operating-limit), ``internal_error`` and ``expired_token`` (each sub-command
re-runs auth with the copied outer credentials). The command does not run; its key shows up only in
``result_error`` with the same body the top-level fault sends, the other commands run normally and
``halt`` stops after it as after any failing command. ``query_limit`` stays request-level: the rate limiter
counts a batch as one request (docs/protocol.md#batch, #rate-limit); the connection
kinds and ``delay``/``html`` are not per command.
"""

from __future__ import annotations

import threading
from typing import Any

import attrs

from b24crm.testing.api import BitrixError

__all__ = ["BATCH_KINDS", "DEFAULT_BOMB_SIZE", "FAULT_BODIES", "KINDS", "REDIRECT_STATUSES", "Fault", "Faults"]

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
        "bad_headers",
        "drip",
        "gzip_bomb",
    }
)

#: ``moved``: the statuses a redirect may carry (only 302 is a documented portal move, docs/protocol.md#portal-moves).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: ``gzip_bomb``: how large the body inflates by default (64 MiB of JSON whitespace after the answer).
DEFAULT_BOMB_SIZE = 64 * 1024 * 1024

#: Kinds that may target a batch sub-command (``in_batch=True``).
BATCH_KINDS = frozenset({"operation_time_limit", "internal_error", "expired_token"})


def _documented(name: str) -> tuple[int, dict[str, str]]:
    error = BitrixError.documented(name)
    return error.status, {"error": error.code, "error_description": error.description}


#: The error answers (HTTP status, body) of the error kinds, top level and per batch command alike: the
#: spec's documented rows, so the client and the emulator read one table.
FAULT_BODIES: dict[str, tuple[int, dict[str, str]]] = {
    "query_limit": _documented("QueryLimitExceededError"),
    "operation_time_limit": _documented("OperationTimeLimitError"),
    "internal_error": _documented("ServerInternalError"),
    "expired_token": _documented("ExpiredTokenError"),
}


@attrs.define
class Fault:
    """One injected failure."""

    method: str
    kind: str
    times: int | None = 1
    #: ``delay``: seconds to wait before the call runs; ``drip``: the pause before each tenth of the body.
    seconds: float = 1.0
    #: ``moved``: the ``Location`` base URL; default: the emulator's second listening address.
    location: str | None = None
    #: ``moved``: the redirect's status (``REDIRECT_STATUSES``).
    status: int = 302
    #: ``gzip_bomb``: bytes of the body once inflated.
    size: int = DEFAULT_BOMB_SIZE
    #: Fire on the method's batch sub-commands instead of its top-level requests (``BATCH_KINDS`` only).
    in_batch: bool = False

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
        in_batch: bool = False,
        status: int = 302,
        size: int = DEFAULT_BOMB_SIZE,
    ) -> Fault:
        """Queue a fault for ``method`` (``"*"`` = every method, including ``batch``); with ``in_batch`` it
        fires on the method's batch sub-commands instead (``"*"`` = every sub-command)."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(KINDS))}")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 (or None for every call)")
        if in_batch and kind not in BATCH_KINDS:
            raise ValueError(
                f"fault kind {kind!r} cannot target a batch sub-command; per-command kinds: "
                f"{', '.join(sorted(BATCH_KINDS))} (query_limit is per request: a batch is one request)"
            )
        if int(status) not in REDIRECT_STATUSES:
            raise ValueError(f"status must be a redirect status ({', '.join(map(str, sorted(REDIRECT_STATUSES)))})")
        if int(size) < 0:
            raise ValueError("size must be >= 0")
        fault = Fault(
            method.lower(), kind, times, float(seconds), location, status=int(status), size=int(size), in_batch=in_batch
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, *, in_batch: bool = False) -> Fault | None:
        """The first fault matching ``method`` (a top-level request, or a batch sub-command with
        ``in_batch``), consuming one of its ``times``."""
        with self._lock:
            for fault in self._faults:
                if fault.in_batch == in_batch and fault.method in ("*", method):
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
