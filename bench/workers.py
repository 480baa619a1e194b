"""Client-side workloads, each run in a fresh subprocess so its CPU time and peak memory are its own.

``python bench/workers.py '<json job>'`` prints one JSON object. A job names a ``workload`` (``read``,
``calls``, ``batch_add``), a ``client`` (``b24crm``, ``fast_bitrix24``, ``b24pysdk``, ``b24pysdk_counted``)
and the emulator's webhook URL. Timing starts after imports and client construction: wall time
(``perf_counter``), CPU time of this process (``process_time``, user + system) and its peak RSS
(``ru_maxrss``), next to the RSS before the workload started.
"""

from __future__ import annotations

import importlib
import json
import logging
import resource
import statistics
import sys
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import Any

Job = dict[str, Any]


def _rss_mb() -> float:
    """Current resident set size in MB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except OSError:
        return 0.0
    return pages * resource.getpagesize() / 2**20


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


# -- clients --------------------------------------------------------------------------------------------------
def _b24crm(job: Job) -> Any:
    if job.get("orjson_path"):  # the ``fast`` extra, installed beside the venv for this run (bench/deal_export.py)
        sys.path.insert(0, job["orjson_path"])
    import b24crm

    plan = job.get("plan")
    return b24crm.Client.from_webhook(job["webhook"], rate_limit=tuple(plan) if plan else "off")


def _fast(job: Job) -> Any:
    from fast_bitrix24 import Bitrix

    logging.getLogger("fast_bitrix24").setLevel(logging.WARNING)
    plan = job.get("plan")
    if plan:  # what its README tells users to do: match the throttle to the portal's plan
        return Bitrix(job["webhook"], verbose=False, request_pool_size=int(plan[0]), requests_per_second=plan[1])
    if job.get("unthrottled"):  # many small calls: its default 2 requests/s would be measured, not its overhead
        return Bitrix(job["webhook"], verbose=False, request_pool_size=1_000_000, requests_per_second=1e6)
    return Bitrix(job["webhook"], verbose=False)


def _b24pysdk(job: Job) -> Any:
    import b24pysdk

    # b24pysdk always builds https://<domain>/rest/...; the emulator serves plain HTTP on loopback, so the
    # benchmark swaps only the scheme (one property) — the request path, body and retries are untouched.
    call_method = importlib.import_module("b24pysdk.api.callers.call_method")
    call_method._MethodCaller._base_url = property(lambda self: f"http://{self._domain}/rest")
    url = urllib.parse.urlsplit(job["webhook"])
    hook = b24pysdk.BitrixWebhook(domain=url.netloc, webhook_token=url.path.removeprefix("/rest/"))
    return b24pysdk.Client(hook)


# -- workload 1/2: bulk read --------------------------------------------------------------------------------
def _read_records(job: Job, client: Any) -> Iterator[int]:
    """Yield the ID of every record, through the client's documented bulk-read path."""
    name = job["client"]
    if name == "b24crm":
        for record in client.crm.stagehistory.iter_all(entity_type_id=2):  # typed StageHistoryItem models
            yield record.id
    elif name == "fast_bitrix24":
        for row in client.get_all("crm.stagehistory.list", {"entityTypeId": 2}):  # a list of dicts
            yield int(row["ID"])
    elif name == "b24pysdk":
        for row in client.crm.stagehistory.list(entity_type_id=2).as_list_fast().result:  # dict generator
            yield int(row["ID"])
    elif name == "b24pysdk_counted":
        for row in client.crm.stagehistory.list(entity_type_id=2).as_list().result:
            yield int(row["ID"])
    else:
        raise ValueError(f"unknown client {name!r}")


def _measure_ids(job: Job, ids: Callable[[], Iterator[int]]) -> dict[str, Any]:
    """Drain ``ids()`` (IDs 1..n), timed from after client construction: count, completeness, wall, CPU, RSS."""
    rss_before = _rss_mb()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    count = id_sum = 0
    error = None
    try:
        for record_id in ids():
            count += 1
            id_sum += record_id
    except Exception as exc:  # noqa: BLE001 - a failed run is a result too
        error = f"{type(exc).__name__}: {exc}"[:300]
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    n = int(job["n"])
    return {
        "records": count,
        "complete": count == n and id_sum == n * (n + 1) // 2,
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_before_mb": rss_before,
        "peak_rss_mb": _maxrss_mb(),
        "error": error,
    }


