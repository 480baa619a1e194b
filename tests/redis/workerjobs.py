"""Worker processes for the many-workers tests and benchmarks: each builds its own ``Client``, as a Celery
worker or a gunicorn process would.

``python tests/redis/workerjobs.py '<json job>'`` prints ``{"event": "ready"}`` once its client is built,
waits for a line on stdin (so every worker starts together), runs the job and prints one JSON result line.
A ``tokens`` job waits for a second line between its two phases (the parent expires the tokens there).

Jobs:
* ``limits``: ``threads`` threads over one client, each running ``ops`` (``["add", id]`` a crm.status.add,
  ``["list"]`` crm.status.list, ``["enum"]`` crm.enum.ownertype, ``["bulk"]`` every crm.stagehistory record).
* ``tokens``: an OAuth client with ``token_store``; ``calls`` reads before and after the expiry.
* ``store``: ``calls`` reservations on a shared limiter store (the store's own cost per call).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

STATUS_ENTITY = "SOURCE"


def _emit(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def _wait_for_parent() -> None:
    sys.stdin.readline()


def _error_name(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return f"{type(exc).__name__}:{code}" if code else type(exc).__name__


def _limits(job: dict[str, Any]) -> dict[str, Any]:
    import b24crm

    options: dict[str, Any] = {"rate_limit": job.get("plan", "standard")}
    if job.get("limiter_store"):
        options["limiter_store"] = job["limiter_store"]
    if job.get("on_store_unavailable"):
        options["on_store_unavailable"] = job["on_store_unavailable"]
    client = b24crm.Client.from_webhook(job["webhook"], **options)
    errors: list[str] = []
    added: list[str] = []
    lock = threading.Lock()

    def run(ops: list[list[Any]]) -> None:
        for op in ops:
            try:
                if op[0] == "add":
                    client.crm.status.add(fields={"ENTITY_ID": STATUS_ENTITY, "STATUS_ID": op[1], "NAME": op[1]})
                    with lock:
                        added.append(op[1])
                elif op[0] == "list":
                    client.crm.status.list(filter={"ENTITY_ID": STATUS_ENTITY})
                elif op[0] == "enum":
                    client.crm.enum.ownertype()
                elif op[0] == "bulk":
                    sum(1 for _ in client.crm.stagehistory.iter_all(entity_type_id=2))
                else:
                    raise ValueError(f"unknown op {op[0]!r}")
            except Exception as exc:  # noqa: BLE001 - every failure is reported to the parent, by name
                with lock:
                    errors.append(_error_name(exc))

    threads = [threading.Thread(target=run, args=(ops,)) for ops in job["ops"]]
    _emit({"event": "ready"})
    _wait_for_parent()
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fallbacks = getattr(client._limiter._store, "fallbacks", 0)  # decisions the Redis store took locally
    return {"wall": time.perf_counter() - started, "errors": errors, "added": added, "fallbacks": fallbacks}


def _tokens(job: dict[str, Any]) -> dict[str, Any]:
    import b24crm

    refreshed: list[int] = []
    client = b24crm.Client.from_oauth(
        job["base_url"],
        client_id=job["client_id"],
        client_secret=job["client_secret"],
        access_token=job["access_token"],
        refresh_token=job["refresh_token"],
        token_url=job["token_url"],
        token_store=job["token_store"],
        on_tokens=lambda tokens: refreshed.append(1),
        rate_limit="off",
        allow_insecure=True,
    )
    errors: list[str] = []
    ok = 0

    def calls() -> None:
        nonlocal ok
        for _ in range(int(job["calls"])):
            try:
                client.crm.enum.ownertype()
                ok += 1
            except Exception as exc:  # noqa: BLE001 - reported to the parent, by name
                errors.append(_error_name(exc))

    _emit({"event": "ready"})
    _wait_for_parent()
    calls()
    _emit({"event": "phase"})
    _wait_for_parent()  # the parent expires every access token here
    calls()
    auth: Any = client._auth
    counts = {"on_tokens": len(refreshed), "refreshes": auth.refreshes, "adopted": auth.adopted}
    return {"ok": ok, "errors": errors, **counts}


def _store(job: dict[str, Any]) -> dict[str, Any]:
    from b24crm.runtime.redis_store import RedisLimiterStore

    store = RedisLimiterStore(job["limiter_store"], on_unavailable="error")
    store.reserve("bench:warmup", 1_000_000, 1e6, 0.0)
    _emit({"event": "ready"})
    _wait_for_parent()
    n = int(job["calls"])
    chunks = 10  # the median chunk: one scheduling hiccup on a busy machine does not decide the figure
    per_chunk: list[float] = []
    for _ in range(chunks):
        started = time.perf_counter()
        for _ in range(max(1, n // chunks)):
            store.reserve(job["key"], 1_000_000_000, 1e9, 0.0)
        per_chunk.append((time.perf_counter() - started) / max(1, n // chunks))
    return {"per_call": sorted(per_chunk)[chunks // 2]}


JOBS = {"limits": _limits, "tokens": _tokens, "store": _store}


# -- the parent side -------------------------------------------------------------------------------------------
def _line(proc: subprocess.Popen[str], expect: str) -> dict[str, Any]:
    assert proc.stdout is not None
    text = proc.stdout.readline()
    if not text:
        proc.wait(timeout=30)
        raise RuntimeError(f"worker exited with {proc.returncode} before {expect!r}")
    data: dict[str, Any] = json.loads(text)
    if data.get("event") != expect:
        raise RuntimeError(f"worker said {data!r}, expected {expect!r}")
    return data


def _go(procs: Sequence[subprocess.Popen[str]]) -> None:
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()


def run_workers(
    jobs: Sequence[dict[str, Any]],
    *,
    between: Callable[[], None] | None = None,
    released: Callable[[], None] | None = None,
    timeout: float = 120.0,
) -> list[dict[str, Any]]:
    """Start one process per job, release them together once all are ready, return their results in order.

    ``between`` (tokens jobs) runs after every worker finished its first phase, before the second;
    ``released`` right after the workers were released.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), json.dumps(job)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for job in jobs
    ]
    # A worker that hangs is killed, so its readline ends and the run fails instead of hanging the suite.
    def kill_all() -> None:
        for proc in procs:
            proc.kill()

    watchdog = threading.Timer(timeout, kill_all)
    watchdog.start()
    try:
        for proc in procs:
            _line(proc, "ready")
        _go(procs)
        if released is not None:
            released()
        if between is not None:
            for proc in procs:
                _line(proc, "phase")
            between()
            _go(procs)
        results = [_line(proc, "done") for proc in procs]
        for proc in procs:
            proc.wait(timeout=timeout)
        return results
    finally:
        watchdog.cancel()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def main() -> None:
    job = json.loads(sys.argv[1])
    result = JOBS[job["job"]](job)
    _emit({"event": "done", **result})


if __name__ == "__main__":
    main()
