"""``/_emulator/*`` needs the control token (random per start) and grants no cross-origin access."""

from __future__ import annotations

import json

import pytest

from b24crm.testing import Emulator
from b24crm.testing.server import CONTROL_TOKEN_HEADER
from tests.emulator.conftest import Portal, Raw

ENDPOINTS = [("GET", "stats"), ("POST", "reset"), ("POST", "faults"), ("GET", "faults"), ("DELETE", "faults")]
FAULT = json.dumps({"method": "crm.enum.fields", "kind": "html"}).encode()


@pytest.mark.parametrize(("verb", "name"), ENDPOINTS)
def test_control_endpoints_refuse_a_missing_or_wrong_token(portal: Portal, verb: str, name: str) -> None:
    emu = portal.emu
    portal.ok("crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "KEEP", "NAME": "k"}})
    emu.faults.add(method="crm.status.fields", kind="html", times=None)
    raw = Raw(emu.base_url)
    body = FAULT if verb == "POST" else None
    missing = raw.request(verb, f"/_emulator/{name}", body)
    assert missing.status == 401
    assert (
        missing.json["error"] == "CONTROL_TOKEN_REQUIRED" and CONTROL_TOKEN_HEADER in missing.json["error_description"]
    )
    wrong = raw.request(verb, f"/_emulator/{name}", body, {CONTROL_TOKEN_HEADER: emu.control_token[::-1]})
    assert wrong.status == 403 and wrong.json["error"] == "CONTROL_TOKEN_INVALID"
    assert emu.control_token not in (missing.raw + wrong.raw).decode()
    for reply in (missing, wrong):
        assert "access-control-allow-origin" not in reply.headers
    # nothing happened: no reset, no fault queued or cleared
    assert portal.ok("crm.status.list", {"filter": {"STATUS_ID": "KEEP"}})["total"] == 1
    assert [(f.method, f.kind) for f in emu.faults.pending()] == [("crm.status.fields", "html")]


def test_the_right_token_works_and_grants_no_cross_origin_access(portal: Portal) -> None:
    emu = portal.emu
    raw = Raw(emu.base_url)
    added = raw.request("POST", "/_emulator/faults", FAULT, emu.control_headers)
    assert added.status == 200 and emu.faults.pending()[0].kind == "html"
    stats = raw.request("GET", "/_emulator/stats", headers=emu.control_headers)
    assert stats.status == 200 and "requests" in stats.json
    assert "access-control-allow-origin" not in stats.headers
    preflight = raw.request(
        "OPTIONS",
        "/_emulator/reset",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers  # a browser page may not send the request
    # the REST API itself still answers any origin, as a portal does
    assert portal.call("crm.settings.mode.get").headers["access-control-allow-origin"] == "*"


def test_the_token_is_random_per_start_and_stays_out_of_the_repr() -> None:
    emu = Emulator(seed="empty")
    with pytest.raises(RuntimeError, match="not running"):
        _ = emu.control_token
    with emu:
        first = emu.control_token
        assert len(first) >= 32 and first not in repr(emu)
    with emu:
        assert emu.control_token != first
        assert Raw(emu.base_url).request("GET", "/_emulator/stats", headers={CONTROL_TOKEN_HEADER: first}).status == 403
