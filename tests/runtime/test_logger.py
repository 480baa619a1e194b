"""``logger=`` reaches every component: transport lines, retries, limiter and operating-time waits, portal
moves and everything the OAuth refresh logs. Nothing goes to the default ``b24crm`` logger then, and the
records stay free of secrets."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from b24crm.runtime.auth import OAuthAuth, Tokens
from b24crm.runtime.retry import RetryPolicy
from b24crm.runtime.transport import HttpResponse, NotSent

from .fakes import SECRET, Client, FakeClock, FakeTransport, Request, Script, err, make_client, ok
from .test_auth import TOKEN_URL, OAuthWorld
from .test_refresh_retry import FlakyTokens


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]


@pytest.fixture
def loggers() -> Iterator[tuple[logging.Logger, Collect, Collect]]:
    """A user logger (not under ``b24crm``) and a collector on the default ``b24crm`` logger."""
    mine = logging.getLogger("myapp.crm")
    default = logging.getLogger("b24crm")
    mine_handler, default_handler = Collect(), Collect()
    saved = (mine.level, mine.propagate, default.level)
    mine.addHandler(mine_handler)
    default.addHandler(default_handler)
    mine.setLevel(logging.DEBUG)
    default.setLevel(logging.DEBUG)
    mine.propagate = False
    try:
        yield mine, mine_handler, default_handler
    finally:
        mine.removeHandler(mine_handler)
        default.removeHandler(default_handler)
        mine.level, mine.propagate, default.level = saved


def _has(messages: list[str], fragment: str) -> bool:
    return any(fragment in m for m in messages)


def test_webhook_client_logs_only_to_the_given_logger(loggers: Any) -> None:
    logger, mine, default = loggers

    def handler(req: Request) -> HttpResponse:
        if req.url.startswith("https://example.bitrix24.com/"):
            return HttpResponse(302, {"location": f"https://new.bitrix24.com/rest/7/{SECRET}/x.json"}, b"")
        if req.api_method == "crm.status.add":
            adds.append(1)
            return err("QUERY_LIMIT_EXCEEDED", "Too many requests", 503) if len(adds) == 1 else ok(1)
        reset = clock.time() + 30
        return ok({"ID": "1"}, time={"operating": 480.0, "operating_reset_at": reset})

    adds: list[int] = []
    client, _, clock = make_client(handler, rate_limit=(2, 1.0), logger=logger)
    client.call("crm.status.get", {"id": 1})  # portal move; its operating time is nearly spent
    client.call("crm.status.get", {"id": 1})  # waits for the operating reset and for a bucket slot
    client.call("crm.status.add", {"fields": {"ENTITY_ID": "S", "STATUS_ID": "X", "NAME": "n"}})  # a retry
    messages = mine.messages()
    assert _has(messages, "POST crm.status.get ->")  # transport line
    assert _has(messages, "the portal moved")
    assert _has(messages, "operating-time budget nearly spent")
    assert _has(messages, "rate limiter: waiting")
    assert _has(messages, "retrying crm.status.add")
    assert default.records == []  # nothing leaked to the default logger
    assert all(SECRET not in m for m in messages)


def test_oauth_refresh_logs_to_the_given_logger(loggers: Any) -> None:
    logger, mine, default = loggers

    def boom(_: Tokens) -> None:
        raise RuntimeError("db down")

    flaky = FlakyTokens(OAuthWorld(), NotSent("could not connect"))
    clock = FakeClock()
    client = Client.from_oauth(
        "https://x.bitrix24.com",
        client_id="app.id",
        client_secret="app-secret-value",
        access_token="stale-token",
        refresh_token="refresh-0",
        on_tokens=boom,
        transport=FakeTransport(flaky),
        clock=clock,
        rate_limit="off",
        retry_policy=RetryPolicy(jitter="none"),
        logger=logger,
    )
    assert client.call("crm.status.get", {"id": 1}) == {"ID": "1"}
    auth = client._auth
    assert isinstance(auth, OAuthAuth) and auth.logger is logger
    # a token that arrives already expired (clock skew) is warned about through the same logger
    flaky.world.current = "never"
    flaky.failures.append(
        HttpResponse(
            200,
            {"content-type": "application/json"},
            b'{"access_token": "tok-two-x", "refresh_token": "ref-two-x", "expires": 1}',
        )
    )
    auth.refresh(auth.generation, client._transport, timeout=(1.0, 1.0), clock=clock)
    messages = mine.messages()
    assert _has(messages, "OAuth token refresh failed (attempt 1/4")
    assert _has(messages, "OAuth access token refreshed")
    assert _has(messages, "on_tokens callback failed")
    assert _has(messages, "looks already expired")
    assert any(r.getMessage().startswith("b24crm: POST") and TOKEN_URL not in r.getMessage() for r in mine.records)
    assert default.records == []
    secrets = ("app-secret-value", "refresh-0", "stale-token", "access-1", "refresh-1", "tok-two-x", "ref-two-x")
    for text in messages:
        for secret in secrets:
            assert secret not in text, text


def test_default_logger_is_b24crm(loggers: Any) -> None:
    _, mine, default = loggers
    client, _, _ = make_client(Script(err("QUERY_LIMIT_EXCEEDED", "x", 503), ok(True)))
    client.call("crm.status.get", {"id": 1})
    assert _has(default.messages(), "retrying crm.status.get") and mine.records == []
