"""A failing OAuth token endpoint: transient failures are retried with the client's backoff up to the attempt
budget (still one refresh in flight across threads); OAuth error answers are final, clear and secret-free."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from b24crm.runtime.errors import AuthError, ResponseDecodeError, TransportError
from b24crm.runtime.retry import RetryPolicy
from b24crm.runtime.transport import HttpResponse, MaybeSent, NotSent
from b24crm.runtime.types import RequestOptions

from .fakes import Client, FakeClock, FakeTransport, Request, err, raw
from .test_auth import TOKEN_URL, OAuthWorld

SECRETS = ("app-secret-value", "refresh-0", "stale-token")


class FlakyTokens:
    """``OAuthWorld`` whose token endpoint first fails with the given steps; counts overlapping refreshes."""

    def __init__(self, world: OAuthWorld, *failures: HttpResponse | BaseException, pause: float = 0.0) -> None:
        self.world = world
        self.failures = list(failures)
        self.token_requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.pause = pause
        self.lock = threading.Lock()

    def __call__(self, req: Request) -> HttpResponse:
        if not req.url.startswith(TOKEN_URL):
            return self.world(req)
        with self.lock:
            self.token_requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            step = self.failures.pop(0) if self.failures else None
        try:
            if self.pause:
                time.sleep(self.pause)  # widen the window in which a second refresh could overlap
            if isinstance(step, BaseException):
                raise step
            return step if step is not None else self.world(req)
        finally:
            with self.lock:
                self.in_flight -= 1


def make(handler: FlakyTokens, **kw: Any) -> tuple[Client, FakeClock]:
    clock = FakeClock()
    client = Client.from_oauth(
        "https://x.bitrix24.com",
        client_id="app.id",
        client_secret="app-secret-value",
        access_token="stale-token",
        refresh_token="refresh-0",
        transport=FakeTransport(handler),
        clock=clock,
        rate_limit="off",
        retry_policy=RetryPolicy(max_attempts=kw.pop("max_attempts", 4), base_delay=0.5, jitter="none"),
        **kw,
    )
    return client, clock


def assert_no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_transient_failures_are_retried_with_backoff() -> None:
    flaky = FlakyTokens(
        OAuthWorld(),
        NotSent("could not connect: connection refused"),
        MaybeSent("connection failed after sending: connection reset"),
        err("server_error", "try later", 503),
        raw(502, "<html>Bad Gateway</html>"),
    )
    client, clock = make(flaky, max_attempts=5)
    assert client.call("crm.status.get", {"id": 1}) == {"ID": "1"}
    assert flaky.token_requests == 5 and flaky.world.refreshes == 1
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]  # the client's backoff policy


def test_non_json_200_is_transient() -> None:
    flaky = FlakyTokens(OAuthWorld(), raw(200, '{"access_token": "cut sh'))
    client, _ = make(flaky)
    assert client.call("crm.status.get", {"id": 1}) == {"ID": "1"}
    assert flaky.token_requests == 2


@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        (NotSent("could not connect: connection refused"), TransportError),
        (MaybeSent("read timed out"), TransportError),
        (raw(502, "<html>Bad Gateway</html>"), ResponseDecodeError),
        (err("temporarily_unavailable", "down", 503), AuthError),
    ],
)
def test_budget_spent_raises_the_last_failure(failure: Any, raised: type[Exception]) -> None:
    flaky = FlakyTokens(OAuthWorld(), *[failure] * 10)
    client, clock = make(flaky, max_attempts=3)
    with pytest.raises(raised) as info:
        client.call("crm.status.get", {"id": 1})
    assert flaky.token_requests == 3 and len(clock.sleeps) == 2
    assert flaky.world.refreshes == 0
    assert_no_secrets(str(info.value))


def test_request_options_budget_applies_to_the_refresh() -> None:
    flaky = FlakyTokens(OAuthWorld(), *[NotSent("refused")] * 10)
    client, _ = make(flaky, max_attempts=6)
    with pytest.raises(TransportError):
        client.call("crm.status.get", {"id": 1}, request_options=RequestOptions(max_attempts=2))
    assert flaky.token_requests == 2


@pytest.mark.parametrize(
    ("code", "status", "advice"),
    [
        ("invalid_grant", 400, "go through the authorization again"),
        ("invalid_client", 401, "check client_id and client_secret"),
    ],
)
def test_oauth_errors_are_final_and_clear(code: str, status: int, advice: str) -> None:
    flaky = FlakyTokens(OAuthWorld(), err(code, "refresh-0 is bad for app-secret-value", status))
    client, clock = make(flaky)
    with pytest.raises(AuthError) as info:
        client.call("crm.status.get", {"id": 1})
    assert flaky.token_requests == 1 and clock.sleeps == []  # not retried
    assert info.value.code == code and info.value.http_status == status
    assert advice in str(info.value) and "OAuth token refresh failed" in str(info.value)
    assert_no_secrets(str(info.value))
    assert_no_secrets(repr(info.value))


def test_invalid_grant_after_a_maybe_sent_attempt_says_the_token_may_be_used() -> None:
    flaky = FlakyTokens(OAuthWorld(), MaybeSent("connection reset"), err("invalid_grant", "bad", 400))
    client, _ = make(flaky)
    with pytest.raises(AuthError, match="may have used up the refresh token"):
        client.call("crm.status.get", {"id": 1})
    assert flaky.token_requests == 2


def test_sixteen_threads_one_refresh_in_flight_through_transient_failures() -> None:
    world = OAuthWorld(parties=16)
    flaky = FlakyTokens(world, NotSent("refused"), err("server_error", "busy", 500), pause=0.01)
    client, _ = make(flaky)
    results: list[Any] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(client.call("crm.status.get", {"id": 1}))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert results == [{"ID": "1"}] * 16
    assert world.stale_seen == 16
    assert flaky.token_requests == 3  # two transient failures, one success: a single refresh
    assert flaky.max_in_flight == 1
    assert world.refreshes == 1
