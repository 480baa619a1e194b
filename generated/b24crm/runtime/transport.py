"""HTTP for the runtime: one urllib3 PoolManager per client, and failures sorted by what they imply.

The retry policy needs one fact the HTTP layer alone knows: did the request possibly reach the portal?
``NotSent`` (connect refused, DNS failure, connect timeout) means the portal never saw it, so any method may
be repeated. ``MaybeSent`` (read timeout, connection reset after the request was written) means a write may
already be applied. Redirects are never followed here: the client handles a portal move itself, because
urllib3 would turn the POST into a GET and drop the body.

A socket timeout bounds each read, not the answer: a body dripped a byte at a time never trips it. So one
request also has a ``deadline`` (seconds from sending to the last byte of the body) and the body a size cap
(``max_response_bytes``). The client asks for ``Accept-Encoding: identity``; a server that compresses anyway
is inflated incrementally and the cap counts inflated bytes, so a 200 KiB gzip body cannot grow to 200 MiB.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
import urllib.parse
import zlib
from collections.abc import Mapping
from typing import Any, Protocol, TypedDict

import attrs
import urllib3
from urllib3 import exceptions as u3

from b24crm.runtime import forksafe
from b24crm.runtime.redact import LOG_REDACTOR, Redactor, guard_logger


@attrs.frozen
class HttpResponse:
    """What came back: status, headers (lower-case names) and the raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class TransportFailure(Exception):
    """Base of the transport's own failures; the client turns them into ``TransportError``."""

    #: True when the request may have reached the portal (and a write may have been applied).
    may_have_run: bool = True
    #: False when repeating cannot help (bad certificate, malformed URL).
    transient: bool = True


class NotSent(TransportFailure):
    """The connection was never established: the portal did not see the request."""

    may_have_run = False


class MaybeSent(TransportFailure):
    """The request was (possibly) written, but no complete answer arrived."""

    may_have_run = True


class Fatal(TransportFailure):
    """A failure no retry can fix (TLS verification, invalid URL); the portal did not run the call."""

    may_have_run = False
    transient = False


class Unreadable(TransportFailure):
    """An answer arrived but is not read as sent (larger than the cap, an encoding not asked for): the portal
    ran the call, and repeating it would bring the same answer."""

    may_have_run = True
    transient = False


class TooLarge(Unreadable):
    """The body passed ``max_response_bytes`` (inflated bytes for a compressed body); reading stopped there."""

    def __init__(self, message: str, *, status: int, limit: int) -> None:
        super().__init__(message)
        self.status = status
        self.limit = limit


#: Seconds one request may take from sending to the last byte of the answer, unless the caller says otherwise.
#: The cloud ends a request after 60 s (docs/protocol.md#operating-limit); this leaves room for a slow link.
DEFAULT_DEADLINE = 120.0
#: Bytes of a response body (after inflating) read at most. A full 50-command batch of 50 rich records each is
#: a few MiB; a body past this is not an answer b24crm can use.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024

_READ_SIZE = 64 * 1024


