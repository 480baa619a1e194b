"""What only the asyncio client has to prove: cancellation, coalesced refresh, a limiter that never blocks the loop.

Everything the two clients share (every method family, batch, bulk reads, limits, faults, bad input) runs
against both in tests/integration and tests/reliability (the ``connect`` fixture). These tests are about the
driver itself: a task cancelled mid-request, mid-refresh or mid-``iter_all`` leaves no held lock, no connection
checked out, and no write lost or sent twice; N tasks meeting an expired token cause one refresh; waiting for a
bucket slot is an ``asyncio.sleep`` (other tasks run meanwhile; ``time.sleep`` is never called on the loop).
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from b24crm import AsyncClient
from b24crm.runtime.aio_transport import AiohttpTransport
from b24crm.runtime.effects import Send
from b24crm.runtime.errors import StoreUnavailableError
from b24crm.runtime.tokens import FileTokenStore
from b24crm.runtime.transport import HttpResponse
from b24crm.testing import Emulator

pytestmark = pytest.mark.asyncio


class GatedTokens:
    """The real async transport, holding every token request until ``gate`` is set."""

    def __init__(self, token_url: str) -> None:
        self.inner = AiohttpTransport()
        self.token_url = token_url
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()
        self.token_requests = 0

    async def send(self, request: Send) -> HttpResponse:
        if request.url == self.token_url:
            self.token_requests += 1
            self.waiting.set()
            await self.gate.wait()
        return await self.inner.send(request)

    async def close(self) -> None:
        await self.inner.close()


def _codes(emu: Emulator, prefix: str) -> list[str]:
    with emu.portal.lock:
        rows = emu.portal.store.rows("status").values()
        return sorted(str(r["STATUS_ID"]) for r in rows if str(r["STATUS_ID"]).startswith(prefix))


async def _until(condition: Any, what: str) -> None:
    """Wait (bounded) for something another thread or task does; the assertion is on the state, not the time."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def test_refresh_is_coalesced_across_tasks(b24_emulator: Emulator) -> None:
    emu = b24_emulator
    async with emu.async_client("oauth") as client:
        assert await client.crm.settings.mode.get() == 1
        emu.expire_tokens()
        results = await asyncio.gather(*(client.crm.status.entity.types() for _ in range(50)))
        assert all(results)
        assert client._auth.refreshes == 1  # type: ignore[attr-defined]
    assert emu.stats()["oauth_refreshes"] == 1


async def test_tasks_cancelled_mid_refresh_leave_no_lock_held_and_one_refresh(b24_emulator: Emulator) -> None:
    emu = b24_emulator
    gated = GatedTokens(emu.oauth.token_url)
    async with emu.async_client("oauth", transport=gated) as client:
        auth: Any = client._auth
        assert await client.crm.settings.mode.get() == 1
        emu.expire_tokens()
        tasks = [asyncio.create_task(client.crm.settings.mode.get()) for _ in range(20)]
        await gated.waiting.wait()  # every task met the 401; one refresh is waiting at the token endpoint
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
        assert auth._lock.locked(), "the refresh itself goes on (shielded), holding its lock"
        gated.gate.set()
        assert await client.crm.settings.mode.get() == 1  # joins (or follows) that one refresh
        assert not auth._lock.locked()
        assert gated.token_requests == 1 and auth.refreshes == 1
        assert gated.inner.in_flight == 0 and gated.inner.connections_in_use == 0
    assert emu.stats()["oauth_refreshes"] == 1


async def test_closing_the_client_mid_refresh_releases_the_lock(b24_emulator: Emulator) -> None:
    emu = b24_emulator
    gated = GatedTokens(emu.oauth.token_url)
    client = emu.async_client("oauth", transport=gated)
    auth: Any = client._auth
    assert await client.crm.settings.mode.get() == 1
    emu.expire_tokens()
    waiter = asyncio.create_task(client.crm.settings.mode.get())
    await gated.waiting.wait()
    assert auth._lock.locked()
    await client.aclose()  # cancels the refresh nobody can finish now; its flow releases the lock
    assert not auth._lock.locked()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert emu.stats()["oauth_refreshes"] == 0 and auth.refreshes == 0


def _lockable(path: Path) -> bool:
    """Whether another process's view of the token file could take its lock now (waiting at most 0.3 s)."""
    try:
        with FileTokenStore(path, lock_timeout=0.3).lock():
            return True
    except StoreUnavailableError:
        return False


