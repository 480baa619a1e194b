"""RedisLimiterStore's decisions, each one Lua script on a real redis-server: the bucket, saturation, the
operating-time state, key expiry, atomicity across connections, and the clock that counts (Redis', not ours)."""

from __future__ import annotations

import logging
import multiprocessing
import threading
from typing import Any

import pytest
import redis
from redisproc import free_port

from b24crm import Client
from b24crm.runtime.errors import StoreUnavailableError
from b24crm.runtime.limits import OPERATING_WINDOW_SECONDS
from b24crm.runtime.ratelimit import OperatingState
from b24crm.runtime.redis_store import RedisLimiterStore, redacted_url
from b24crm.testing import Emulator

#: So slow a drain that no test run lasts long enough to see it: waits are exact multiples of 1/rate.
SLOW = 0.001


def _server_now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return float(seconds) + float(micros) / 1e6


def test_reserve_grants_the_burst_then_queues_callers_one_drain_period_apart(redis_url: str) -> None:
    store = RedisLimiterStore(redis_url)
    waits = [store.reserve("bucket:p", 5, SLOW, 0.0) for _ in range(8)]
    assert waits[:5] == [0.0] * 5
    assert waits[5:] == pytest.approx([1000.0, 2000.0, 3000.0], abs=1.0)


def test_the_caller_clock_is_ignored_redis_time_decides(redis_url: str) -> None:
    # Two hosts whose clocks disagree by a day still share one bucket: the `now` they pass plays no part.
    store = RedisLimiterStore(redis_url)
    first = store.reserve("bucket:p", 1, SLOW, 0.0)
    second = store.reserve("bucket:p", 1, SLOW, 86_400.0)
    assert first == 0.0
    assert second == pytest.approx(1000.0, abs=1.0)


def test_the_bucket_drains_by_redis_time(redis_url: str, redis_client: redis.Redis) -> None:
    store = RedisLimiterStore(redis_url)
    for _ in range(3):
        store.reserve("bucket:p", 3, 1.0, 0.0)
    assert store.reserve("bucket:p", 3, 1.0, 0.0) > 0.5  # full: the 4th waits
    # Ten seconds ago by the server's clock the level was 4: at 1/s it has drained to zero since.
    redis_client.hset("b24crm:bucket:p", mapping={"level": "4", "ts": repr(_server_now(redis_client) - 10)})
    assert store.reserve("bucket:p", 3, 1.0, 0.0) == 0.0


def test_saturate_makes_the_next_caller_wait_a_full_drain_period(redis_url: str) -> None:
    store = RedisLimiterStore(redis_url)
    store.saturate("bucket:p", 10, SLOW, 0.0)
    assert store.reserve("bucket:p", 10, SLOW, 0.0) == pytest.approx(1000.0, abs=1.0)


def test_bucket_keys_expire_once_drained(redis_url: str, redis_client: redis.Redis) -> None:
    store = RedisLimiterStore(redis_url)
    for _ in range(4):
        store.reserve("bucket:p", 50, 2.0, 0.0)
    ttl_ms = redis_client.pttl("b24crm:bucket:p")
    assert 0 < ttl_ms <= 4 / 2.0 * 1000 + 1000  # level 4 at 2/s is empty in 2 s; one more second of grace


def test_reservations_from_many_connections_are_atomic(redis_url: str) -> None:
    # 8 threads, each with its own store and connection, 10 reservations each, burst 50: exactly 50 go now
    # and the rest queue at distinct slots — no two callers were promised the same slot.
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        store = RedisLimiterStore(redis_url)
        mine = [store.reserve("bucket:p", 50, SLOW, 0.0) for _ in range(10)]
        with lock:
            waits.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ordered = sorted(waits)
    assert ordered[:50] == [0.0] * 50
    assert [round(w / 1000.0) for w in ordered[50:]] == list(range(1, 31))


def test_operating_state_round_trips_and_expires_with_its_window(redis_url: str, redis_client: redis.Redis) -> None:
    store = RedisLimiterStore(redis_url)
    now = _server_now(redis_client)
    assert store.get_operating("operating:p:oauth:app:crm.status.list") is None
    store.set_operating("operating:p:oauth:app:crm.status.list", OperatingState(12.5, now + 120.0))
    state = store.get_operating("operating:p:oauth:app:crm.status.list")
    assert state is not None and state.operating == 12.5 and state.blocked_until is None
    assert state.reset_at == pytest.approx(now + 120.0, abs=0.01)
    ttl = redis_client.ttl("b24crm:operating:p:oauth:app:crm.status.list")
    assert 120 <= ttl <= 120 + 61  # until the reset has passed, plus a minute
    store.set_operating("operating:p:oauth:app:crm.status.get", OperatingState(1.0, now + 10 * 86_400))
    assert redis_client.ttl("b24crm:operating:p:oauth:app:crm.status.get") <= OPERATING_WINDOW_SECONDS + 60


