"""The request-body cap (docs/protocol.md#request-size): 413 before the body is read, before authentication."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator

import pytest

from b24crm.testing import Emulator
from b24crm.testing.server import DEFAULT_MAX_BODY_BYTES
from tests.emulator.conftest import Portal

CAP = 4096


@pytest.fixture(scope="module")
def small() -> Iterator[Emulator]:
    with Emulator(seed="empty", max_body_bytes=CAP) as emulator:
        yield emulator


def head_only(emu: Emulator, path: str, length: int) -> bytes:
    """Send the request head announcing ``length`` body bytes, send no body, and read the answer."""
    host, port = emu.base_url.split("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sock.recv(65536):  # a server waiting for the body would time out here
            answer += chunk
        return answer


def test_default_cap_answers_413_from_the_header_without_reading_the_body(emu: Emulator) -> None:
    before = emu.stats()
    hook = emu.webhook_url.split(emu.base_url, 1)[1]
    answer = head_only(emu, hook + "crm.status.list", DEFAULT_MAX_BODY_BYTES + 1)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"
    assert b"Connection: close" in rest and b"<h1>413 Request Entity Too Large</h1>" in rest
    after = emu.stats()
    assert after["too_large"] == before["too_large"] + 1
    assert after["requests"] == before["requests"]  # refused before routing: no method ran, nothing counted


def test_cap_applies_before_authentication(small: Emulator) -> None:
    answer = head_only(small, "/rest/1/wrongcode/crm.status.list", CAP + 1)
    assert answer.startswith(b"HTTP/1.1 413 ")  # not the 401 a bad webhook code gets


def test_body_at_the_cap_is_served_and_one_byte_more_is_refused(small: Emulator) -> None:
    hook = small.webhook_url.split(small.base_url, 1)[1]
    params = {"filter": {"STATUS_ID": "NEW"}, "pad": ""}
    params["pad"] = "x" * (CAP - len(json.dumps(params)))
    body = json.dumps(params).encode()
    assert len(body) == CAP
    for payload, status in ((body, 200), (body + b" ", 413)):
        conn = http.client.HTTPConnection(small.base_url.split("//", 1)[1], timeout=10)
        conn.request("POST", hook + "crm.status.list", body=payload, headers={"Content-Type": "application/json"})
        reply = conn.getresponse()  # the client sent the whole body: it still reads the 413, not a reset
        assert reply.status == status, reply.read()
        conn.close()


def test_chunked_body_over_the_cap_is_refused_before_the_chunk_is_read(small: Emulator) -> None:
    host, port = small.base_url.split("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /rest/crm.status.list HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n" % (CAP // 2)
            + b"a" * (CAP // 2)
            + b"\r\n"
            + b"%x\r\n" % CAP  # announced, never sent
        )
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_small_requests_still_work(small: Emulator) -> None:
    assert Portal(small).ok("crm.settings.mode.get")["result"] == 1


def test_bad_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        Emulator(max_body_bytes=-1)
