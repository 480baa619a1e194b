"""Portal moves: only a 302 to another host is followed (docs/protocol.md#portal-moves), once per call, never
from https to plain http (not even on loopback), never to a Location with userinfo.

Every refused move is a TransportError with ``may_have_run=False`` that leaves the client on its old address,
and the address the Location named receives nothing.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import pytest

from b24crm.runtime.errors import TransportError
from b24crm.testing import Emulator
from tests.flavours import Connect

from .conftest import client_options

CODE = "movesHOOKc0de4242"


@pytest.fixture
def plain() -> Iterator[Emulator]:
    with Emulator(seed="empty", credentials={"webhook_code": CODE}) as emulator:
        yield emulator


def test_https_portal_moving_to_loopback_http_is_refused(plain: Emulator) -> None:
    # The same webhook code on both: following the move would succeed, with the code sent in clear text.
    with Emulator(seed="empty", tls=True, credentials={"webhook_code": CODE}) as secure:
        secure.faults.add(method="crm.settings.mode.get", kind="moved", location=plain.base_url)
        client = secure.client(**client_options())
        with pytest.raises(TransportError, match="plain http") as info:
            client.crm.settings.mode.get()
        assert info.value.may_have_run is False
        assert CODE not in str(info.value)
        assert client.portal == secure.base_url
        assert plain.stats()["requests"] == 0, "the webhook code went out over plain http"
        assert client.crm.settings.mode.get() == 1  # still served by the old, secure address
        client.close()


def test_location_with_userinfo_is_refused(emu: Emulator, connect: Connect) -> None:
    alternate = urllib.parse.urlsplit(emu.alternate_base_url)
    # "portal.example" looks like the host but is userinfo: the request would go to the alternate listener.
    emu.faults.add(method="crm.settings.mode.get", kind="moved", location=f"http://portal.example@{alternate.netloc}")
    client = connect(emu, **client_options())
    with pytest.raises(TransportError, match="userinfo") as info:
        client.crm.settings.mode.get()
    assert info.value.may_have_run is False
    assert "portal.example" not in str(info.value)  # userinfo may be credentials: never echoed
    assert client.portal == emu.base_url
    assert emu.stats()["by_method"]["crm.settings.mode.get"] == 1, "the request went to the userinfo's host"
    client.close()


@pytest.mark.parametrize("status", [301, 303, 307, 308])
def test_only_a_302_is_a_portal_move(emu: Emulator, status: int, connect: Connect) -> None:
    emu.faults.add(method="crm.settings.mode.get", kind="moved", status=status)
    client = connect(emu, **client_options())
    with pytest.raises(TransportError, match="only a 302") as info:
        client.crm.settings.mode.get()
    assert info.value.may_have_run is False
    assert client.portal == emu.base_url, f"a {status} was taken as a permanent move"
    assert emu.stats()["by_method"]["crm.settings.mode.get"] == 1
    client.close()


def test_a_302_is_followed_and_the_moves_per_call_are_bounded(emu: Emulator, connect: Connect) -> None:
    moves: list[tuple[str, str]] = []
    client = connect(emu, **client_options(on_portal_moved=lambda old, new: moves.append((old, new))))
    emu.faults.add(method="crm.settings.mode.get", kind="moved")  # to the alternate listener
    assert client.crm.settings.mode.get() == 1
    assert moves == [(emu.base_url, emu.alternate_base_url)] and client.portal == emu.alternate_base_url
    # A portal bouncing between two addresses: the call makes two requests and stops.
    emu.faults.add(method="crm.settings.mode.get", kind="moved", location=emu.base_url)
    emu.faults.add(method="crm.settings.mode.get", kind="moved", location=emu.alternate_base_url)
    with pytest.raises(TransportError, match="again") as info:
        client.crm.settings.mode.get()
    assert info.value.may_have_run is False
    assert emu.stats()["by_method"]["crm.settings.mode.get"] == 2 + 2
    client.close()
