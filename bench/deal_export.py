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
#: What the export does with each deal: reads its ID (the target's workload), or reads every field as well.
READS = ("id", "all")
READS_LABEL = {"id": "the ID", "all": "every field"}


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
                for reads, client in [(r, c) for r in READS for c in clients]:
                    emu.reset()
                    log(f"deal export N={n:,} reads={reads} {client} run {rep + 1}/{repeats}")
                    job = {"workload": "deal_export", "client": client, "webhook": emu.webhook_url, "n": n}
                    job["reads"] = reads
                    run = worker({**job, "orjson_path": fast} if client == "b24crm_orjson" else job)
                    emu.wait_idle()
                    stats = emu.stats()
                    run.update(
                        client=client,
                        reads=reads,
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


def _of(runs: Sequence[Run], client: str, n: int, reads: str = "id") -> list[Run]:
    return [
        r
        for r in runs
        if r["client"] == client and r["n"] == n and r.get("reads", "id") == reads and not r.get("error")
    ]


def _med(runs: Sequence[Run], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs) if runs else math.nan


def marginal_us(runs: Sequence[Run], client: str, ns: Sequence[int], reads: str = "id") -> float:
    """Client CPU of one more deal, µs: the slope between the smallest and the largest N (medians)."""
    small, big = _of(runs, client, min(ns), reads), _of(runs, client, max(ns), reads)
    if not small or not big or max(ns) == min(ns):
        return math.nan
    return (_med(big, "cpu_s") - _med(small, "cpu_s")) / (max(ns) - min(ns)) * 1e6


def ratios(section: dict[str, Any], ours: str, reads: str) -> tuple[float, float]:
    """(marginal, per record at the largest N) CPU of ``ours`` ÷ the better peer's, for one way of reading."""
    runs: list[Run] = section["runs"]
    ns: list[int] = section["ns"]
    peers = [marginal_us(runs, p, ns, reads) for p in PEERS]
    peers = [v for v in peers if not math.isnan(v)]
    if not peers:
        return math.nan, math.nan
    at_big = _med(_of(runs, ours, max(ns), reads), "cpu_us_per_record") / _best_at(runs, max(ns), reads)
    return marginal_us(runs, ours, ns, reads) / min(peers), at_big


def verdicts(section: dict[str, Any], reads: str) -> list[tuple[str, float, float, bool]]:
    """Per b24crm install measured: (its short label, marginal ratio, ratio at the largest N, goal met)."""
    out = []
    for ours in OURS:
        marginal, at_big = ratios(section, ours, reads)
        if not math.isnan(at_big):
            out.append((LABELS[ours].split(" `")[0], marginal, at_big, at_big <= 1.0 and marginal <= 1.0))
    return out


def target_rows(section: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """The deal export's lines of the Targets table: (target, measured, met)."""
    runs: list[Run] = section["runs"]
    ns: list[int] = section["ns"]
    big = max(ns)
    mine = _of(runs, "b24crm", big)
    rows: list[tuple[str, str, bool | None]] = []
    if mine:
        reqs, counted = _med(mine, "requests"), _med(mine, "counted_pages")
        rows.append(
            (
                f"Deal export ({big:,} deals, `select: [*, UF_*]`): ≤ ⌈N/2500⌉+1 requests, 0 counted pages",
                f"{reqs:.0f} requests (≤ {math.ceil(big / 2500) + 1}), {counted:.0f} counted",
                reqs <= math.ceil(big / 2500) + 1 and counted == 0,
            )
        )
    for reads in READS:
        found = verdicts(section, reads)
        cells = [
            f"{label} {at_big:.2f}× per record, {marginal:.2f}× marginal ({'met' if met else 'missed'})"
            for label, marginal, at_big, met in found
        ]
        if cells:
            rows.append(
                (
                    f"Deal export reading {READS_LABEL[reads]} of each deal: client CPU per record ≤ 1.0× the better "
                    "peer's (typed `Deal` vs dicts; the base install or the optional `fast` extra)",
                    "; ".join(cells),
                    any(met for *_, met in found),  # the target allows the optional accelerator
                )
            )
    small_rss = _of(runs, "b24crm", min(ns))
    if mine and small_rss:
        a, b = _med(small_rss, "peak_rss_mb"), _med(mine, "peak_rss_mb")
        rows.append(
            (
                "Deal export: memory flat in N",
                f"b24crm peak RSS {min(ns):,}: {a:.0f} MB, {big:,}: {b:.0f} MB",
                b <= 1.25 * a,
            )
        )
    return rows


def limits(section: dict[str, Any]) -> list[str]:
    """The deal export's lines of "What limits the missed targets": reading every field, when it is missed."""
    found = verdicts(section, "all")
    if not found or any(met for *_, met in found):
        return []
    costs = section.get("costs") or {}
    measured = "; ".join(
        f"{label} {at_big:.2f}× per record, {marginal:.2f}× marginal" for label, marginal, at_big, _ in found
    )
    return [
        "* **Deal export reading every field of each deal: client CPU per record ≤ 1.0× the better peer's "
        f"(typed `Deal` vs dicts): missed** ({measured}). Reading every field converts each deal's "
        f'{costs.get("fields_per_deal", 46)} values to their types (`"733"` → int, `"Y"` → bool, ISO text → '
        f"`datetime`, the enum, the unknown keys gathered): {costs.get('lazy_all_us', math.nan):.1f} µs a deal "
        "in-process, where reading every value of a peer's dict costs next to nothing and gives back the wire's "
        "strings. A caller who needs typed values from a peer pays that conversion in its own code; b24crm pays it "
        "only for the fields that are read."
    ]


def render(section: dict[str, Any]) -> str:
    """Section 8 of BENCHMARKS.md."""
    runs: list[Run] = section["runs"]
    ns: list[int] = section["ns"]
    out = [
        '## 8. Deal export: every deal with `select: ["*", "UF_*"]`\n',
        "One emulator per N (`--deals N`), every client in its own subprocess, "
        f"{section['repeats']} run(s) each, medians. b24crm hands out a typed `Deal` per record (ints, bools, "
        "datetimes, the user field kept in `additional_properties`), each field decoded when it is first read "
        "(b24crm/runtime/record.py); the peers return the wire's dicts. Each client runs the export twice: "
        "reading each deal's ID, and reading every field as well (every attribute of the `Deal`, each one "
        "decoded to its type; every value of the peers' dicts, left as the wire's strings). "
        "Target: requests ≤ ⌈N/2500⌉+1 with 0 counted pages for b24crm; client CPU per record ≤ 1.0× the better "
        "peer's; peak memory flat in N. b24crm runs on the base install (stdlib json) and with the `fast` "
        f"extra ({section.get('fast_extra', 'orjson')}, installed beside the venv for that run only).\n",
        "| N | reads | client | complete | requests (target) | counted pages | wall s | CPU µs/deal | peak RSS MB |",
        "|---:|---|---|:---:|---:|---:|---:|---:|---:|",
    ]
    for n in ns:
        for reads in READS:
            for client in CLIENTS:
                rs = _of(runs, client, n, reads)
                failed = [
                    r
                    for r in runs
                    if r["client"] == client and r["n"] == n and r.get("reads", "id") == reads and r.get("error")
                ]
                label = f"| {n:,} | {READS_LABEL[reads]} | {LABELS[client]} |"
                if not rs:
                    if failed:
                        out.append(f"{label} **failed**: `{failed[0]['error']}` | | | | | |")
                    continue
                target = f" ({math.ceil(n / 2500) + 1})" if client in OURS else ""
                parsers = {r.get("json_parser", "json") for r in rs}
                if client == "b24crm_orjson" and parsers != {"orjson"}:  # the extra was not picked up: say so
                    target += f" **parser: {', '.join(sorted(parsers))}**"
                out.append(
                    f"{label} {'yes' if all(r['complete'] for r in rs) else '**no**'} | "
                    f"{_med(rs, 'requests'):.0f}{target} | {_med(rs, 'counted_pages'):.0f} | "
                    f"{_med(rs, 'wall_s'):.2f} | {_med(rs, 'cpu_us_per_record'):.1f} | {_med(rs, 'peak_rss_mb'):.0f} |"
                )
    out.append("")
    out.append(
        f"Marginal client CPU per deal between N = {min(ns):,} and {max(ns):,} (the slope; fixed costs left out):\n"
    )
    out.append("| client | reading the ID | reading every field |")
    out.append("|---|---:|---:|")
    for client in CLIENTS:
        cells = " | ".join(f"{marginal_us(runs, client, ns, reads):.1f} µs" for reads in READS)
        out.append(f"| {LABELS[client]} | {cells} |")
    out.append("")
    for reads in READS:
        for label, marginal, at_big, met in verdicts(section, reads):
            out.append(
                f"* Reading {READS_LABEL[reads]}: {label} ÷ the better peer: {marginal:.2f}× "
                f"marginal; at N = {max(ns):,} {at_big:.2f}× per record (goal ≤ 1.0×: **{'met' if met else 'missed'}**)"
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
            f"deal, best of several): parsing the JSON {costs['json_loads_us']:.1f} µs with json{fast}; handing out "
            f"the undecoded `Deal` and reading its ID {costs['lazy_id_us']:.1f} µs; reading every field of it "
            f"{costs['lazy_all_us']:.1f} µs (decoding all {costs['fields_per_deal']} fields at once, as a single "
            f"call does, {costs['decode_us']:.1f} µs). The peers stop after the parse: reading a field of their "
            "dict costs next to nothing, and gives the wire's string."
        )
    out.append("")
    return "\n".join(out)


def _best_at(runs: Sequence[Run], n: int, reads: str = "id") -> float:
    values = [_med(_of(runs, p, n, reads), "cpu_us_per_record") for p in PEERS if _of(runs, p, n, reads)]
    return min(values) if values else math.nan
