"""The leaky bucket and the operating-time tracker, against a fake clock (no real sleeping)."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24crm.runtime import limits
from b24crm.runtime.errors import RateLimited
from b24crm.runtime.limits import RATE_HEADROOM
from b24crm.runtime.ratelimit import InMemoryLimiterStore, OperatingTracker, RateLimiter, resolve_plan

from .fakes import FakeClock, Script, err, make_client, ok


def test_plans() -> None:
    assert resolve_plan("standard") == (50, 2.0)
    assert resolve_plan("enterprise") == (250, 5.0)
    assert resolve_plan((10, 1.5)) == (10, 1.5)
    assert resolve_plan("off") is None and resolve_plan(None) is None
    with pytest.raises(ValueError):
        resolve_plan("gold")
    with pytest.raises(ValueError):
        resolve_plan((0, 1.0))


def test_burst_then_drain_rate() -> None:
    clock = FakeClock()
    lim = RateLimiter("standard", key="p", store=InMemoryLimiterStore(), clock=clock)
    # the portal admits X + 1 = 51 from empty; one slot stays free for clock jitter between client and portal
    for _ in range(50 + 1 - RATE_HEADROOM):
        assert lim.acquire() == 0.0
    assert clock.now == 0.0
    assert lim.acquire() == pytest.approx(0.5)  # 2 per second
    assert lim.acquire() == pytest.approx(0.5)
    assert clock.now == pytest.approx(1.0)
    clock.advance(100)  # fully drained
    for _ in range(50 + 1 - RATE_HEADROOM):
        assert lim.acquire() == 0.0


def test_off_never_waits() -> None:
    clock = FakeClock()
    lim = RateLimiter("off", key="p", store=InMemoryLimiterStore(), clock=clock)
    assert all(lim.acquire() == 0.0 for _ in range(1000))


def server_accepts(send_times: list[float], burst: int, rate: float) -> bool:
    """The portal's leaky bucket: drains by rate, refuses a request once the counter exceeds burst, else +1."""
    level, last = 0.0, None
    for t in send_times:
        if last is not None:
            level = max(0.0, level - (t - last) * rate)
        last = t
        if level > burst + 1e-9:
            return False
        level += 1
    return True


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.floats(min_value=0, max_value=2.0), min_size=1, max_size=400),
    plan=st.sampled_from(["standard", "enterprise", (5, 1.0), (3, 0.5)]),
)
def test_property_client_never_exceeds_the_portal_bucket(gaps: list[float], plan: object) -> None:
    clock = FakeClock()
    lim = RateLimiter(plan, key="p", store=InMemoryLimiterStore(), clock=clock)  # type: ignore[arg-type]
    burst, rate = resolve_plan(plan)  # type: ignore[arg-type, misc]
    sends: list[float] = []
    for gap in gaps:
        clock.advance(gap)
        lim.acquire()
        sends.append(clock.monotonic())
    assert server_accepts(sends, burst, rate)


def test_threads_queue_behind_each_other() -> None:
    store = InMemoryLimiterStore()
    waits: list[float] = []
    lock = threading.Lock()

    class NoSleep(FakeClock):
        def sleep(self, seconds: float) -> None:  # record only: time stands still
            with lock:
                waits.append(seconds)

    clock = NoSleep()
    lim = RateLimiter((10, 2.0), key="p", store=store, clock=clock)  # 11 fit from empty: 11 - RATE_HEADROOM usable

    def work() -> None:
        for _ in range(5):
            lim.acquire()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 40 requests at t=0: the usable ones free, the others each reserve a distinct later slot (0.5 s apart).
    usable = 11 - RATE_HEADROOM
    assert sorted(waits) == pytest.approx([0.5 * k for k in range(1, 40 - usable + 1)])


def test_saturate_after_query_limit() -> None:
    clock = FakeClock()
    lim = RateLimiter("standard", key="p", store=InMemoryLimiterStore(), clock=clock)
    lim.acquire()
    lim.saturate()
    assert lim.acquire() == pytest.approx(0.5)


