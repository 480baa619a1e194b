"""The seam between the surface and the engine (issue 13): paging and batch need only a ``Sender``.

A scripted sender (no client, no HTTP) drives ``iter_all`` and ``BaseBatch``; the calls they ask for are plain
data (``Call``), and a failed command maps to the same error through one function wherever it arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote_plus

import pytest

from b24crm.runtime import batchwire
from b24crm.runtime.batch import BaseBatch
from b24crm.runtime.envelope import RawResponse
from b24crm.runtime.paging import Page, iter_all
from b24crm.runtime.sender import Call, Sender
from b24crm.runtime.spec import ErrorRow, MethodSpec
from b24crm.runtime.types import Decoded

from .fakes import HISTORY_LIST, ITEM_LIST, REGISTRY, STATUS_ADD, EntityTypeNotSupported, Item


class ScriptedSender:
    """A Sender that answers from a function and records what it was asked."""

    def __init__(self, answer: Callable[[Call], Any]) -> None:
        self.answer = answer
        self.calls: list[Call] = []
        self.spent_on: list[tuple[str, Mapping[str, Any] | None]] = []

    @property
    def system_errors(self) -> Sequence[ErrorRow]:
        return REGISTRY.system_errors

    def find(self, method: str) -> MethodSpec | None:
        return REGISTRY.find(method)

    def send(self, call: Call) -> RawResponse:
        self.calls.append(call)
        return RawResponse(self.answer(call), None, None, None, 200)

    def spent(self, method: str, time: Mapping[str, Any] | None) -> None:
        self.spent_on.append((method, time))


def _items(first: int, count: int) -> dict[str, Any]:
    return {"items": [{"ID": str(i), "NAME": f"n{i}"} for i in range(first, first + count)]}


def test_iter_all_runs_on_any_sender() -> None:
    def answer(call: Call) -> Any:
        if call.method == "batch":
            return {"result": {"p00": _items(51, 50), "p01": _items(101, 7)}, "result_time": {"p00": {"operating": 1}}}
        return _items(1, 50)

    sender = ScriptedSender(answer)
    seam: Sender = sender  # structural: nothing but the four members
    got = [i.id for i in iter_all(seam, ITEM_LIST, {}, Item)]
    assert got == list(range(1, 108))
    lone, chained = sender.calls
    assert lone == Call("crm.item.list", lone.params, None, spec=ITEM_LIST)
    assert lone.params == {"order": {"ID": "ASC"}, "start": -1}
    assert chained.method == "batch" and chained.budget_methods == ("crm.item.list",) and chained.safe_to_repeat
    assert unquote_plus(chained.params["cmd"]["p01"]).endswith("filter[>ID]=$result[p00][items][49][ID]")
    assert sender.spent_on[0] == ("crm.item.list", {"operating": 1})


def test_batch_runs_on_any_sender_and_a_batched_page_is_a_page() -> None:
    def answer(call: Call) -> Any:
        assert call.method == "batch" and not call.safe_to_repeat  # holds a write
        return {
            "result": {"c0000_crm_status_add": 7, "c0001_crm_item_list": _items(1, 2)},
            "result_total": {"c0001_crm_item_list": 2},
        }

    sender = ScriptedSender(answer)
    batch = BaseBatch(sender)
    fields = {"ENTITY_ID": "S", "STATUS_ID": "A", "NAME": "a"}
    added = batch._invoker.enqueue(STATUS_ADD, {"fields": fields}, Decoded(int))
    page = batch._invoker.enqueue_page(ITEM_LIST, {"filter": {">ID": 0}}, Decoded(Item))
    outcome = batch.execute()
    assert added.result == 7
    assert page.result == Page(
        items=[Item(id=1, additional_properties={"NAME": "n1"}), Item(id=2, additional_properties={"NAME": "n2"})],
        total=2,
    )
    assert [c.state for c in outcome.chunks] == ["ran"] and outcome == [added, page]


def test_a_failed_command_maps_the_same_in_a_page_read_and_in_a_batch() -> None:
    body = {"error": "ENTITY_TYPE_NOT_SUPPORTED", "error_description": "Entity type 99 is not supported"}

    def answer(call: Call) -> Any:
        if call.method == "batch" and "p00" in call.params["cmd"]:
            return {"result_error": {"p00": body}}
        if call.method == "batch":
            return {"result_error": {"c0000_crm_stagehistory_list": body}}
        return _items(1, 50)

    with pytest.raises(EntityTypeNotSupported) as paged:
        list(iter_all(ScriptedSender(answer), HISTORY_LIST, {}, Item))
    batch = BaseBatch(ScriptedSender(answer))
    handle = batch._invoker.enqueue_page(HISTORY_LIST, {}, Decoded(Item))
    batch.execute()
    direct = batchwire.command_error(
        HISTORY_LIST.name, body, method_rows=HISTORY_LIST.errors, system_rows=REGISTRY.system_errors
    )
    for error in (paged.value, handle.error):
        assert type(error) is type(direct) and str(error) == str(direct)
