"""Redis killed (SIGKILL) while clients use it, then restarted: each ``on_store_unavailable`` policy does
what the README promises — "local" falls back with one WARNING and no burst, "wait" rides out a restart
within its bound, "error" fails at once — nothing hangs, and no write runs twice or is sent unchecked."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redisproc import RedisProcess

from b24crm import Client
from b24crm.runtime.clock import SystemClock
from b24crm.runtime.errors import StoreUnavailableError
from b24crm.runtime.redis_store import DEFAULT_RECHECK
from b24crm.testing import Emulator

#: A scaled plan (burst 20, 10/s) keeps the runs short; the client's waits are what the tests read.
PLAN = "20/10"


class RecordingClock(SystemClock):
    """The real clock, remembering every wait the client decided on."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(seconds)


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    """A server of this test's own, to kill and restart."""
    server = RedisProcess().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def portal() -> Iterator[Emulator]:
    with Emulator(seed="demo", plan=PLAN) as emulator:
        yield emulator


def _client(portal: Emulator, url: str, policy: str, **options: Any) -> Client:
    return portal.client(limiter_store=url, on_store_unavailable=policy, **options)


def _add(client: Client, status_id: str) -> None:
    client.crm.status.add(fields={"ENTITY_ID": "SOURCE", "STATUS_ID": status_id, "NAME": status_id})


def _stored(portal: Emulator, prefix: str) -> Counter[str]:
    checker = portal.client(rate_limit="off")
    statuses = checker.crm.status.list(filter={"ENTITY_ID": "SOURCE"})
    return Counter(str(s.status_id) for s in statuses if str(s.status_id).startswith(prefix))


def _finishes(action: Callable[[], object], within: float) -> BaseException | None:
    """Run ``action`` in a thread; fail the test if it is still running after ``within`` seconds (a hang)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            action()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within)
    assert not thread.is_alive(), f"the call hung for more than {within}s"
    return outcome[0]


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    return [m for m in messages if "limiter store" in m]


def test_local_policy_falls_back_with_one_warning_and_no_burst(
    portal: Emulator, own_redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    clock = RecordingClock()
    client = _client(portal, own_redis.url, "local", clock=clock)
    _add(client, "ZOUT1")
    assert clock.sleeps == []
    own_redis.kill()
    with caplog.at_level(logging.INFO, logger="b24crm"):
        for n in range(2, 6):
            _add(client, f"ZOUT{n}")
    assert len(_warnings(caplog)) == 1  # one WARNING for the outage, not one per call
    assert "own bucket" in _warnings(caplog)[0]
    # The fall-back bucket starts full: every call waited about one drain period (0.1 s at 10/s), no burst.
    assert len(clock.sleeps) >= 4 and min(clock.sleeps) > 0.05
    store: Any = client._limiter._store
    assert store.fallbacks >= 4
    own_redis.start()
    time.sleep(DEFAULT_RECHECK + 0.2)  # the fall-back tries Redis again once per recheck period
    used = store.fallbacks
    _add(client, "ZOUT6")
    assert store.fallbacks == used  # back on the shared bucket
    assert redis.Redis.from_url(own_redis.url).exists("b24crm:bucket:127.0.0.1")
    assert _stored(portal, "ZOUT") == Counter({f"ZOUT{n}": 1 for n in range(1, 7)})
    assert portal.stats()["rate_limited"] == 0


def test_wait_policy_rides_out_a_restart(portal: Emulator, own_redis: RedisProcess) -> None:
    client = _client(portal, own_redis.url, "wait", store_wait=20.0)
    _add(client, "ZWAIT1")
    own_redis.kill()
    restart = threading.Timer(0.5, own_redis.start)
    restart.start()
    try:
        assert _finishes(lambda: _add(client, "ZWAIT2"), within=25.0) is None
    finally:
        restart.join()
    assert _stored(portal, "ZWAIT") == Counter({"ZWAIT1": 1, "ZWAIT2": 1})


@pytest.mark.parametrize("policy", ["wait", "error"])
def test_wait_and_error_policies_fail_typed_before_sending(
    portal: Emulator, own_redis: RedisProcess, policy: str
) -> None:
    client = _client(portal, own_redis.url, policy, store_wait=0.5)
    _add(client, "ZERR1")
    own_redis.kill()
    sent = portal.stats()["requests"]
    error = _finishes(lambda: _add(client, "ZERR2"), within=15.0)
    assert isinstance(error, StoreUnavailableError)
    assert error.may_have_run is False
    assert "did not run" in str(error)
    assert portal.stats()["requests"] == sent  # the write never left the process
    own_redis.start()
    _add(client, "ZERR3")  # Redis is back: so is the client
    assert _stored(portal, "ZERR") == Counter({"ZERR1": 1, "ZERR3": 1})


@pytest.mark.heavy
def test_redis_killed_mid_run_under_load(portal: Emulator, own_redis: RedisProcess) -> None:
    # Four threads writing through one shared-store client; Redis dies after a third of the writes and
    # comes back after two thirds. Policy "local": every write succeeds, each is stored exactly once.
    client = _client(portal, own_redis.url, "local")
    done: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def writer(t: int) -> None:
        for n in range(10):
            status_id = f"ZMID{t}{n}"
            try:
                _add(client, status_id)
            except Exception as exc:  # noqa: BLE001 - collected, asserted below
                errors.append(exc)
                continue
            with lock:
                done.append(status_id)

    def when(count: int) -> None:
        deadline = time.monotonic() + 60
        while len(done) + len(errors) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    when(13)
    own_redis.kill()
    when(26)
    own_redis.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()
    assert errors == []
    assert _stored(portal, "ZMID") == Counter(dict.fromkeys(done, 1))
    assert len(done) == 40
    store: Any = client._limiter._store
    assert store.fallbacks > 0


def test_token_store_outage_fails_before_refreshing_then_recovers(own_redis: RedisProcess) -> None:
    with Emulator(seed="demo") as portal:
        creds = portal.oauth
        client = Client.from_oauth(
            portal.base_url,
            client_id=creds.client_id,
            client_secret=creds.client_secret,
            access_token=creds.access_token,
            refresh_token=creds.refresh_token,
            token_url=creds.token_url,
            token_store=own_redis.url,
            store_wait=0.5,
            rate_limit="off",
        )
        client.crm.enum.ownertype()
        own_redis.kill()
        portal.expire_tokens()
        error = _finishes(client.crm.enum.ownertype, within=15.0)
        assert isinstance(error, StoreUnavailableError)
        # No refresh outside the shared lock: it would rotate the token under the other workers' feet.
        assert portal.stats()["oauth_refreshes"] == 0
        own_redis.start()
        client.crm.enum.ownertype()
        assert portal.stats()["oauth_refreshes"] == 1
