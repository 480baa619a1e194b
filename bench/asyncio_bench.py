"""Workload 7: the asyncio client (``b24crm.AsyncClient``) against the sync client and fast_bitrix24's async one.

Three measurements, each client in a fresh subprocess (``bench/workers.py``, workloads ``small_calls``,
``async_read`` and ``many_tasks``), all on the same emulator process per measurement:

* 2,000 small calls (``crm.settings.mode.get``) with every limiter off: ``AsyncClient`` (all 2,000 as tasks,
  its pool of 100 connections), ``Client`` shared by 16 threads, and fast_bitrix24's ``BitrixAsync``
  (``call(..., raw=True)``, one HTTP request per call, its throttle lifted). Calls per second and client
  CPU per call.
* The bulk read of N stage-history records through ``AsyncClient.iter_all`` against ``Client.iter_all``:
  requests, wall, client CPU per record.
* 1,000 concurrent tasks on the standard plan (50 burst, 2 per second): QUERY_LIMIT_EXCEEDED count and the
  wall time against the floor ((accepted requests - burst) / rate); ``--quick`` runs 200 tasks on 10/20.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emu import EmulatorProcess

SMALL_CLIENTS = ("b24crm_async", "b24crm_threads", "fast_bitrix24_async")


def bench_asyncio(quick: bool, worker: Callable[..., dict[str, Any]], log: Callable[[str], None]) -> dict[str, Any]:
    calls = 500 if quick else 2_000
    repeats = 1 if quick else 3
    small: list[dict[str, Any]] = []
    with EmulatorProcess(seed="empty") as emu:
        for rep in range(repeats):
            for client in SMALL_CLIENTS:
                emu.reset()
                log(f"asyncio: {calls:,} small calls via {client} run {rep + 1}/{repeats}")
                run = worker({"workload": "small_calls", "client": client, "webhook": emu.webhook_url, "n": calls})
                emu.wait_idle()
                run.update(client=client, rep=rep, requests=emu.stats()["requests"])
                log(f"  -> {run.get('calls_per_s', 0):.0f} calls/s, {run.get('cpu_us_per_call', 0):.0f} µs CPU/call")
                small.append(run)
    n = 10_000 if quick else 100_000
    reads: list[dict[str, Any]] = []
    with EmulatorProcess(stage_history=n) as emu:
        for rep in range(repeats):
            for client in ("b24crm_async", "b24crm"):
                emu.reset()
                log(f"asyncio: bulk read N={n:,} via {client} run {rep + 1}/{repeats}")
                workload = "async_read" if client == "b24crm_async" else "read"
                run = worker({"workload": workload, "client": "b24crm", "webhook": emu.webhook_url, "n": n})
                emu.wait_idle()
                stats = emu.stats()  # the async run's one warm-up call (opening its session) is not the read's
                requests = stats["requests"] - stats["by_method"].get("crm.settings.mode.get", 0)
                run.update(client=client, rep=rep, n=n, requests=requests)
                log(f"  -> {run.get('records')} records, {run['requests']} requests, {run.get('wall_s', 0):.2f}s")
                reads.append(run)
    tasks, plan = (200, "10/20") if quick else (1_000, "standard")
    burst, rate = (10, 20.0) if quick else (50, 2.0)
    with EmulatorProcess(seed="empty", plan=plan) as emu:
        log(f"asyncio: {tasks:,} concurrent tasks on plan {plan}")
        many = worker({"workload": "many_tasks", "webhook": emu.webhook_url, "n": tasks, "plan": plan}, timeout=1_800)
        emu.wait_idle()
        stats = emu.stats()
        accepted = stats["requests"] - stats["rate_limited"]
        floor = max(0.0, (accepted - burst) / rate)
        many.update(
            tasks=tasks,
            plan=plan,
            requests=stats["requests"],
            rate_limited=stats["rate_limited"],
            floor_s=floor,
            wall_over_floor=(many.get("wall_s", 0.0) / floor) if floor else None,
        )
        log(f"  -> {stats['rate_limited']} rate-limited, {many.get('wall_s', 0):.2f}s wall, floor {floor:.2f}s")
    return {"calls": calls, "small": small, "read_n": n, "reads": reads, "many": many}