def test_a_block_recorded_by_one_worker_survives_another_workers_success(
    redis_url: str, redis_client: redis.Redis
) -> None:
    worker_a, worker_b = RedisLimiterStore(redis_url), RedisLimiterStore(redis_url)
    now = _server_now(redis_client)
    worker_a.set_operating("operating:m", OperatingState(481.0, now + 50.0, now + 50.0))  # A got the 429
    worker_b.set_operating("operating:m", OperatingState(470.0, now + 50.0))  # B's earlier call answered fine
    state = worker_b.get_operating("operating:m")
    assert state is not None
    assert state.operating == 470.0
    assert state.blocked_until == pytest.approx(now + 50.0, abs=0.01)


def test_clients_of_one_portal_share_one_bucket_and_keep_operating_time_per_app(
    redis_url: str, redis_client: redis.Redis
) -> None:
    with Emulator(seed="demo", plan="standard") as emu:
        second_hook = emu.add_webhook()
        clients = [
            emu.client(limiter_store=redis_url),
            emu.client("oauth", limiter_store=redis_url),
            Client.from_webhook(second_hook, limiter_store=redis_url),
        ]
        for client in clients:
            client.crm.enum.ownertype()
            client.close()
        keys = sorted(k.decode() if isinstance(k, bytes) else k for k in redis_client.keys("b24crm:*"))
        code = emu.webhook_url.rstrip("/").rsplit("/", 1)[-1]
        second_code = second_hook.rstrip("/").rsplit("/", 1)[-1]
    assert [k for k in keys if k.startswith("b24crm:bucket:")] == ["b24crm:bucket:127.0.0.1"]
    level = float(redis_client.hget("b24crm:bucket:127.0.0.1", "level") or 0)
    assert level > 2.5  # three calls by three credentials, one bucket
    operating = [k for k in keys if k.startswith("b24crm:operating:")]
    assert len({k.rsplit(":", 1)[0] for k in operating}) == 3  # webhook 1, webhook 2, the OAuth app
    assert not [k for k in keys if code in k or second_code in k]  # webhook codes never become key names


def test_post_answer_updates_never_raise_even_under_the_error_policy(caplog: pytest.LogCaptureFixture) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    store = RedisLimiterStore(dead, on_unavailable="error", socket_timeout=0.2)
    with caplog.at_level(logging.WARNING, logger="b24crm"):
        store.saturate("bucket:p", 10, 2.0, 0.0)
        store.set_operating("operating:m", OperatingState(1.0, None))
        with pytest.raises(StoreUnavailableError) as info:
            store.reserve("bucket:p", 10, 2.0, 0.0)
    assert info.value.may_have_run is False
    assert "127.0.0.1" in str(info.value)
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1


def test_store_urls_in_messages_never_show_the_password() -> None:
    assert redacted_url("redis://user:s3cret-pw@10.0.0.5:6380/2") == "redis://10.0.0.5:6380/2"
    store = RedisLimiterStore("redis://:s3cret-pw@127.0.0.1:1/0", on_unavailable="error", socket_timeout=0.1)
    assert "s3cret" not in repr(store)
    with pytest.raises(StoreUnavailableError) as info:
        store.reserve("bucket:p", 10, 2.0, 0.0)
    assert "s3cret" not in str(info.value)


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="on_store_unavailable must be one of local, wait, error"):
        RedisLimiterStore("redis://127.0.0.1:1/0", on_unavailable="ignore")  # type: ignore[arg-type]


def _reserve_in_child(url: str, store: RedisLimiterStore, out: Any) -> None:
    out.put(store.reserve("bucket:fork", 5, SLOW, 0.0))


def test_a_forked_child_uses_the_store_even_if_a_parent_thread_held_its_lock(redis_url: str) -> None:
    store = RedisLimiterStore(redis_url)
    store.reserve("bucket:fork", 5, SLOW, 0.0)  # the parent's connection is pooled now
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    with store._state_lock:  # as if another parent thread were in the middle of a decision at the fork
        child = context.Process(target=_reserve_in_child, args=(redis_url, store, out))
        child.start()
        child.join(30)
    assert child.exitcode == 0
    assert out.get(timeout=5) == 0.0
    assert store.reserve("bucket:fork", 5, SLOW, 0.0) == 0.0
    assert store.reserve("bucket:fork", 5, SLOW, 0.0) == 0.0
    assert store.reserve("bucket:fork", 5, SLOW, 0.0) == 0.0
    assert store.reserve("bucket:fork", 5, SLOW, 0.0) == pytest.approx(1000.0, abs=1.0)  # the child's counted


def test_a_redis_that_refuses_writes_follows_the_policy_too(redis_url: str, redis_client: redis.Redis) -> None:
    # A server out of memory (or a read-only replica) answers with an error, not a dropped connection.
    redis_client.config_set("maxmemory", "1")
    redis_client.config_set("maxmemory-policy", "noeviction")
    try:
        with pytest.raises(StoreUnavailableError):
            RedisLimiterStore(redis_url, on_unavailable="error").reserve("bucket:oom", 5, 2.0, 0.0)
        local = RedisLimiterStore(redis_url, on_unavailable="local")
        assert local.reserve("bucket:oom", 5, 2.0, 0.0) > 0  # the fall-back bucket, started full
        assert local.fallbacks == 1
    finally:
        redis_client.config_set("maxmemory", "0")
