"""Retry decisions: fault × idempotency, budgets, backoff, logging."""

from __future__ import annotations

import logging
import random

import pytest

from b24crm.runtime.errors import APIError, ResponseDecodeError, ServerError, TransportError
from b24crm.runtime.retry import Fault, RetryPolicy, classify
from b24crm.runtime.transport import Fatal, MaybeSent, NotSent
from b24crm.runtime.types import RequestOptions

from .fakes import STATUS_ADD, STATUS_GET, Script, err, make_client, ok, raw

# fault -> a factory of the failing step
FAULTS = {
    "connect_refused": lambda: NotSent("could not connect: NewConnectionError"),
    "read_timeout": lambda: MaybeSent("read timed out"),
    "reset_after_send": lambda: MaybeSent("connection failed after sending: ProtocolError"),
    "query_limit_503": lambda: err("QUERY_LIMIT_EXCEEDED", "Too many requests", 503),
    "operating_limit_429": lambda: err("OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.", 429),
    "server_500": lambda: err("ERROR_CORE", "SQL query error!", 500),
    "html_502": lambda: raw(502, "<html><body>Bad Gateway</body></html>"),
    "truncated_200": lambda: raw(200, '{"result": {"ID": "1'),
    "invalid_400": lambda: err("", "Status is not found.", 400),
    "tls_failure": lambda: Fatal("TLS failed: SSLError"),
    "overload_503": lambda: err("OVERLOAD_LIMIT", "REST API is blocked due to overload.", 503),
}

# (fault, idempotent) -> retried?   The whole table, so a change of policy shows up as a diff here.
TABLE = {
    ("connect_refused", True): True,
    ("connect_refused", False): True,
    ("read_timeout", True): True,
    ("read_timeout", False): False,
    ("reset_after_send", True): True,
    ("reset_after_send", False): False,
    ("query_limit_503", True): True,
    ("query_limit_503", False): True,
    ("operating_limit_429", True): True,
    ("operating_limit_429", False): True,
    ("server_500", True): True,
    ("server_500", False): False,
    ("html_502", True): True,
    ("html_502", False): False,
    ("truncated_200", True): True,
    ("truncated_200", False): False,
    ("invalid_400", True): False,
    ("invalid_400", False): False,
    ("tls_failure", True): False,
    ("tls_failure", False): False,
    ("overload_503", True): False,
    ("overload_503", False): False,
}


@pytest.mark.parametrize(("fault", "idempotent"), sorted(TABLE))
def test_retry_table(fault: str, idempotent: bool) -> None:
    client, transport, _ = make_client(Script(FAULTS[fault](), ok({"ID": "1"} if idempotent else 5)))
    spec = STATUS_GET if idempotent else STATUS_ADD
    params = {"id": 1} if idempotent else {"fields": {"ENTITY_ID": "STATUS", "STATUS_ID": "X", "NAME": "x"}}
    if TABLE[(fault, idempotent)]:
        client.call(spec.name, params)
        assert len(transport.requests) == 2
    else:
        with pytest.raises((TransportError, APIError, ResponseDecodeError)) as info:
            client.call(spec.name, params)
        assert len(transport.requests) == 1
        if fault in ("read_timeout", "reset_after_send"):
            assert isinstance(info.value, TransportError)
            assert info.value.may_have_run is True
            assert "may have been executed" in str(info.value)
        if fault == "server_500":
            assert isinstance(info.value, ServerError)
            assert info.value.may_have_run is True
        if fault == "tls_failure":
            assert isinstance(info.value, TransportError)
            assert info.value.may_have_run is False


def test_unknown_method_is_treated_as_non_idempotent() -> None:
    client, transport, _ = make_client(Script(MaybeSent("read timed out"), ok(1)))
    with pytest.raises(TransportError) as info:
        client.call("crm.deal.add", {"fields": {"TITLE": "x"}})
    assert info.value.may_have_run
    assert len(transport.requests) == 1


def test_unknown_method_still_retried_when_not_sent() -> None:
    client, transport, _ = make_client(Script(NotSent("refused"), ok(1)))
    assert client.call("crm.deal.add", {"fields": {"TITLE": "x"}}) == 1
    assert len(transport.requests) == 2


def test_client_budget_is_respected() -> None:
    client, transport, _ = make_client(Script(NotSent("refused")), max_attempts=3)
    with pytest.raises(TransportError) as info:
        client.call("crm.status.get", {"id": 1})
    assert len(transport.requests) == 3
    assert info.value.may_have_run is False
    assert "budget" in str(info.value)


def test_per_call_budget_overrides_client() -> None:
    client, transport, _ = make_client(Script(NotSent("refused")), max_attempts=5)
    with pytest.raises(TransportError):
        client.call("crm.status.get", {"id": 1}, request_options=RequestOptions(max_attempts=1))
    assert len(transport.requests) == 1
    transport.requests.clear()
    with pytest.raises(TransportError):
        client.call("crm.status.get", {"id": 1}, request_options=RequestOptions(max_attempts=2))
    assert len(transport.requests) == 2


def test_rate_limited_is_raised_when_budget_spent() -> None:
    client, transport, _ = make_client(Script(err("QUERY_LIMIT_EXCEEDED", "Too many requests", 503)), max_attempts=2)
    with pytest.raises(APIError) as info:
        client.call("crm.status.get", {"id": 1})
    assert type(info.value).__name__ == "QueryLimitExceeded"
    assert len(transport.requests) == 2


def test_backoff_sleeps_grow_and_are_capped() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=8.0, jitter="none")
    assert [policy.backoff(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


@pytest.mark.parametrize("jitter", ["full", "equal"])
def test_jitter_stays_within_bounds(jitter: str) -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=jitter, rng=random.Random(7))  # type: ignore[arg-type]
    for attempt in range(1, 8):
        ceiling = min(8.0, 2.0 ** (attempt - 1))
        for _ in range(50):
            d = policy.backoff(attempt)
            low = 0.0 if jitter == "full" else ceiling / 2
            assert low <= d <= ceiling


def test_client_sleeps_between_attempts() -> None:
    policy = RetryPolicy(max_attempts=4, base_delay=1.0, jitter="none")
    client, _, clock = make_client(Script(NotSent("x"), NotSent("x"), ok({"ID": "1"})), retry_policy=policy)
    client.call("crm.status.get", {"id": 1})
    assert clock.sleeps == [1.0, 2.0]


def test_each_retry_and_request_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    client, _, _ = make_client(Script(err("QUERY_LIMIT_EXCEEDED", "Too many requests", 503), ok({"ID": "1"})))
    with caplog.at_level(logging.DEBUG, logger="b24crm"):
        client.call("crm.status.get", {"id": 1})
    requests = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG and "POST" in r.getMessage()]
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(requests) == 2
    assert "crm.status.get -> 503" in requests[0] and "attempt 1/4" in requests[0]
    assert "crm.status.get -> 200" in requests[1] and "attempt 2/4" in requests[1]
    assert len(retries) == 1 and "rate limited" in retries[0]


def test_classify_is_by_fault_not_by_class_name() -> None:
    assert classify(NotSent("x")) is Fault.NOT_SENT
    assert classify(MaybeSent("x")) is Fault.MAY_HAVE_RUN
    assert classify(Fatal("x")) is Fault.FINAL
    assert classify(ResponseDecodeError("m", "x", 404)) is Fault.FINAL
    assert classify(ResponseDecodeError("m", "x", 503)) is Fault.MAY_HAVE_RUN
    assert classify(ValueError("x")) is Fault.FINAL
