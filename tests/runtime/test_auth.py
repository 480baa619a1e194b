"""Webhook parsing, OAuth refresh (one refresh for many threads), HTTPS rules, portal moves."""

from __future__ import annotations

import threading
import urllib.parse
from typing import Any

import pytest

from b24crm.runtime.auth import OAuthAuth, Tokens, WebhookAuth, normalize_portal
from b24crm.runtime.errors import AuthError, TransportError
from b24crm.runtime.transport import HttpResponse, check_scheme, is_loopback

from .fakes import WEBHOOK, Client, FakeClock, FakeTransport, Request, body, err, make_client, ok

TOKEN_URL = "https://oauth.bitrix.info/oauth/token/"


@pytest.mark.parametrize(
    "url",
    [
        "https://x.bitrix24.com/rest/1/abc123def/",
        "https://x.bitrix24.com/rest/1/abc123def",
        "  https://x.bitrix24.com/rest/1/abc123def/  ",
        "https://x.bitrix24.com/rest/1/abc123def/profile.json",
    ],
)
def test_webhook_forms(url: str) -> None:
    auth = WebhookAuth.parse(url)
    assert auth.origin == "https://x.bitrix24.com"
    assert auth.url("crm.status.list") == "https://x.bitrix24.com/rest/1/abc123def/crm.status.list.json"


def test_webhook_on_a_subpath() -> None:
    auth = WebhookAuth.parse("https://corp.example/bitrix/rest/5/zzzzzz/")
    assert auth.url("m.x") == "https://corp.example/bitrix/rest/5/zzzzzz/m.x.json"


@pytest.mark.parametrize(
    "url", ["https://x.bitrix24.com/rest/1/", "x.bitrix24.com", "https://x.bitrix24.com/1/abcdef/"]
)
def test_bad_webhook_is_refused_without_leaking(url: str) -> None:
    with pytest.raises(ValueError) as info:
        WebhookAuth.parse(url)
    assert "abcdef" not in str(info.value)


def test_plain_http_refused_except_loopback() -> None:
    with pytest.raises(ValueError, match="allow_insecure"):
        Client.from_webhook("http://x.bitrix24.com/rest/1/abcdef/", transport=FakeTransport())
    Client.from_webhook("http://x.bitrix24.com/rest/1/abcdef/", transport=FakeTransport(), allow_insecure=True)
    for host in ("127.0.0.1", "127.3.4.5", "[::1]", "localhost"):
        Client.from_webhook(f"http://{host}:8080/rest/1/abcdef/", transport=FakeTransport())
    assert not is_loopback("10.0.0.1")
    with pytest.raises(ValueError):
        check_scheme("ftp://x/", allow_insecure=True)


def test_portal_normalisation() -> None:
    for form in (
        "x.bitrix24.com",
        "https://x.bitrix24.com/",
        "https://x.bitrix24.com/rest/",
        "https://x.bitrix24.com/rest",
    ):
        assert normalize_portal(form) == "https://x.bitrix24.com"


def test_webhook_request_shape() -> None:
    client, transport, _ = make_client(lambda r: ok({"ID": "1"}))
    client.call("crm.status.get", {"id": 1})
    (req,) = transport.requests
    assert req.method == "POST"
    assert req.url == "https://example.bitrix24.com/rest/7/s3cr3tc0dexyz/crm.status.get.json"
    assert req.headers["Content-Type"].startswith("application/json")
    assert req.json == {"id": 1}
    assert req.timeout == (5.0, 30.0)


# --- OAuth -----------------------------------------------------------------------------------------------------


