"""One engine, two drivers: what a sans-IO flow asks its driver to do, and the stepping both drivers share.

The attempt loop (``engine.ClientCore._call_flow``) and the OAuth refresh (``auth.OAuthAuth.refresh_flow``)
are generators. They decide everything — when to wait, what to send, what a failure means, whether to retry —
and *yield* the few things that need I/O as effects:

* :class:`Send`: one HTTP POST; the answer is an ``HttpResponse``, a failure (``TransportFailure``) is thrown
  into the flow where it yielded;
* :class:`Sleep`: wait that many seconds (``time.sleep`` in the sync client, ``asyncio.sleep`` in the async);
* :class:`Blocking`: a call into a limiter or token store, which may do network I/O (Redis); the async
  driver runs it in a thread unless ``local`` says it is in-process arithmetic;
* :class:`Enter`: hold a context (a token store's cross-process lock) until the flow ends; the driver enters
  it, and exits it when the flow returns, raises or is abandoned — in the thread that entered it;
* :class:`Refresh`: the OAuth tokens of ``generation`` are stale; the sync driver refreshes under the auth's
  lock, the async driver coalesces every task that meets the same generation onto one refresh.

A driver is then only "perform the effect, feed the outcome back" (:class:`Stepper`), so the sync and the
asyncio client differ in sending, sleeping and locking and in nothing else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Mapping
from typing import Any, TypeAlias, TypeVar

import attrs

from b24crm.runtime.clock import Clock
from b24crm.runtime.transport import Transport

__all__ = [
    "Blocking",
    "Effect",
    "Enter",
    "Failed",
    "Flow",
    "Refresh",
    "Send",
    "Sleep",
    "Stepper",
    "capture",
    "drive",
    "performer",
]

T = TypeVar("T")


@attrs.frozen
class Send:
    """One HTTP POST of ``body`` to ``url``; ``timeout`` = (connect, read) per socket operation, ``deadline``
    seconds for the whole exchange (None: the transport's default)."""

    url: str
    body: bytes
    headers: Mapping[str, str]
    timeout: tuple[float, float]
    deadline: float | None = None


@attrs.frozen
class Sleep:
    """Wait ``seconds`` (> 0) before the flow goes on."""

    seconds: float


@attrs.frozen
class Blocking:
    """Call ``fn()`` and hand its value back: a limiter or token store operation. ``local``: pure in-process
    arithmetic under a short lock (``InMemoryLimiterStore``), cheap enough to call on an event loop."""

    fn: Callable[[], Any]
    local: bool = False


@attrs.frozen
class Enter:
    """Enter ``context`` and hold it for the rest of the flow (a lock that must span several effects)."""

    context: contextlib.AbstractContextManager[Any]


@attrs.frozen
class Refresh:
    """Refresh the OAuth tokens unless their generation has moved past ``generation`` meanwhile."""

    generation: int
    timeout: tuple[float, float]
    budget: int


Effect: TypeAlias = Send | Sleep | Blocking | Enter | Refresh
Flow: TypeAlias = Generator[Effect, Any, T]


@attrs.frozen
class Failed:
    """What performing an effect raised, to be thrown into the flow at the yield that asked for it."""

    error: Exception


def capture(perform: Callable[[Effect], Any], effect: Effect) -> Any:
    """``perform(effect)``'s value, or the exception it raised wrapped in :class:`Failed`."""
    try:
        return perform(effect)
    except Exception as exc:  # noqa: BLE001 - handed to the flow, which decides (and re-raises what it does not handle)
        return Failed(exc)


class Stepper:
    """Runs a flow one effect at a time: ``next()`` gives the next effect (None when the flow returned its
    ``result``), ``feed(outcome)`` gives it the effect's value or a :class:`Failed`. Contexts the flow entered
    (:class:`Enter`) are ``held`` until :meth:`release`."""

    __slots__ = ("_asked", "_flow", "_outcome", "held", "result")

    def __init__(self, flow: Flow[Any]) -> None:
        self._flow = flow
        self._outcome: Any = None
        self._asked: Effect | None = None
        self.held: list[contextlib.AbstractContextManager[Any]] = []
        self.result: Any = None

    def next(self) -> Effect | None:
        outcome, self._outcome = self._outcome, None
        self._asked = None
        try:
            if isinstance(outcome, Failed):
                self._asked = self._flow.throw(outcome.error)
            else:
                self._asked = self._flow.send(outcome)
        except StopIteration as stop:
            self.result = stop.value
            return None
        return self._asked

    def feed(self, outcome: Any) -> None:
        if isinstance(self._asked, Enter) and not isinstance(outcome, Failed):
            self.held.append(self._asked.context)
        self._outcome = outcome

    def close(self) -> None:
        """Abandon the flow (its ``finally`` blocks and ``with`` exits run: a lock it took itself is released)."""
        self._flow.close()

    def release(self) -> None:
        """Exit the contexts the flow entered, last first (call it in the thread that entered them)."""
        while self.held:
            self.held.pop().__exit__(None, None, None)


def drive(flow: Flow[T], perform: Callable[[Effect], Any]) -> T:
    """The sync driver: perform each effect with blocking calls until the flow returns."""
    steps = Stepper(flow)
    try:
        while (effect := steps.next()) is not None:
            steps.feed(capture(perform, effect))
    finally:
        steps.close()
        steps.release()
    result: T = steps.result
    return result


def performer(
    transport: Transport, clock: Clock, refresh: Callable[[Refresh], Any] | None = None
) -> Callable[[Effect], Any]:
    """How the sync driver performs effects: blocking HTTP on ``transport``, ``clock.sleep``, store calls in
    line, and ``refresh`` for a stale token (a flow without it, the OAuth refresh itself, never asks)."""

    def perform(effect: Effect) -> Any:
        if isinstance(effect, Send):
            return transport.request(
                "POST",
                effect.url,
                body=effect.body,
                headers=effect.headers,
                timeout=effect.timeout,
                deadline=effect.deadline,
            )
        if isinstance(effect, Sleep):
            return clock.sleep(effect.seconds)
        if isinstance(effect, Blocking):
            return effect.fn()
        if isinstance(effect, Enter):
            return effect.context.__enter__()
        if refresh is None:
            raise TypeError("this flow cannot refresh OAuth tokens")
        return refresh(effect)

    return perform
