"""Both clients from one test body: the ``connect`` fixture, parametrized sync / async.

``connect(emu, *args, **options)`` is ``emu.client(*args, **options)`` in the ``[sync]`` run and
``emu.async_client(*args, **options)`` seen through :class:`~tests.integration.sync_view.SyncView` in the
``[async]`` run. A suite's conftest imports ``connect`` and ``loop_thread`` from here to offer them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from b24crm.testing import Emulator
from tests.integration.sync_view import LoopThread, SyncView

Connect = Callable[..., Any]


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    """The event loop the asyncio client's calls run on."""
    loop = LoopThread()
    try:
        yield loop
    finally:
        loop.close()


@pytest.fixture(params=["sync", "async"])
def connect(request: pytest.FixtureRequest, loop_thread: LoopThread) -> Connect:
    """``connect(emu, ...)``: the sync client, then the asyncio client (see the module docstring)."""

    def open_client(emulator: Emulator, *args: Any, **options: Any) -> Any:
        if request.param == "sync":
            return emulator.client(*args, **options)
        return SyncView(emulator.async_client(*args, **options), loop_thread)

    return open_client
