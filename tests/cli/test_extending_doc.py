"""Follows docs/extending.md literally: add crm.quote.list to a copy of the repo, `make generate`, call it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "extending.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_extending_guide_works_as_written(tmp_path: Path) -> None:
    yaml_blocks, python_blocks, sh_blocks = blocks("yaml"), blocks("python"), blocks("sh")
    assert len(yaml_blocks) == 2 and len(python_blocks) == 2 and sh_blocks == ["make generate\n"]

    repo = tmp_path / "repo"
    for name in ("spec", "codegen", "generated"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("Makefile", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, repo / name)

    # Step 1: spec/quote.yaml, and its $ref under `paths:` in spec/openapi.yaml.
    (repo / "spec" / "quote.yaml").write_text(yaml_blocks[0], encoding="utf-8")
    root = (repo / "spec" / "openapi.yaml").read_text(encoding="utf-8")
    assert root.count("\npaths:\n") == 1
    (repo / "spec" / "openapi.yaml").write_text(
        root.replace("\npaths:\n", "\npaths:\n" + yaml_blocks[1], 1), encoding="utf-8"
    )

    # Step 2: make generate, with the already installed virtual environment.
    # A fresh install stamp keeps make from re-installing the shared environment from this copy.
    venv = Path(sys.executable).parent.parent
    stamp = tmp_path / "installed"
    stamp.touch()
    done = subprocess.run(
        ["make", "generate", f"VENV={venv}", f"STAMP={stamp}"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "def list(" in (repo / "generated" / "b24crm" / "namespaces" / "quote.py").read_text(encoding="utf-8")
    assert not (ROOT / "spec" / "quote.yaml").exists()  # the real repo is untouched

    # Step 3: the guide's Python blocks (the sync client, then the asyncio one), importing the fresh package.
    env = {**os.environ, "PYTHONPATH": str(repo / "generated")}
    for block in python_blocks:
        run = subprocess.run(
            [sys.executable, "-c", block],
            cwd=repo,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.splitlines() == ["Quote 1 120", "120"]
