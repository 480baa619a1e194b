"""HTTP for the runtime: one urllib3 PoolManager per client, and failures sorted by what they imply.

The retry policy needs one fact the HTTP layer alone knows: did the request possibly reach the portal?
``NotSent`` (connect refused, DNS failure, connect timeout) means the portal never saw it, so any method may
be repeated. ``MaybeSent`` (read timeout, connection reset after the request was written) means a write may
already be applied. Redirects are never followed here: the client handles a portal move itself, because
urllib3 would turn the POST into a GET and drop the body.
"""

from __future__ import annotations

import ipaddress
import logging
import urllib.parse
from collections.abc import Mapping
from typing import Any, Protocol

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
    ) -> HttpResponse: ...

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


class Urllib3Transport:
    """The production transport: keep-alive pools, certificate verification on, no redirects, no retries."""

    def __init__(
        self,
        *,
        pool_maxsize: int = 10,
        ca_certs: str | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self._redact = redactor or Redactor()
        LOG_REDACTOR.register(self._redact)
        # maxsize: connections kept per host; sized for the number of threads sharing the client.
        self._pool_options: dict[str, Any] = {
            "num_pools": 4,
            "maxsize": max(1, pool_maxsize),
            "cert_reqs": "CERT_REQUIRED",
            "ca_certs": ca_certs,
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
    ) -> HttpResponse:
        try:
            resp = self._pool.request(
                method,
                url,
                body=body,
                headers=dict(headers),
                timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
                retries=False,
                redirect=False,
                preload_content=True,
            )
        except (u3.ConnectTimeoutError, u3.NewConnectionError) as exc:  # includes DNS failures
            raise NotSent(self._describe("could not connect", exc)) from None
        except u3.SSLError as exc:
            raise Fatal(self._describe("TLS failed", exc)) from None
        except u3.LocationValueError as exc:
            raise Fatal(self._describe("invalid URL", exc)) from None
        except u3.ReadTimeoutError as exc:
            raise MaybeSent(self._describe("read timed out", exc)) from None
        except u3.HTTPError as exc:  # ProtocolError (reset / aborted), IncompleteRead, proxy failures …
            raise MaybeSent(self._describe("connection failed after sending", exc)) from None
        headers_out = {k.lower(): v for k, v in resp.headers.items()}
        return HttpResponse(status=resp.status, headers=headers_out, body=resp.data or b"")

    def _describe(self, what: str, exc: BaseException) -> str:
        # urllib3 messages embed the URL, which for a webhook holds the secret code.
        return self._redact(f"{what}: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        self._pool.clear()