def read(job: Job) -> dict[str, Any]:
    client = _CLIENTS[job["client"]](job)
    out = _measure_ids(job, lambda: _read_records(job, client))
    out["cpu_ms_per_1000"] = out["cpu_s"] / max(out["records"], 1) * 1000 * 1000
    return out


# -- workload 8: deal export ----------------------------------------------------------------------------------
#: What the export selects: every standard field and every user field (``UF_CRM_1700000000`` on the synthetic deals).
DEAL_SELECT = ["*", "UF_*"]


def _deal_fields() -> Callable[[Any], tuple[Any, ...]]:
    """Reads every attribute of a typed ``Deal`` (each one decoded): what "every field" means for b24crm."""
    import operator

    import attrs

    from b24crm.models import Deal

    return operator.attrgetter(*(a.name for a in attrs.fields(Deal)))


def _deal_ids(job: Job, client: Any) -> Iterator[int]:
    """Yield the ID of every deal, through the client's documented bulk read of crm.deal.list.

    ``job["reads"]``: ``"id"`` (the default) reads each deal's ID; ``"all"`` reads every field as well — the
    typed model's every attribute for b24crm (each one decoded), every value of the dict for the peers.
    """
    name = job["client"]
    every = job.get("reads", "id") == "all"
    if name in ("b24crm", "b24crm_orjson"):  # typed Deal models; the UF_* field in additional_properties
        fields = _deal_fields()
        for deal in client.crm.deal.iter_all(select=DEAL_SELECT):
            if every:
                fields(deal)
            yield deal.id
        return
    if name == "fast_bitrix24":  # a list of dicts
        rows: Iterable[dict[str, Any]] = client.get_all("crm.deal.list", {"select": DEAL_SELECT})
    elif name == "b24pysdk":  # a generator of dicts
        rows = client.crm.deal.list(select=DEAL_SELECT).as_list_fast().result
    else:
        raise ValueError(f"unknown client {name!r}")
    for row in rows:
        if every:
            tuple(row.values())
        yield int(row["ID"])


def deal_export(job: Job) -> dict[str, Any]:
    """Every deal with ``select: ["*", "UF_*"]``, measured as ``read`` measures (after client construction)."""
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)  # crm.deal.list is deprecated by Bitrix24; still served
    name = job["client"]
    client = _CLIENTS[name](job)
    out = _measure_ids(job, lambda: _deal_ids(job, client))
    out["cpu_us_per_record"] = out["cpu_s"] / max(out["records"], 1) * 1e6
    out["json_parser"] = sys.modules["b24crm.runtime.envelope"].JSON_PARSER if "b24crm" in name else "json"
    return out


def deal_decode(job: Job) -> dict[str, Any]:
    """Where a typed deal's CPU goes: parsing a 2,500-deal body (json, and orjson when ``orjson_path`` has it)
    and b24crm's decoding of the parsed records into ``Deal`` models, µs per deal (best of ``repeats``)."""
    import timeit
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)
    client = _b24crm(job)
    from b24crm.models import Deal
    from b24crm.runtime.converter import from_wire, records_from_wire

    rows: list[Any] = []
    while len(rows) < 2500:  # 50 count-free pages, as one chained batch of the export carries them
        page = client.call_raw(
            "crm.deal.list", {"select": DEAL_SELECT, "filter": {">ID": len(rows)}, "order": {"ID": "ASC"}, "start": -1}
        ).result
        rows += page
    body = json.dumps({"result": {"d": rows[:2500]}}).encode()
    records = json.loads(body)["result"]["d"]
    repeats = int(job.get("repeats", 10))

    def per_deal(fn: Callable[[], Any]) -> float:
        return min(timeit.repeat(fn, number=1, repeat=repeats)) / 2500 * 1e6

    fields = _deal_fields()

    def lazy_id() -> None:
        for deal in records_from_wire(records, Deal, "bench"):
            deal.id  # noqa: B018 - the read is the measurement

    def lazy_all() -> None:
        for deal in records_from_wire(records, Deal, "bench"):
            fields(deal)

    out = {
        "fields_per_deal": len(records[0]),
        "json_loads_us": per_deal(lambda: json.loads(body)),
        "decode_us": per_deal(lambda: from_wire(records, list[Deal], "bench")),
        "lazy_id_us": per_deal(lazy_id),
        "lazy_all_us": per_deal(lazy_all),
    }
    try:
        import orjson  # type: ignore[import-not-found,unused-ignore]

        out["orjson_loads_us"] = per_deal(lambda: orjson.loads(body))
    except ImportError:
        pass
    return out


