"""Batch: handles, references, chunking, partial success, halt, encoding."""

from __future__ import annotations

import re
from typing import Any

import pytest

from b24crm.runtime.batch import BaseBatch, BatchRef, encode_command, parse_batch_result, parse_ref_path
from b24crm.runtime.errors import BatchCommandSkipped, BatchError, RequestValidationError, ResponseDecodeError
from b24crm.runtime.paging import Page
from b24crm.runtime.transport import HttpResponse
from b24crm.runtime.types import Decoded

from .fakes import (
    ITEM_LIST,
    STATUS_ADD,
    STATUS_GET,
    DuplicateStatusError,
    Item,
    Request,
    Status,
    make_client,
    ok,
    parse_str,
)


class EchoBatchPortal:
    """Answers every batch command with {"ID": <n>} where n is its position; fails listed keys."""

    def __init__(self, fail: set[int] | None = None, halt_aware: bool = True) -> None:
        self.fail = fail or set()
        self.batches: list[dict[str, Any]] = []
        self.halt_aware = halt_aware

    def __call__(self, req: Request) -> HttpResponse:
        data = req.json
        assert req.api_method == "batch"
        self.batches.append(data)
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        times: dict[str, Any] = {}
        for key, cmd in data["cmd"].items():
            n = int(key[1:5])
            if n in self.fail:
                errors[key] = {"error": "ERROR_CORE", "error_description": "The specified status ID already exists."}
                if data["halt"] and self.halt_aware:
                    break
                continue
            results[key] = {"ID": str(n), "STATUS_ID": f"S{n}"} if "status.get" in cmd else n
            times[key] = {"operating": 1.0}
        return ok(
            {
                "result": results or [],
                "result_error": errors or [],
                "result_total": [],
                "result_next": [],
                "result_time": times or [],
            }
        )


def add_params(n: int) -> dict[str, Any]:
    return {"fields": {"ENTITY_ID": "STATUS", "STATUS_ID": f"S{n}", "NAME": f"n{n}"}}


def test_ref_path_forms() -> None:
    assert parse_ref_path("ID") == ("ID",)
    assert parse_ref_path("items.0.ID") == ("items", "0", "ID")
    assert parse_ref_path("[0][ID]") == ("0", "ID")
    assert parse_ref_path("items[0].ID") == ("items", "0", "ID")
    assert parse_ref_path("") == ()


def test_handles_get_typed_results_and_keys_are_never_numeric() -> None:
    portal = EchoBatchPortal()
    client, transport, _ = make_client(portal)
    b = BaseBatch(client)
    h1 = b._invoker.enqueue(STATUS_ADD, add_params(1), Decoded(int))
    h2 = b._invoker.enqueue(STATUS_GET, {"id": 3}, Decoded(Status))
    assert not h1.done
    with pytest.raises(BatchError, match="not been executed"):
        _ = h1.result
    b.execute()
    assert len(transport.requests) == 1
    assert h1.ok and h1.result == 0
    assert isinstance(h2.result, Status) and h2.result.id == 1 and h2.result.status_id == "S1"
    keys = list(portal.batches[0]["cmd"])
    assert keys == ["c0000_crm_status_add", "c0001_crm_status_get"]
    assert all(not k.isdigit() for k in keys)
    assert portal.batches[0]["halt"] == 0


def test_command_encoding_uses_php_query() -> None:
    text = encode_command("crm.status.add", {"fields": {"ENTITY_ID": "STATUS", "NAME": "a b&c"}, "flag": True})
    method, _, query = text.partition("?")
    assert method == "crm.status.add"
    assert parse_str(query) == {"fields": {"ENTITY_ID": "STATUS", "NAME": "a b&c"}, "flag": "1"}
    assert encode_command("crm.status.fields", {}) == "crm.status.fields"


