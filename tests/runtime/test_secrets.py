"""Webhook codes, tokens and client secrets never show up in repr, str, logs or error messages."""

from __future__ import annotations

import logging
import socket
import urllib.parse

import pytest

from b24crm.runtime.auth import OAuthAuth, Tokens, WebhookAuth
from b24crm.runtime.errors import B24Error
from b24crm.runtime.redact import Redactor, redact
from b24crm.runtime.transport import HttpResponse, MaybeSent, Urllib3Transport

from .fakes import SECRET, WEBHOOK, Client, FakeClock, FakeTransport, Request, Script, body, err, make_client, ok, raw


def test_reprs_hide_webhook_code() -> None:
    client, _, _ = make_client()
    for text in (repr(client), str(client), repr(client._auth), repr(WebhookAuth.parse(WEBHOOK))):
        assert SECRET not in text
    assert "example.bitrix24.com" in repr(client)


def test_tokens_and_oauth_reprs() -> None:
    t = Tokens("acc-token-123", "ref-token-456", 1.0, {"access_token": "acc-token-123"})
    assert "acc-token-123" not in repr(t) and "ref-token-456" not in str(t)
    auth = OAuthAuth(
        "x.bitrix24.com",
        client_id="cid",
        client_secret="csecret-789",
        access_token="acc-token-123",
        refresh_token="ref-token-456",
    )
    assert not any(s in repr(auth) for s in ("acc-token-123", "ref-token-456", "csecret-789"))


def test_logs_and_errors_never_contain_the_code(caplog: pytest.LogCaptureFixture) -> None:
    leak = (
        f"HTTPSConnectionPool(host='example.bitrix24.com', port=443): Max retries exceeded with url: "
        f"/rest/7/{SECRET}/crm.status.get.json"
    )
    client, _, _ = make_client(Script(MaybeSent(leak), MaybeSent(leak), err("", f"echo {SECRET}", 400)), max_attempts=3)
    with caplog.at_level(logging.DEBUG, logger="b24crm"), pytest.raises(B24Error) as info:
        client.call("crm.status.get", {"id": 1})
    assert SECRET not in str(info.value)
    assert caplog.records
    for rec in caplog.records:
        assert SECRET not in rec.getMessage()


def test_html_excerpt_is_redacted() -> None:
    client, _, _ = make_client(lambda r: raw(500, f"<html>error at /rest/7/{SECRET}/x</html>"))
    with pytest.raises(B24Error) as info:
        client.call("crm.anything", {})
    assert SECRET not in str(info.value)


def test_oauth_tokens_never_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    def handler(req: Request) -> HttpResponse:
        if "oauth.bitrix.info" in req.url:
            return body({"access_token": "fresh-access-AAA", "refresh_token": "fresh-refresh-BBB", "expires_in": 3600})
        data = req.json
        if data["auth"] == "old-access-XYZ":
            return err("expired_token", "The access token provided has expired", 401)
        return raw(502, f"<html>proxy failed for auth={data['auth']}</html>")

    client = Client.from_oauth(
        "x.bitrix24.com",
        client_id="cid",
        client_secret="csecret-789",
        access_token="old-access-XYZ",
        refresh_token="old-refresh-QQQ",
        transport=FakeTransport(handler),
        rate_limit="off",
        clock=FakeClock(),
        max_attempts=2,
    )
    with caplog.at_level(logging.DEBUG, logger="b24crm"), pytest.raises(B24Error) as info:
        client.call("crm.status.get", {"id": 1})
    texts = [str(info.value), repr(client), *(r.getMessage() for r in caplog.records)]
    for secret in ("old-access-XYZ", "old-refresh-QQQ", "fresh-access-AAA", "fresh-refresh-BBB", "csecret-789"):
        assert all(secret not in t for t in texts), secret


def test_real_transport_failure_message_is_redacted() -> None:
    # A closed loopback port: urllib3's message names the URL, which holds the code.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = Client.from_webhook(
        f"http://127.0.0.1:{port}/rest/7/{SECRET}/", max_attempts=1, rate_limit="off", timeout=(0.5, 0.5)
    )
    with pytest.raises(B24Error) as info:
        client.call("crm.status.get", {"id": 1})
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None or SECRET not in str(info.value.__cause__)
    assert not info.value.may_have_run  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "text",
    [
        f"https://x/rest/1/{SECRET}/crm.status.list.json",
        f'{{"auth": "{SECRET}"}}',
        f"auth={SECRET}&id=1",
        f"refresh_token={SECRET}",
        f"client_secret: {SECRET}",
        f"Authorization: Bearer {SECRET}",
    ],
)
def test_pattern_redaction(text: str) -> None:
    assert SECRET not in redact(text)


def test_known_values_redacted_even_without_pattern() -> None:
    r = Redactor(["tok-ABCDEFG"])
    assert r("weird context tok-ABCDEFG here") == "weird context *** here"
    quoted = urllib.parse.quote("a/b+c=")
    r.add("a/b+c=", quoted)
    assert "a/b+c=" not in r("x a/b+c= y") and quoted not in r(f"x {quoted} y")


def test_transport_describes_with_redaction() -> None:
    t = Urllib3Transport(redactor=Redactor([SECRET]))
    assert SECRET not in t._describe("read timed out", RuntimeError(f"/rest/7/{SECRET}/x"))
    t.close()


def test_ok_helper() -> None:
    assert ok(1).status == 200
