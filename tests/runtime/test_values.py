"""Values the server would misread: one encoder for the JSON body and batch commands (issue 14).

NaN and the infinities are not JSON (a PHP portal drops the whole body, filters included); a set, bytes or an
unknown object used to go out as its Python repr. Each either gets its obvious wire form or is refused with a
RequestValidationError naming the path, before anything is sent.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import math
from typing import Any
from urllib.parse import unquote_plus

import pytest

from b24crm.runtime.batch import BaseBatch
from b24crm.runtime.errors import RequestValidationError
from b24crm.runtime.types import Decoded

from .fakes import ITEM_LIST, STATUS_ADD, make_client, ok


class Color(enum.Enum):
    RED = "R"


class Level(enum.IntEnum):
    HIGH = 3


MSK = dt.timezone(dt.timedelta(hours=3))

#: Value -> what the portal must receive (the JSON form).
ENCODED: list[tuple[Any, Any]] = [
    ((1, 2), [1, 2]),
    (range(3), [0, 1, 2]),
    ({3, 1, 2}, [1, 2, 3]),
    (frozenset({"b", "a"}), ["a", "b"]),
    (dt.date(2024, 3, 1), "2024-03-01"),
    (dt.datetime(2024, 3, 1, 7, 0, tzinfo=MSK), "2024-03-01T07:00:00+03:00"),
    (decimal.Decimal("12.50"), "12.50"),
    (decimal.Decimal("1E+2"), "100"),
    (Color.RED, "R"),
    (Level.HIGH, 3),
    ({Color.RED: 1}, {"R": 1}),
    ({5: "x"}, {"5": "x"}),
    (1.5, 1.5),
]

#: Value -> a fragment of the refusal's message.
REFUSED: list[tuple[Any, str]] = [
    (math.nan, "nan"),
    (math.inf, "inf"),
    (-math.inf, "-inf"),
    (decimal.Decimal("NaN"), "Decimal NaN"),
    (b"\x00raw", "bytes"),
    (bytearray(b"x"), "bytes"),
    (object(), "has no wire form"),
    ({1, "a"}, "no order"),
    (dt.datetime(2024, 3, 1, 7, 0), "naive datetime"),
    ({(1, 2): "x"}, "not a string or integer"),
]


@pytest.mark.parametrize(("value", "wire"), ENCODED)
def test_values_with_an_obvious_wire_form_are_encoded(value: Any, wire: Any) -> None:
    from b24crm.runtime.validation import encode_params

    assert encode_params("m", {"filter": {"X": value}}) == {"filter": {"X": wire}}


@pytest.mark.parametrize(("value", "fragment"), REFUSED)
def test_values_without_one_are_refused_naming_the_path(value: Any, fragment: str) -> None:
    from b24crm.runtime.validation import encode_params

    with pytest.raises(RequestValidationError) as info:
        encode_params("crm.deal.list", {"filter": {">OPPORTUNITY": [1, value]}})
    (problem,) = info.value.problems
    assert problem.path.startswith("filter.>OPPORTUNITY[1]")
    assert fragment in problem.message
    assert "crm.deal.list" in str(info.value)


def test_every_problem_is_listed() -> None:
    from b24crm.runtime.validation import encode_params

    with pytest.raises(RequestValidationError) as info:
        encode_params("m", {"a": math.nan, "b": {"c": [b"x", object()]}})
    assert [p.path for p in info.value.problems] == ["a", "b.c[0]", "b.c[1]"]


def test_nan_never_leaves_the_client_on_the_json_path() -> None:
    client, transport, _ = make_client(lambda r: ok([]))
    with pytest.raises(RequestValidationError, match=r"filter\.>OPPORTUNITY"):
        client.call("crm.deal.list", {"filter": {">OPPORTUNITY": math.nan}})  # outside the spec
    with pytest.raises(RequestValidationError, match=r"filter\.>ID"):
        client._invoker.invoke_page(ITEM_LIST, {"filter": {">ID": math.inf}}, Decoded(dict), None)  # in the spec
    with pytest.raises(RequestValidationError, match=r"filter\.@ID"):
        client._invoker.iter_all(ITEM_LIST, {"filter": {"@ID": {1, "2"}}}, Decoded(dict))
    assert transport.requests == []  # nothing was sent


def test_the_json_body_carries_the_encoded_values() -> None:
    client, transport, _ = make_client(lambda r: ok([]))
    client.call(
        "crm.deal.list", {"filter": {"@ID": {3, 1}, ">=DATE": dt.date(2024, 1, 2), "SUM": decimal.Decimal("5.10")}}
    )
    assert transport.requests[0].json == {"filter": {"@ID": [1, 3], ">=DATE": "2024-01-02", "SUM": "5.10"}}


def test_the_batch_path_uses_the_same_encoder() -> None:
    client, transport, _ = make_client(lambda r: ok({"result": {"c0000_crm_deal_list": []}}))
    batch = BaseBatch(client)
    with pytest.raises(RequestValidationError, match=r"filter\.>OPPORTUNITY"):
        batch.call("crm.deal.list", {"filter": {">OPPORTUNITY": -math.inf}})
    with pytest.raises(RequestValidationError, match=r"fields\.NAME"):
        batch._invoker.enqueue(STATUS_ADD, {"fields": {"ENTITY_ID": "S", "STATUS_ID": "A", "NAME": b"x"}}, Decoded(int))
    batch.call("crm.deal.list", {"filter": {"@ID": {3, 1}, "SUM": decimal.Decimal("5.10")}})
    batch.execute()
    (request,) = transport.requests
    command = unquote_plus(request.json["cmd"]["c0000_crm_deal_list"])
    assert command == "crm.deal.list?filter[@ID][0]=1&filter[@ID][1]=3&filter[SUM]=5.10"
