"""Error mapping (code first, message for empty codes, then status) and the envelope's edge cases."""

from __future__ import annotations

import pytest

from b24crm.runtime import errors as E
from b24crm.runtime.envelope import parse
from b24crm.runtime.errors import error_from_wire
from b24crm.runtime.redact import Redactor

from .fakes import (
    REGISTRY,
    STATUS_ADD,
    STATUS_GET,
    CrmAccessDenied,
    DuplicateStatusError,
    OperationTimeLimit,
    OtherCoreError,
    QueryLimitExceeded,
    StatusNotFoundError,
    make_client,
    ok,
    raw,
)
from .fakes import body as json_body
from .fakes import err as wire_err


def m(code: object, desc: str, status: int, rows=STATUS_GET.errors) -> E.APIError:  # type: ignore[no-untyped-def]
    return error_from_wire("crm.status.get", code, desc, status, method_rows=rows, system_rows=REGISTRY.system_errors)


def test_empty_code_matches_by_message() -> None:
    e = m("", "Status is not found.", 400)
    assert type(e) is StatusNotFoundError
    assert isinstance(e, E.NotFound)
    assert e.code == "" and e.description == "Status is not found." and e.http_status == 400
    assert "Status is not found." in str(e)


def test_message_match_tolerates_case_and_trailing_punctuation() -> None:
    assert type(m("", "status is not found", 400)) is StatusNotFoundError


def test_message_prefix_matches_suffixed_text() -> None:
    assert type(m("", "Access denied. (CRM permissions)", 400)) is CrmAccessDenied


def test_d7_zero_code_matches_by_message() -> None:
    assert type(m("0", "Status is not found.", 400)) is StatusNotFoundError
    assert type(m(0, "Status is not found.", 400)) is StatusNotFoundError


def test_same_code_different_messages() -> None:
    rows = STATUS_ADD.errors
    assert type(m("ERROR_CORE", "The specified status ID already exists.", 400, rows)) is DuplicateStatusError
    assert type(m("ERROR_CORE", "Something else.", 400, rows)) is OtherCoreError


def test_system_rows_after_method_rows() -> None:
    assert type(m("QUERY_LIMIT_EXCEEDED", "Too many requests", 503)) is QueryLimitExceeded
    assert type(m("OPERATION_TIME_LIMIT", "blocked", 429)) is OperationTimeLimit


def test_code_wins_over_status_for_503() -> None:
    # Bitrix uses 503 both for the rate limit and for outages.
    plain = error_from_wire("x", "QUERY_LIMIT_EXCEEDED", "Too many requests", 503)
    assert isinstance(plain, E.RateLimited) and plain.retry_any_method
    outage = error_from_wire("x", "", "Service Unavailable", 503)
    assert type(outage) is E.ServerError and outage.retry_if_idempotent


@pytest.mark.parametrize(
    ("status", "base"),
    [
        (401, E.AuthError),
        (403, E.AccessDenied),
        (404, E.NotFound),
        (429, E.RateLimited),
        (500, E.ServerError),
        (502, E.ServerError),
        (400, E.InvalidParams),
        (422, E.InvalidParams),
        (200, E.APIError),
    ],
)
def test_status_fallback(status: int, base: type[E.APIError]) -> None:
    e = error_from_wire("x", "SOMETHING_NEW", "new", status)
    assert type(e) is base


@pytest.mark.parametrize(
    ("code", "base"),
    [
        ("expired_token", E.AuthError),
        ("invalid_token", E.AuthError),
        ("INVALID_CREDENTIALS", E.AuthError),
        ("insufficient_scope", E.AccessDenied),
        ("ERROR_METHOD_NOT_FOUND", E.NotFound),
        ("ACCESS_DENIED", E.AccessDenied),
        ("invalid_grant", E.AuthError),
        ("PAYMENT_REQUIRED", E.Blocked),
    ],
)
def test_well_known_codes_without_rows(code: str, base: type[E.APIError]) -> None:
    """No method row names them: the spec's system table does, whatever the status (402 explains none)."""
    error = error_from_wire("x", code, "", 402)
    assert isinstance(error, base) and type(error).__module__ == "b24crm.errors"  # the spec's system row


