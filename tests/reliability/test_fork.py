"""A client used before ``os.fork()`` must not share its pooled connections with the child.

Without a fresh pool in the child, parent and child write their requests on the same keep-alive socket and
each reads whichever answer arrives first: a call gets another call's record. Each process here checks that
every answer echoes its own request, while both hammer one client's pool at the same time.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
from typing import Any

import pytest

from b24crm import Client
from b24crm.testing import Emulator

CALLS = 40


def _echo(params: dict[str, Any], ctx: object) -> dict[str, Any]:
    return {"who": params.get("who"), "n": params.get("n")}


def _interleave(client: Client, who: str, start: multiprocessing.synchronize.Event) -> list[str]:
    """``CALLS`` echo calls; every answer that is not this call's own, or that failed, is listed."""
    start.wait(10)
    wrong: list[str] = []
    for n in range(CALLS):
        try:
            answer = client.call("test.echo", {"who": who, "n": n})
        except Exception as exc:  # noqa: BLE001 - a crossed or broken stream shows up as any error
            wrong.append(f"{who} #{n}: {type(exc).__name__}: {exc}")
            continue
        if answer != {"who": who, "n": n}:
            wrong.append(f"{who} #{n}: got {answer!r}")
    return wrong


def _child(client: Client, start: multiprocessing.synchronize.Event, out: Any) -> None:
    out.put(_interleave(client, "child", start))


@pytest.fixture
def echo_emu(emu: Emulator) -> Emulator:
    emu.register("test.echo", _echo, scope=None, validate=False)
    return emu


def test_forked_child_gets_its_own_pool(echo_emu: Emulator) -> None:
    ctx = multiprocessing.get_context("fork")
    client = echo_emu.client(rate_limit="off", max_attempts=1)
    # Warm the pool: the parent now holds an idle keep-alive connection that a fork would copy.
    assert client.call("test.echo", {"who": "parent", "n": -1}) == {"who": "parent", "n": -1}
    start = ctx.Event()
    out = ctx.Queue()
    child = ctx.Process(target=_child, args=(client, start, out))
    child.start()
    try:
        start.set()
        parent_wrong = _interleave(client, "parent", start)
        child_wrong = out.get(timeout=60)
    finally:
        child.join(timeout=60)
    assert child.exitcode == 0
    assert parent_wrong == [] and child_wrong == [], parent_wrong + child_wrong
    assert echo_emu.stats()["by_method"]["test.echo"] == 1 + 2 * CALLS


def _call_once(client: Client, out: Any) -> None:
    out.put(client.call("test.echo", {"who": "child", "n": 0}))


def test_a_child_forked_while_locks_are_held_is_not_stuck(echo_emu: Emulator) -> None:
    ctx = multiprocessing.get_context("fork")
    client = echo_emu.client(rate_limit="standard", max_attempts=1)
    assert client.call("test.echo", {"who": "parent", "n": 0}) == {"who": "parent", "n": 0}
    # As if other parent threads were inside the limiter and the redactor at the moment of the fork: in the
    # child nobody would ever release these copies.
    held = [client._limiter._store._lock, client._redact._lock]  # type: ignore[attr-defined]
    for lock in held:
        lock.acquire()
    try:
        out = ctx.Queue()
        child = ctx.Process(target=_call_once, args=(client, out))
        child.start()
        child.join(timeout=20)
        stuck = child.is_alive()
        if stuck:
            child.kill()
            child.join()
    finally:
        for lock in held:
            lock.release()
    assert not stuck, "the child waited for ever on a lock it inherited held"
    assert child.exitcode == 0 and out.get(timeout=5) == {"who": "child", "n": 0}