def test_client_throttles_and_saturates_on_503() -> None:
    client, transport, clock = make_client(
        Script(err("QUERY_LIMIT_EXCEEDED", "Too many requests", 503), ok({"ID": "1"})), rate_limit="standard"
    )
    client.call("crm.status.get", {"id": 1})
    assert len(transport.requests) == 2
    # after the 503 the bucket counts as full: the retry waited at least one drain interval
    assert clock.now >= 0.5 - 1e-9


def test_shared_store_shares_the_bucket() -> None:
    store = InMemoryLimiterStore()
    clock = FakeClock()
    a = RateLimiter((3, 1.0), key="portal", store=store, clock=clock)  # 4 fit from empty: 2 usable + headroom
    b = RateLimiter((3, 1.0), key="portal", store=store, clock=clock)
    assert RATE_HEADROOM == 2
    assert a.acquire() == 0.0 and b.acquire() == 0.0
    assert a.acquire() == pytest.approx(1.0)


# --- operating time ------------------------------------------------------------------------------------------


def test_tracker_waits_for_reset_when_budget_nearly_spent() -> None:
    clock = FakeClock()
    tr = OperatingTracker(key="p", store=InMemoryLimiterStore(), clock=clock)
    tr.record("crm.item.list", {"operating": 100.0, "operating_reset_at": clock.time() + 300})
    assert tr.before("crm.item.list") == 0.0
    tr.record("crm.item.list", {"operating": 477.0, "operating_reset_at": clock.time() + 120})
    assert tr.before("crm.other.list") == 0.0  # other methods are not affected
    waited = tr.before("crm.item.list")
    assert waited == pytest.approx(121.0)
    assert tr.before("crm.item.list") == 0.0  # after the reset: let one call through to learn the new figure


def test_tracker_ignores_missing_operating_and_batch() -> None:
    clock = FakeClock()
    tr = OperatingTracker(key="p", store=InMemoryLimiterStore(), clock=clock)
    tr.record("m", {"start": 1})
    tr.record("batch", {"operating": 999, "operating_reset_at": clock.time() + 50})
    assert tr.before("m") == 0.0 and tr.before("batch") == 0.0


def test_tracker_caps_wait_at_one_window() -> None:
    clock = FakeClock()
    tr = OperatingTracker(key="p", store=InMemoryLimiterStore(), clock=clock)
    tr.record("m", {"operating": 500, "operating_reset_at": clock.time() + 10**6})
    assert tr.wait_time("m") == limits.OPERATING_WINDOW_SECONDS


def test_429_waits_until_reset_then_succeeds() -> None:
    clock = FakeClock()
    reset = clock.time() + 90
    steps = Script(
        ok({"ID": "1"}, time={"operating": 300.0, "operating_reset_at": reset}),
        err("OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.", 429),
        ok({"ID": "2"}),
    )
    client, transport, _ = make_client(steps, clock=clock, rate_limit="standard")
    client.call("crm.status.get", {"id": 1})
    assert client.call("crm.status.get", {"id": 2}) == {"ID": "2"}
    assert len(transport.requests) == 3
    assert clock.time() >= reset  # the retry was not sent before the portal's reset time


def test_429_without_known_reset_waits_one_bucket() -> None:
    clock = FakeClock()
    client, _, _ = make_client(
        Script(err("OPERATION_TIME_LIMIT", "blocked", 429), ok(1)), clock=clock, rate_limit="off"
    )
    client.call("crm.anything", {})
    assert clock.now >= limits.OPERATING_BUCKET_SECONDS


def test_proactive_wait_happens_before_the_portal_would_refuse() -> None:
    clock = FakeClock()
    reset = clock.time() + 200
    client, transport, _ = make_client(
        lambda r: ok({"ID": "1"}, time={"operating": 479.0, "operating_reset_at": reset}),
        clock=clock,
        rate_limit="standard",
    )
    client.call("crm.status.get", {"id": 1})
    client.call("crm.status.get", {"id": 1})
    assert len(transport.requests) == 2
    assert clock.time() >= reset  # the second call waited, so no 429 was ever met


def test_rate_limited_error_class_exported() -> None:
    assert issubclass(RateLimited, Exception)
