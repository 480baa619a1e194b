"""Several worker processes on one portal (the emulator, standard plan: burst 50, 2 requests/s): with a
shared Redis limiter store they stay under the portal's bucket; with per-process stores the same load
meets QUERY_LIMIT_EXCEEDED. Eight OAuth workers across an access-token expiry refresh exactly once.

Each worker is its own Python process (tests/redis/workerjobs.py) building its own Client, as a Celery or
gunicorn worker does; they are released together once all are ready.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redisproc import RedisProcess
from workerjobs import STATUS_ENTITY, run_workers

from b24crm.testing import Emulator

pytestmark = pytest.mark.heavy

PROCESSES = 4
THREADS = 2


def _ops(process: int, thread: int) -> list[list[Any]]:
    """One thread's share: three writes, reads and a bulk read (~8 requests; 64 for the 4 × 2 workers)."""
    tag = f"ZZW{process}{thread}"
    return [["add", f"{tag}A"], ["list"], ["enum"], ["bulk"], ["add", f"{tag}B"], ["list"], ["add", f"{tag}C"]]


@pytest.fixture
def portal() -> Iterator[Emulator]:
    with Emulator(seed="demo", plan="standard", stage_history=300) as emulator:
        yield emulator


def _run(portal: Emulator, limiter_store: str | None) -> tuple[list[dict[str, Any]], Counter[str]]:
    jobs = [
        {
            "job": "limits",
            "webhook": portal.webhook_url,
            "limiter_store": limiter_store,
            "ops": [_ops(p, t) for t in range(THREADS)],
        }
        for p in range(PROCESSES)
    ]
    results = run_workers(jobs)
    checker = portal.client(rate_limit="off")
    statuses = checker.crm.status.list(filter={"ENTITY_ID": STATUS_ENTITY})
    stored = Counter(str(s.status_id) for s in statuses if str(s.status_id).startswith("ZZW"))
    return results, stored


def test_a_shared_store_keeps_four_workers_under_the_portal_limit(portal: Emulator, redis_url: str) -> None:
    results, stored = _run(portal, redis_url)
    assert [r["errors"] for r in results] == [[]] * PROCESSES
    assert portal.stats()["rate_limited"] == 0  # not one QUERY_LIMIT_EXCEEDED was sent to any worker
    written = [w for r in results for w in r["added"]]
    assert len(written) == PROCESSES * THREADS * 3
    assert stored == Counter(written)  # every write stored, once
    assert set(stored.values()) == {1}


def test_per_process_stores_under_the_same_load_meet_rate_limit_errors(portal: Emulator) -> None:
    results, stored = _run(portal, None)
    assert portal.stats()["rate_limited"] > 0  # each worker thought it had the whole bucket
    written = [w for r in results for w in r["added"]]
    # A refused write did not run: whatever failed is absent, whatever succeeded is stored once.
    assert stored == Counter(written)
    assert set(stored.values()) <= {1}


@pytest.mark.parametrize("kind", ["file", "redis"])
def test_eight_workers_across_a_token_expiry_refresh_once(kind: str, tmp_path: Path, redis_url: str) -> None:
    with Emulator(seed="demo") as portal:
        creds = portal.oauth
        store = str(tmp_path / "tokens.json") if kind == "file" else redis_url
        job = {
            "job": "tokens",
            "base_url": portal.base_url,
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "access_token": creds.access_token,
            "refresh_token": creds.refresh_token,
            "token_url": creds.token_url,
            "token_store": store,
            "calls": 3,
        }
        results = run_workers([job] * 8, between=portal.expire_tokens)
        refreshes = portal.stats()["oauth_refreshes"]
    assert [r["errors"] for r in results] == [[]] * 8  # no invalid_grant, nothing failed
    assert [r["ok"] for r in results] == [6] * 8
    assert refreshes == 1
    assert sum(r["on_tokens"] for r in results) == 1
    assert sorted(r["refreshes"] for r in results) == [0] * 7 + [1]
    assert sum(r["adopted"] for r in results) == 7


def test_four_workers_ride_out_a_redis_restart(portal: Emulator) -> None:
    # Redis is killed a second after the workers start and restarted two seconds later. Policy "local": no worker hangs
    # or fails over the store; the fall-back buckets start full, so what the portal refuses is only the
    # overlap of four local buckets (QUERY_LIMIT_EXCEEDED, refused before running); no write runs twice.
    server = RedisProcess().start()
    try:
        jobs = [
            {
                "job": "limits",
                "webhook": portal.webhook_url,
                "limiter_store": server.url,
                "on_store_unavailable": "local",
                "ops": [_ops(p, t) for t in range(THREADS)],
            }
            for p in range(PROCESSES)
        ]
        outcome: list[list[dict[str, Any]]] = []
        going = threading.Event()
        runner = threading.Thread(target=lambda: outcome.append(run_workers(jobs, released=going.set, timeout=120)))
        runner.start()
        assert going.wait(120)
        time.sleep(1.0)
        server.kill()
        time.sleep(2.0)
        server.start()
        runner.join(150)
        assert not runner.is_alive()
    finally:
        server.stop()
    results = outcome[0]
    assert sum(r["fallbacks"] for r in results) > 0  # the outage did hit the workers mid-run
    errors = [e for r in results for e in r["errors"]]
    assert set(errors) <= {"QueryLimitExceededError:QUERY_LIMIT_EXCEEDED"}
    written = [w for r in results for w in r["added"]]
    checker = portal.client(rate_limit="off")
    statuses = checker.crm.status.list(filter={"ENTITY_ID": STATUS_ENTITY})
    stored = Counter(str(s.status_id) for s in statuses if str(s.status_id).startswith("ZZW"))
    assert stored == Counter(written)
    assert set(stored.values()) == {1}