def test_reference_becomes_result_expression() -> None:
    portal = EchoBatchPortal()
    client, _, _ = make_client(portal)
    b = BaseBatch(client)
    h1 = b._invoker.enqueue(STATUS_ADD, add_params(1), Decoded(int))
    ref = h1.ref("")
    assert isinstance(ref, BatchRef) and str(ref) == "$result[c0000_crm_status_add]"
    lst = b._invoker.enqueue(ITEM_LIST, {"filter": {"ID": ref}}, Decoded(list[Any]))
    h3 = b._invoker.enqueue(STATUS_GET, {"id": lst.ref("items.0.ID")}, Decoded(Status))  # int expected: ref accepted
    b.execute()
    cmd = portal.batches[0]["cmd"]
    assert parse_str(cmd[lst.key].partition("?")[2]) == {"filter": {"ID": "$result[c0000_crm_status_add]"}}
    assert parse_str(cmd[h3.key].partition("?")[2]) == {"id": "$result[c0001_crm_item_list][items][0][ID]"}


def test_validation_still_applies_around_references() -> None:
    client, transport, _ = make_client(EchoBatchPortal())
    b = BaseBatch(client)
    h = b._invoker.enqueue(STATUS_ADD, add_params(1), Decoded(int))
    with pytest.raises(RequestValidationError) as info:
        b._invoker.enqueue(
            STATUS_ADD, {"fields": {"ENTITY_ID": h.ref("ID"), "STATUS_ID": "TOO_LONG_ID_X"}}, Decoded(int)
        )
    paths = {p.path for p in info.value.problems}
    assert paths == {"fields.STATUS_ID", "fields.NAME"}
    assert len(b) == 1 and not transport.requests


def test_chunks_above_fifty() -> None:
    portal = EchoBatchPortal()
    client, transport, _ = make_client(portal)
    b = BaseBatch(client)
    handles = [b._invoker.enqueue(STATUS_ADD, add_params(i), Decoded(int)) for i in range(120)]
    b.execute()
    assert [len(x["cmd"]) for x in portal.batches] == [50, 50, 20]
    assert len(transport.requests) == 3
    assert [h.result for h in handles] == list(range(120))
    assert len({h.key for h in handles}) == 120


def test_reference_across_chunks_is_refused_before_sending() -> None:
    client, transport, _ = make_client(EchoBatchPortal())
    b = BaseBatch(client)
    first = b._invoker.enqueue(STATUS_ADD, add_params(0), Decoded(int))
    for i in range(1, 50):
        b._invoker.enqueue(STATUS_ADD, add_params(i), Decoded(int))
    b._invoker.enqueue(STATUS_GET, {"id": first.ref()}, Decoded(Status))  # the 51st command: next chunk
    with pytest.raises(BatchError, match="earlier chunk") as info:
        b.execute()
    assert "c0050_crm_status_get" in str(info.value) and "c0000_crm_status_add" in str(info.value)
    assert not transport.requests


def test_reference_within_a_later_chunk_is_fine() -> None:
    portal = EchoBatchPortal()
    client, transport, _ = make_client(portal)
    b = BaseBatch(client)
    for i in range(50):
        b._invoker.enqueue(STATUS_ADD, add_params(i), Decoded(int))
    h = b._invoker.enqueue(STATUS_ADD, add_params(50), Decoded(int))
    b._invoker.enqueue(STATUS_GET, {"id": h.ref()}, Decoded(Status))
    b.execute()
    assert len(transport.requests) == 2


def test_reference_to_another_batch_is_refused() -> None:
    client, _, _ = make_client(EchoBatchPortal())
    a, b = BaseBatch(client), BaseBatch(client)
    h = a._invoker.enqueue(STATUS_ADD, add_params(0), Decoded(int))
    with pytest.raises(BatchError, match="another batch"):
        b._invoker.enqueue(STATUS_GET, {"id": h.ref("ID")}, Decoded(Status))


def test_partial_success_is_kept() -> None:
    client, _, _ = make_client(EchoBatchPortal(fail={1}))
    b = BaseBatch(client)
    hs = [b._invoker.enqueue(STATUS_ADD, add_params(i), Decoded(int)) for i in range(3)]
    b.execute()
    assert hs[0].ok and hs[2].ok and hs[2].result == 2
    assert not hs[1].ok
    assert isinstance(hs[1].error, DuplicateStatusError)  # the method's own error row
    with pytest.raises(DuplicateStatusError):
        _ = hs[1].result


