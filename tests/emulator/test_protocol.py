"""The wire protocol: URL forms, encodings, merging, auth failures, envelopes, PHP JSON.

docs/protocol.md#url-forms, #envelope.
"""

from __future__ import annotations

import json
import urllib.parse

import pytest

from b24crm.testing import Emulator
from tests.emulator.conftest import Portal, Raw

TIME_KEYS = {
    "start",
    "finish",
    "duration",
    "processing",
    "date_start",
    "date_finish",
    "operating",
    "operating_reset_at",
}


def test_success_envelope_has_time(portal: Portal) -> None:
    body = portal.ok("crm.settings.mode.get")
    assert body["result"] == 1
    assert set(body["time"]) == TIME_KEYS
    assert body["time"]["finish"] >= body["time"]["start"]
    assert body["time"]["date_start"][10] == "T" and body["time"]["date_start"][-6] in "+-"


def test_response_headers(portal: Portal) -> None:
    reply = portal.call("crm.settings.mode.get")
    assert reply.headers["content-type"] == "application/json; charset=utf-8"
    assert reply.headers["access-control-allow-origin"] == "*"
    assert reply.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "suffix",
    ["crm.settings.mode.get", "crm.settings.mode.get.json", "crm.settings.mode.get/", "CRM.Settings.MODE.Get.json/"],
)
def test_webhook_url_forms(portal: Portal, suffix: str) -> None:
    reply = portal.raw.request("GET", portal.prefix + suffix)
    assert reply.status == 200
    assert reply.json["result"] == 1


def test_camel_case_method_name(portal: Portal) -> None:
    assert portal.ok("crm.duplicate.volatileType.list")["result"] == []
    assert portal.ok("crm.duplicate.volatiletype.list")["result"] == []


@pytest.mark.parametrize("form", ["auth", "access_token", "bearer"])
def test_oauth_url_form_and_token_places(emu: Emulator, form: str) -> None:
    raw = Raw(emu.base_url)
    token = emu.oauth.access_token
    if form == "bearer":
        reply = raw.request(
            "POST",
            "/rest/crm.settings.mode.get.json",
            b"{}",
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
    else:
        reply = raw.request("GET", f"/rest/crm.settings.mode.get?{form}={token}")
    assert reply.status == 200, reply.raw
    assert reply.json["result"] == 1


def test_encodings_give_identical_results(portal: Portal) -> None:
    params = {"filter": {"ENTITY_ID": "DEAL_STAGE_1", "SYSTEM": "N"}, "order": {"SORT": "DESC"}}
    results = [portal.ok("crm.status.list", params, enc)["result"] for enc in ("json", "form", "query")]
    assert results[0] == results[1] == results[2]
    assert [r["STATUS_ID"] for r in results[0]][:2] == ["C1:APOLOGY", "C1:FINAL_INVOICE"]
    history = {"entityTypeId": 2, "filter": {">ID": 20, "@TYPE_ID": [2, 3]}, "select": ["ID", "STAGE_ID"]}
    pages = [portal.ok("crm.stagehistory.list", history, enc) for enc in ("json", "form", "query")]
    assert pages[0]["result"] == pages[1]["result"] == pages[2]["result"]
    assert pages[0]["total"] == pages[1]["total"] == pages[2]["total"]


def test_body_wins_over_query_at_top_level(portal: Portal) -> None:
    path = portal.prefix + "crm.status.entity.items?entityId=SOURCE"
    reply = portal.raw.request("POST", path, b'{"entityId": "DEAL_TYPE"}', {"Content-Type": "application/json"})
    assert {i["STATUS_ID"] for i in reply.json["result"]} >= {"SALE", "COMPLEX"}
    form = portal.raw.request(
        "POST", path, b"entityId=HONORIFIC", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form.json["result"][0]["STATUS_ID"] == "HNR_EN_1"


def test_bad_json_body_is_ignored(portal: Portal) -> None:
    path = portal.prefix + "crm.status.entity.items?entityId=SOURCE"
    reply = portal.raw.request("POST", path, b'{"entityId": ', {"Content-Type": "application/json; charset=utf-8"})
    assert reply.status == 200
    assert reply.json["result"][0]["STATUS_ID"] == "CALL"


def test_multipart_and_raw_bodies(portal: Portal) -> None:
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="entityId"\r\n\r\nHONORIFIC\r\n--{boundary}--\r\n'
    ).encode()
    reply = portal.raw.request(
        "POST",
        portal.prefix + "crm.status.entity.items",
        body,
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert reply.json["result"][0]["STATUS_ID"] == "HNR_EN_1"
    reply = portal.raw.request("POST", portal.prefix + "crm.status.entity.items", b"entityId=CALL_LIST")
    assert reply.json["result"][0]["STATUS_ID"] == "IN_WORK"


def test_no_auth_found(emu: Emulator) -> None:
    reply = Raw(emu.base_url).request("GET", "/rest/crm.settings.mode.get")
    assert reply.status == 401
    assert reply.json == {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}


@pytest.mark.parametrize("path", ["/rest/1/wrongcode/crm.settings.mode.get", "/rest/2/{code}/crm.settings.mode.get"])
def test_invalid_credentials(emu: Emulator, path: str) -> None:
    reply = Raw(emu.base_url).request("GET", path.format(code=emu.portal.default_webhook.code))
    assert reply.status == 401
    assert reply.json == {"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"}


def test_invalid_and_expired_token() -> None:
    with Emulator(seed="empty", token_ttl=1) as emu:
        raw = Raw(emu.base_url)
        reply = raw.request("GET", "/rest/crm.settings.mode.get?auth=nonsense")
        assert (reply.status, reply.json["error"]) == (401, "invalid_token")
        assert reply.json["error_description"] == "Unable to get application by token"
        emu.expire_tokens()
        reply = raw.request("GET", f"/rest/crm.settings.mode.get?auth={emu.oauth.access_token}")
        assert reply.status == 401
        assert reply.json == {"error": "expired_token", "error_description": "The access token provided has expired"}


def test_insufficient_scope(emu: Emulator) -> None:
    url = emu.add_webhook(scopes=("user",))
    reply = Raw(emu.base_url).request("GET", urllib.parse.urlsplit(url).path + "crm.status.fields")
    assert reply.status == 401
    assert reply.json == {
        "error": "insufficient_scope",
        "error_description": "The request requires higher privileges than provided by the webhook token",
    }


def test_method_not_found_and_error_body_without_time(portal: Portal) -> None:
    reply = portal.call("crm.nosuch.list")
    assert reply.status == 404
    assert reply.json == {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}


def test_classic_error_has_empty_code(portal: Portal) -> None:
    reply = portal.call("crm.status.get", {"id": 999999})
    assert reply.status == 400
    assert reply.json == {"error": "", "error_description": "Status is not found."}


def test_php_json_quirks(portal: Portal) -> None:
    new_id = portal.ok(
        "crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "X1", "NAME": "<a href='/x'>&\"q\"</a>"}}
    )
    reply = portal.call("crm.status.get", {"id": new_id["result"]})
    assert b"\\u003Ca href=\\u0027\\/x\\u0027\\u003E\\u0026\\u0022q\\u0022\\u003C\\/a\\u003E" in reply.raw
    assert reply.json["result"]["NAME"] == "<a href='/x'>&\"q\"</a>"
    empty = portal.call("crm.duplicate.findbycomm", {"type": "EMAIL", "values": ["nobody@nowhere.example"]})
    assert b'"result":[]' in empty.raw


