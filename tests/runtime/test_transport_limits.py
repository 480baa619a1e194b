"""The transport's body reading: identity encoding asked for, compressed bodies inflated within the cap."""

from __future__ import annotations

import gzip
import socket
import threading
import zlib

import pytest

from b24crm.runtime.transport import TooLarge, Unreadable, Urllib3Transport, _Inflater


def _inflate(encoding: str, data: bytes, cap: int) -> bytes:
    inflater = _Inflater.of(encoding)
    assert inflater is not None
    out = b""
    for at in range(0, len(data), 7):  # small pieces: the cap holds across feeds
        out += inflater.feed(data[at : at + 7], room=cap - len(out), status=200, limit=cap)
    return out + inflater.finish(room=cap - len(out), status=200, limit=cap)


def test_identity_needs_no_inflater() -> None:
    assert _Inflater.of("") is None and _Inflater.of(" Identity ") is None


@pytest.mark.parametrize(
    ("encoding", "pack"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),  # RFC: zlib-wrapped
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # what some servers send: raw deflate
    ],
)
def test_compressed_bodies_inflate_up_to_the_cap(encoding: str, pack: object) -> None:
    body = b'{"result": "' + b"y" * 5000 + b'"}'
    packed = pack(body)  # type: ignore[operator]
    assert _inflate(encoding, packed, cap=len(body)) == body  # exactly at the cap: fine
    with pytest.raises(TooLarge) as info:
        _inflate(encoding, packed, cap=len(body) - 1)
    assert info.value.limit == len(body) - 1 and info.value.status == 200


def test_unknown_or_corrupt_encodings_are_unreadable() -> None:
    with pytest.raises(Unreadable, match="'br'"):
        _Inflater.of("br")
    with pytest.raises(Unreadable, match="corrupt"):
        _inflate("gzip", b"\x1f\x8b not really gzip", cap=1000)


def test_the_request_asks_for_identity_encoding() -> None:
    seen: list[bytes] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                seen.append(data)
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{"result":1}')

        thread = threading.Thread(target=answer)
        thread.start()
        transport = Urllib3Transport()
        port = server.getsockname()[1]
        resp = transport.request("POST", f"http://127.0.0.1:{port}/x", body=b"{}", headers={}, timeout=(2.0, 2.0))
        thread.join(5)
        transport.close()
    assert resp.status == 200 and resp.body == b'{"result":1}'
    assert b"\r\naccept-encoding: identity\r\n" in seen[0].lower()
