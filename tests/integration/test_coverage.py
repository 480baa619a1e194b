"""Every method of the generated registry is exercised by a test in this folder through the generated client."""

from __future__ import annotations

import re
from pathlib import Path

from b24crm._registry import REGISTRY


def _python_path(method: str) -> str:
    """``crm.duplicate.volatileType.register`` -> ``crm.duplicate.volatile_type.register`` (the client's path)."""
    return ".".join(re.sub(r"(?<!^)(?=[A-Z])", "_", segment).lower() for segment in method.split("."))


def test_every_method_of_the_registry_is_called_here() -> None:
    """However many methods the spec has: each is called through the client (or a batch of it) by this folder."""
    here = Path(__file__)
    source = "\n".join(p.read_text() for p in sorted(here.parent.glob("test_*.py")) if p != here)
    missing = []
    for method in REGISTRY.methods:
        path = _python_path(method)
        parent, _, leaf = path.rpartition(".")
        called = any(f"{root}.{path}(" in source for root in ("client", "batch", "ours_fb"))
        # the parametrized enum tests call getattr(client.<parent>, "<leaf>")
        called = called or (f'"{leaf}"' in source and f"getattr(client.{parent}, name)" in source)
        # test_crm_classic's parametrized tests call api.<verb>( on getattr(client.crm, entity) for every
        # entity of its MODELS mapping ("deal": models.Deal, ...)
        family, _, verb = path.removeprefix("crm.").partition(".")
        called = called or (
            f'"{family}": models.' in source and f"api.{verb}(" in source and "getattr(client.crm, entity)" in source
        )
        if not called:
            missing.append(method)
    assert len(REGISTRY.methods) >= 28  # the first 28 and everything added since
    assert missing == []
