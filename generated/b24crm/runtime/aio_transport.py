"""HTTP for the asyncio client: one aiohttp session per client, with the sync transport's policies.

aiohttp (the ``b24crm[async]`` extra) was chosen over httpx on loopback against the emulator: 2,000 small calls
at 16 in flight took ~230 µs of client CPU per call with aiohttp and ~2,100 µs with httpx, at 620 vs 430
calls/s (README, "The asyncio client"). Everything that is policy rather than sockets is the sync transport's
own code (``runtime.transport``): the failure classes (``NotSent`` / ``MaybeSent`` / ``Fatal`` / ``Unreadable``
/ ``TooLarge``), the incremental gzip/deflate inflater and its cap, ``Accept-Encoding: identity``, no redirects
(the engine follows a portal move itself), and the per-request deadline from sending to the last byte.

Cancellation: a task cancelled while its request is in flight leaves nothing checked out — the response is
closed (its connection dropped, never handed back with unread bytes) before ``CancelledError`` goes on.
``in_flight`` counts requests between checkout and release, so tests can see that it returns to zero.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from b24crm.runtime.effects import Send
from b24crm.runtime.transport import (
    BodyReader,
    Fatal,
    HttpResponse,
    MaybeSent,
    NotSent,
    TransportBase,
    past_deadline,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpTransport", "AsyncTransport"]

_READ_SIZE = 64 * 1024
_INSTALL_HINT = "the asyncio client needs aiohttp: pip install 'b24crm[async]'"


class AsyncTransport(Protocol):
    """Sends one HTTP request without blocking the loop. Implementations raise only ``TransportFailure``s."""

    async def send(self, request: Send) -> HttpResponse:
        """POST ``request`` (``effects.Send``: url, body, headers, (connect, read) timeouts, deadline)."""
        ...

    async def close(self) -> None: ...


def _aiohttp() -> Any:
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - the extra is installed wherever the async client is tested
        raise ImportError(_INSTALL_HINT) from None
    return aiohttp


class _Progress:
    """How far one exchange got (for the deadline's message: before the headers, or while the body came)."""

    __slots__ = ("headers",)

    def __init__(self) -> None:
        self.headers = False


class AiohttpTransport(TransportBase):
    """The production async transport: a keep-alive pool, certificate verification on, no redirects or retries.

    The session is opened on the first request, on the loop that makes it (a client may be built outside any
    loop, as the pytest fixture and ``Emulator.async_client()`` do).
    """

    #: Tasks are cheap, so more requests are in flight at once than a thread pool would run.
    POOL_MAXSIZE = 100

    def _start(self) -> None:
        self._aiohttp = _aiohttp()
        self._session: aiohttp.ClientSession | None = None
        #: Requests between checking a connection out and handing it back (or dropping it).
        self.in_flight = 0

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Certificates verified, host names checked: aiohttp's own verified context (made once per process),
            # or one trusting ``ca_certs``.
            context: ssl.SSLContext | bool = True
            if self._ca_certs is not None:
                context = ssl.create_default_context(cafile=self._ca_certs)
            connector = self._aiohttp.TCPConnector(limit=self._pool_maxsize, ssl=context)
            self._session = self._aiohttp.ClientSession(connector=connector, auto_decompress=False)
        return self._session

    @property
    def connections_in_use(self) -> int:
        """Connections the pool has handed out and not got back (0 when every request let go of its own)."""
        session = self._session
        if session is None or session.closed:
            return 0
        acquired = getattr(session.connector, "_acquired", ())
        return len(acquired)

    async def send(self, request: Send) -> HttpResponse:
        aiohttp = self._aiohttp
        limit = self._deadline if request.deadline is None else float(request.deadline)
        session = self._open()
        self.in_flight += 1
        progress = _Progress()
        try:
            async with asyncio.timeout(limit) as scope:
                try:
                    return await self._exchange(session, request, progress)
                except aiohttp.ClientSSLError as exc:
                    raise Fatal(self._describe("TLS failed", exc)) from None
                except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:  # includes DNS
                    raise NotSent(self._describe("could not connect", exc)) from None
                except aiohttp.InvalidURL as exc:
                    raise Fatal(self._describe("invalid URL", exc)) from None
                except aiohttp.ServerTimeoutError as exc:
                    raise MaybeSent(self._describe("read timed out", exc)) from None
                except aiohttp.ClientError as exc:  # reset, disconnected, a body cut short …
                    raise MaybeSent(self._describe("connection failed after sending", exc)) from None
        except TimeoutError:
            if scope.expired():
                raise past_deadline(limit, arriving=progress.headers) from None
            raise
        finally:
            self.in_flight -= 1

    async def _exchange(self, session: aiohttp.ClientSession, request: Send, progress: _Progress) -> HttpResponse:
        connect, read = request.timeout
        per_socket = self._aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
        resp = await session.post(
            request.url,
            data=request.body,
            headers={"Accept-Encoding": "identity", **request.headers},
            timeout=per_socket,
            allow_redirects=False,
        )
        progress.headers = True
        try:
            head = {k.lower(): v for k, v in resp.headers.items()}
            data = await self._read_body(resp, head)
        except BaseException:
            resp.close()  # unread bytes stay on this connection (or a cancel came): never reuse it
            raise
        resp.release()
        return HttpResponse(status=resp.status, headers=head, body=data)

    async def _read_body(self, resp: aiohttp.ClientResponse, headers: Mapping[str, str]) -> bytes:
        """The whole body within the size cap, inflated if the server compressed it (``transport.BodyReader``)."""
        body = BodyReader(headers, status=resp.status, cap=self._max_bytes)
        if body.bounded:  # a declared length under the cap, not compressed: aiohttp reads exactly that, at once
            body.feed(await resp.read())
            return body.finish()
        while piece := await resp.content.read(_READ_SIZE):
            body.feed(piece)
        return body.finish()

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()
