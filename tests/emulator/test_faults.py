"""Injected faults: each kind, via the Python API and via POST /_emulator/faults."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import time

import pytest

from b24crm.runtime.phpquery import encode_query
from b24crm.testing import Emulator
from tests.emulator.conftest import Portal, Raw


def add_fault(emu: Emulator, **spec: object) -> None:
    reply = Raw(emu.base_url).request("POST", "/_emulator/faults", json.dumps(spec).encode(), emu.control_headers)
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
    token = emu.control_headers
    assert raw.request("POST", "/_emulator/faults", b'{"kind": "nope"}', token).status == 400
    add_fault(emu, method="crm.enum.fields", kind="html", times=None)
    listed = raw.request("GET", "/_emulator/faults", headers=token).json
    assert listed[0]["kind"] == "html" and listed[0]["times"] is None
    assert raw.request("DELETE", "/_emulator/faults", headers=token).status == 200
    assert raw.request("GET", "/_emulator/faults", headers=token).json == []


def test_stats_and_reset_endpoint(portal: Portal) -> None:
    portal.ok("crm.enum.fields")
    portal.ok("batch", {"cmd": ["crm.enum.fields", "crm.enum.fields"]})
    token = portal.emu.control_headers
    stats = Raw(portal.emu.base_url).request("GET", "/_emulator/stats", headers=token).json
    assert stats["requests"] == 2 and stats["by_method"] == {"crm.enum.fields": 1, "batch": 1}
    assert stats["batch_subcalls"] == 2
    portal.ok("crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "GONE", "NAME": "x"}})
    assert Raw(portal.emu.base_url).request("POST", "/_emulator/reset", headers=token).status == 200
    assert portal.ok("crm.status.list", {"filter": {"STATUS_ID": "GONE"}})["total"] == 0
    assert portal.emu.stats()["requests"] == 1


# -- faults on batch sub-commands (in_batch=True) -----------------------------------------------------------

_PER_COMMAND = [
    ("operation_time_limit", "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit."),
    ("internal_error", "INTERNAL_SERVER_ERROR", "Internal server error"),
    ("expired_token", "expired_token", "The access token provided has expired"),
]


def _three(status_id: str) -> dict[str, str]:
    add = "crm.status.add?" + encode_query({"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": status_id, "NAME": "x"}})
    return {"a": "crm.settings.mode.get", "b": add, "c": "crm.enum.settings.mode"}


@pytest.mark.parametrize(("kind", "code", "description"), _PER_COMMAND)
def test_batch_fault_fails_only_its_command(portal: Portal, kind: str, code: str, description: str) -> None:
    portal.emu.faults.add(method="crm.status.add", kind=kind, in_batch=True)
    reply = portal.call("batch", {"halt": 0, "cmd": _three("BF")})
    assert reply.status == 200  # the batch itself succeeds
    result = reply.json["result"]
    assert result["result_error"] == {"b": {"error": code, "error_description": description}}
    assert set(result["result"]) == {"a", "c"} and set(result["result_time"]) == {"a", "c"}
    assert portal.ok("crm.status.list", {"filter": {"STATUS_ID": "BF"}})["total"] == 0  # the command never ran
    assert portal.emu.faults.pending() == [] and portal.emu.stats()["faults_fired"] == 1
    # consumed: the same batch now runs all three
    again = portal.ok("batch", {"cmd": _three("BF")})["result"]
    assert set(again["result"]) == {"a", "b", "c"} and again["result_error"] == []


def test_batch_fault_respects_halt(portal: Portal) -> None:
    portal.emu.faults.add(method="crm.status.add", kind="operation_time_limit", in_batch=True)
    result = portal.ok("batch", {"halt": 1, "cmd": _three("BH")})["result"]
    assert list(result["result"]) == ["a"] and list(result["result_error"]) == ["b"]
    assert "c" not in result["result_time"]


def test_batch_faults_and_top_level_faults_do_not_mix(portal: Portal) -> None:
    portal.emu.faults.add(method="crm.settings.mode.get", kind="internal_error", in_batch=True)
    assert portal.call("crm.settings.mode.get").status == 200  # a top-level call does not consume it
    portal.emu.faults.add(method="crm.enum.settings.mode", kind="internal_error")  # top-level only
    result = portal.ok("batch", {"cmd": _three("MX")})["result"]
    assert list(result["result_error"]) == ["a"] and set(result["result"]) == {"b", "c"}
    assert portal.call("crm.enum.settings.mode").status == 500


def test_batch_fault_wildcard_times_and_json_suffix(portal: Portal) -> None:
    portal.emu.faults.add(method="*", kind="expired_token", times=2, in_batch=True)
    cmd = {"a": "crm.settings.mode.get.json", "b": "CRM.ENUM.SETTINGS.MODE", "c": "crm.settings.mode.get"}
    reply = portal.call("batch", {"cmd": cmd})
    assert reply.status == 200  # "*" with in_batch never hits the outer batch request
    result = reply.json["result"]
    assert list(result["result_error"]) == ["a", "b"] and list(result["result"]) == ["c"]


@pytest.mark.parametrize("kind", ["query_limit", "reset_before", "reset_after", "delay", "html", "truncated", "moved"])
def test_batch_fault_kinds_are_per_command_only(emu: Emulator, kind: str) -> None:
    with pytest.raises(ValueError, match="batch sub-command"):
        emu.faults.add(method="crm.status.add", kind=kind, in_batch=True)
    reply = Raw(emu.base_url).request(
        "POST",
        "/_emulator/faults",
        json.dumps({"method": "x", "kind": kind, "in_batch": True}).encode(),
        emu.control_headers,
    )
    assert reply.status == 400 and emu.faults.pending() == []


def test_batch_fault_via_control_endpoint(portal: Portal) -> None:
    add_fault(portal.emu, method="crm.status.add", kind="operation_time_limit", in_batch=True)
    listed = Raw(portal.emu.base_url).request("GET", "/_emulator/faults", headers=portal.emu.control_headers).json
    assert listed[0]["in_batch"] is True and listed[0]["kind"] == "operation_time_limit"
    result = portal.ok("batch", {"cmd": _three("CE")}, "form")["result"]
    assert result["result_error"]["b"]["error"] == "OPERATION_TIME_LIMIT"


def _raw_exchange(emu: Emulator, path: str) -> bytes:
    """One GET on a fresh socket, everything the emulator sends back until it closes or goes quiet."""
    host, port = emu.base_url.rsplit("/", 1)[-1].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_bad_headers_sends_a_line_that_is_no_header(portal: Portal) -> None:
    portal.emu.faults.add(method="crm.settings.mode.get", kind="bad_headers")
    head, _, body = _raw_exchange(portal.emu, portal.prefix + "crm.settings.mode.get").partition(b"\r\n\r\n")
    assert b"\r\nX Broken header line: 1" in head  # no colon after a token: not a header field
    assert json.loads(body)["result"] == 1


def test_gzip_bomb_inflates_to_size(portal: Portal) -> None:
    portal.emu.faults.add(method="crm.settings.mode.get", kind="gzip_bomb", size=3_000_000)
    reply = portal.call("crm.settings.mode.get")
    assert reply.headers["content-encoding"] == "gzip" and len(reply.raw) < 20_000
    inflated = gzip.decompress(reply.raw)
    assert len(inflated) == 3_000_000 and json.loads(inflated)["result"] == 1  # the answer, then whitespace


def test_drip_sends_the_whole_answer_in_pieces(portal: Portal) -> None:
    add_fault(portal.emu, method="crm.settings.mode.get", kind="drip", seconds=0.05)
    reply = portal.call("crm.settings.mode.get")
    assert reply.status == 200 and reply.json["result"] == 1


def test_moved_with_another_status(portal: Portal) -> None:
    add_fault(portal.emu, method="crm.settings.mode.get", kind="moved", status=307)
    reply = portal.call("crm.settings.mode.get")
    assert reply.status == 307 and reply.headers["location"].startswith(portal.emu.alternate_base_url)
    bad = Raw(portal.emu.base_url).request(
        "POST", "/_emulator/faults", b'{"kind": "moved", "status": 200}', portal.emu.control_headers
    )
    assert bad.status == 400 and "redirect status" in bad.raw.decode()
