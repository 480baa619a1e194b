"""Transport policy: no secrets over plain http:// to a non-loopback host unless explicitly allowed, and
certificate verification on by default with a clear error for a certificate the client cannot trust."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping

import pytest

from b24crm import Client
from b24crm.runtime.errors import TransportError
from b24crm.runtime.transport import HttpResponse
from b24crm.testing import Emulator

from .conftest import client_options

INSECURE_WEBHOOK = "http://portal.example.com/rest/1/abcdef0123456789/"


class RecordingTransport:
    """Answers every request itself: proves what would have been sent, without any network."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: tuple[float, float],
        deadline: float | None = None,
    ) -> HttpResponse:
        self.urls.append(url)
        return HttpResponse(200, {"content-type": "application/json"}, b'{"result": 1, "time": {}}')

    def close(self) -> None:
        pass


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Any attempt to open a connection is recorded (and fails)."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> socket.socket:
        attempts.append(args)
        raise OSError("the test forbids connections")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: refuse(address))
    yield attempts


def test_plain_http_to_a_remote_host_is_refused_before_any_connection(no_sockets: list[object]) -> None:
    transport = RecordingTransport()
    for make in (
        lambda: Client.from_webhook(INSECURE_WEBHOOK, transport=transport),
        lambda: Client.from_oauth(
            "http://portal.example.com",
            client_id="app",
            client_secret="secret-value",
            access_token="access-value",
            refresh_token="refresh-value",
            transport=transport,
        ),
        lambda: Client.from_oauth(  # the portal is https, but the token endpoint is not
            "https://portal.example.com",
            client_id="app",
            client_secret="secret-value",
            access_token="access-value",
            refresh_token="refresh-value",
            token_url="http://oauth.example.com/oauth/token/",
            transport=transport,
        ),
    ):
        with pytest.raises(ValueError, match=r"refusing plain http://.*allow_insecure=True") as info:
            make()
        assert "abcdef0123456789" not in str(info.value)
    assert transport.urls == [] and no_sockets == []


def test_allow_insecure_is_the_explicit_opt_in(no_sockets: list[object]) -> None:
    transport = RecordingTransport()
    client = Client.from_webhook(INSECURE_WEBHOOK, transport=transport, allow_insecure=True, rate_limit="off")
    assert client.call("crm.settings.mode.get") == 1
    assert transport.urls == [INSECURE_WEBHOOK + "crm.settings.mode.get.json"]
    # Loopback needs no opt-in (the emulator), whatever its spelling.
    for url in ("http://127.0.0.1:9/rest/1/x1y2/", "http://localhost:9/rest/1/x1y2/", "http://[::1]:9/rest/1/x1y2/"):
        Client.from_webhook(url, transport=transport)
    assert no_sockets == []


def test_a_portal_move_to_plain_http_is_not_followed(module_emulator: Emulator) -> None:
    emu = module_emulator
    emu.reset()
    emu.faults.add(method="crm.settings.mode.get", kind="moved", location="http://portal.example.com")
    client = emu.client(**client_options())
    with pytest.raises(TransportError, match="http") as info:
        client.crm.settings.mode.get()
    assert info.value.may_have_run is False  # a 302 means the call did not run
    assert client.portal == emu.base_url, "the client must stay on the old address"
    client.close()


def test_certificate_verification_is_on_by_default() -> None:
    with Emulator(seed="empty", tls=True) as emu:
        assert emu.webhook_url.startswith("https://") and emu.ca_file
        client = Client.from_webhook(emu.webhook_url, **client_options())
        with pytest.raises(TransportError) as info:
            client.crm.settings.mode.get()
        assert "certificate" in str(info.value).lower(), str(info.value)
        assert info.value.may_have_run is False
        assert emu.stats()["requests"] == 0, "nothing may reach the portal over an untrusted connection"
        client.close()

        trusted = Client.from_webhook(emu.webhook_url, **client_options(ca_certs=emu.ca_file))
        assert trusted.crm.settings.mode.get() is not None
        assert emu.stats()["requests"] == 1
        trusted.close()

        # A CA that did not sign the server's certificate is no better than none.
        with Emulator(seed="empty", tls=True) as other:
            wrong = Client.from_webhook(emu.webhook_url, **client_options(ca_certs=other.ca_file))
            with pytest.raises(TransportError, match=r"(?i)certificate"):
                wrong.crm.settings.mode.get()
            wrong.close()
