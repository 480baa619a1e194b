"""The fault matrix: every injected failure × {read, idempotent write, non-idempotent write, batch}.

The contract (README "Retry safety", runtime/retry.py): a call either succeeds — after retries where the
failure says the portal did not run it, or where the method is idempotent — or raises a typed error whose
``may_have_run`` tells the caller whether a write may have happened. Each cell also checks the emulator's
state: no write applied twice, none lost without an error, nothing else touched.

``test_fault_matrix.py`` runs each cell as a test and checks that docs/reliability.md shows what the matrix
gives; ``make reliability-doc`` (``python -m tests.reliability.fault_matrix``) runs it and writes the table
between the document's markers, so tests never write into the repository and the hand-written sections
around the table stay as they are. The table is deterministic: outcomes and counts only, no IDs or timings.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from b24crm.runtime.errors import B24Error
from b24crm.testing import Emulator
from b24crm.testing.methods import BUILTIN

from .conftest import client_options

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
#: The ``delay`` fault holds the first request this long; the client gives up reading after READ_TIMEOUT.
DELAY = 1.5
READ_TIMEOUT = 0.5


@attrs.frozen
class FaultCase:
    key: str
    label: str
    kind: str
    #: The portal refused before running the call, or the client can prove it did not reach the portal.
    not_run: bool
    #: The faulted request itself ran the call (the answer was lost or damaged afterwards).
    runs_first: bool = False


FAULTS = (
    FaultCase("query_limit", "`QUERY_LIMIT_EXCEEDED` (HTTP 503)", "query_limit", True),
    FaultCase("operation_time_limit", "`OPERATION_TIME_LIMIT` (HTTP 429)", "operation_time_limit", True),
    FaultCase("internal_error", "HTTP 500 `INTERNAL_SERVER_ERROR`", "internal_error", False),
    FaultCase("reset_before", "connection reset before the call runs", "reset_before", False),
    FaultCase("reset_after", "connection reset after the call committed", "reset_after", False, runs_first=True),
    FaultCase(
        "read_timeout",
        f"read timeout (server delay {DELAY}s, client read timeout {READ_TIMEOUT}s)",
        "delay",
        False,
        runs_first=True,
    ),
    FaultCase("expired_token", "`expired_token` (HTTP 401, OAuth client)", "expired_token", True),
    FaultCase("html", "HTML error page (HTTP 502 from a proxy)", "html", False),
    FaultCase("truncated", "truncated JSON body (HTTP 200)", "truncated", False, runs_first=True),
    FaultCase("moved", "302 portal move to another host", "moved", True),
)
CALLS = ("read", "update", "add", "batch")
CALL_LABELS = {
    "read": "read: `crm.status.list`",
    "update": "idempotent write: `crm.status.update`",
    "add": "non-idempotent write: `crm.status.add`",
    "batch": "`batch` (add + list)",
}
WIRE_METHOD = {"read": "crm.status.list", "update": "crm.status.update", "add": "crm.status.add", "batch": "batch"}
#: The handler whose executions are counted: the write itself (for reads, the read).
HANDLER = {"read": "crm.status.list", "update": "crm.status.update", "add": "crm.status.add", "batch": "crm.status.add"}


@attrs.frozen
class Cell:
    ok: bool
    text: str
    failures: tuple[str, ...]
    #: A non-idempotent write the portal executed more than once.
    duplicated: bool = False
    #: A write acknowledged but missing, or one that ran while the error said it could not have.
    lost: bool = False


class Counter:
    """Counts completed executions of the built-in handlers: how often a write was really applied."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: dict[str, int] = {}

    def wrap(self, name: str) -> Callable[[dict[str, Any], Any], Any]:
        inner = BUILTIN[name]

        def handler(params: dict[str, Any], ctx: Any) -> Any:
            value = inner(params, ctx)
            with self.lock:
                self.runs[name] = self.runs.get(name, 0) + 1
            return value

        return handler

    def get(self, name: str) -> int:
        with self.lock:
            return self.runs.get(name, 0)


def _rows(emu: Emulator) -> dict[int, dict[str, Any]]:
    with emu.portal.lock:
        return {k: dict(v) for k, v in emu.portal.store.rows("status").items()}


def _describe_error(exc: B24Error) -> str:
    flag = getattr(exc, "may_have_run", None)
    if flag is None:
        return f"{type(exc).__name__} (no may_have_run flag!)"
    return f"{type(exc).__name__}, may_have_run={flag}"


