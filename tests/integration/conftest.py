"""Integration fixtures: the generated b24crm client against a real emulator over loopback HTTP.

One demo-seeded emulator with 1,000 synthetic deal stage-history records serves the whole module set; it is
reset to the seed (state, stats, faults, limits) before every test, so each test starts from the same portal
and ``emu.stats()`` counts only its own requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from b24crm import Client
from b24crm.testing import Emulator
from tests.integration.sync_view import LoopThread, SyncView

#: Synthetic deal (entityTypeId=2) stage-history records the shared emulator is seeded with.
STAGE_HISTORY = 1000


def deal_history(emu: Emulator) -> int:
    """Deal stage-history records in all: the synthetic ones plus those the demo's deals wrote moving through
    their funnels."""
    stored = sum(1 for r in emu.portal.store.rows("history").values() if r.get("ENTITY_TYPE_ID") == 2)
    return STAGE_HISTORY + stored


@pytest.fixture
def b24_emulator_options() -> dict[str, Any]:
    """The shipped ``b24_emulator`` fixture, with the synthetic history these tests page through."""
    return {"seed": "demo", "stage_history": STAGE_HISTORY}


@pytest.fixture
def emu(b24_emulator: Emulator) -> Emulator:
    return b24_emulator


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    """The event loop the asyncio client's calls run on (``sync_view``)."""
    loop = LoopThread()
    try:
        yield loop
    finally:
        loop.close()


Connect = Callable[..., Any]


@pytest.fixture(params=["sync", "async"])
def connect(request: pytest.FixtureRequest, loop_thread: LoopThread) -> Connect:
    """``connect(emu, **options)``: ``emu.client(**options)`` for the sync run, ``emu.async_client(**options)``
    seen through :class:`SyncView` for the async run, so every test that takes it checks both clients."""

    def open_client(emulator: Emulator, **options: Any) -> Any:
        if request.param == "sync":
            return emulator.client(**options)
        return SyncView(emulator.async_client(**options), loop_thread)

    return open_client


@pytest.fixture
def client(emu: Emulator, connect: Connect) -> Iterator[Client]:
    """The generated client on the shared emulator: ``Client``, then ``AsyncClient`` (parametrized)."""
    with connect(emu) as c:
        yield c
