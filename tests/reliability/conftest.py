"""Shared pieces of the reliability suite: a virtual clock, a fast retry policy, a per-module emulator."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from b24crm.runtime.retry import RetryPolicy
from b24crm.testing import Emulator
from b24crm.testing.pytest_plugin import EmulatorPool
from tests.flavours import connect, loop_thread

__all__ = ["VirtualClock", "client_options", "connect", "fast_retries", "loop_thread"]


class VirtualClock:
    """Real time plus whatever the client chose to wait.

    ``sleep`` does not block: it moves this clock forward. Backoffs and a 429's wait for
    ``operating_reset_at`` (up to 600 s) then cost nothing, while the portal's own unix timestamps, compared
    with ``time()``, still make sense. No test asserts on elapsed time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.offset = 0.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def time(self) -> float:
        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
            if seconds > 0:
                self.offset += seconds


def fast_retries(max_attempts: int = 4) -> RetryPolicy:
    """The default policy's shape (exponential backoff, same budget) with tiny, jitter-free delays."""
    return RetryPolicy(max_attempts=max_attempts, base_delay=0.001, max_delay=0.01, jitter="none")


def client_options(**overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"clock": VirtualClock(), "retry_policy": fast_retries()}
    options.update(overrides)
    return options


@pytest.fixture
def module_emulator(b24_emulator_pool: EmulatorPool, b24_emulator_options: dict[str, Any]) -> Emulator:
    """The shipped plugin's shared emulator without a reset, for loops over many read-only cases."""
    return b24_emulator_pool.get(**b24_emulator_options)


@pytest.fixture
def emu(b24_emulator: Emulator) -> Emulator:
    return b24_emulator