def run_cell(emu: Emulator, fault: FaultCase, call: str, connect: Callable[..., Any] = Emulator.client) -> Cell:
    """One cell; ``connect(emu, auth, **options)`` makes the client (``Emulator.client``, or the asyncio client
    seen through ``tests.integration.sync_view.SyncView``: the same contract holds for both)."""
    emu.reset()
    counter = Counter()
    for name in set(HANDLER.values()):
        emu.register(name, counter.wrap(name), validate=False)
    oauth = fault.key == "expired_token"
    timeout = (5.0, READ_TIMEOUT) if fault.key == "read_timeout" else (5.0, 30.0)
    client = connect(emu, "oauth" if oauth else "webhook", **client_options(timeout=timeout))
    before = _rows(emu)
    target = next(k for k, r in before.items() if r["ENTITY_ID"] == "SOURCE" and r["STATUS_ID"] == "EMAIL")
    code = f"RM_{fault.key.upper()}_{call.upper()}"[:50]
    new_name = f"renamed by {fault.key}"
    fields = {"ENTITY_ID": "SOURCE", "STATUS_ID": code, "NAME": f"matrix {fault.key}"}
    emu.faults.add(method=WIRE_METHOD[call], kind=fault.kind, times=1, seconds=DELAY)
    stats0 = emu.stats()
    result: Any = None
    error: B24Error | None = None
    try:
        if call == "read":
            result = client.crm.status.list(filter={"ENTITY_ID": "SOURCE"})
        elif call == "update":
            result = client.crm.status.update(id=target, fields={"NAME": new_name})
        elif call == "add":
            result = client.crm.status.add(fields=fields)
        else:
            batch = client.batch()
            added = batch.crm.status.add(fields=fields)
            listed = batch.crm.status.list(filter={"ENTITY_ID": "SOURCE"})
            batch.execute()
            result = (added.result, listed.result)
    except B24Error as exc:
        error = exc
    finally:
        client.close()

    failures: list[str] = []
    expect_ok = fault.not_run or call in ("read", "update")
    handler = HANDLER[call]
    # The handler runs once for the faulted request if the fault strikes after the call ran, and once
    # more for the retry / re-send that a success needs (the fault fires once).
    expected_runs = int(fault.runs_first) + int(expect_ok)
    deadline = time.monotonic() + 15
    while counter.get(handler) < expected_runs and time.monotonic() < deadline:
        time.sleep(0.02)
    if fault.key == "read_timeout":
        time.sleep(0.2)  # let the delayed handler thread finish writing to its closed socket
    runs = counter.get(handler)
    stats = emu.stats()
    requests = stats["by_method"].get(WIRE_METHOD[call], 0) - stats0["by_method"].get(WIRE_METHOD[call], 0)
    refreshes = stats["oauth_refreshes"] - stats0["oauth_refreshes"]
    after = _rows(emu)

    # --- the contract ------------------------------------------------------------------------------------
    if expect_ok and error is not None:
        failures.append(f"expected success, got {type(error).__name__}: {error}")
    if not expect_ok and error is None:
        failures.append("expected a typed error (the write may have run and must not be repeated), got success")
    lost = error is not None and getattr(error, "may_have_run", None) is not True and runs > 0
    if lost and error is not None:
        failures.append(f"the write ran but the error does not say it may have: {_describe_error(error)}")
    if error is not None and getattr(error, "may_have_run", None) is None:
        failures.append(f"{type(error).__name__} does not say whether the write may have happened")
    if runs != expected_runs:
        failures.append(f"handler {handler} ran {runs}×, expected {expected_runs}×")
    duplicated = call in ("add", "batch") and runs > 1
    if duplicated:
        failures.append(f"non-idempotent write applied {runs}×")
    if oauth and refreshes != 1:
        failures.append(f"expected exactly one token refresh, saw {refreshes}")

    # --- the emulator's state ------------------------------------------------------------------------------
    created = {k: r for k, r in after.items() if k not in before}
    unchanged = {k: r for k, r in after.items() if k in before}
    if call in ("read", "update"):
        if created:
            failures.append(f"rows appeared: {sorted(r['STATUS_ID'] for r in created.values())}")
        expected = dict(before)
        if call == "update":
            expected[target] = {**before[target], "NAME": new_name}
        if unchanged != expected:
            failures.append("existing rows differ from the expected state")
        if call == "read" and error is None and (not isinstance(result, list) or len(result) < 10):
            failures.append(f"read returned {result!r:.80}")
        if call == "update" and error is None and result is not True:
            failures.append(f"update returned {result!r}")
    else:
        if unchanged != before:
            failures.append("existing rows changed")
        mine = [r for r in created.values() if r["STATUS_ID"] == code]
        if len(created) != len(mine) or len(mine) > 1:
            failures.append(f"unexpected rows: {sorted(r['STATUS_ID'] for r in created.values())}")
        if error is None:
            new_id = result if call == "add" else result[0]
            if len(mine) != 1 or int(mine[0]["ID"]) != new_id:
                lost = True
                failures.append(f"acknowledged ID {new_id} but the portal holds {mine}")
        elif len(mine) != runs:
            failures.append(f"ran {runs}× but {len(mine)} row(s) exist")

    # --- the cell's text -------------------------------------------------------------------------------------
    extra = f" + {refreshes} token refresh" if refreshes else ""
    counts = f"{requests} request(s){extra}, ran {runs}×"
    if error is None:
        how = (
            "ok"
            if requests == 1
            else ("ok after refresh" if oauth else ("ok after move" if fault.kind == "moved" else "retried, ok"))
        )
        text = f"✅ {how} · {counts}"
    else:
        text = f"⚠️ {_describe_error(error)} · {counts}"
    if failures:
        text = "❌ " + text
    return Cell(not failures, text, tuple(failures), duplicated=duplicated, lost=lost)