# -- workload 3: per-call overhead --------------------------------------------------------------------------
def calls(job: Job) -> dict[str, Any]:
    """Interleaved blocks of the same small call through each contender; median per-call wall and CPU."""
    import urllib3

    webhook: str = job["webhook"]
    status_id = int(job["status_id"])
    rounds, block = int(job["rounds"]), int(job["block"])
    crm = _b24crm({"webhook": webhook})
    pool = urllib3.PoolManager(maxsize=1)  # keep-alive, like the client's own pool
    headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}

    def plain(method: str, params: dict[str, Any]) -> Callable[[], Any]:
        url = f"{webhook}{method}.json"

        def call() -> Any:
            body = json.dumps(params).encode()
            return json.loads(pool.request("POST", url, body=body, headers=headers).data)["result"]

        return call

    contenders: dict[str, dict[str, Callable[[], Any]]] = {
        "crm.enum.ownertype": {
            "urllib3+json": plain("crm.enum.ownertype", {}),
            "b24crm": crm.crm.enum.ownertype,
        },
        "crm.status.get": {
            "urllib3+json": plain("crm.status.get", {"id": status_id}),
            "b24crm": lambda: crm.crm.status.get(id=status_id),
        },
    }
    if job.get("peers"):
        sdk = _b24pysdk({"webhook": webhook})
        fast = _fast({"webhook": webhook, "unthrottled": True})
        contenders["crm.enum.ownertype"]["b24pysdk"] = lambda: sdk.crm.enum.ownertype().result
        contenders["crm.status.get"]["b24pysdk"] = lambda: sdk.crm.status.get(bitrix_id=status_id).result
        contenders["crm.enum.ownertype"]["fast_bitrix24"] = lambda: fast.call("crm.enum.ownertype", raw=True)
        contenders["crm.status.get"]["fast_bitrix24"] = lambda: fast.call("crm.status.get", {"id": status_id})
    out: dict[str, Any] = {}
    for method, table in contenders.items():
        walls: dict[str, list[float]] = {name: [] for name in table}
        cpus: dict[str, list[float]] = {name: [] for name in table}
        names = list(table)
        for r in range(rounds + 1):
            order = names[r % len(names) :] + names[: r % len(names)]  # rotate who goes first
            for name in order:
                fn = table[name]
                w0, c0 = time.perf_counter(), time.process_time()
                for _ in range(block):
                    fn()
                w, c = time.perf_counter() - w0, time.process_time() - c0
                if r:  # round 0 warms connections and caches
                    walls[name].append(w / block)
                    cpus[name].append(c / block)
        out[method] = {
            name: {
                "wall_us_median": statistics.median(walls[name]) * 1e6,
                "wall_us_spread": [min(walls[name]) * 1e6, max(walls[name]) * 1e6],
                "cpu_us_median": statistics.median(cpus[name]) * 1e6,
                "calls": rounds * block,
            }
            for name in names
        }
    return out


# -- workload 4: 1,000 crm.status.add through batch ---------------------------------------------------------
def _fields(i: int) -> dict[str, Any]:
    return {"ENTITY_ID": "SOURCE", "STATUS_ID": f"BN{i}", "NAME": f"Bench source {i}", "SORT": 500 + i}