def test_unicode_stays_raw(portal: Portal) -> None:
    portal.ok("crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "RU", "NAME": "Звонок"}})
    reply = portal.call("crm.status.list", {"filter": {"STATUS_ID": "RU"}})
    assert "Звонок".encode() in reply.raw


def test_classic_values_are_strings_d7_values_typed(portal: Portal) -> None:
    row = portal.ok("crm.status.list", {"filter": {"ENTITY_ID": "STATUS", "STATUS_ID": "NEW"}})["result"][0]
    assert row["ID"].isdigit() and row["SORT"] == "10"
    item = portal.ok("crm.stagehistory.list", {"entityTypeId": 2})["result"]["items"][0]
    assert isinstance(item["ID"], int) and isinstance(item["OWNER_ID"], int)


def test_unknown_paths(emu: Emulator) -> None:
    raw = Raw(emu.base_url)
    assert raw.request("GET", "/nothing").status == 404
    assert raw.request("GET", "/_emulator/nothing", headers=emu.control_headers).status == 404


def test_keep_alive_many_calls_one_connection(portal: Portal) -> None:
    for _ in range(50):
        assert portal.call("crm.enum.fields").status == 200
    stats = portal.raw.request("GET", "/_emulator/stats", headers=portal.emu.control_headers)
    assert json.loads(stats.raw)["by_method"]["crm.enum.fields"] == 50


@pytest.mark.parametrize("verb", ["HEAD", "PATCH", "BREW"])
def test_verbs_the_portal_does_not_serve_get_405_not_a_server_error(portal: Portal, verb: str) -> None:
    import http.client

    parts = urllib.parse.urlsplit(portal.emu.webhook_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request(verb, parts.path + "crm.settings.mode.get.json", body=b"{}" if verb != "HEAD" else None)
        reply = conn.getresponse()
        reply.read()
        assert reply.status == 405
        assert "POST" in (reply.getheader("Allow") or "")
        # the same keep-alive connection still serves the portal
        conn.request(
            "POST", parts.path + "crm.settings.mode.get.json", body=b"{}", headers={"Content-Type": "application/json"}
        )
        ok = conn.getresponse()
        assert ok.status == 200 and json.loads(ok.read())["result"] == 1
    finally:
        conn.close()
