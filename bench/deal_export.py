"""Workload 8 of ``make bench``: export every deal with ``select: ["*", "UF_*"]``, b24crm typed vs the peers' dicts.

Each size N gets one emulator process (``--deals N``: deals 1..N made up on demand, memory flat in N), and every
client reads all N deals through its documented bulk path in a fresh subprocess (``bench/workers.py``
``deal_export``): b24crm ``client.crm.deal.iter_all`` (typed ``Deal`` models, the user field in
``additional_properties``), fast_bitrix24 ``get_all("crm.deal.list", ...)`` (a list of dicts) and b24pysdk
``crm.deal.list(...).as_list_fast()`` (a generator of dicts). The emulator's stats give the requests and the
counted pages (list pages it answered with a ``total``, i.e. a count it had to run).

CPU per record is reported two ways: at each N (the process's CPU from after client construction to the last
record, divided by N), and marginal between the two sizes ((CPU at N₂ − CPU at N₁) / (N₂ − N₁)), which leaves
out what does not grow with N (lazy imports, the first connection) and is the cost of one more deal.
"""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from emu import EmulatorProcess

ROOT = Path(__file__).resolve().parent.parent

CLIENTS = ("b24crm", "b24crm_orjson", "fast_bitrix24", "b24pysdk")
PEERS = ("fast_bitrix24", "b24pysdk")
OURS = ("b24crm", "b24crm_orjson")
LABELS = {
    "b24crm": "b24crm `crm.deal.iter_all` (typed `Deal`)",
    "b24crm_orjson": "b24crm[fast] `crm.deal.iter_all` (typed `Deal`, orjson)",
    "fast_bitrix24": 'fast_bitrix24 `get_all("crm.deal.list")` (dicts)',
    "b24pysdk": "b24pysdk `crm.deal.list().as_list_fast()` (dicts)",
}
Run = dict[str, Any]


