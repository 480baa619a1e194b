"""Every method of the generated registry is exercised by a test in this folder through the generated client."""

from __future__ import annotations

import re
from pathlib import Path

from b24crm._registry import REGISTRY


def _python_path(method: str) -> str:
    """``crm.duplicate.volatileType.register`` -> ``crm.duplicate.volatile_type.register`` (the client's path)."""
    return ".".join(re.sub(r"(?<!^)(?=[A-Z])", "_", segment).lower() for segment in method.split("."))


def test_all_28_methods_are_called_here() -> None:
    here = Path(__file__)
    source = "\n".join(p.read_text() for p in sorted(here.parent.glob("test_*.py")) if p != here)
    missing = []
    for method in REGISTRY.methods:
        path = _python_path(method)
        parent, _, leaf = path.rpartition(".")
        called = f"client.{path}(" in source or f"ours_fb.{path}(" in source
        # the parametrized enum tests call getattr(client.<parent>, "<leaf>")
        called = called or (f'"{leaf}"' in source and f"getattr(client.{parent}, name)" in source)
        if not called:
            missing.append(method)
    assert len(REGISTRY.methods) == 28
    assert missing == []
