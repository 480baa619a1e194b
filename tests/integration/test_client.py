"""The client's own behaviour against the emulator: validation before sending, rate limits, the raw paths, auth."""

from __future__ import annotations

from typing import Any

import pytest

from b24crm import Client, RateLimited, errors
from b24crm.runtime.envelope import RawResponse
from b24crm.runtime.retry import RetryPolicy
from b24crm.runtime.transport import HttpResponse, NotSent, Urllib3Transport
from b24crm.testing import Emulator
from b24crm.testing.api import CallContext, Result

from .conftest import Connect, deal_history

TIME_KEYS = {
    "start",
    "finish",
    "duration",
    "processing",
    "date_start",
    "date_finish",
    "operating",
    "operating_reset_at",
}


def test_validation_lists_every_problem_and_sends_nothing(emu: Emulator, client: Client) -> None:
    with pytest.raises(errors.RequestValidationError) as caught:
        client.crm.status.add(fields={"ENTITY_ID": "STATUS", "STATUS_ID": "X" * 22, "COLOR": "not-a-color"})
    paths = sorted(p.path for p in caught.value.problems)
    assert paths == ["fields.COLOR", "fields.NAME", "fields.STATUS_ID"]  # bad color, NAME missing, 22 > 21 chars
    assert "fields.STATUS_ID" in str(caught.value)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, errors.B24Error)

    with pytest.raises(errors.RequestValidationError) as caught:
        client.crm.duplicate.findbycomm(type="FAX", values=[])
    assert sorted(p.path for p in caught.value.problems) == ["type", "values"]

    with pytest.raises(errors.RequestValidationError):
        client.crm.entity.merge_batch(params={"entityTypeId": 3, "entityIds": [1]})  # at least two

    assert emu.stats()["requests"] == 0


def test_the_same_request_passes_once_fixed(emu: Emulator, client: Client) -> None:
    new_id = client.crm.status.add(fields={"ENTITY_ID": "STATUS", "STATUS_ID": "X" * 21, "NAME": "ok", "SORT": 25})
    assert client.crm.status.get(id=new_id).status_id == "X" * 21
    assert emu.stats()["requests"] == 2


def test_matched_limiter_meets_no_query_limit_over_a_burst(connect: Connect) -> None:
    burst = 40
    with Emulator(seed="demo", plan="10/20") as emu:
        with connect(emu) as client:  # the client's limiter is matched to the plan
            for _ in range(burst):
                assert client.crm.settings.mode.get() == 1
        stats = emu.stats()
        assert stats["requests"] == burst and stats["rate_limited"] == 0

        # the same burst without a limiter does hit the portal's bucket: the test above can fail
        emu.reset()
        with connect(emu, rate_limit="off", max_attempts=1) as unthrottled, pytest.raises(RateLimited) as caught:
            for _ in range(burst):
                unthrottled.crm.settings.mode.get()
        assert isinstance(caught.value, errors.QueryLimitExceededError)
        assert caught.value.http_status == 503
        assert emu.stats()["rate_limited"] >= 1


def test_a_batch_is_one_request_for_the_limiter(connect: Connect) -> None:
    with Emulator(seed="demo", plan="3/1") as emu, connect(emu) as client:
        batch = client.batch()
        handles = [batch.crm.status.get(id=i) for i in range(1, 51)]
        batch.execute()
        assert all(h.ok for h in handles)
        assert emu.stats()["rate_limited"] == 0 and emu.stats()["requests"] == 1