def batch_add(job: Job) -> dict[str, Any]:
    count = int(job["count"])
    name = job["client"]
    client = _CLIENTS[name](job)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    ok = 0
    error = None
    try:
        if name == "b24crm":
            batch = client.batch()
            handles = [batch.crm.status.add(fields=_fields(i)) for i in range(count)]
            batch.execute()
            ok = sum(1 for h in handles if h.error is None and isinstance(h.result, int))
        elif name == "fast_bitrix24":
            results = client.call("crm.status.add", [{"fields": _fields(i)} for i in range(count)])
            ok = sum(1 for r in _as_list(results) if _is_id(r))
        elif name == "b24pysdk":
            requests = {f"c{i:04d}": client.crm.status.add(fields=_fields(i)) for i in range(count)}
            result = client.call_batches(requests).result.result  # B24APIBatchResult.result: {key: id}
            ok = sum(1 for r in result.values() if _is_id(r))
        else:
            raise ValueError(f"unknown client {name!r}")
    except Exception as exc:  # noqa: BLE001
        error = f"{type(exc).__name__}: {exc}"[:300]
    return {
        "ok": ok,
        "wall_s": time.perf_counter() - wall0,
        "cpu_s": time.process_time() - cpu0,
        "error": error,
    }


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes, dict)):
        return list(value)
    return [value]


def _is_id(value: Any) -> bool:
    try:
        return int(value) > 0
    except (TypeError, ValueError):
        return False


# -- the decoding floor: what CPython alone costs per 1,000 records ------------------------------------------------
def decode_floor(job: Job) -> dict[str, Any]:
    """``json.loads`` of a 2,500-record batch, bare construction of the typed model, and b24crm's full decode."""
    import datetime as dt
    import timeit

    from b24crm.models import StageHistoryItem
    from b24crm.runtime.converter import from_wire
    from b24crm.testing.methods.stagehistory import Synthetic

    synth = Synthetic(0, 2500, 1_704_067_200.0)
    rows = [{k: v for k, v in synth.row(i).items() if k != "_ts"} for i in range(1, 2501)]
    body = json.dumps({"result": {"items": rows}}).encode()
    items = json.loads(body)["result"]["items"]
    when = dt.datetime.fromisoformat(rows[0]["CREATED_TIME"])
    repeats = int(job.get("repeats", 20))

    def per_1000(fn: Callable[[], Any], records: int) -> float:
        best = min(timeit.repeat(fn, number=1, repeat=repeats))
        return best / records * 1000 * 1000  # ms per 1,000 records

    def construct() -> None:
        for row in rows:
            StageHistoryItem(
                id=row["ID"],
                type_id=row["TYPE_ID"],
                owner_id=row["OWNER_ID"],
                created_time=when,
                category_id=row["CATEGORY_ID"],
                stage_semantic_id=row["STAGE_SEMANTIC_ID"],
                stage_id=row["STAGE_ID"],
            )

    return {
        "json_loads_ms_per_1000": per_1000(lambda: json.loads(body), 2500),
        "model_init_ms_per_1000": per_1000(construct, 2500),
        "b24crm_decode_ms_per_1000": per_1000(lambda: from_wire(items, list[StageHistoryItem], "bench"), 2500),
    }


# -- workload 5: emulator throughput ------------------------------------------------------------------------
def throughput(job: Job) -> dict[str, Any]:
    from b24crm.testing import Emulator
    from b24crm.testing.throughput import measure

    out: dict[str, Any] = {}
    with Emulator(seed="empty") as emu:
        for connections in job["connections"]:
            runs = [measure(emu, calls=int(job["calls"]), connections=connections) for _ in range(int(job["repeats"]))]
            out[str(connections)] = runs
    return out


# -- workload 7: the asyncio client -------------------------------------------------------------------------
class _Meter:
    """Wall and CPU time from ``start()`` (after construction and one warm-up call) to ``stop()``."""

    def start(self) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()

    def stop(self, ok: int, **extra: Any) -> dict[str, Any]:
        wall, cpu = time.perf_counter() - self.wall0, time.process_time() - self.cpu0
        return {
            "ok": ok,
            "wall_s": wall,
            "cpu_s": cpu,
            "calls_per_s": ok / wall if wall else 0.0,
            "cpu_us_per_call": cpu / max(ok, 1) * 1e6,
            "peak_rss_mb": _maxrss_mb(),
            "error": None,
            **extra,
        }


