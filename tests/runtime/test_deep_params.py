"""Request parameters nested deeper than the portal reads are refused before sending, naming the path;
never a RecursionError from the encoder (100,000 levels) and never a body the server would drop."""

from __future__ import annotations

from typing import Any

import pytest

from b24crm.runtime.batch import BaseBatch
from b24crm.runtime.errors import RequestValidationError
from b24crm.runtime.types import Decoded

from .fakes import ITEM_LIST, Item, make_client

LEVELS = 100_000


def _deep_map(levels: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    return root


def _deep_list(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("deep", [_deep_map(LEVELS), _deep_list(LEVELS)], ids=["mapping", "list"])
def test_over_deep_params_are_a_validation_error_naming_the_path(deep: Any) -> None:
    client, transport, _ = make_client()
    with pytest.raises(RequestValidationError) as info:
        client.call("crm.item.list", {"filter": deep})
    problem = info.value.problems[0]
    assert problem.path.startswith("filter") and "deep" in problem.message
    with pytest.raises(RequestValidationError) as batch_info:  # the batch path encodes the same way
        BaseBatch(client)._invoker.enqueue_page(ITEM_LIST, {"filter": deep}, Decoded(Item))
    assert batch_info.value.problems[0].path.startswith("filter")
    assert transport.requests == []


def test_ordinary_nesting_is_sent() -> None:
    client, transport, _ = make_client()
    client.call("crm.item.list", {"filter": _deep_map(20)})
    assert len(transport.requests) == 1