class OAuthWorld:
    """A portal accepting one current access token, and a token server that rotates tokens."""

    def __init__(self, *, parties: int = 1) -> None:
        self.lock = threading.Lock()
        self.current = "access-0"
        self.refresh_token = "refresh-0"
        self.refreshes = 0
        self.portal_calls = 0
        self.barrier = threading.Barrier(parties, timeout=10) if parties > 1 else None
        self.stale_seen = 0

    def __call__(self, req: Request) -> HttpResponse:
        if req.url.startswith(TOKEN_URL):
            form = dict(urllib.parse.parse_qsl((req.body or b"").decode()))
            with self.lock:
                assert form["grant_type"] == "refresh_token"
                assert form["client_secret"] == "app-secret-value"
                if form["refresh_token"] != self.refresh_token:
                    return err("invalid_grant", "The refresh token is invalid", 400)
                self.refreshes += 1
                self.current = f"access-{self.refreshes}"
                self.refresh_token = f"refresh-{self.refreshes}"
                return body(
                    {
                        "access_token": self.current,
                        "refresh_token": self.refresh_token,
                        "expires_in": 3600,
                        "member_id": "m",
                    }
                )
        data = req.json
        with self.lock:
            self.portal_calls += 1
            stale = data.get("auth") != self.current
            if stale:
                self.stale_seen += 1
        if stale:
            if self.barrier is not None:
                self.barrier.wait()  # every thread has sent with the expired token before anyone refreshes
            return err("expired_token", "The access token provided has expired", 401)
        return ok({"ID": "1"})


def oauth_client(world: OAuthWorld, **kw: Any) -> tuple[Client, FakeTransport, list[Tokens]]:
    transport = FakeTransport(world)
    seen: list[Tokens] = []
    client = Client.from_oauth(
        "https://x.bitrix24.com",
        client_id="app.id",
        client_secret="app-secret-value",
        access_token=kw.pop("access_token", "stale-token"),
        refresh_token="refresh-0",
        on_tokens=seen.append,
        transport=transport,
        clock=kw.pop("clock", FakeClock()),
        rate_limit="off",
        **kw,
    )
    return client, transport, seen


def test_oauth_request_shape() -> None:
    world = OAuthWorld()
    client, transport, _ = oauth_client(world, access_token="access-0")
    client.call("crm.status.get", {"id": 1})
    (req,) = transport.requests
    assert req.url == "https://x.bitrix24.com/rest/crm.status.get.json"
    assert req.json == {"id": 1, "auth": "access-0"}


def test_expired_token_refreshes_once_and_resends() -> None:
    world = OAuthWorld()
    client, transport, seen = oauth_client(world)
    assert client.call("crm.status.get", {"id": 1}) == {"ID": "1"}
    assert world.refreshes == 1
    assert [t.access_token for t in seen] == ["access-1"]
    assert seen[0].refresh_token == "refresh-1"
    assert [r.url for r in transport.requests][1] == TOKEN_URL
    assert len(transport.requests) == 3  # expired call, refresh, re-sent call


def test_sixteen_threads_share_one_refresh() -> None:
    world = OAuthWorld(parties=16)
    client, transport, seen = oauth_client(world)
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
    assert world.stale_seen == 16  # all 16 really met the expired token
    assert world.refreshes == 1
    assert len(seen) == 1
    token_requests = [r for r in transport.requests if r.url == TOKEN_URL]
    assert len(token_requests) == 1
    assert world.portal_calls == 32  # each call re-sent exactly once


def test_known_expiry_refreshes_before_sending() -> None:
    world = OAuthWorld()
    clock = FakeClock()
    client, transport, _ = oauth_client(world, clock=clock, access_token="access-0")
    auth = client._auth
    assert isinstance(auth, OAuthAuth)
    auth._state = (Tokens("access-0", "refresh-0", clock.time() + 10), 0)  # expires within the skew
    client.call("crm.status.get", {"id": 1})
    assert [r.url for r in transport.requests] == [TOKEN_URL, "https://x.bitrix24.com/rest/crm.status.get.json"]
    assert world.stale_seen == 0


def test_still_expired_after_refresh_raises() -> None:
    class Stubborn(OAuthWorld):
        def __call__(self, req: Request) -> HttpResponse:
            if req.url.startswith(TOKEN_URL):
                return super().__call__(req)
            return err("expired_token", "The access token provided has expired", 401)

    world = Stubborn()
    client, transport, _ = oauth_client(world)
    with pytest.raises(AuthError):
        client.call("crm.status.get", {"id": 1})
    assert world.refreshes == 1
    assert len(transport.requests) == 3


def test_refresh_rejected_raises_auth_error_without_secrets() -> None:
    world = OAuthWorld()
    world.refresh_token = "something-else"
    client, _, _ = oauth_client(world)
    with pytest.raises(AuthError) as info:
        client.call("crm.status.get", {"id": 1})
    assert info.value.code == "invalid_grant"
    for secret in ("app-secret-value", "refresh-0", "stale-token"):
        assert secret not in str(info.value)


