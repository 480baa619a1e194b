"""The HTTP layer: URL routing, request decoding and merging, faults and raw response writing.

Why hand-written on ``http.server``: stdlib only, HTTP/1.1 keep-alive, and full control of the bytes —
faults need to drop connections, cut bodies and send HTML pages, which a framework would hide. Responses
are written as one buffer to keep loopback throughput well above 3,000 calls/s.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import hmac
import json
import socket
import ssl
import struct
import threading
import time
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote_plus, unquote_to_bytes

from b24crm.runtime.phpquery import php_array
from b24crm.testing.api import BitrixError
from b24crm.testing.faults import DEFAULT_BOMB_SIZE, FAULT_BODIES, Fault
from b24crm.testing.phpinput import MAX_INPUT_VARS, parse_form_post, parse_str
from b24crm.testing.phpjson import dumps
from b24crm.testing.portal import Outcome, Portal

__all__ = ["CONTROL_PATH", "CONTROL_TOKEN_HEADER", "DEFAULT_MAX_BODY_BYTES", "EmulatorServer", "RequestHandler"]

#: The emulator's own control endpoints (stats, reset, faults) live under this path prefix.
CONTROL_PATH = "/_emulator/"
#: The header a control request carries the emulator's control token in (random per start, printed by
#: ``python -m b24crm emulator``, ``Emulator.control_token`` in-process). A header, not a query parameter,
#: so the token stays out of URLs and logs, and so a browser page cannot send it without a CORS preflight,
#: which the control endpoints never grant.
CONTROL_TOKEN_HEADER = "X-Emulator-Token"

#: Largest request body the emulator accepts (docs/protocol.md#request-size). The cloud's own limit is not
#: public; this is PHP's documented ``post_max_size`` default (8M), the smallest documented limit a body must
#: pass before the portal's PHP sees it. Configurable: ``Emulator(max_body_bytes=...)``, ``--max-body-bytes``.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024

_HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
    b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_HTML_400 = (
    b"<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n"
    b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_HTML_413 = (
    b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    b"<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_JSON_TYPE = "application/json; charset=utf-8"
#: After a 413 the unread rest of the body is discarded for at most this long, so that the client, still
#: sending, reads the answer instead of a connection reset (nginx's lingering close does the same).
_LINGER_SECONDS = 2.0


class _Drop(Exception):
    """Close the connection abruptly (RST) instead of answering."""


class _TooLarge(Exception):
    """The request body is over the server's cap: answer 413 without reading it."""


class EmulatorServer(ThreadingHTTPServer):
    """A threading HTTP(S) server bound to one :class:`Portal`."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        portal: Portal,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        control_token: str,
    ) -> None:
        self.portal = portal
        self.ssl_context = ssl_context
        #: What a ``/_emulator/*`` request must send in :data:`CONTROL_TOKEN_HEADER`.
        self.control_token = control_token
        #: Bodies above this get 413 before a byte of them is read (docs/protocol.md#request-size).
        self.max_body_bytes = max_body_bytes
        #: Where a ``moved`` fault points when the fault names no location.
        self.moved_to = ""
        super().__init__(address, RequestHandler)
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    @property
    def base_url(self) -> str:
        """``http(s)://host:port`` of this listener."""
        host, port = self.server_address[:2]
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{host if isinstance(host, str) else host.decode()}:{port}"

    def start(self) -> threading.Thread:
        """Serve in a daemon thread."""
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        return thread


_HTML_405 = (
    b"<html><head><title>405 Not Allowed</title></head><body><center><h1>405 Not Allowed</h1></center>"
    b"<hr><center>nginx</center></body></html>"
)