def test_error_flags() -> None:
    assert E.ServerError("m", "ERROR_CORE", "SQL", 500).may_have_run
    assert not E.InvalidParams("m", "", "bad", 400).may_have_run
    assert not E.RateLimited("m", "QUERY_LIMIT_EXCEEDED", "", 503).may_have_run
    assert not E.RateLimited("m", "OVERLOAD_LIMIT", "", 503).retry_if_idempotent


# --- envelope -----------------------------------------------------------------------------------------------


def _parse(status: int, text: bytes) -> object:
    return parse("crm.x", status, text, lambda c, d, s: error_from_wire("crm.x", c, d, s), Redactor())


def test_error_in_a_200_body_is_an_error() -> None:
    with pytest.raises(E.APIError) as info:
        _parse(200, b'{"error":"ERROR_CORE","error_description":"oops"}')
    assert info.value.http_status == 200 and info.value.code == "ERROR_CORE"


def test_html_page_is_a_decode_error_with_status_and_excerpt() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>" + b"x" * 5000 + b"</body></html>"
    with pytest.raises(E.ResponseDecodeError) as info:
        _parse(502, page)
    assert info.value.http_status == 502
    assert info.value.excerpt.startswith("<html><head><title>502 Bad Gateway")
    assert len(info.value.excerpt) <= 120
    assert "HTTP 502" in str(info.value)


def test_truncated_json_is_a_decode_error() -> None:
    with pytest.raises(E.ResponseDecodeError) as info:
        _parse(200, b'{"result":[{"ID":"1"},{"ID"')
    assert info.value.http_status == 200


def test_non_object_json_and_missing_result() -> None:
    with pytest.raises(E.ResponseDecodeError):
        _parse(200, b"[1,2]")
    with pytest.raises(E.ResponseDecodeError):
        _parse(200, b'{"time":{}}')


def test_non_2xx_without_error_key() -> None:
    with pytest.raises(E.ServerError):
        _parse(500, b'{"result": null}')


def test_envelope_fields() -> None:
    env = _parse(200, b'{"result":[1],"next":50,"total":"120","time":{"operating":1.5}}')
    assert env.result == [1] and env.next == 50 and env.total == 120  # type: ignore[attr-defined]
    assert env.time == {"operating": 1.5}  # type: ignore[attr-defined]


def test_call_raw_exposes_envelope() -> None:
    client, _, _ = make_client(lambda r: ok([{"ID": "1"}], next=50, total=51, time={"operating": 0.2}))
    resp = client.call_raw("crm.anything.list", {})
    assert resp.result == [{"ID": "1"}]
    assert (resp.next, resp.total, resp.http_status) == (50, 51, 200)
    assert resp.time == {"operating": 0.2}


def test_client_maps_method_rows() -> None:
    client, _, _ = make_client(lambda r: wire_err("", "Status is not found.", 400))
    with pytest.raises(StatusNotFoundError) as info:
        client.call("crm.status.get", {"id": 5})
    assert info.value.method == "crm.status.get"


def test_client_decode_error_from_proxy_page() -> None:
    client, transport, _ = make_client(lambda r: raw(404, "<html>Not Found</html>"))
    with pytest.raises(E.ResponseDecodeError) as info:
        client.call("crm.status.get", {"id": 5})
    assert info.value.http_status == 404
    assert len(transport.requests) == 1


def test_errors_pickle() -> None:
    import pickle

    e = pickle.loads(pickle.dumps(StatusNotFoundError("crm.status.get", "", "Status is not found.", 400)))
    assert type(e) is StatusNotFoundError and e.http_status == 400


def test_json_body_helper() -> None:
    assert json_body({"a": 1}).status == 200
