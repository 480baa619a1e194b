"""The invoker (validate → send → decode), the raw escape hatch, and the real urllib3 transport on loopback."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from b24crm.runtime.errors import RequestValidationError, ResponseDecodeError, TransportError
from b24crm.runtime.transport import MaybeSent, NotSent, Urllib3Transport
from b24crm.runtime.types import UNSET, Decoded, RequestOptions

from .fakes import OLD_METHOD, STATUS_ADD, STATUS_GET, Client, Status, make_client, ok


def test_invoke_decodes_into_models() -> None:
    client, _, _ = make_client(lambda r: ok({"ID": "7", "STATUS_ID": "NEW", "UF_X": 1}))
    st = client._invoker.invoke(STATUS_GET, {"id": 7}, Decoded(Status), None)
    assert st == Status(id=7, status_id="NEW", additional_properties={"UF_X": 1})


def test_invalid_params_list_every_problem_and_send_nothing() -> None:
    client, transport, _ = make_client()
    with pytest.raises(RequestValidationError) as info:
        client._invoker.invoke(STATUS_ADD, {"fields": {"STATUS_ID": "WAY_TOO_LONG", "SORT": 0}}, Decoded(int), None)
    problems = {p.path: p.message for p in info.value.problems}
    assert set(problems) == {"fields.ENTITY_ID", "fields.NAME", "fields.STATUS_ID", "fields.SORT"}
    assert "nothing was sent" in str(info.value)
    assert transport.requests == []


def test_unset_values_are_dropped() -> None:
    client, transport, _ = make_client(lambda r: ok(1))
    client._invoker.invoke(
        STATUS_ADD,
        {"fields": {"ENTITY_ID": "STATUS", "STATUS_ID": "A", "NAME": "a", "SORT": UNSET}},
        Decoded(int),
        None,
    )
    assert transport.requests[0].json == {"fields": {"ENTITY_ID": "STATUS", "STATUS_ID": "A", "NAME": "a"}}


def test_call_validates_known_methods_case_insensitively() -> None:
    client, transport, _ = make_client()
    with pytest.raises(RequestValidationError):
        client.call("CRM.STATUS.ADD", {"fields": {}})
    assert not transport.requests


def test_call_passes_unknown_methods_through() -> None:
    client, transport, _ = make_client(lambda r: ok({"anything": [1, 2]}))
    assert client.call("user.current") == {"anything": [1, 2]}
    assert transport.requests[0].url.endswith("/user.current.json")


def test_response_not_matching_spec() -> None:
    client, _, _ = make_client(lambda r: ok({"ID": "abc", "STATUS_ID": "X"}))
    with pytest.raises(ResponseDecodeError, match=r"result\.ID"):
        client._invoker.invoke(STATUS_GET, {"id": 1}, Decoded(Status), None)


def test_deprecated_method_warns_at_the_callers_line() -> None:
    client, _, _ = make_client(lambda r: ok(1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.call("crm.old.get")
        client.call_raw("crm.old.get")

        def namespace_method() -> Any:  # what generated code looks like
            return client._invoker.invoke(OLD_METHOD, {}, Decoded(int), None)

        namespace_method()
    assert [w.category for w in caught] == [DeprecationWarning] * 3
    assert all(w.filename == __file__ for w in caught)


def test_per_call_timeout() -> None:
    client, transport, _ = make_client(lambda r: ok(1), timeout=(2, 9))
    client.call("x.y")
    client.call("x.y", request_options=RequestOptions(timeout=1.5))
    client.call("x.y", request_options=RequestOptions(timeout=(0.5, 60)))
    assert [r.timeout for r in transport.requests] == [(2.0, 9.0), (1.5, 1.5), (0.5, 60.0)]


def test_context_manager_closes() -> None:
    client, transport, _ = make_client()
    with client as c:
        assert c is client
    assert transport.closed


# --- the real transport on loopback ------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    behaviour: ClassVar[dict[str, Any]] = {}

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        data = json.loads(self.rfile.read(length) or b"{}")
        self.server.seen.append((self.path, dict(self.headers), data))  # type: ignore[attr-defined]
        mode = self.behaviour.get("mode", "ok")
        if mode == "hang":
            self.server.release.wait(5)  # type: ignore[attr-defined]
            return
        if mode == "redirect":
            self.send_response(302)
            self.send_header("Location", self.behaviour["location"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        payload = json.dumps({"result": {"echo": data}, "time": {"operating": 0}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.seen = []  # type: ignore[attr-defined]
    srv.release = threading.Event()  # type: ignore[attr-defined]
    _Handler.behaviour = {}
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.release.set()  # type: ignore[attr-defined]
    srv.shutdown()
    srv.server_close()


def _url(srv: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/rest/3/hookcode123/"


def test_real_transport_posts_json(server: ThreadingHTTPServer) -> None:
    with Client.from_webhook(_url(server), rate_limit="off") as client:
        assert client.call("crm.status.get", {"id": 4}) == {"echo": {"id": 4}}
    path, headers, _ = server.seen[0]  # type: ignore[attr-defined]
    assert path == "/rest/3/hookcode123/crm.status.get.json"
    assert headers["Content-Type"].startswith("application/json")


def test_real_transport_read_timeout_may_have_run(server: ThreadingHTTPServer) -> None:
    _Handler.behaviour = {"mode": "hang"}
    t = Urllib3Transport()
    with pytest.raises(MaybeSent):
        t.request("POST", _url(server) + "x.json", body=b"{}", headers={}, timeout=(1.0, 0.2))
    t.close()
    client = Client.from_webhook(_url(server), rate_limit="off", timeout=(1.0, 0.2))
    with client, pytest.raises(TransportError) as info:
        client.call("crm.status.add", {"fields": {"ENTITY_ID": "S", "STATUS_ID": "A", "NAME": "a"}})
    assert info.value.may_have_run


def test_real_transport_connect_refused_is_not_sent() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = Urllib3Transport()
    with pytest.raises(NotSent):
        t.request("POST", f"http://127.0.0.1:{port}/x", body=b"{}", headers={}, timeout=(0.5, 0.5))


def test_real_transport_does_not_follow_redirects(server: ThreadingHTTPServer) -> None:
    _Handler.behaviour = {"mode": "redirect", "location": "https://elsewhere.example/"}
    t = Urllib3Transport()
    resp = t.request("POST", _url(server) + "x.json", body=b"{}", headers={}, timeout=(1.0, 1.0))
    assert resp.status == 302 and resp.headers["location"] == "https://elsewhere.example/"