def render(results: Mapping[tuple[str, str], Cell]) -> str:
    """The generated part of docs/reliability.md: the matrix's section, from the cells' results."""
    passed = sum(c.ok for c in results.values())
    lines = [
        "## The fault matrix",
        "",
        "Written by `make reliability-doc` from the matrix's own results (`tests/reliability/fault_matrix.py`) — do",
        "not edit this part by hand; `tests/reliability/test_fault_matrix.py` fails when it is stale.",
        "",
        "Each cell injects one fault (`emu.faults.add(..., times=1)`) into one call made through a fresh",
        "`b24crm.Client` against the emulator, then checks the contract and the portal's state:",
        "",
        "* ✅ the call succeeded (after a retry, a token refresh or a portal move where the failure allows it);",
        "* ⚠️ the call raised a typed error whose `may_have_run` says the write may have happened, so the client",
        "  did not repeat a non-idempotent write; the caller must check before repeating it;",
        "* requests: HTTP requests the emulator received for the call; *ran N×*: how often the portal really",
        "  executed the write (for the read: the read) once every delayed request settled;",
        "* every cell also checks that no non-idempotent write ran twice (an idempotent update may run twice,",
        "  with the same result), that an acknowledged write is stored under the returned ID, that a write which",
        "  ran is never reported with `may_have_run=False`, and that no other row changed.",
        "",
        "| fault | " + " | ".join(CALL_LABELS[c] for c in CALLS) + " |",
        "|---|" + "---|" * len(CALLS),
    ]
    for fault in FAULTS:
        cells = [results[(fault.key, c)].text for c in CALLS]
        lines.append(f"| {fault.label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"**{passed} of {len(results)} cells pass the contract.** "
        f"Writes lost without an error: {sum(c.lost for c in results.values())}. "
        f"Non-idempotent writes applied twice: {sum(c.duplicated for c in results.values())}.",
        "",
    ]
    return "\n".join(lines)


BEGIN = "<!-- fault-matrix:begin — written by `make reliability-doc`; edit tests/reliability/fault_matrix.py -->"
END = "<!-- fault-matrix:end -->"


def splice(document: str, table: str) -> str:
    """``document`` with the part between BEGIN and END replaced by ``table``; the rest is hand-written, kept."""
    if document.count(BEGIN) != 1 or document.count(END) != 1 or document.index(BEGIN) > document.index(END):
        raise ValueError(f"{DOC.name} must hold the generated part between one {BEGIN!r} and one {END!r} line")
    head, _, rest = document.partition(BEGIN)
    _, _, after = rest.partition(END)
    return f"{head}{BEGIN}\n{table}{END}{after}"


def all_cells(emu: Emulator, done: Mapping[tuple[str, str], Cell] | None = None) -> dict[tuple[str, str], Cell]:
    """Every cell, in table order: those in ``done`` (already run, e.g. as tests) and the rest run now."""
    done = done or {}
    return {
        (fault.key, call): done[(fault.key, call)] if (fault.key, call) in done else run_cell(emu, fault, call)
        for fault in FAULTS
        for call in CALLS
    }


def failed_cells(results: Mapping[tuple[str, str], Cell]) -> list[str]:
    """One line per cell that broke the contract: which cell and how."""
    return [f"{key[0]} × {key[1]}: {'; '.join(cell.failures)}" for key, cell in results.items() if not cell.ok]


def main(argv: Sequence[str] = ()) -> int:
    """``make reliability-doc``: run the matrix, write its table into docs/reliability.md; exit 1 if a cell fails
    (the table is written either way: it shows the failing cells)."""
    if argv:
        print("usage: python -m tests.reliability.fault_matrix (writes docs/reliability.md)", file=sys.stderr)
        return 2
    with Emulator(seed="demo") as emu:
        results = all_cells(emu)
    DOC.write_text(splice(DOC.read_text(encoding="utf-8"), render(results)), encoding="utf-8")
    failed = failed_cells(results)
    print(f"fault matrix: {len(results) - len(failed)} of {len(results)} cells pass; wrote {DOC}", file=sys.stderr)
    for line in failed:
        print(f"  FAILED {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
