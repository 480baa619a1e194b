"""Shared fixtures for the spec tests: the loaded spec and the source documents beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codegen.load import LoadedSpec, load

ROOT = Path(__file__).resolve().parents[2]
SPEC_ROOT = ROOT / "spec" / "openapi.yaml"
#: The source documents live beside the repository (../shared), locally and in CI.
SHARED = Path(os.environ.get("B24CRM_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def spec() -> LoadedSpec:
    return load(SPEC_ROOT)


@pytest.fixture(scope="session")
def docs_dir() -> Path:
    """../shared/docs. Missing is a failure, never a skip: these tests are the spec's proof."""
    path = SHARED / "docs"
    if not path.is_dir():
        pytest.fail(f"the source documents are missing: {path} (clone ../shared beside the repo)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    path = SHARED / "reference"
    if not path.is_dir():
        pytest.fail(f"the protocol notes are missing: {path} (clone ../shared beside the repo)", pytrace=False)
    return path
