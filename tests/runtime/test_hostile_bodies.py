"""Parseable but hostile bodies end as ResponseDecodeError, never as a raw OverflowError or RecursionError."""

from __future__ import annotations

import pytest

from b24crm.runtime.batch import BaseBatch
from b24crm.runtime.errors import ResponseDecodeError
from b24crm.runtime.transport import HttpResponse
from b24crm.runtime.types import Decoded

from .fakes import ITEM_LIST, Client, FakeClock, FakeTransport, Item, Request, err, make_client


def _json(text: str) -> HttpResponse:
    return HttpResponse(200, {"content-type": "application/json"}, text.encode())


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"result": [], "next": 1e400, "total": 5}', "out of range"),  # int(inf): OverflowError
        ('{"result": [], "next": 50, "total": -1e999}', "out of range"),
        ('{"result": [], "next": NaN}', "not JSON"),  # Python's json accepts it; no portal writes it
        ('{"result": Infinity}', "not JSON"),
        ("[" * 100_000, "nested too deeply"),  # RecursionError in the parser
        ('{"result": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ],
)
def test_hostile_envelope_is_a_decode_error(text: str, says: str) -> None:
    client, _, _ = make_client(lambda r: _json(text), max_attempts=1)
    with pytest.raises(ResponseDecodeError) as info:
        client.call_raw("crm.item.list", {})
    assert says in str(info.value)
    assert info.value.http_status == 200


def test_overflowing_result_total_in_a_batch_is_a_decode_error() -> None:
    def handler(req: Request) -> HttpResponse:
        key = next(iter(req.json["cmd"]))
        return _json(
            f'{{"result": {{"result": {{"{key}": {{"items": []}}}}, "result_error": [], '
            f'"result_total": {{"{key}": 1e400}}, "result_next": {{"{key}": 1e400}}, "result_time": []}}}}'
        )

    client, _, _ = make_client(handler, max_attempts=1)
    batch = BaseBatch(client)
    handle = batch._invoker.enqueue_page(ITEM_LIST, {"filter": {}}, Decoded(Item))
    try:
        batch.execute()
    except ResponseDecodeError as exc:  # the whole batch answer is refused ...
        assert "out of range" in str(exc)
    else:  # ... or reported on its handle; never an OverflowError, never a page with a made-up total
        assert isinstance(handle.error, ResponseDecodeError) and "out of range" in str(handle.error)


def test_finite_numbers_still_decode() -> None:
    client, _, _ = make_client(lambda r: _json('{"result": [1.5, 2e10], "next": 50, "total": 1e3}'))
    raw = client.call_raw("crm.item.list", {})
    assert (raw.result, raw.next, raw.total) == ([1.5, 2e10], 50, 1000)


@pytest.mark.parametrize("text", ["[" * 100_000, '{"access_token": "a-new-token", "expires": 1e400}'])
def test_hostile_token_response_is_a_decode_error(text: str) -> None:
    def handler(req: Request) -> HttpResponse:
        if "oauth.bitrix.info" in req.url:
            return _json(text)
        return err("expired_token", "The access token provided has expired", 401)

    client = Client.from_oauth(
        "x.bitrix24.com",
        client_id="cid",
        client_secret="csecret-789",
        access_token="old-access-XYZ",
        refresh_token="old-refresh-QQQ",
        transport=FakeTransport(handler),
        rate_limit="off",
        clock=FakeClock(),
        max_attempts=2,
    )
    with pytest.raises(ResponseDecodeError, match=r"nested too deeply|out of range"):
        client.call("crm.status.get", {"id": 1})
