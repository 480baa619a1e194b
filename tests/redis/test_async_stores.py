"""The shared stores work for the asyncio client too: its store calls run in a worker thread (never on the loop),
so an AsyncClient and a Client on one Redis draw from one bucket and refresh OAuth tokens once between them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from b24crm.testing import Emulator


@pytest.mark.asyncio
async def test_an_async_and_a_sync_client_share_one_bucket(redis_url: str) -> None:
    with Emulator(seed="demo", plan="10/20") as emu:
        sync = emu.client(limiter_store=redis_url)
        async with emu.async_client(limiter_store=redis_url) as client:
            async_calls = asyncio.gather(*(client.crm.settings.mode.get() for _ in range(30)))
            sync_calls = asyncio.to_thread(lambda: [sync.crm.settings.mode.get() for _ in range(30)])
            from_async, from_sync = await asyncio.gather(async_calls, sync_calls)
        sync.close()
        stats = emu.stats()
    assert from_async == [1] * 30 and from_sync == [1] * 30
    assert stats["requests"] == 60 and stats["rate_limited"] == 0  # one bucket for both: 60 calls, 40 over burst


@pytest.mark.asyncio
async def test_async_clients_sharing_a_token_store_refresh_once(redis_url: str) -> None:
    with Emulator(seed="demo") as emu:
        clients = [emu.async_client("oauth", token_store=redis_url, rate_limit="off") for _ in range(3)]
        for client in clients:
            assert await client.crm.settings.mode.get() == 1
        emu.expire_tokens()
        results = await asyncio.gather(*(c.crm.settings.mode.get() for c in clients for _ in range(5)))
        auths: list[Any] = [c._auth for c in clients]
        for client in clients:
            await client.aclose()
        refreshes = emu.stats()["oauth_refreshes"]
    assert results == [1] * 15
    assert refreshes == 1
    assert sorted((a.refreshes, a.adopted) for a in auths) == [(0, 1), (0, 1), (1, 0)]
