"""Shared fixtures: one demo emulator per session, reset before each test, and a raw HTTP helper.

Tests speak raw HTTP (http.client) on purpose: the emulator must be right at the byte level for clients
that are not ours.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import json
import ssl
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import pytest

from b24crm.runtime.phpquery import encode_query
from b24crm.testing import Emulator

# The package registers the plugin through its pytest11 entry point; load it by hand when b24crm is only on
# PYTHONPATH (not installed), so the plugin's own fixture is tested either way.
if not any(ep.name == "b24crm" for ep in importlib.metadata.entry_points(group="pytest11")):
    pytest_plugins = ["b24crm.testing.pytest_plugin"]


@attrs.frozen
class Reply:
    status: int
    headers: Mapping[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


class Raw:
    """Plain HTTP against one emulator address, keep-alive, no client-side smarts."""

    def __init__(self, base_url: str, ca_file: str | None = None) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.tls = parts.scheme == "https"
        self.ca_file = ca_file
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.tls:
                context = ssl.create_default_context(cafile=self.ca_file)
                self._conn = http.client.HTTPSConnection(self.host, self.port, context=context, timeout=10)
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        return self._conn

    def request(
        self, verb: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> Reply:
        conn = self._connection()
        try:
            conn.request(verb, path, body=body, headers=dict(headers or {}))
            response = conn.getresponse()
            raw = response.read()
        except Exception:
            self.close()
            raise
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, raw)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Portal:
    """Calls by method name through the default webhook, in a chosen encoding."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.raw = Raw(emu.base_url, emu.ca_file)
        self.prefix = urllib.parse.urlsplit(emu.webhook_url).path

    def call(self, method: str, params: Mapping[str, Any] | None = None, encoding: str = "json") -> Reply:
        path = self.prefix + method
        params = dict(params or {})
        if encoding == "json":
            return self.raw.request("POST", path, json.dumps(params).encode(), {"Content-Type": "application/json"})
        if encoding == "form":
            body = encode_query(params).encode()
            return self.raw.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})
        if encoding == "query":
            query = encode_query(params)
            return self.raw.request("GET", path + ("?" + query if query else ""))
        raise ValueError(encoding)

    def ok(self, method: str, params: Mapping[str, Any] | None = None, encoding: str = "json") -> Any:
        reply = self.call(method, params, encoding)
        assert reply.status == 200, reply.raw
        body = reply.json
        assert "error" not in body, body
        return body


def stored_history(emu: Emulator, entity_type_id: int = 2) -> list[dict[str, Any]]:
    """The stage-history records the portal stored (the demo's deals moved through their funnels), as
    opposed to the ``stage_history=N`` synthetic ones."""
    rows = emu.portal.store.rows("history").values()
    return [r for r in rows if r.get("ENTITY_TYPE_ID") == entity_type_id]


@pytest.fixture
def b24_emulator_options() -> dict[str, Any]:
    """The shipped ``b24_emulator`` fixture, with 1,000 synthetic stage-history records to page through."""
    return {"seed": "demo", "stage_history": 1000}


@pytest.fixture
def emu(b24_emulator: Emulator) -> Emulator:
    return b24_emulator


@pytest.fixture
def portal(emu: Emulator) -> Iterator[Portal]:
    helper = Portal(emu)
    yield helper
    helper.raw.close()
