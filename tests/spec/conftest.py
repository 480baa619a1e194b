"""Shared fixtures for the spec tests: the loaded spec and, for the source-fidelity checks, the docs pages.

The source-fidelity checks compare the spec with the public documentation pages it cites. They read the pages
from the folder named by ``B24_DOCS_DIR``: a checkout of github.com/bitrix24/b24restdocs, or a folder holding one
as ``b24restdocs/`` (optionally beside rendered page copies ``NNN_*.txt``). Without the variable, ``../shared/docs``
beside the repository is used when it exists. When no folder is found, those checks are deselected and the
session says so in one line; under ``CI=true`` a missing folder fails them instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codegen.load import LoadedSpec, load

ROOT = Path(__file__).resolve().parents[2]
SPEC_ROOT = ROOT / "spec" / "openapi.yaml"
HERE = Path(__file__).resolve().parent

#: The environment variable naming the docs folder.
DOCS_ENV = "B24_DOCS_DIR"
#: Used when the variable is unset and this folder exists (the CI layout).
DEFAULT_DOCS = ROOT.parent / "shared" / "docs"
#: The fixture every source-fidelity check takes; tests using it are the ones that need the pages.
DOCS_FIXTURE = "docs_root"

_deselected: list[str] = []


def docs_folder() -> Path:
    """The folder the pages are read from (it may not exist)."""
    configured = os.environ.get(DOCS_ENV)
    return Path(configured).expanduser() if configured else DEFAULT_DOCS


def b24restdocs_root(folder: Path) -> Path | None:
    """The b24restdocs checkout inside ``folder`` (itself, or its ``b24restdocs/``), None when there is none."""
    for candidate in (folder, folder / "b24restdocs"):
        if (candidate / "api-reference" / "crm").is_dir():
            return candidate
    return None


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _how_to_run() -> str:
    return (
        f"set {DOCS_ENV} to a checkout of https://github.com/bitrix24/b24restdocs "
        f"(e.g. `git clone https://github.com/bitrix24/b24restdocs /tmp/b24restdocs && "
        f"{DOCS_ENV}=/tmp/b24restdocs make test`)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the source-fidelity checks when no docs folder exists (never under CI=true)."""
    if _in_ci() or b24restdocs_root(docs_folder()) is not None:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        needs_docs = Path(str(item.path)).resolve().is_relative_to(HERE) and DOCS_FIXTURE in getattr(
            item, "fixturenames", ()
        )
        (drop if needs_docs else keep).append(item)
    if drop:
        _deselected.extend(item.nodeid for item in drop)
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _deselected:
        terminalreporter.write_line(
            f"b24crm: {len(_deselected)} source-fidelity checks of tests/spec NOT RUN: no docs pages at "
            f"{docs_folder()}; to run them, {_how_to_run()}."
        )


@pytest.fixture(scope="session")
def spec() -> LoadedSpec:
    return load(SPEC_ROOT)


@pytest.fixture(scope="session")
def docs_root() -> Path:
    """The b24restdocs checkout. Missing is a failure here: without CI=true such tests were deselected."""
    root = b24restdocs_root(docs_folder())
    if root is None:
        pytest.fail(f"no docs pages at {docs_folder()} (CI=true requires them); {_how_to_run()}", pytrace=False)
    return root


@pytest.fixture(scope="session")
def rendered_dir(docs_root: Path) -> Path | None:
    """Rendered page copies (``NNN_*.txt``) beside the checkout, if any: they stand in for absent includes."""
    for candidate in (docs_root, docs_root.parent):
        if any(candidate.glob("[0-9][0-9][0-9]_*.txt")):
            return candidate
    return None
