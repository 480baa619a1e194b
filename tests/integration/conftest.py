"""Integration fixtures: the generated b24crm client against a real emulator over loopback HTTP.

One demo-seeded emulator with 1,000 synthetic deal stage-history records serves the whole module set; it is
reset to the seed (state, stats, faults, limits) before every test, so each test starts from the same portal
and ``emu.stats()`` counts only its own requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from b24crm import Client
from b24crm.testing import Emulator
from tests.flavours import Connect, connect, loop_thread

__all__ = ["STAGE_HISTORY", "Connect", "connect", "deal_history", "loop_thread"]

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


@pytest.fixture
def client(emu: Emulator, connect: Connect) -> Iterator[Client]:
    """The generated client on the shared emulator: ``Client``, then ``AsyncClient`` (parametrized)."""
    with connect(emu) as c:
        yield c
