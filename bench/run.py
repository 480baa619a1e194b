"""``make bench``: b24crm against fast_bitrix24 and b24pysdk on the same emulator, in one run.

Writes BENCHMARKS.md (tables: median and spread, ratios to each peer, targets, machine and versions),
bench/results.json (every raw number) and bench/requests_vs_n.png. The emulator runs in its own process
(``python -m b24crm emulator``) and every client workload in a fresh subprocess (bench/workers.py), so the
client's CPU time and peak memory are its own. ``--quick`` uses small N and one repeat (for development).

Workloads: 1. bulk read of crm.stagehistory.list; 2. the same under the emulator's rate limit; 3. per-call
overhead against plain urllib3 + json; 4. 1,000 crm.status.add through batch; 5. ``import b24crm``,
``make generate``, generation of synthetic 250/500/1,000-method specs, emulator throughput; 6. four worker
processes on one portal with per-process limiters vs the shared Redis store, and the store's cost per call
(bench/many_workers.py); 7. the asyncio client: 2,000 small calls against Client on 16 threads and fast_bitrix24's
async client, the bulk read through AsyncClient.iter_all, 1,000 tasks on the standard plan (bench/asyncio_bench.py);
8. the deal export: 100,000 deals with select ["*", "UF_*"], typed vs the peers' dicts (bench/deal_export.py).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: bench/ modules by name

from asyncio_bench import bench_asyncio
from deal_export import bench_deal_export
from emu import EmulatorProcess
from many_workers import bench_many_workers
from report import write_outputs
from synth_spec import write_synthetic_spec

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PY = sys.executable
PEERS = ("fast_bitrix24", "b24pysdk")
_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


class Config:
    """What one run measures; ``quick`` shrinks everything for development."""

    def __init__(self, quick: bool) -> None:
        self.quick = quick
        #: Bulk-read sizes for every client, and the extra size for b24crm alone.
        self.ns = [2_000, 10_000] if quick else [10_000, 100_000]
        self.n_big = 20_000 if quick else 1_000_000
        self.repeats = 1 if quick else 3
        self.repeats_big = 1 if quick else 2
        #: fast_bitrix24 reads with counted pages: at 100,000 one run takes minutes of emulator time.
        self.counted_repeats_at_max = 1
        #: b24pysdk's counted path (as_list) is measured at the smallest N only, for reference.
        self.counted_sdk_ns = self.ns[:1]
        #: Enough requests beyond the burst (21 - 5) that the floor, not the burst, decides the wall time.
        self.rl_n = 10_000 if quick else 50_000
        self.rl_plan = "2/2" if quick else "5/5"
        self.calls_rounds, self.calls_block = (4, 10) if quick else (30, 20)
        self.batch_count = 200 if quick else 1_000
        self.batch_repeats = 1 if quick else 3
        self.import_runs = 5 if quick else 25
        self.generate_repeats = 1 if quick else 3
        self.synth_sizes = [56, 112] if quick else [250, 500, 1_000]
        self.throughput_calls = 1_000 if quick else 4_000
        self.throughput_repeats = 1 if quick else 3


def worker(job: dict[str, Any], timeout: float = 1_200) -> dict[str, Any]:
    """Run one workload in a fresh interpreter; its JSON answer."""
    proc = subprocess.run(
        [PY, str(BENCH / "workers.py"), json.dumps(job)], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"worker exited {proc.returncode}: {proc.stderr[-1500:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# -- 1 and 2: bulk reads --------------------------------------------------------------------------------------
def _read_run(emu: EmulatorProcess, client: str, n: int, plan: list[float] | None = None) -> dict[str, Any]:
    emu.reset()
    out = worker({"workload": "read", "client": client, "webhook": emu.webhook_url, "n": n, "plan": plan})
    emu.wait_idle()  # a client that gave up may have left requests running: they belong to this run
    stats = emu.stats()
    out.update(
        client=client,
        n=n,
        requests=stats["requests"],
        counted_pages=stats["counted_pages"],
        batch_subcalls=stats["batch_subcalls"],
        rate_limited=stats["rate_limited"],
        operation_time_limited=stats["operation_time_limited"],
        server_errors=stats["errors"],
    )
    return out


def bench_reads(cfg: Config) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    for n in [*cfg.ns, cfg.n_big]:
        clients = ["b24crm"] if n == cfg.n_big else ["b24crm", *PEERS]
        if n in cfg.counted_sdk_ns:
            clients.append("b24pysdk_counted")
        repeats = cfg.repeats_big if n == cfg.n_big else cfg.repeats
        with EmulatorProcess(stage_history=n) as emu:
            for rep in range(repeats):
                for client in clients:
                    counted = client in ("fast_bitrix24", "b24pysdk_counted")
                    if counted and n == max(cfg.ns) and rep >= cfg.counted_repeats_at_max:
                        continue
                    log(f"read N={n:,} {client} run {rep + 1}/{repeats}")
                    run = _read_run(emu, client, n)
                    run["rep"] = rep
                    log(
                        f"  -> {run.get('records')} records, {run['requests']} requests, "
                        f"{run.get('wall_s', 0):.2f}s wall, {run.get('cpu_s', 0):.2f}s cpu, "
                        f"{run.get('peak_rss_mb', 0):.0f} MB, error={run.get('error')}"
                    )
                    runs.append(run)
    return runs


def bench_rate_limited(cfg: Config) -> dict[str, Any]:
    burst, rate = cfg.rl_plan.split("/")
    plan = [int(burst), float(rate)]
    runs: list[dict[str, Any]] = []
    with EmulatorProcess(stage_history=cfg.rl_n, plan=cfg.rl_plan) as emu:
        for rep in range(cfg.repeats):
            for client in ("b24crm", *PEERS):
                log(f"rate-limited read N={cfg.rl_n:,} plan {cfg.rl_plan} {client} run {rep + 1}/{cfg.repeats}")
                run = _read_run(emu, client, cfg.rl_n, plan)
                accepted = run["requests"] - run["rate_limited"]
                run["floor_s"] = max(0.0, (accepted - plan[0]) / plan[1])
                run["rep"] = rep
                log(
                    f"  -> {run['requests']} requests, {run['rate_limited']} rejected, "
                    f"{run.get('wall_s', 0):.2f}s wall (floor {run['floor_s']:.2f}s), error={run.get('error')}"
                )
                runs.append(run)
    return {"plan": cfg.rl_plan, "burst": plan[0], "rate": plan[1], "n": cfg.rl_n, "runs": runs}


# -- 3: per-call overhead -------------------------------------------------------------------------------------
def bench_calls(cfg: Config) -> dict[str, Any]:
    with EmulatorProcess(seed="empty") as emu:
        log(f"per-call overhead: {cfg.calls_rounds} rounds x {cfg.calls_block} calls per contender")
        return worker(
            {
                "workload": "calls",
                "webhook": emu.webhook_url,
                "status_id": 1,
                "rounds": cfg.calls_rounds,
                "block": cfg.calls_block,
                "peers": True,
            }
        )


# -- 4: batch -------------------------------------------------------------------------------------------------
def bench_batch(cfg: Config) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    with EmulatorProcess(seed="empty") as emu:
        for rep in range(cfg.batch_repeats):
            for client in ("b24crm", *PEERS):
                emu.reset()
                log(f"batch: {cfg.batch_count} crm.status.add via {client} run {rep + 1}/{cfg.batch_repeats}")
                run = worker(
                    {"workload": "batch_add", "client": client, "webhook": emu.webhook_url, "count": cfg.batch_count}
                )
                emu.wait_idle()
                stats = emu.stats()
                run.update(client=client, rep=rep, requests=stats["requests"], batch_subcalls=stats["batch_subcalls"])
                log(f"  -> {run.get('ok')} ok, {run['requests']} requests, {run.get('wall_s', 0):.2f}s")
                runs.append(run)
    return runs


# -- 5: import, generation, emulator throughput ---------------------------------------------------------------
def _timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    return time.perf_counter() - t0, proc


def bench_import(cfg: Config) -> dict[str, Any]:
    log(f"import b24crm: {cfg.import_runs} runs (importtime and wall minus bare startup)")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    walls_import: list[float] = []
    walls_bare: list[float] = []
    importtime: list[float] = []
    _timed([PY, "-c", "import b24crm"], env)  # warm the page cache and bytecode
    for _ in range(cfg.import_runs):
        walls_bare.append(_timed([PY, "-c", "pass"], env)[0])
        walls_import.append(_timed([PY, "-c", "import b24crm"], env)[0])
        _, proc = _timed([PY, "-X", "importtime", "-c", "import b24crm"], env)
        for line in proc.stderr.splitlines():
            match = re.match(r"import time:\s+\d+\s+\|\s+(\d+)\s+\|\s*b24crm$", line)
            if match:
                importtime.append(int(match.group(1)) / 1e6)
    diffs = [a - b for a, b in zip(walls_import, walls_bare, strict=True)]
    return {"wall_minus_bare_s": diffs, "importtime_cumulative_s": importtime, "bare_startup_s": walls_bare}


def bench_generate(cfg: Config) -> dict[str, Any]:
    out: dict[str, Any] = {"real": [], "synthetic": []}
    with tempfile.TemporaryDirectory(prefix="b24crm-bench-") as tmp:
        for rep in range(cfg.generate_repeats):
            log(f"make generate (real spec) run {rep + 1}/{cfg.generate_repeats}")
            seconds, proc = _timed([PY, "-m", "codegen", "--out", f"{tmp}/real{rep}"])
            if proc.returncode:
                raise RuntimeError(f"codegen failed: {proc.stderr[-2000:]}")
            out["real"].append(seconds)
        for size in cfg.synth_sizes:
            spec_dir = Path(tmp) / f"spec{size}"
            methods = write_synthetic_spec(spec_dir, size)
            times: list[float] = []
            for rep in range(cfg.generate_repeats if size == max(cfg.synth_sizes) else 1):
                log(f"generate synthetic spec: {methods} methods, run {rep + 1}")
                seconds, proc = _timed(
                    [PY, "-m", "codegen", "--spec", str(spec_dir / "openapi.yaml"), "--out", f"{tmp}/out{size}_{rep}"]
                )
                if proc.returncode:
                    raise RuntimeError(f"codegen failed on the synthetic spec: {proc.stderr[-2000:]}")
                times.append(seconds)
            out["synthetic"].append({"requested": size, "methods": methods, "seconds": times})
    return out


def bench_decode_floor(cfg: Config) -> dict[str, Any]:
    log("decoding floor: json.loads, bare model construction, b24crm's decode (per 1,000 records)")
    return worker({"workload": "decode_floor", "repeats": 5 if cfg.quick else 20})


def bench_throughput(cfg: Config) -> dict[str, Any]:
    log("emulator throughput (b24crm.testing.throughput)")
    return worker(
        {
            "workload": "throughput",
            "connections": [1, 2],
            "calls": cfg.throughput_calls,
            "repeats": cfg.throughput_repeats,
        }
    )


# -- machine and versions -------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    versions = {}
    for dist in ("b24crm", "fast_bitrix24", "b24pysdk", "urllib3", "attrs", "cattrs", "requests", "aiohttp"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average_start": list(os.getloadavg()),
        "versions": versions,
        "git_commit": commit.stdout.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small N, one repeat: for development")
    parser.add_argument(
        "--only",
        default="reads,rate_limited,calls,batch,decode_floor,import,generate,throughput,many_workers,asyncio,deals",
        help="comma-separated workloads to run",
    )
    parser.add_argument("--markdown", type=Path, default=None, help="where to write BENCHMARKS.md")
    parser.add_argument("--json", type=Path, default=None, help="where to write results.json")
    parser.add_argument("--png", type=Path, default=None, help="where to write the plot")
    parser.add_argument(
        "--render-only", action="store_true", help="measure nothing: rewrite the Markdown and plot from --json"
    )
    args = parser.parse_args(argv)
    cfg = Config(args.quick)
    only = set(args.only.split(","))
    # A quick run never overwrites the committed results: it writes next to the temp directory instead.
    out_dir = Path(tempfile.gettempdir()) / "b24crm-bench-quick" if args.quick else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    markdown = args.markdown or (out_dir / "BENCHMARKS.md" if out_dir else ROOT / "BENCHMARKS.md")
    results_path = args.json or (out_dir / "results.json" if out_dir else BENCH / "results.json")
    png = args.png or (out_dir / "requests_vs_n.png" if out_dir else BENCH / "requests_vs_n.png")
    if args.render_only:
        write_outputs(json.loads(results_path.read_text(encoding="utf-8")), markdown, png)
        log(f"rendered {markdown} and {png} from {results_path}")
        return 0
    results: dict[str, Any] = {"quick": args.quick, "machine": machine(), "config": vars(cfg)}
    steps: dict[str, Callable[[Config], Any]] = {
        "reads": bench_reads,
        "rate_limited": bench_rate_limited,
        "calls": bench_calls,
        "batch": bench_batch,
        "decode_floor": bench_decode_floor,
        "import": bench_import,
        "generate": bench_generate,
        "throughput": bench_throughput,
        "many_workers": lambda c: bench_many_workers(c.quick, log),
        "asyncio": lambda c: bench_asyncio(c.quick, worker, log),
        "deals": lambda c: bench_deal_export(c.quick, worker, log),
    }
    for name, step in steps.items():
        if name in only:
            started = time.monotonic()
            results[name] = step(cfg)
            results.setdefault("durations_s", {})[name] = time.monotonic() - started
    results["machine"]["load_average_end"] = list(os.getloadavg())
    results["total_s"] = time.monotonic() - _STARTED
    results_path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    write_outputs(results, markdown, png)
    log(f"wrote {markdown}, {results_path}, {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
