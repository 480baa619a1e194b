"""The runtime against the emulator (b24crm.testing), over real HTTP on loopback.

Skipped until both the generated package and the emulator are importable (run with generated/ on the path).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

testing = pytest.importorskip("b24crm.testing")
pytest.importorskip("b24crm._client")

from b24crm.runtime.errors import RateLimited, ResponseDecodeError, TransportError  # noqa: E402

Emulator: Any = testing.Emulator


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    with Emulator(seed="demo", stage_history=6000) as e:
        yield e


@pytest.fixture(autouse=True)
def _clean(emu: Any) -> Iterator[None]:
    emu.faults.clear()
    yield
    emu.faults.clear()


def _quick(emu: Any, **kw: Any) -> Any:
    from b24crm.runtime.retry import RetryPolicy

    kw.setdefault("retry_policy", RetryPolicy(max_attempts=kw.pop("max_attempts", 4), base_delay=0.001))
    return emu.client(**kw)


def test_bulk_read_request_count(emu: Any) -> None:
    client = _quick(emu)
    before = emu.stats()["requests"]
    items = list(client.crm.stagehistory.iter_all(entity_type_id=2))
    used = emu.stats()["requests"] - before
    ids = [i.id for i in items]
    assert ids == sorted(set(ids))
    assert used <= -(-len(items) // 2500) + 1


def test_query_limit_is_retried(emu: Any) -> None:
    client = _quick(emu)
    emu.faults.add(method="crm.settings.mode.get", kind="query_limit", times=2)
    assert client.crm.settings.mode.get() in (1, 2)


def test_query_limit_budget(emu: Any) -> None:
    client = _quick(emu, max_attempts=2)
    emu.faults.add(method="crm.settings.mode.get", kind="query_limit", times=5)
    with pytest.raises(RateLimited):
        client.crm.settings.mode.get()


def test_html_and_truncated_pages_on_reads_are_retried(emu: Any) -> None:
    client = _quick(emu)
    emu.faults.add(method="crm.settings.mode.get", kind="html", times=1)
    emu.faults.add(method="crm.settings.mode.get", kind="truncated", times=1)
    assert client.crm.settings.mode.get() in (1, 2)


def test_html_page_surfaces_as_decode_error(emu: Any) -> None:
    client = _quick(emu, max_attempts=1)
    emu.faults.add(method="crm.settings.mode.get", kind="html", times=1)
    with pytest.raises(ResponseDecodeError) as info:
        client.crm.settings.mode.get()
    assert info.value.http_status == 502 and "Bad Gateway" in info.value.excerpt


def test_write_reset_after_sending_is_not_repeated(emu: Any) -> None:
    client = _quick(emu)
    emu.faults.add(method="crm.status.add", kind="reset_after", times=1)
    with pytest.raises(TransportError) as info:
        client.call("crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "RT_X1", "NAME": "x"}})
    assert info.value.may_have_run
    names = [s["STATUS_ID"] for s in client.call("crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}})]
    assert names.count("RT_X1") == 1  # it did run, exactly once


def test_oauth_expired_token_refreshes(emu: Any) -> None:
    seen: list[Any] = []
    client = _quick(emu, auth="oauth", on_tokens=seen.append)
    emu.expire_tokens()
    assert client.crm.settings.mode.get() in (1, 2)
    assert len(seen) == 1


def test_portal_move(emu: Any) -> None:
    moves: list[tuple[str, str]] = []
    client = _quick(emu, on_portal_moved=lambda a, b: moves.append((a, b)))
    emu.faults.add(method="crm.settings.mode.get", kind="moved", times=1)
    assert client.crm.settings.mode.get() in (1, 2)
    assert moves and moves[0][1] == emu.alternate_base_url


def test_batch_with_reference_and_partial_failure(emu: Any) -> None:
    client = _quick(emu)
    b = client.batch()
    added = b.crm.status.add(fields={"ENTITY_ID": "SOURCE", "STATUS_ID": "RT_B1", "NAME": "b1"})
    got = b.crm.status.get(id=added.ref())
    dup = b.crm.status.add(fields={"ENTITY_ID": "SOURCE", "STATUS_ID": "RT_B1", "NAME": "again"})
    b.execute()
    assert isinstance(added.result, int)
    assert got.result.status_id == "RT_B1"
    assert not dup.ok and dup.error is not None
