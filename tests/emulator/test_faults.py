"""Injected faults: each kind, via the Python API and via POST /_emulator/faults."""

from __future__ import annotations

import http.client
import json
import time

import pytest

from b24crm.testing import Emulator
from tests.emulator.conftest import Portal, Raw


def add_fault(emu: Emulator, **spec: object) -> None:
    reply = Raw(emu.base_url).request("POST", "/_emulator/faults", json.dumps(spec).encode())
    assert reply.status == 200, reply.raw


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("query_limit", 503, "QUERY_LIMIT_EXCEEDED"),
        ("operation_time_limit", 429, "OPERATION_TIME_LIMIT"),
        ("internal_error", 500, "INTERNAL_SERVER_ERROR"),
        ("expired_token", 401, "expired_token"),
    ],
)
def test_error_faults_fire_times_then_stop(portal: Portal, kind: str, status: int, code: str) -> None:
    add_fault(portal.emu, method="crm.enum.fields", kind=kind, times=2)
    replies = [portal.call("crm.enum.fields") for _ in range(3)]
    assert [r.status for r in replies] == [status, status, 200]
    assert replies[0].json["error"] == code and "time" not in replies[0].json
    assert portal.call("crm.status.fields").status == 200


def test_html_page(portal: Portal) -> None:
    portal.emu.faults.add(method="crm.enum.fields", kind="html")
    reply = portal.call("crm.enum.fields")
    assert reply.status == 502 and reply.headers["content-type"].startswith("text/html") and b"<html>" in reply.raw


def test_truncated_json(portal: Portal) -> None:
    portal.emu.faults.add(method="crm.status.list", kind="truncated")
    reply = portal.call("crm.status.list")
    assert reply.status == 200
    with pytest.raises(ValueError):
        json.loads(reply.raw)


def test_reset_before_does_not_run(portal: Portal) -> None:
    portal.emu.faults.add(method="crm.status.add", kind="reset_before")
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        portal.call("crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "RB", "NAME": "x"}})
    assert portal.ok("crm.status.list", {"filter": {"STATUS_ID": "RB"}})["total"] == 0


def test_reset_after_runs_and_commits(portal: Portal) -> None:
    portal.emu.faults.add(method="crm.status.add", kind="reset_after")
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        portal.call("crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "RA", "NAME": "x"}})
    assert portal.ok("crm.status.list", {"filter": {"STATUS_ID": "RA"}})["total"] == 1


def test_delay(portal: Portal) -> None:
    add_fault(portal.emu, method="*", kind="delay", seconds=0.3, times=1)
    started = time.perf_counter()
    assert portal.call("crm.enum.fields").status == 200
    assert time.perf_counter() - started >= 0.3


def test_moved_redirects_to_second_address(portal: Portal) -> None:
    emu = portal.emu
    emu.faults.add(method="crm.settings.mode.get", kind="moved")
    reply = portal.call("crm.settings.mode.get", {"x": 1}, "query")
    assert reply.status == 302
    location = reply.headers["location"]
    assert location.startswith(emu.alternate_base_url) and location.endswith("crm.settings.mode.get?x=1")
    moved = Raw(emu.alternate_base_url).request("GET", location[len(emu.alternate_base_url) :])
    assert moved.json["result"] == 1


def test_fault_endpoints_validate_and_list(emu: Emulator) -> None:
    raw = Raw(emu.base_url)
    assert raw.request("POST", "/_emulator/faults", b'{"kind": "nope"}').status == 400
    add_fault(emu, method="crm.enum.fields", kind="html", times=None)
    listed = raw.request("GET", "/_emulator/faults").json
    assert listed[0]["kind"] == "html" and listed[0]["times"] is None
    assert raw.request("DELETE", "/_emulator/faults").status == 200
    assert raw.request("GET", "/_emulator/faults").json == []


def test_stats_and_reset_endpoint(portal: Portal) -> None:
    portal.ok("crm.enum.fields")
    portal.ok("batch", {"cmd": ["crm.enum.fields", "crm.enum.fields"]})
    stats = Raw(portal.emu.base_url).request("GET", "/_emulator/stats").json
    assert stats["requests"] == 2 and stats["by_method"] == {"crm.enum.fields": 1, "batch": 1}
    assert stats["batch_subcalls"] == 2
    portal.ok("crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "GONE", "NAME": "x"}})
    assert Raw(portal.emu.base_url).request("POST", "/_emulator/reset").status == 200
    assert portal.ok("crm.status.list", {"filter": {"STATUS_ID": "GONE"}})["total"] == 0
    assert portal.emu.stats()["requests"] == 1
