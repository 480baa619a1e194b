"""Peer SDKs (fast_bitrix24, b24pysdk) against the emulator, unchanged, next to b24crm on the same data.

fast_bitrix24 talks to the plain-HTTP loopback webhook it is given. b24pysdk only builds ``https://`` URLs, so
it gets a TLS emulator and trusts the emulator's CA the way any ``requests`` user does (REQUESTS_CA_BUNDLE);
nothing inside either library is patched. The imports are unconditional: a missing peer fails, never skips.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from b24pysdk import BitrixWebhook
from b24pysdk import Client as PyClient
from fast_bitrix24 import Bitrix

from b24crm import Client
from b24crm.testing import Emulator
from b24crm.testing.pytest_plugin import EmulatorPool

STAGE_HISTORY = 1000


def deal_history(emu: Emulator) -> int:
    """Deal stage-history records in all: the synthetic ones plus those the demo's deals wrote moving through
    their funnels."""
    stored = sum(1 for r in emu.portal.store.rows("history").values() if r.get("ENTITY_TYPE_ID") == 2)
    return STAGE_HISTORY + stored

pytestmark = pytest.mark.peers


@pytest.fixture
def b24_emulator_options() -> dict[str, Any]:
    """The shipped ``b24_emulator`` fixture, with the synthetic history the peers page through."""
    return {"seed": "demo", "stage_history": STAGE_HISTORY}


@pytest.fixture
def fb_emu(b24_emulator: Emulator) -> Emulator:
    return b24_emulator


@pytest.fixture
def fb(fb_emu: Emulator) -> Bitrix:
    """fast_bitrix24's sync wrapper on the webhook URL; verbose=False only turns its tqdm progress bar off."""
    return Bitrix(fb_emu.webhook_url, verbose=False)


@pytest.fixture
def py_emu(
    b24_emulator_pool: EmulatorPool, b24_emulator_options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Emulator:
    """The same portal over HTTPS (b24pysdk insists on it): the pool's TLS twin of the shared emulator."""
    tls_emulator = b24_emulator_pool.get(**b24_emulator_options, tls=True)
    tls_emulator.reset()
    assert tls_emulator.ca_file is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_emulator.ca_file)
    return tls_emulator


@pytest.fixture
def py(py_emu: Emulator) -> PyClient:
    """b24pysdk's client for an inbound webhook: domain ``host:port`` and token ``user_id/code``."""
    parts = urllib.parse.urlsplit(py_emu.webhook_url)
    user_id, code = parts.path.strip("/").split("/")[1:3]
    return PyClient(BitrixWebhook(domain=parts.netloc, webhook_token=f"{user_id}/{code}"))


@pytest.fixture
def ours_fb(fb_emu: Emulator) -> Iterator[Client]:
    with fb_emu.client() as client:
        yield client


@pytest.fixture
def ours_py(py_emu: Emulator) -> Iterator[Client]:
    with py_emu.client() as client:
        yield client