class RequestHandler(BaseHTTPRequestHandler):
    """One connection; ``handle()`` loops over its keep-alive requests."""

    protocol_version = "HTTP/1.1"
    server: EmulatorServer
    timeout = 120

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.settimeout(10)
            self.connection.do_handshake()
            self.connection.settimeout(self.timeout)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test server must not spam stderr."""

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except _Drop:
            self._reset_connection()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    do_PUT = do_POST
    do_DELETE = do_POST

    def do_OPTIONS(self) -> None:
        self._send(204, b"", "text/plain")

    def __getattr__(self, name: str) -> Any:
        # BaseHTTPRequestHandler answers verbs it has no do_<VERB> for with a 501 (a server error); a web
        # server in front of the portal answers them 405, so does the emulator (HEAD, PATCH, BREW …).
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        try:
            self._read_body()
        except ValueError:
            self.close_connection = True
        except _TooLarge:
            self._too_large()
            return
        self._send(405, _HTML_405, "text/html", {"Allow": "GET, POST, PUT, DELETE, OPTIONS"})

    # -- plumbing ---------------------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        """The whole body, or :class:`_TooLarge` as soon as its size is known to pass the cap: from the
        ``Content-Length`` header before reading anything, or from a chunk size before reading that chunk."""
        cap = self.server.max_body_bytes
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline(64).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > cap:
                    raise _TooLarge()
                chunks.append(self.rfile.read(size))
                self.rfile.readline(64)
        length = int(self.headers.get("Content-Length") or 0)
        if length > cap:
            raise _TooLarge()
        return self.rfile.read(length) if length > 0 else b""

    def _too_large(self) -> None:
        """413 as the web server in front of a portal sends it, then close: the body is never read."""
        self.server.portal.count("too_large")
        self.close_connection = True
        self._send(413, _HTML_413, "text/html")
        self._linger()

    def _linger(self) -> None:
        """Discard (never keep) what the client is still sending, briefly, then let the connection close."""
        deadline = time.monotonic() + _LINGER_SECONDS
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            while (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(left)
                if not self.connection.recv(65536):
                    break

    def _send(
        self, status: int, body: bytes, content_type: str = _JSON_TYPE, extra: dict[str, str] | None = None
    ) -> None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
        if not getattr(self, "path", "").startswith(CONTROL_PATH):  # the REST API answers any origin; controls none
            lines += ["Access-Control-Allow-Origin: *", "Access-Control-Allow-Headers: origin, content-type, accept"]
        lines.append("X-Content-Type-Options: nosniff")
        for name, value in (extra or {}).items():
            lines.append(f"{name}: {value}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + body)
        self.wfile.flush()

    def _send_json(self, status: int, body: Any) -> None:
        self._send(status, dumps(body))

    def _reset_connection(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    # -- routing ----------------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        try:
            body = self._read_body()
        except ValueError:  # a Content-Length or chunk size that is not a number: answer like nginx, then close
            self.close_connection = True
            self._send(400, _HTML_400, "text/html")
            return
        except _TooLarge:  # before routing, so before authentication, like the web server in front
            self._too_large()
            return
        if path.startswith("/rest/"):
            self._rest(path[len("/rest/") :], query, body)
        elif path.rstrip("/") == "/oauth/token":
            self._oauth(query, body)
        elif path.startswith(CONTROL_PATH):
            if self._control_allowed():
                self._control(path[len(CONTROL_PATH) :].strip("/"), body)
        else:
            self._send(404, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html; charset=utf-8")

    def _params(self, query: str, body: bytes) -> dict[str, Any]:
        """Query string, then the body on top (top level only); bad JSON leaves only the query
        (docs/protocol.md#encodings).
        Form and query input keeps PHP's first ``max_input_vars`` variables (phpinput.py)."""
        params = parse_str(query) if query else {}
        if not body:
            return params
        content_type = self.headers.get("Content-Type", "")
        media = content_type.split(";", 1)[0].strip().lower()
        parsed: Any = None
        if media == "application/json" or media.endswith("+json"):
            try:
                parsed = php_array(json.loads(body))
            except (ValueError, UnicodeDecodeError, RecursionError):  # too deep: PHP's json_decode gives null too
                parsed = None
            if isinstance(parsed, list):
                parsed = {str(i): v for i, v in enumerate(parsed)}
        elif media == "multipart/form-data":
            parsed = _multipart(content_type, body)
        elif media == "application/x-www-form-urlencoded":
            parsed = parse_form_post(body.decode("utf-8", "replace"))
        else:
            parsed = parse_str(body.decode("utf-8", "replace"))
        if isinstance(parsed, dict):
            params.update(parsed)
        return params

    def _rest(self, tail: str, query: str, body: bytes) -> None:
        portal = self.server.portal
        # The router matches the decoded path, like PHP's $_SERVER view of it: each segment is
        # percent-decoded (rawurldecode: "+" stays "+"); a name that is not UTF-8 after decoding matches no
        # method, nor does an empty one (ERROR_METHOD_NOT_FOUND, 404, after auth as for any unknown name).
        segments = [_path_decode(s) for s in tail.split("/") if s != ""]
        webhook: tuple[str, str] | None = None
        if len(segments) == 3:
            webhook = (segments[0], segments[1])
        method = segments[-1] if segments and len(segments) in (1, 3) else ""
        lowered = method.lower()
        for suffix in (".json", ".xml"):
            if lowered.endswith(suffix):
                lowered = lowered[: -len(suffix)]
        portal.count("requests", lowered)
        fault = portal.faults.take(lowered)
        if fault is not None and self._fault_before(fault, tail, query):
            return
        params = self._params(query, body)
        bearer = None
        authorization = self.headers.get("Authorization", "")
        if authorization[:7].lower() == "bearer ":
            bearer = authorization[7:].strip()
        try:
            auth = portal.authenticate(webhook, params, bearer)
            if not lowered or (len(segments) not in (1, 3)):
                raise BitrixError.documented("MethodNotFoundError")
            if not portal.bucket.admit():
                portal.count("rate_limited")
                raise BitrixError.documented("QueryLimitExceededError")
        except BitrixError as error:
            portal.count("errors")
            self._send_json(error.status, error.body())
            return
        if lowered == "batch":
            outcome = portal.batch(params, auth)
        else:
            outcome = portal.call(lowered, params, auth)
        self._respond(outcome, fault)

    def _fault_before(self, fault: Fault, tail: str, query: str) -> bool:
        """Apply a fault that acts before the call; True when the request is fully handled."""
        kind = fault.kind
        if kind == "reset_before":
            raise _Drop()
        if kind == "delay":
            time.sleep(fault.seconds)
            return False
        if kind == "html":
            self._send(502, _HTML_502, "text/html")
            return True
        if kind == "moved":
            base = (fault.location or self.server.moved_to or "").rstrip("/")
            location = f"{base}/rest/{tail}" + (f"?{query}" if query else "")
            self._send(fault.status, b"", "text/html; charset=UTF-8", {"Location": location})
            return True
        if kind in FAULT_BODIES:
            status, body = FAULT_BODIES[kind]
            if kind == "query_limit":
                self.server.portal.count("rate_limited")
            self._send_json(status, body)
            return True
        return False  # reset_after / truncated act after the call

    def _respond(self, outcome: Outcome, fault: Fault | None) -> None:
        if fault is not None and fault.kind == "reset_after":
            raise _Drop()  # the call ran and committed; the client never hears about it
        payload = dumps(outcome.body)
        if fault is not None and fault.kind == "truncated":
            payload = payload[: max(1, len(payload) // 2)]
        if fault is not None and fault.kind == "bad_headers":  # a line without a colon: not a header at all
            self._send(outcome.status, payload, extra={"X Broken header line": "1"})
        elif fault is not None and fault.kind == "gzip_bomb":
            self._send(outcome.status, _gzip_padded(payload, fault.size), extra={"Content-Encoding": "gzip"})
        elif fault is not None and fault.kind == "drip":
            real, self.wfile = self.wfile, _Dripping(self.wfile, fault.seconds)  # type: ignore[assignment]
            try:
                self._send(outcome.status, payload)
            finally:
                self.wfile = real
        else:
            self._send(outcome.status, payload)

    def _oauth(self, query: str, body: bytes) -> None:
        portal = self.server.portal
        params = self._params(query, body)
        status, answer = portal.oauth.refresh(params)
        if status == 200:
            portal.count("oauth_refreshes")
        self._send_json(status, answer)

    def _control_allowed(self) -> bool:
        """True when the request carries the control token; else answer 401 (none) or 403 (wrong)."""
        sent = self.headers.get(CONTROL_TOKEN_HEADER)
        if sent is None:
            self._send_json(
                401,
                {
                    "error": "CONTROL_TOKEN_REQUIRED",
                    "error_description": f"/_emulator/* needs the control token in the {CONTROL_TOKEN_HEADER}"
                    " header (printed at start; Emulator.control_token)",
                },
            )
            return False
        if not hmac.compare_digest(sent.encode("utf-8", "replace"), self.server.control_token.encode("utf-8")):
            self._send_json(
                403,
                {
                    "error": "CONTROL_TOKEN_INVALID",
                    "error_description": f"the {CONTROL_TOKEN_HEADER} header does not hold this emulator's control"
                    " token",
                },
            )
            return False
        return True

    def _control(self, name: str, body: bytes) -> None:
        portal = self.server.portal
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            self._send_json(400, {"error": "bad JSON"})
            return
        if name == "stats":
            self._send(200, json.dumps(portal.stats()).encode())
        elif name == "reset" and self.command == "POST":
            portal.reset()
            self._send(200, b'{"ok":true}')
        elif name == "faults" and self.command == "POST":
            try:
                fault = portal.faults.add(
                    method=str(data.get("method", "*")),
                    kind=str(data.get("kind", "")),
                    times=data.get("times", 1),
                    seconds=float(data.get("seconds", 1.0)),
                    location=data.get("location"),
                    in_batch=bool(data.get("in_batch", False)),
                    status=int(data.get("status", 302)),
                    size=int(data.get("size", DEFAULT_BOMB_SIZE)),
                )
            except (ValueError, TypeError) as error:
                self._send(400, json.dumps({"error": str(error)}).encode())
                return
            self._send(200, json.dumps({"ok": True, "fault": fault.to_json()}).encode())
        elif name == "faults" and self.command == "DELETE":
            portal.faults.clear()
            self._send(200, b'{"ok":true}')
        elif name == "faults":
            self._send(200, json.dumps([f.to_json() for f in portal.faults.pending()]).encode())
        else:
            self._send(404, b'{"error":"unknown control endpoint"}')


class _Dripping:
    """Stands in for the handler's ``wfile``: the head at once, then the body in ten pieces, each after a
    pause (a ``drip`` fault). Stops quietly when the client has gone."""

    def __init__(self, real: Any, pause: float) -> None:
        self._real = real
        self._pause = pause

    def write(self, data: bytes) -> None:
        head, sep, body = data.partition(b"\r\n\r\n")
        step = max(1, -(-len(body) // 10))
        try:
            self._real.write(head + sep)
            self._real.flush()
            for at in range(0, len(body), step):
                time.sleep(self._pause)
                self._real.write(body[at : at + step])
                self._real.flush()
        except OSError:
            pass

    def flush(self) -> None:
        with contextlib.suppress(OSError):
            self._real.flush()


def _gzip_padded(payload: bytes, size: int) -> bytes:
    """``payload`` plus JSON whitespace up to ``size`` bytes, gzip-compressed (a ``gzip_bomb`` fault)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip header and trailer
    out = [packer.compress(payload)]
    chunk = b" " * (1 << 20)
    left = max(0, size - len(payload))
    while left > 0:
        out.append(packer.compress(chunk[: min(left, len(chunk))]))
        left -= len(chunk)
    out.append(packer.flush())
    return b"".join(out)


def _path_decode(segment: str) -> str:
    """One URL path segment percent-decoded as UTF-8; "" when the bytes are not UTF-8 (no method has it)."""
    if "%" not in segment:
        return segment
    try:
        return unquote_to_bytes(segment).decode("utf-8")
    except UnicodeDecodeError:
        return ""


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """Form fields of a ``multipart/form-data`` body, decoded with PHP's bracket rules."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body
    )
    pairs = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        value = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        pairs.append(f"{quote_plus(name, safe='[]')}={quote_plus(value)}")
        if len(pairs) >= MAX_INPUT_VARS:
            break  # max_input_vars (rfc1867 counting assumed like $_GET's: the first 1,000 stay)
    return parse_str("&".join(pairs))