class Transport(Protocol):
    """Sends one HTTP request. Implementations raise only ``TransportFailure`` subclasses."""

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
        """``timeout`` = (connect, read) per socket operation; ``deadline``: seconds for the whole exchange
        (None: the transport's own default)."""
        ...

    def close(self) -> None: ...


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``: the only hosts plain HTTP is allowed to by default."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_scheme(url: str, *, allow_insecure: bool) -> None:
    """Refuse to send secrets over plain HTTP, except to loopback or when explicitly allowed."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme != "http":
        raise ValueError(f"unsupported URL scheme {parts.scheme!r}; use https://")
    if allow_insecure or is_loopback(parts.hostname or ""):
        return
    raise ValueError(
        f"refusing plain http:// to {parts.hostname!r}: webhook codes and tokens would travel in clear text; "
        "use https:// or pass allow_insecure=True"
    )


#: Every logger urllib3 writes to (each module logs on its own; a filter on "urllib3" would not see them),
#: plus any other urllib3 logger that exists once urllib3 is imported.
_URLLIB3_LOGGERS = (
    "urllib3",
    "urllib3.connection",
    "urllib3.connectionpool",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "urllib3.contrib.pyopenssl",
    "urllib3.http2.connection",
)


def guard_urllib3_loggers() -> None:
    """Put the redacting filter on every urllib3 logger (idempotent; called at import)."""
    names = set(_URLLIB3_LOGGERS)
    names.update(n for n in list(logging.root.manager.loggerDict) if n.startswith("urllib3."))
    for name in sorted(names):
        guard_logger(logging.getLogger(name))


guard_urllib3_loggers()


def past_deadline(limit: float, *, arriving: bool) -> MaybeSent:
    """The failure of a request whose deadline passed, before the headers came or while the body arrived."""
    when = "while the response was still arriving" if arriving else "before the response arrived"
    return MaybeSent(f"deadline of {limit:g}s passed {when}")


class TransportSettings(TypedDict):
    """What a client hands the transport it builds (besides the pool size, which differs per client)."""

    ca_certs: str | None
    redactor: Redactor
    deadline: float
    max_response_bytes: int


class TransportBase:
    """What both production transports keep (urllib3 here, aiohttp in ``aio_transport``): the pool size, the
    CA file, the redactor for failure messages, the default deadline and the body cap."""

    #: Connections kept per host unless ``pool_maxsize`` says otherwise: sized for the threads sharing a client.
    POOL_MAXSIZE = 10

    def __init__(
        self,
        *,
        pool_maxsize: int = 10,
        ca_certs: str | None = None,
        redactor: Redactor | None = None,
        deadline: float = DEFAULT_DEADLINE,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if not deadline > 0:
            raise ValueError(f"deadline must be > 0 seconds, got {deadline!r}")
        if max_response_bytes < 1:
            raise ValueError(f"max_response_bytes must be >= 1, got {max_response_bytes!r}")
        self._pool_maxsize = max(1, pool_maxsize)
        self._ca_certs = ca_certs
        self._deadline = float(deadline)
        self._max_bytes = int(max_response_bytes)
        self._redact = redactor or Redactor()
        LOG_REDACTOR.register(self._redact)
        self._start()

    def _start(self) -> None:
        """Set up the pool (the subclass's own)."""

    def _describe(self, what: str, exc: BaseException) -> str:
        # HTTP libraries' messages embed the URL, which for a webhook holds the secret code.
        return self._redact(f"{what}: {type(exc).__name__}: {exc}")


class Urllib3Transport(TransportBase):
    """The production transport: keep-alive pools, certificate verification on, no redirects, no retries."""

    def _start(self) -> None:
        # maxsize: connections kept per host; sized for the number of threads sharing the client.
        self._pool_options: dict[str, Any] = {
            "num_pools": 4,
            "maxsize": self._pool_maxsize,
            "cert_reqs": "CERT_REQUIRED",
            "ca_certs": self._ca_certs,
            "retries": False,
        }
        self._pool = urllib3.PoolManager(**self._pool_options)
        forksafe.register(self)

    def after_fork_in_child(self) -> None:
        """A forked child opens its own connections; the parent's stay the parent's (see ``forksafe``)."""
        self._pool = urllib3.PoolManager(**self._pool_options)

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
        limit = self._deadline if deadline is None else float(deadline)
        ends = time.monotonic() + limit
        try:
            resp = self._pool.request(
                method,
                url,
                body=body,
                headers={"Accept-Encoding": "identity", **headers},
                # total: connect and the wait for the headers share the deadline too
                timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1], total=limit),
                retries=False,
                redirect=False,
                preload_content=False,
                decode_content=False,
            )
        except (u3.ConnectTimeoutError, u3.NewConnectionError) as exc:  # includes DNS failures
            raise NotSent(self._describe("could not connect", exc)) from None
        except u3.SSLError as exc:
            raise Fatal(self._describe("TLS failed", exc)) from None
        except u3.LocationValueError as exc:
            raise Fatal(self._describe("invalid URL", exc)) from None
        except u3.ReadTimeoutError as exc:
            if time.monotonic() >= ends:  # the wait for the headers used up the deadline (Timeout.total)
                raise past_deadline(limit, arriving=False) from None
            raise MaybeSent(self._describe("read timed out", exc)) from None
        except u3.HTTPError as exc:  # ProtocolError (reset / aborted), IncompleteRead, proxy failures …
            raise MaybeSent(self._describe("connection failed after sending", exc)) from None
        headers_out = {k.lower(): v for k, v in resp.headers.items()}
        try:
            data = self._read_body(resp, headers_out, ends=ends, limit=limit, read_timeout=timeout[1])
        except BaseException:
            resp.close()  # unread bytes stay on this connection: never hand it back for reuse
            resp.release_conn()
            raise
        resp.release_conn()
        return HttpResponse(status=resp.status, headers=headers_out, body=data)

    def _read_body(
        self,
        resp: urllib3.BaseHTTPResponse,
        headers: Mapping[str, str],
        *,
        ends: float,
        limit: float,
        read_timeout: float,
    ) -> bytes:
        """The whole body within the deadline and the size cap, inflated if the server compressed it."""
        body = BodyReader(headers, status=resp.status, cap=self._max_bytes)
        conn = getattr(resp, "connection", None)
        sock: socket.socket | None = getattr(conn, "sock", None)
        while True:
            left = ends - time.monotonic()
            if left <= 0:
                raise past_deadline(limit, arriving=True)
            if sock is not None:
                sock.settimeout(min(read_timeout, left))
            try:
                piece = resp.read1(_READ_SIZE)
            except u3.ReadTimeoutError as exc:
                if time.monotonic() >= ends:
                    raise past_deadline(limit, arriving=True) from None
                raise MaybeSent(self._describe("read timed out", exc)) from None
            except u3.HTTPError as exc:  # reset or a body cut short
                raise MaybeSent(self._describe("connection failed while reading the response", exc)) from None
            if not piece:
                return body.finish()
            body.feed(piece)

    def close(self) -> None:
        self._pool.clear()