async def test_closing_the_client_mid_refresh_releases_the_token_store_lock(
    b24_emulator: Emulator, tmp_path: Path
) -> None:
    emu = b24_emulator
    path = tmp_path / "tokens.json"
    gated = GatedTokens(emu.oauth.token_url)
    client = emu.async_client("oauth", transport=gated, token_store=str(path))
    assert await client.crm.settings.mode.get() == 1
    emu.expire_tokens()
    waiter = asyncio.create_task(client.crm.settings.mode.get())
    await gated.waiting.wait()  # the refresh holds the store's lock (taken in its worker thread)
    assert not await asyncio.to_thread(_lockable, path)
    await client.aclose()
    assert await asyncio.to_thread(_lockable, path)
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_tasks_cancelled_mid_request_leave_no_connection_and_no_doubled_write(b24_emulator: Emulator) -> None:
    emu = b24_emulator
    emu.faults.add(method="crm.status.add", kind="delay", times=None, seconds=1.0)  # held, then run
    async with emu.async_client() as client:
        transport: Any = client._transport
        tasks = [
            asyncio.create_task(
                client.crm.status.add(fields={"ENTITY_ID": "SOURCE", "STATUS_ID": f"CX{i:02d}", "NAME": f"c{i}"})
            )
            for i in range(10)
        ]
        received = lambda: emu.stats()["by_method"].get("crm.status.add", 0)  # noqa: E731
        await _until(lambda: received() == 10, "the portal received all ten adds (and holds them)")
        assert transport.in_flight == 10
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
        assert transport.in_flight == 0 and transport.connections_in_use == 0
        emu.faults.clear()
        assert await client.crm.settings.mode.get() == 1  # the pool serves again
        assert transport.connections_in_use == 0
        # the portal runs what it had received, whoever stopped waiting: each write once, none sent again
        await _until(lambda: len(_codes(emu, "CX")) == 10, "the portal ran the ten held adds")
    assert _codes(emu, "CX") == [f"CX{i:02d}" for i in range(10)]
    assert emu.stats()["by_method"]["crm.status.add"] == 10


async def test_a_task_cancelled_while_waiting_for_a_slot_sends_nothing(b24_emulator: Emulator) -> None:
    emu = b24_emulator
    async with emu.async_client(rate_limit=(1, 0.5)) as client:  # one slot, then one every 2 s
        first = await client.crm.status.add(fields={"ENTITY_ID": "SOURCE", "STATUS_ID": "WX00", "NAME": "w"})
        waiting = asyncio.create_task(
            client.crm.status.add(fields={"ENTITY_ID": "SOURCE", "STATUS_ID": "WX01", "NAME": "w"})
        )
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    assert isinstance(first, int)
    assert _codes(emu, "WX") == ["WX00"] and emu.stats()["by_method"]["crm.status.add"] == 1


@pytest.mark.b24_emulator(seed="empty", stage_history=6000)
async def test_a_bulk_read_cancelled_mid_page_leaves_no_connection(b24_emulator: Emulator) -> None:
    emu = b24_emulator
    async with emu.async_client() as client:
        transport: Any = client._transport
        seen: list[int] = []

        async def read() -> None:
            async for item in client.crm.stagehistory.iter_all(entity_type_id=2):
                seen.append(item.id)
                if len(seen) == 1:  # the next page will be held by the portal
                    emu.faults.add(method="*", kind="delay", times=None, seconds=2.0)

        reader = asyncio.create_task(read())
        await _until(lambda: seen and transport.in_flight == 1, "the second page is in flight")
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        assert transport.in_flight == 0 and transport.connections_in_use == 0
        emu.faults.clear()
        again = [item.id async for item in client.crm.stagehistory.iter_all(entity_type_id=2)]
    assert len(again) == 6000 and again == sorted(set(again))
    assert 0 < len(seen) < 6000


@pytest.mark.b24_emulator(seed="demo", plan="5/25")
async def test_the_limiter_waits_without_blocking_the_loop(
    b24_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    blocked: list[float] = []
    real_sleep = time.sleep

    def watched_sleep(seconds: float) -> None:
        if threading.get_ident() == loop_thread and seconds > 0:
            blocked.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", watched_sleep)
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    async with b24_emulator.async_client() as client:  # limiter matched to the plan: 5 slots, 25/s
        beat = asyncio.create_task(heartbeat())
        results = await asyncio.gather(*(client.crm.settings.mode.get() for _ in range(60)))
        beat.cancel()
    assert results == [1] * 60
    assert b24_emulator.stats()["rate_limited"] == 0
    assert blocked == [], "time.sleep ran on the event loop"
    assert ticks > 10  # other tasks ran while the calls waited for slots (60 calls need > 2 s of slots)


@pytest.mark.heavy
@pytest.mark.b24_emulator(seed="demo", plan="standard")
async def test_a_thousand_tasks_on_the_standard_plan_meet_no_query_limit(b24_emulator: Emulator) -> None:
    """1,000 concurrent calls on the standard plan (50 burst, 2/s): none refused. The wall time against the
    floor ((1000 - 50) / 2 s) is measured by make bench, not asserted here."""
    async with b24_emulator.async_client() as client:
        results = await asyncio.gather(*(client.crm.settings.mode.get() for _ in range(1000)))
    assert results == [1] * 1000
    stats = b24_emulator.stats()
    assert stats["rate_limited"] == 0 and stats["requests"] == 1000


async def test_the_plugin_fixture_is_an_async_client(b24_async_client: AsyncClient) -> None:
    assert isinstance(b24_async_client, AsyncClient)
    assert await b24_async_client.crm.settings.mode.get() == 1
