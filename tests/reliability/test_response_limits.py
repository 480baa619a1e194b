"""A request has a deadline and its answer a size cap, whatever the server does.

``timeout=`` bounds each socket read; a body dripped in pieces never trips it, so ``deadline=`` bounds the
whole exchange. ``max_response_bytes`` caps the body, counted after inflating: the client asks for identity
encoding, and a server that gzips anyway cannot make 200 KiB grow into 200 MiB in the client's memory.
"""

from __future__ import annotations

from typing import Any

import pytest

from b24crm.runtime.errors import ResponseDecodeError, ResponseTooLarge, TransportError
from b24crm.runtime.types import RequestOptions
from b24crm.testing import Emulator
from tests.flavours import Connect

from .conftest import client_options, fast_retries

MiB = 1024 * 1024


def test_a_dripped_body_ends_at_the_deadline(emu: Emulator, connect: Connect) -> None:
    # Ten pieces 0.4 s apart: no read waits 1 s, the whole body takes 4 s.
    client = connect(emu, **client_options(timeout=1.0, deadline=1.5, retry_policy=fast_retries(1)))
    emu.faults.add(method="crm.settings.mode.get", kind="drip", seconds=0.4)
    with pytest.raises(TransportError, match=r"deadline of 1\.5s") as info:
        client.crm.settings.mode.get()
    assert info.value.may_have_run is True  # the portal answered; the answer did not arrive in time
    # The aborted connection is not reused with the rest of the dripped body on it.
    assert client.crm.settings.mode.get() == 1
    client.close()


def test_the_deadline_per_call_overrides_the_clients(emu: Emulator, connect: Connect) -> None:
    client = connect(emu, **client_options(timeout=1.0, retry_policy=fast_retries(1)))  # default deadline: 120 s
    emu.faults.add(method="crm.settings.mode.get", kind="drip", seconds=0.3)
    with pytest.raises(TransportError, match=r"deadline of 1s"):
        client.call("crm.settings.mode.get", request_options=RequestOptions(deadline=1.0))
    emu.faults.add(method="crm.settings.mode.get", kind="drip", seconds=0.01)
    assert client.call("crm.settings.mode.get", request_options=RequestOptions(deadline=5.0)) == 1
    client.close()


def test_a_gzip_bomb_stops_at_the_cap_and_is_not_retried(emu: Emulator, connect: Connect) -> None:
    client = connect(emu, **client_options(max_response_bytes=1 * MiB))
    emu.faults.add(method="crm.settings.mode.get", kind="gzip_bomb", size=32 * MiB)
    with pytest.raises(ResponseTooLarge, match="inflates past max_response_bytes=1,048,576") as info:
        client.crm.settings.mode.get()
    assert isinstance(info.value, ResponseDecodeError)
    assert info.value.limit == 1 * MiB and info.value.http_status == 200 and info.value.may_have_run
    assert emu.stats()["by_method"]["crm.settings.mode.get"] == 1, "the same answer would come again"
    # Compressed but under the cap: inflated and read as usual.
    emu.faults.add(method="crm.settings.mode.get", kind="gzip_bomb", size=512 * 1024)
    assert client.crm.settings.mode.get() == 1
    client.close()


def test_a_plain_body_over_the_cap_is_refused(emu: Emulator, connect: Connect) -> None:
    def big(params: dict[str, Any], ctx: object) -> str:
        return "x" * int(params["n"])

    emu.register("test.big", big, scope=None, validate=False)
    client = connect(emu, **client_options(max_response_bytes=1 * MiB))
    assert len(client.call("test.big", {"n": MiB // 2})) == MiB // 2
    with pytest.raises(ResponseTooLarge, match="max_response_bytes=1,048,576") as info:
        client.call("test.big", {"n": 2 * MiB})
    assert info.value.may_have_run is True
    assert len(client.call("test.big", {"n": 10})) == 10  # the refused answer left no bytes on a pooled socket
    client.close()


def test_limits_must_be_positive(emu: Emulator, connect: Connect) -> None:
    with pytest.raises(ValueError, match="deadline"):
        connect(emu, deadline=0)
    with pytest.raises(ValueError, match="max_response_bytes"):
        connect(emu, max_response_bytes=0)


def test_the_deadline_also_bounds_the_wait_for_the_headers(emu: Emulator, connect: Connect) -> None:
    client = connect(emu, **client_options(timeout=(1.0, 5.0), retry_policy=fast_retries(1)))
    emu.faults.add(method="crm.settings.mode.get", kind="delay", seconds=2.0)  # the read timeout alone: 5 s
    with pytest.raises(TransportError, match=r"deadline of 1s passed before the response arrived"):
        client.call("crm.settings.mode.get", request_options=RequestOptions(deadline=1.0))
    with pytest.raises(ValueError, match="deadline"):
        client.call("crm.settings.mode.get", request_options=RequestOptions(deadline=0))
    client.close()