def small_calls(job: Job) -> dict[str, Any]:
    """``n`` tiny calls, all limiters off: AsyncClient tasks, Client on 16 threads, fast_bitrix24 async."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import b24crm

    name, n, meter = job["client"], int(job["n"]), _Meter()
    if name == "b24crm_threads":
        client = b24crm.Client.from_webhook(job["webhook"], rate_limit="off", pool_maxsize=16)
        client.crm.settings.mode.get()
        meter.start()
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda _: client.crm.settings.mode.get(), range(n)))
        return meter.stop(sum(1 for r in results if r == 1))

    async def b24crm_tasks() -> dict[str, Any]:
        async with b24crm.AsyncClient.from_webhook(job["webhook"], rate_limit="off") as aclient:
            await aclient.crm.settings.mode.get()
            meter.start()
            results = await asyncio.gather(*(aclient.crm.settings.mode.get() for _ in range(n)))
            return meter.stop(sum(1 for r in results if r == 1))

    async def fast_tasks() -> dict[str, Any]:
        from fast_bitrix24 import BitrixAsync

        logging.getLogger("fast_bitrix24").setLevel(logging.WARNING)
        bx = BitrixAsync(
            job["webhook"],
            verbose=False,
            request_pool_size=1_000_000,
            requests_per_second=1e6,
        )
        await bx.call("crm.settings.mode.get", raw=True)
        meter.start()
        results = await asyncio.gather(*(bx.call("crm.settings.mode.get", raw=True) for _ in range(n)))
        return meter.stop(len(results))

    return asyncio.run(b24crm_tasks() if name == "b24crm_async" else fast_tasks())


def async_read(job: Job) -> dict[str, Any]:
    """The bulk read through ``AsyncClient.iter_all`` (``async for``), measured as ``read`` measures: from
    after the client exists (its session open) to the last record."""
    import asyncio

    import b24crm

    n, meter = int(job["n"]), _Meter()

    async def run() -> dict[str, Any]:
        async with b24crm.AsyncClient.from_webhook(job["webhook"], rate_limit="off") as client:
            await client.crm.settings.mode.get()
            rss_before = _rss_mb()
            meter.start()
            got = [record.id async for record in client.crm.stagehistory.iter_all(entity_type_id=2)]
            out = meter.stop(len(got), rss_before_mb=rss_before)
        out.update(
            records=len(got),
            complete=len(got) == n and sum(got) == n * (n + 1) // 2,
            cpu_ms_per_1000=out["cpu_s"] / max(len(got), 1) * 1000 * 1000,
        )
        return out

    return asyncio.run(run())


def many_tasks(job: Job) -> dict[str, Any]:
    """``n`` concurrent tasks, the client's limiter matched to the emulator's plan."""
    import asyncio

    import b24crm

    n, meter = int(job["n"]), _Meter()
    plan: Any = job["plan"]
    if "/" in plan:
        burst, rate = plan.split("/")
        plan = (int(burst), float(rate))

    async def run() -> dict[str, Any]:
        async with b24crm.AsyncClient.from_webhook(job["webhook"], rate_limit=plan) as client:
            meter.start()
            results = await asyncio.gather(*(client.crm.settings.mode.get() for _ in range(n)))
            return meter.stop(sum(1 for r in results if r == 1))

    return asyncio.run(run())


_CLIENTS: dict[str, Callable[[Job], Any]] = {
    "b24crm": _b24crm,
    "fast_bitrix24": _fast,
    "b24pysdk": _b24pysdk,
    "b24pysdk_counted": _b24pysdk,
    "b24crm_orjson": _b24crm,
}
_WORKLOADS: dict[str, Callable[[Job], dict[str, Any]]] = {
    "read": read,
    "calls": calls,
    "batch_add": batch_add,
    "throughput": throughput,
    "decode_floor": decode_floor,
    "small_calls": small_calls,
    "async_read": async_read,
    "many_tasks": many_tasks,
    "deal_export": deal_export,
    "deal_decode": deal_decode,
}


def main(argv: list[str]) -> int:
    job: Job = json.loads(argv[1])
    try:
        result = _WORKLOADS[job["workload"]](job)
    except Exception:  # noqa: BLE001 - report, do not hide
        result = {"error": traceback.format_exc()[-1500:]}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
