"""The fault matrix as tests: one test per cell, and docs/reliability.md showing what the matrix gives.

The matrix itself (faults, calls, the contract each cell checks, the table) is in ``fault_matrix.py``. Tests
never write into the repository: ``make reliability-doc`` writes the table, and the last test here fails
while the committed table differs from the one these results give.
"""

from __future__ import annotations

import difflib
from typing import Any

import pytest

from b24crm.testing import Emulator
from tests.flavours import loop_thread
from tests.integration.sync_view import LoopThread, SyncView

__all__ = ["loop_thread"]  # the fixture, offered to this module's tests

from .fault_matrix import CALLS, DOC, FAULTS, Cell, FaultCase, all_cells, failed_cells, render, run_cell, splice

#: Cells already run as tests in this session, so the document check does not run them again.
RESULTS: dict[tuple[str, str], Cell] = {}


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("fault", FAULTS, ids=[f.key for f in FAULTS])
def test_cell(emu: Emulator, fault: FaultCase, call: str) -> None:
    cell = run_cell(emu, fault, call)
    RESULTS[(fault.key, call)] = cell
    assert cell.ok, f"{fault.key} × {call}: " + "; ".join(cell.failures)


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("fault", FAULTS, ids=[f.key for f in FAULTS])
def test_cell_async(emu: Emulator, fault: FaultCase, call: str, loop_thread: LoopThread) -> None:
    """The same cell through ``AsyncClient``: the same contract, and the same outcome as the sync client's."""

    def connect(emulator: Emulator, auth: str, **options: Any) -> SyncView:
        return SyncView(emulator.async_client(auth, **options), loop_thread)

    cell = run_cell(emu, fault, call, connect)
    assert cell.ok, f"{fault.key} × {call} (async): " + "; ".join(cell.failures)
    sync = RESULTS.get((fault.key, call))
    if sync is not None:
        assert cell.text == sync.text


def test_reliability_doc_shows_the_matrix(module_emulator: Emulator) -> None:
    """Runs any cell not run yet (e.g. under -k); fails if a cell fails or docs/reliability.md is stale."""
    results = all_cells(module_emulator, RESULTS)
    failed = failed_cells(results)
    assert not failed, "\n".join(failed)
    committed = DOC.read_text(encoding="utf-8")
    fresh = splice(committed, render(results))
    diff = "".join(difflib.unified_diff(committed.splitlines(True), fresh.splitlines(True), "committed", "matrix"))
    assert fresh == committed, f"{DOC.relative_to(DOC.parents[1])} is stale: run `make reliability-doc`\n{diff}"


def test_splice_keeps_the_hand_written_sections() -> None:
    from .fault_matrix import BEGIN, END

    document = f"# Title\n\nintro\n\n{BEGIN}\nold table\n{END}\n\n## Emulator as a service\n\nhand-written\n"
    assert splice(document, "new table\n") == document.replace("old table", "new table")
    for broken in (document.replace(END, ""), document.replace(BEGIN, ""), document + BEGIN + "\n"):
        with pytest.raises(ValueError, match="between one"):
            splice(broken, "new table\n")
