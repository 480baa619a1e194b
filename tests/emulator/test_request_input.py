"""How the emulator reads a request before dispatch: percent-encoded method names in the path
(docs/protocol.md#url-forms) and PHP's ``max_input_vars`` cap on form and query input
(docs/protocol.md#input-variable-cap; b24crm.testing.phpinput)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from b24crm.runtime.phpquery import encode_query
from b24crm.testing import Emulator
from b24crm.testing.api import CallContext
from tests.emulator.conftest import Portal

_NOT_FOUND = {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


# -- percent-encoded method names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "crm.settings%2Emode.get.json",
        "crm%2esettings%2emode%2eget",
        "crm.settings.mode.get%2Ejson",
        "%63rm.settings.mode.get",
        "CRM.Settings%2EMODE.get.json/",
    ],
)
def test_percent_encoded_method_name_is_decoded(portal: Portal, name: str) -> None:
    reply = portal.raw.request("GET", portal.prefix + name)
    assert reply.status == 200, reply.raw
    assert reply.json["result"] == 1
    assert portal.emu.stats()["by_method"] == {"crm.settings.mode.get": 1}


def test_percent_encoded_name_in_oauth_form(emu: Emulator) -> None:
    portal = Portal(emu)
    reply = portal.raw.request("GET", "/rest/crm.settings%2Emode.get.json?auth=" + emu.oauth.access_token)
    assert reply.status == 200 and reply.json["result"] == 1


@pytest.mark.parametrize(
    "name",
    [
        "crm.settings.mode.get%FF",  # not UTF-8 once decoded
        "%C0%AE",  # overlong "." - not UTF-8 either
        "%2Ejson",  # empty once the decoded suffix is stripped
        ".json",
        "crm.settings%2Fmode.get",  # %2F stays inside the name: no path separator
        "crm.settings.mode.get%3Fx=1",  # nor does %3F start a query
        "crm.settings.mode+get",  # path decoding is rawurldecode: "+" is not a space
    ],
)
def test_undecodable_or_empty_method_name_is_not_found(portal: Portal, name: str) -> None:
    reply = portal.raw.request("GET", portal.prefix + name)
    assert reply.status == 404
    assert reply.json == _NOT_FOUND


def test_faults_match_the_decoded_name(portal: Portal) -> None:
    portal.emu.faults.add(method="crm.settings.mode.get", kind="internal_error")
    assert portal.raw.request("GET", portal.prefix + "crm.settings%2Emode.get").status == 500


# -- max_input_vars --------------------------------------------------------------------------------------------


@pytest.fixture
def echo(emu: Emulator) -> Portal:
    """``crm.test.echo``: answers with the top-level params the handler received."""

    def handler(params: dict[str, Any], ctx: CallContext) -> Any:
        return {"n": len(params), "keys": list(params)}

    emu.register("crm.test.echo", handler)
    return Portal(emu)


def _keys(prefix: str, count: int) -> str:
    return "&".join(f"{prefix}{i}={i}" for i in range(count))


def _post(portal: Portal, body: str, content_type: str) -> Any:
    reply = portal.raw.request("POST", portal.prefix + "crm.test.echo", body.encode(), {"Content-Type": content_type})
    assert reply.status == 200, reply.raw[:300]
    return reply.json["result"]


def test_query_string_keeps_first_thousand(echo: Portal) -> None:
    reply = echo.raw.request("GET", echo.prefix + "crm.test.echo?" + "&&&" + _keys("k", 1500))
    result = reply.json["result"]
    assert result["n"] == 1000  # empty pieces are skipped, not counted ($_GET / parse_str)
    assert result["keys"][0] == "k0" and result["keys"][-1] == "k999"


def test_form_body_keeps_php_post_count(echo: Portal) -> None:
    result = _post(echo, _keys("k", 1500), "application/x-www-form-urlencoded")
    # $_POST registers variable 1,001 before it counts it (add_post_vars' off-by-one)
    assert result["n"] == 1001 and result["keys"][-1] == "k1000"
    # ... and there empty pieces do count
    assert _post(echo, "&&" + _keys("k", 1500), "application/x-www-form-urlencoded")["n"] == 999


def test_raw_body_is_parse_str_capped(echo: Portal) -> None:
    result = _post(echo, _keys("k", 1500), "text/plain")
    assert result["n"] == 1000 and result["keys"][-1] == "k999"


def test_nested_keys_count_one_variable_each(echo: Portal) -> None:
    query = encode_query({"fields": {f"F{i}": "x" for i in range(1200)}, "after": "1"})
    reply = echo.raw.request("GET", echo.prefix + "crm.test.echo?" + query)
    assert reply.json["result"]["keys"] == ["fields"]  # 1,000 of fields[...], "after" cut off


def test_query_and_body_are_capped_separately(echo: Portal) -> None:
    reply = echo.raw.request(
        "POST", echo.prefix + "crm.test.echo?" + _keys("q", 1200), _keys("b", 1200).encode(), _FORM
    )
    assert reply.json["result"]["n"] == 1000 + 1001


def test_json_body_is_not_capped(echo: Portal) -> None:
    body = json.dumps({f"k{i}": i for i in range(1500)}).encode()
    reply = echo.raw.request("POST", echo.prefix + "crm.test.echo", body, {"Content-Type": "application/json"})
    assert reply.json["result"]["n"] == 1500  # json_decode of php://input knows no max_input_vars


def test_batch_command_query_is_capped(echo: Portal) -> None:
    cmd = {"e": "crm.test.echo?" + _keys("k", 1200)}
    result = echo.ok("batch", {"cmd": cmd})["result"]
    assert result["result"]["e"]["n"] == 1000


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_half_a_million_keys_are_cut_to_the_php_limit(echo: Portal, content_type: str) -> None:
    # The cut happens before decoding, so this answers promptly (before the cap it took seconds; no timing
    # assert here: speed lives in `make bench`).
    body = _keys("k", 500_000)
    result = _post(echo, body, content_type)
    assert result["n"] in (1000, 1001)
    assert echo.ok("crm.settings.mode.get")["result"] == 1  # the connection and the server are still fine
