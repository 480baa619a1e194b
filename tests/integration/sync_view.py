"""The asyncio client seen through the sync client's API, so one integration test body checks both clients.

``SyncView(async_client, loop)`` forwards every attribute; whatever comes back awaitable is awaited on a loop
running in its own thread, an async iterator is iterated there record by record, and namespaces, batches and
the client itself come back wrapped again. A test written against ``Client`` therefore drives ``AsyncClient``
unchanged: the same calls, the same results, the same exceptions (raised from the loop thread as they were).
Nothing is translated: only *waiting* moves from the test's thread to the loop's.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Awaitable, Coroutine, Iterator
from typing import Any, TypeVar

from b24crm.runtime.aio import AsyncBaseBatch, AsyncBaseClient

T = TypeVar("T")


class LoopThread:
    """An event loop in a daemon thread; ``run(coro)`` waits for the coroutine's result there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="b24crm-test-loop", daemon=True)
        self._thread.start()

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wait() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wait(), self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


def _wrapped(value: Any) -> bool:
    """Objects whose methods return awaitables: the client, its async namespaces and its batches."""
    return isinstance(value, (AsyncBaseClient, AsyncBaseBatch)) or type(value).__name__.endswith("AsyncApi")


class SyncView:
    """``target`` (an ``AsyncClient`` or a part of it) with every await done on ``loop``."""

    __slots__ = ("_loop", "_target")

    def __init__(self, target: Any, loop: LoopThread) -> None:
        self._target = target
        self._loop = loop

    @property
    def target(self) -> Any:
        """The wrapped object itself (an ``AsyncClient`` for the client's view)."""
        return self._target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if callable(value) and not isinstance(value, type):
            return lambda *args, **kwargs: self._settle(value(*args, **kwargs))
        return self._settle(value)

    def _settle(self, value: Any) -> Any:
        if inspect.isawaitable(value):
            return self._settle(self._loop.run(value))
        if isinstance(value, AsyncIterator):
            return self._iterate(value)
        if _wrapped(value):
            return SyncView(value, self._loop)
        return value

    def _iterate(self, records: AsyncIterator[Any]) -> Iterator[Any]:
        try:
            while True:
                try:
                    yield self._loop.run(records.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            close = getattr(records, "aclose", None)
            if close is not None:
                self._loop.run(close())

    def __len__(self) -> int:
        return len(self._target)

    def __repr__(self) -> str:
        return repr(self._target)

    def close(self) -> None:
        """``Client.close()`` is ``await AsyncClient.aclose()``."""
        self._loop.run(self._target.aclose())

    def __enter__(self) -> SyncView:
        return self

    def __exit__(self, *exc: Any) -> None:
        exit_: Coroutine[Any, Any, Any] = self._target.__aexit__(*exc)
        self._loop.run(exit_)