def fast_extra_pin() -> str:
    """The ``fast`` extra's requirement as pyproject.toml pins it (``orjson==3.13.0``)."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        pins: list[str] = tomllib.load(f)["project"]["optional-dependencies"]["fast"]
    return pins[0]


def orjson_dir(log: Callable[[str], None]) -> str | None:
    """The ``fast`` extra installed into a directory of its own (``pip install --target``), so the run with it
    and the run without it use one venv; None when pip cannot install it (then only the plain run is measured)."""
    pin = fast_extra_pin()
    target = Path(tempfile.gettempdir()) / f"b24crm-bench-{pin.replace('==', '-')}"
    if not (target / "orjson").is_dir():
        log(f"deal export: installing {pin} into {target} (the fast extra, for the run with it)")
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), pin],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            log(f"  -> not installed ({done.stderr.strip()[-300:]}); measuring without it only")
            return None
    return str(target)


def bench_deal_export(quick: bool, worker: Callable[..., dict[str, Any]], log: Callable[[str], None]) -> dict[str, Any]:
    ns = [2_000, 10_000] if quick else [10_000, 100_000]
    repeats = 1 if quick else 3
    fast = orjson_dir(log)
    clients = [c for c in CLIENTS if c != "b24crm_orjson" or fast]
    runs: list[Run] = []
    for n in ns:
        with EmulatorProcess(deals=n) as emu:
            for rep in range(repeats):
                for client in clients:
                    emu.reset()
                    log(f"deal export N={n:,} {client} run {rep + 1}/{repeats}")
                    job = {"workload": "deal_export", "client": client, "webhook": emu.webhook_url, "n": n}
                    run = worker({**job, "orjson_path": fast} if client == "b24crm_orjson" else job)
                    emu.wait_idle()
                    stats = emu.stats()
                    run.update(
                        client=client,
                        n=n,
                        rep=rep,
                        requests=stats["requests"],
                        counted_pages=stats["counted_pages"],
                        batch_subcalls=stats["batch_subcalls"],
                        server_errors=stats["errors"],
                    )
                    log(
                        f"  -> {run.get('records')} deals, {run['requests']} requests, {run['counted_pages']} counted, "
                        f"{run.get('cpu_us_per_record', 0):.1f} µs CPU/deal, {run.get('peak_rss_mb', 0):.0f} MB, "
                        f"error={run.get('error')}"
                    )
                    runs.append(run)
    with EmulatorProcess(deals=2_500) as emu:
        log("deal export: where a typed deal's CPU goes (parse, decode)")
        job = {"workload": "deal_decode", "webhook": emu.webhook_url, "repeats": 3 if quick else 10}
        costs = worker({**job, "orjson_path": fast} if fast else job)
    return {
        "ns": ns,
        "repeats": repeats,
        "select": ["*", "UF_*"],
        "fast_extra": fast_extra_pin(),
        "runs": runs,
        "costs": costs,
    }


def _of(runs: Sequence[Run], client: str, n: int) -> list[Run]:
    return [r for r in runs if r["client"] == client and r["n"] == n and not r.get("error")]


def _med(runs: Sequence[Run], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs) if runs else math.nan


def marginal_us(runs: Sequence[Run], client: str, ns: Sequence[int]) -> float:
    """Client CPU of one more deal, µs: the slope between the smallest and the largest N (medians)."""
    small, big = _of(runs, client, min(ns)), _of(runs, client, max(ns))
    if not small or not big or max(ns) == min(ns):
        return math.nan
    return (_med(big, "cpu_s") - _med(small, "cpu_s")) / (max(ns) - min(ns)) * 1e6


def render(section: dict[str, Any]) -> str:
    """Section 8 of BENCHMARKS.md."""
    runs: list[Run] = section["runs"]
    ns: list[int] = section["ns"]
    out = [
        '## 8. Deal export: every deal with `select: ["*", "UF_*"]`\n',
        "One emulator per N (`--deals N`), every client in its own subprocess, "
        f"{section['repeats']} run(s) each, medians. b24crm builds a typed `Deal` per record (ints, bools, "
        "datetimes, the user field kept in `additional_properties`); the peers return the wire's dicts. "
        "Target: requests ≤ ⌈N/2500⌉+1 with 0 counted pages for b24crm; client CPU per record ≤ 1.0× the better "
        "peer's; peak memory flat in N. b24crm runs twice: on the base install (stdlib json) and with the `fast` "
        f"extra ({section.get('fast_extra', 'orjson')}, installed beside the venv for that run only).\n",
        "| N | client | complete | requests (target) | counted pages | wall s | CPU µs/deal | peak RSS MB |",
        "|---:|---|:---:|---:|---:|---:|---:|---:|",
    ]
    for n in ns:
        for client in CLIENTS:
            rs = _of(runs, client, n)
            failed = [r for r in runs if r["client"] == client and r["n"] == n and r.get("error")]
            if not rs:
                if failed:
                    out.append(f"| {n:,} | {LABELS[client]} | **failed**: `{failed[0]['error']}` | | | | | |")
                continue
            target = f" ({math.ceil(n / 2500) + 1})" if client in OURS else ""
            parsers = {r.get("json_parser", "json") for r in rs}
            if client == "b24crm_orjson" and parsers != {"orjson"}:  # the extra was not picked up: say so
                target += f" **parser: {', '.join(sorted(parsers))}**"
            out.append(
                f"| {n:,} | {LABELS[client]} | {'yes' if all(r['complete'] for r in rs) else '**no**'} | "
                f"{_med(rs, 'requests'):.0f}{target} | {_med(rs, 'counted_pages'):.0f} | {_med(rs, 'wall_s'):.2f} | "
                f"{_med(rs, 'cpu_us_per_record'):.1f} | {_med(rs, 'peak_rss_mb'):.0f} |"
            )
    out.append("")
    out.append(
        f"Marginal client CPU per deal between N = {min(ns):,} and {max(ns):,} (the slope; fixed costs left out):\n"
    )
    slopes = {c: marginal_us(runs, c, ns) for c in CLIENTS}
    for client in CLIENTS:
        out.append(f"* {LABELS[client]}: {slopes[client]:.1f} µs")
    peers = [slopes[p] for p in PEERS if not math.isnan(slopes[p])]
    for ours in OURS:
        if not peers or math.isnan(slopes[ours]):
            continue
        better = min(peers)
        at_big = _med(_of(runs, ours, max(ns)), "cpu_us_per_record") / _best_at(runs, max(ns))
        met = slopes[ours] <= better and at_big <= 1.0
        out.append(
            f"* {LABELS[ours].split(' `')[0]} ÷ the better peer: {slopes[ours] / better:.2f}× marginal; at N = "
            f"{max(ns):,} {at_big:.2f}× per record (goal ≤ 1.0×: **{'met' if met else 'missed'}**)"
        )
    big, small = _of(runs, "b24crm", max(ns)), _of(runs, "b24crm", min(ns))
    if big and small:
        out.append(
            f"* b24crm peak RSS {_med(small, 'peak_rss_mb'):.0f} MB at {min(ns):,} and "
            f"{_med(big, 'peak_rss_mb'):.0f} MB at {max(ns):,} deals (the export streams: nothing is kept per record)"
        )
    costs = section.get("costs") or {}
    if "decode_us" in costs:
        fast = f", orjson {costs['orjson_loads_us']:.1f} µs" if "orjson_loads_us" in costs else ""
        out.append(
            f"* Where b24crm's CPU per deal goes, in-process on a 2,500-deal body ({costs['fields_per_deal']} fields a "
            f"deal, best of several): parsing the JSON {costs['json_loads_us']:.1f} µs with json{fast}; decoding the "
            f"parsed record into a typed `Deal` {costs['decode_us']:.1f} µs. The peers stop after the parse, so the "
            "decode is b24crm's whole difference to b24pysdk; the `fast` extra can only shorten the parse."
        )
    out.append("")
    return "\n".join(out)


def _best_at(runs: Sequence[Run], n: int) -> float:
    values = [_med(_of(runs, p, n), "cpu_us_per_record") for p in PEERS if _of(runs, p, n)]
    return min(values) if values else math.nan