class BodyReader:
    """A response body as it arrives, sans-IO: inflated if compressed, refused past the size cap (counted after
    inflating). Both transports feed it what they read (urllib3 here, aiohttp in ``aio_transport``)."""

    def __init__(self, headers: Mapping[str, str], *, status: int, cap: int) -> None:
        self._status = status
        self._cap = cap
        self._inflater = _Inflater.of(headers.get("content-encoding", ""))
        declared = headers.get("content-length", "")
        if self._inflater is None and declared.isdigit() and int(declared) > cap:
            raise TooLarge(
                f"the response declares {int(declared):,} bytes, over max_response_bytes={cap:,}; not read",
                status=status,
                limit=cap,
            )
        self._chunks: list[bytes] = []
        self._size = 0
        #: The body's length is declared (and under the cap) and it is not compressed: it cannot grow past it.
        self.bounded = self._inflater is None and declared.isdigit()

    def feed(self, piece: bytes) -> None:
        cap = self._cap
        if self._inflater is not None:
            piece = self._inflater.feed(piece, room=cap - self._size, status=self._status, limit=cap)
        self._size += len(piece)
        if self._size > cap:
            raise TooLarge(
                f"the response passed max_response_bytes={cap:,}; reading stopped", status=self._status, limit=cap
            )
        self._chunks.append(piece)

    def finish(self) -> bytes:
        """The whole body (the inflater's tail checked against the cap too)."""
        if self._inflater is not None:
            self._chunks.append(
                self._inflater.finish(room=self._cap - self._size, status=self._status, limit=self._cap)
            )
        return b"".join(self._chunks)


class _Inflater:
    """Incremental gzip/deflate decoding that never produces more than the room left under the cap."""

    def __init__(self, wbits: int, encoding: str) -> None:
        self._z = zlib.decompressobj(wbits)
        self._encoding = encoding
        self._raw_fallback = wbits == zlib.MAX_WBITS  # "deflate" is sometimes sent without its zlib header
        self._started = False

    @classmethod
    def of(cls, content_encoding: str) -> _Inflater | None:
        encoding = content_encoding.strip().lower()
        if encoding in ("", "identity"):
            return None
        if encoding in ("gzip", "x-gzip"):
            return cls(16 + zlib.MAX_WBITS, encoding)
        if encoding == "deflate":
            return cls(zlib.MAX_WBITS, encoding)
        raise Unreadable(f"the response is in Content-Encoding {encoding[:40]!r}, which was not asked for")

    def feed(self, data: bytes, *, room: int, status: int, limit: int) -> bytes:
        try:
            out = self._z.decompress(data, room + 1)  # max_length: stop one byte past the cap
        except zlib.error as exc:
            if self._raw_fallback and not self._started:
                self._z, self._raw_fallback = zlib.decompressobj(-zlib.MAX_WBITS), False
                return self.feed(data, room=room, status=status, limit=limit)
            raise Unreadable(f"the {self._encoding} response body is corrupt: {exc}") from None
        self._started = True
        if len(out) > room:
            raise TooLarge(
                f"the {self._encoding} response inflates past max_response_bytes={limit:,}; reading stopped",
                status=status,
                limit=limit,
            )
        return out

    def finish(self, *, room: int, status: int, limit: int) -> bytes:
        out = self._z.flush()
        if len(out) > room:
            raise TooLarge(
                f"the {self._encoding} response inflates past max_response_bytes={limit:,}", status=status, limit=limit
            )
        return out
