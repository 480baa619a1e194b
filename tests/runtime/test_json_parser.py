"""envelope.decode_json with the ``fast`` extra's parser (orjson) in front of json: same values, same errors.

The suite's venv does not install the extra, so a stand-in with orjson's contract (``loads``, ``JSONDecodeError``
for every refusal, non-finite numbers refused) takes its place: what is checked is the runtime's part — bodies go
to the fast parser first and every refusal is parsed again by json, with json's error.
"""

from __future__ import annotations

import json
import types
from typing import Any

import pytest

from b24crm.runtime import envelope
from b24crm.runtime.errors import ResponseDecodeError


class _Refused(ValueError):
    pass


def _stand_in(seen: list[bytes]) -> types.SimpleNamespace:
    def loads(body: bytes) -> Any:
        seen.append(body)

        def no_constant(text: str) -> Any:
            raise _Refused(text)

        def finite(text: str) -> float:
            value = float(text)
            if value in (float("inf"), float("-inf")):
                raise _Refused(text)  # orjson: "number is infinity when parsed as double"
            return value

        try:
            return json.loads(body, parse_constant=no_constant, parse_float=finite)
        except ValueError as exc:  # orjson raises its JSONDecodeError for every refusal
            raise _Refused(str(exc)) from None

    return types.SimpleNamespace(loads=loads, JSONDecodeError=_Refused)


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    calls: list[bytes] = []
    monkeypatch.setattr(envelope, "_orjson", _stand_in(calls))
    return calls


def _decode(body: bytes) -> Any:
    return envelope.decode_json("crm.deal.list", 200, body, lambda text: text)


def test_ordinary_bodies_go_to_the_fast_parser(seen: list[bytes]) -> None:
    body = b'{"result": [{"ID": "1", "OPPORTUNITY": 1.5}], "next": 50, "total": 0}'
    assert _decode(body) == json.loads(body)
    assert seen == [body]


def test_time_blocks_and_large_ids_are_the_same_values(seen: list[bytes]) -> None:
    body = b'{"result": {"ID": 9223372036854775807}, "time": {"duration": 0.0014154911041259766}}'
    assert _decode(body) == json.loads(body) and seen == [body]  # PHP_INT_MAX: the largest integer PHP writes


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"result": NaN}', "not JSON"),
        (b'{"result": [], "next": 1e400}', "out of range"),
        (b"<html>Bad gateway</html>", "not JSON"),
    ],
)
def test_refusals_get_json_s_errors(seen: list[bytes], body: bytes, message: str) -> None:
    with pytest.raises(ResponseDecodeError, match=message):
        _decode(body)