def test_call_returns_plain_json_for_a_spec_method(client: Client) -> None:
    rows = client.call("crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}})
    assert isinstance(rows, list) and rows
    assert all(isinstance(r, dict) and r["ENTITY_ID"] == "SOURCE" for r in rows)
    assert isinstance(rows[0]["SORT"], str)  # the classic proxy's string values, untouched
    assert client.call("CRM.Settings.Mode.Get") == 1  # method names are case-insensitive


def test_call_reaches_a_method_outside_the_spec(emu: Emulator, client: Client) -> None:
    seen: list[dict[str, Any]] = []

    def deal_list(params: dict[str, Any], ctx: CallContext) -> Any:
        seen.append(params)
        return Result([{"ID": "7", "TITLE": "Pumps"}], total=1)

    emu.register("crm.deal.list", deal_list)
    assert client.call("crm.deal.list", {"filter": {">ID": 5}, "select": ["ID", "TITLE"]}) == [
        {"ID": "7", "TITLE": "Pumps"}
    ]
    assert seen == [{"filter": {">ID": 5}, "select": ["ID", "TITLE"]}]

    with pytest.raises(errors.MethodNotFoundError) as caught:
        client.call("crm.no.such.method")
    assert isinstance(caught.value, errors.NotFound) and caught.value.http_status == 404


def test_call_raw_exposes_the_envelope(emu: Emulator, client: Client) -> None:
    raw = client.call_raw("crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE"}})
    assert isinstance(raw, RawResponse)
    assert raw.http_status == 200 and raw.total == len(raw.result) == 8 and raw.next is None
    assert raw.time is not None and set(raw.time) >= TIME_KEYS
    assert raw.time["finish"] >= raw.time["start"]
    assert isinstance(raw.time["operating_reset_at"], int) and raw.time["operating_reset_at"] > raw.time["start"]
    assert isinstance(raw.time["date_start"], str) and "T" in raw.time["date_start"]

    page = client.call_raw("crm.stagehistory.list", {"entityTypeId": 2, "start": 50})
    assert (page.next, page.total, len(page.result["items"])) == (100, deal_history(emu), 50)


def test_typed_page_carries_the_time_block(client: Client) -> None:
    page = client.crm.stagehistory.list(entity_type_id=2)
    assert page.time is not None and set(page.time) >= TIME_KEYS


def test_a_wrong_webhook_code_is_an_auth_error(emu: Emulator) -> None:
    with (
        Client.from_webhook(f"{emu.base_url}/rest/1/not-the-code/") as wrong,
        pytest.raises(errors.InvalidCredentialsError) as caught,
    ):
        wrong.crm.settings.mode.get()
    assert isinstance(caught.value, errors.AuthError) and caught.value.http_status == 401
    assert "not-the-code" not in str(caught.value)  # webhook codes never appear in messages


def test_oauth_client_refreshes_once(emu: Emulator, connect: Connect) -> None:
    with connect(emu, auth="oauth") as client:
        assert client.crm.status.entity.items(entity_id="SOURCE")
        emu.expire_tokens()
        assert client.crm.settings.mode.get() == 1
        assert client.crm.settings.mode.get() == 1
    assert emu.stats()["oauth_refreshes"] == 1


class FlakyTokenEndpoint:
    """The real transport, except that the first ``failures`` token requests are refused before connecting."""

    def __init__(self, token_url: str, failures: int) -> None:
        self.inner = Urllib3Transport()
        self.token_url = token_url
        self.failures = failures
        self.token_requests = 0

    def request(self, method: str, url: str, **kw: Any) -> HttpResponse:
        if url == self.token_url:
            self.token_requests += 1
            if self.token_requests <= self.failures:
                raise NotSent("could not connect: connection refused")
        return self.inner.request(method, url, **kw)

    def close(self) -> None:
        self.inner.close()


def test_oauth_refresh_retries_a_failing_token_endpoint_and_stops_on_oauth_errors(emu: Emulator) -> None:
    policy = RetryPolicy(base_delay=0.01, jitter="none")
    flaky = FlakyTokenEndpoint(emu.oauth.token_url, failures=2)
    with emu.client(auth="oauth", transport=flaky, retry_policy=policy) as client:
        emu.expire_tokens()
        assert client.crm.settings.mode.get() == 1
    assert flaky.token_requests == 3 and emu.stats()["oauth_refreshes"] == 1

    # the token server itself refuses the app: one attempt, a clear AuthError, no secret in it
    wrong = FlakyTokenEndpoint(emu.oauth.token_url, failures=0)
    creds = emu.oauth
    with Client.from_oauth(
        emu.base_url,
        client_id=creds.client_id,
        client_secret="not-the-app-secret",
        access_token=creds.access_token,
        refresh_token=creds.refresh_token,
        token_url=creds.token_url,
        transport=wrong,
        retry_policy=policy,
        rate_limit="off",
    ) as bad:
        emu.expire_tokens()
        with pytest.raises(errors.AuthError) as caught:
            bad.crm.settings.mode.get()
    assert wrong.token_requests == 1
    assert caught.value.code == "invalid_client" and "check client_id and client_secret" in str(caught.value)
    for secret in ("not-the-app-secret", creds.refresh_token, creds.access_token):
        assert secret not in str(caught.value)