def test_halt_skips_the_rest_including_later_chunks() -> None:
    portal = EchoBatchPortal(fail={1})
    client, transport, _ = make_client(portal)
    b = BaseBatch(client, halt=True)
    hs = [b._invoker.enqueue(STATUS_ADD, add_params(i), Decoded(int)) for i in range(60)]
    b.execute()
    assert len(transport.requests) == 1  # the second chunk was never sent
    assert portal.batches[0]["halt"] == 1
    assert hs[0].ok
    assert isinstance(hs[1].error, DuplicateStatusError)
    assert all(isinstance(h.error, BatchCommandSkipped) for h in hs[2:])


def test_bad_result_decodes_to_a_handle_error() -> None:
    client, _, _ = make_client(EchoBatchPortal())
    b = BaseBatch(client)
    h = b._invoker.enqueue(STATUS_ADD, add_params(0), Decoded(Status))  # an int comes back, a model was declared
    ok_h = b._invoker.enqueue(STATUS_ADD, add_params(1), Decoded(int))
    b.execute()
    assert isinstance(h.error, ResponseDecodeError)
    assert ok_h.result == 1


def test_page_handles() -> None:
    def handler(req: Request) -> HttpResponse:
        key = next(iter(req.json["cmd"]))
        return ok(
            {
                "result": {key: {"items": [{"ID": "5"}]}},
                "result_error": [],
                "result_total": {key: 7},
                "result_next": {key: 50},
                "result_time": {key: {"operating": 0.3}},
            }
        )

    client, _, _ = make_client(handler)
    b = BaseBatch(client)
    h = b._invoker.enqueue_page(ITEM_LIST, {"filter": {}}, Decoded(Item))
    b.execute()
    page = h.result
    assert isinstance(page, Page) and [i.id for i in page.items] == [5]
    assert (page.total, page.next, page.time) == (7, 50, {"operating": 0.3})


def test_raw_call_and_unknown_method() -> None:
    portal = EchoBatchPortal()
    client, _, _ = make_client(portal)
    b = BaseBatch(client)
    h = b.call("crm.deal.add", {"fields": {"TITLE": "x"}})
    b.execute()
    assert h.result == 0
    assert portal.batches[0]["cmd"][h.key].startswith("crm.deal.add?")


def test_nested_batch_and_reuse_refused() -> None:
    client, _, _ = make_client(EchoBatchPortal())
    b = BaseBatch(client)
    with pytest.raises(BatchError):
        b.call("batch", {})
    b.call("crm.deal.add", {})
    b.execute()
    with pytest.raises(BatchError):
        b.execute()
    with pytest.raises(BatchError):
        b.call("crm.deal.add", {})


def test_context_manager_executes() -> None:
    portal = EchoBatchPortal()
    client, _, _ = make_client(portal)
    with BaseBatch(client) as b:
        h = b.call("crm.deal.add", {})
    assert h.ok and len(portal.batches) == 1


def test_batch_retry_uses_commands_idempotency() -> None:
    from b24crm.runtime.errors import ServerError

    from .fakes import Script, err

    client, transport, _ = make_client(
        Script(err("", "Internal", 500), ok({"result": {"c0000_crm_status_get": {"ID": "1", "STATUS_ID": "A"}}}))
    )
    b = BaseBatch(client)
    h = b._invoker.enqueue(STATUS_GET, {"id": 1}, Decoded(Status))
    b.execute()
    assert h.ok and len(transport.requests) == 2  # all reads: the batch may be repeated

    client, transport, _ = make_client(Script(err("", "Internal", 500)))
    b = BaseBatch(client)
    b._invoker.enqueue(STATUS_GET, {"id": 1}, Decoded(Status))
    b._invoker.enqueue(STATUS_ADD, add_params(1), Decoded(int))
    with pytest.raises(ServerError):
        b.execute()
    assert len(transport.requests) == 1  # contains a write: not repeated


@pytest.mark.parametrize("empty", [[], {}])
def test_parse_empty_maps(empty: Any) -> None:
    parsed = parse_batch_result(
        "batch",
        {"result": empty, "result_error": empty, "result_total": empty, "result_next": empty, "result_time": empty},
    )
    assert parsed.result == {} and parsed.error == {} and parsed.time == {}
    assert parse_batch_result("batch", []).result == {}


def test_key_format() -> None:
    client, _, _ = make_client(EchoBatchPortal())
    b = BaseBatch(client)
    h = b.call("crm.entity.mergeBatch", {})
    assert re.fullmatch(r"c\d{4}_[a-z0-9_]+", h.key)