def test_on_tokens_failure_does_not_fail_the_call() -> None:
    world = OAuthWorld()
    transport = FakeTransport(world)

    def boom(_: Tokens) -> None:
        raise RuntimeError("db down")

    client = Client.from_oauth(
        "x.bitrix24.com",
        client_id="a",
        client_secret="app-secret-value",
        access_token="old-token",
        refresh_token="refresh-0",
        on_tokens=boom,
        transport=transport,
        rate_limit="off",
        clock=FakeClock(),
    )
    assert client.call("crm.status.get", {"id": 1}) == {"ID": "1"}


# --- portal moves ------------------------------------------------------------------------------------------------


def test_portal_move_resends_once_and_reports() -> None:
    moves: list[tuple[str, str]] = []

    def handler(req: Request) -> HttpResponse:
        if req.url.startswith("https://example.bitrix24.com/"):
            return HttpResponse(302, {"location": "https://new.bitrix24.com/rest/7/s3cr3tc0dexyz/x.json"}, b"")
        return ok({"ID": "1"})

    client, transport, _ = make_client(handler, on_portal_moved=lambda a, b: moves.append((a, b)))
    assert client.call("crm.status.get", {"id": 1}) == {"ID": "1"}
    assert moves == [("https://example.bitrix24.com", "https://new.bitrix24.com")]
    assert transport.requests[1].url == "https://new.bitrix24.com/rest/7/s3cr3tc0dexyz/crm.status.get.json"
    assert transport.requests[1].json == {"id": 1}  # the body is re-sent, not dropped
    client.call("crm.status.get", {"id": 2})
    assert len(transport.requests) == 3  # later calls go straight to the new host
    assert client.portal == "https://new.bitrix24.com"


def test_second_redirect_is_an_error() -> None:
    def handler(req: Request) -> HttpResponse:
        host = urllib.parse.urlsplit(req.url).netloc
        nxt = "b.bitrix24.com" if host != "b.bitrix24.com" else "c.bitrix24.com"
        return HttpResponse(302, {"location": f"https://{nxt}/"}, b"")

    client, transport, _ = make_client(handler)
    with pytest.raises(TransportError) as info:
        client.call("crm.status.get", {"id": 1})
    assert not info.value.may_have_run
    assert len(transport.requests) == 2


def test_move_to_plain_http_is_refused() -> None:
    client, _, _ = make_client(lambda r: HttpResponse(302, {"location": "http://evil.example/"}, b""))
    with pytest.raises(TransportError, match="plain http") as info:
        client.call("crm.status.get", {"id": 1})
    assert info.value.may_have_run is False


def test_webhook_constant() -> None:
    assert WebhookAuth.parse(WEBHOOK).user == "7"


def test_known_expiry_with_many_threads_refreshes_once() -> None:
    world = OAuthWorld()
    clock = FakeClock()
    client, _, seen = oauth_client(world, clock=clock, access_token="access-0")
    auth = client._auth
    assert isinstance(auth, OAuthAuth)
    auth._state = (Tokens("access-0", "refresh-0", clock.time() - 1), 0)
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(client.call("crm.status.get", {"id": 1}))) for _ in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [{"ID": "1"}] * 16
    assert world.refreshes == 1 and len(seen) == 1
    assert world.stale_seen == 0


def test_token_already_expired_on_arrival_is_not_trusted() -> None:
    def handler(req: Request) -> HttpResponse:
        if req.url.startswith(TOKEN_URL):
            return body({"access_token": "new-token-1", "refresh_token": "r2", "expires": 5})  # 1970
        if req.json["auth"] == "new-token-1":
            return ok({"ID": "1"})
        return err("expired_token", "The access token provided has expired", 401)

    transport = FakeTransport(handler)
    client = Client.from_oauth(
        "x.bitrix24.com",
        client_id="a",
        client_secret="app-secret-value",
        access_token="old-token",
        refresh_token="refresh-0",
        transport=transport,
        rate_limit="off",
        clock=FakeClock(),
    )
    for _ in range(3):
        client.call("crm.status.get", {"id": 1})
    assert len([r for r in transport.requests if r.url == TOKEN_URL]) == 1
