"""A synthetic spec of about K methods, made by cloning the real spec's operations under new names.

Copy ``i`` of every group file renames its paths ``/crm.<x>`` to ``/crm.synth<i>.<x>`` (same ``operationId``),
and suffixes every schema title, component name, local ``$ref`` and error class name with ``S<i>``, so the
copies are as rich as the real methods (models, enums, error rows, pagination) but never collide. Only
whole group files are copied, so the method count is a multiple of the real spec's (28): asking for 1,000
gives 1,008. Shared components (``common.yaml``) are kept once.

``python bench/synth_spec.py OUT_DIR METHODS`` writes a spec folder; ``generate_time`` in ``run.py`` times
``python -m codegen --spec OUT_DIR/openapi.yaml --out ...`` on it.
"""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec"
_LOCAL_REF = "#/components/schemas/"
#: Keys whose values are documentation payloads, not schemas: left untouched.
_OPAQUE = frozenset({"example", "examples", "default", "const", "enum", "x-b24-enum-names"})


def _rename(node: Any, suffix: str, key: str | None = None) -> Any:
    """A deep copy of a group file's node with titles, refs and error names suffixed (refs into another group
    file point at that file's copy; refs into ``common.yaml`` stay, it is kept once)."""
    if isinstance(node, dict):
        out: dict[Any, Any] = {}
        for k, v in node.items():
            if k in _OPAQUE:
                out[k] = v
            elif isinstance(v, str) and ((k == "$ref" and v.startswith(_LOCAL_REF)) or k == "title"):
                out[k] = v + suffix
            elif k == "$ref" and isinstance(v, str) and "#" + _LOCAL_REF[1:] in v and not v.startswith("common.yaml"):
                file, _, pointer = v.partition("#")
                out[k] = f"synth{suffix[1:]}_{file}#{pointer}{suffix}"
            elif k == "x-b24-errors" and isinstance(v, list):
                out[k] = [{**row, "name": row["name"] + suffix} if isinstance(row, dict) else row for row in v]
            else:
                out[k] = _rename(v, suffix, str(k))
        return out
    if isinstance(node, list):
        return [_rename(v, suffix, key) for v in node]
    return node


def _synth_method(method: str, copy: int) -> str:
    """``crm.status.add`` -> ``crm.synth3.status.add``."""
    head, _, tail = method.partition(".")
    return f"{head}.synth{copy}.{tail}"


def _clone_group(data: dict[str, Any], copy: int) -> dict[str, Any]:
    suffix = f"S{copy}"
    paths: dict[str, Any] = {}
    for path, item in (data.get("paths") or {}).items():
        new_path = "/" + _synth_method(path.lstrip("/"), copy)
        renamed = _rename(item, suffix)
        for operation in renamed.values():
            if isinstance(operation, dict) and "operationId" in operation:
                operation["operationId"] = new_path.lstrip("/")
        paths[new_path] = renamed
    out: dict[str, Any] = {"paths": paths}
    schemas = (data.get("components") or {}).get("schemas") or {}
    if schemas:
        out["components"] = {"schemas": {name + suffix: _rename(s, suffix) for name, s in schemas.items()}}
    return out


def write_synthetic_spec(out_dir: Path, methods: int) -> int:
    """Write a spec folder with about ``methods`` methods (whole copies of the real spec); the exact count."""
    root = yaml.safe_load((SPEC / "openapi.yaml").read_text(encoding="utf-8"))
    refs: list[tuple[str, str]] = []  # (group file, original path)
    for path, item in root["paths"].items():
        target = item["$ref"]
        group_file = target.split("#", 1)[0]
        refs.append((group_file, path))
    copies = max(1, math.ceil(methods / len(refs)))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    shutil.copy(SPEC / "common.yaml", out_dir / "common.yaml")
    groups = sorted({group for group, _ in refs})
    new_paths: dict[str, Any] = {}
    for copy in range(copies):
        for group in groups:
            data = yaml.safe_load((SPEC / group).read_text(encoding="utf-8"))
            clone = _clone_group(data, copy)
            name = f"synth{copy}_{group}"
            (out_dir / name).write_text(yaml.safe_dump(clone, sort_keys=False, allow_unicode=True), encoding="utf-8")
        for group, path in refs:
            new_path = "/" + _synth_method(path.lstrip("/"), copy)
            pointer = new_path.replace("~", "~0").replace("/", "~1")
            new_paths[new_path] = {"$ref": f"synth{copy}_{group}#/paths/{pointer}"}
    root["paths"] = new_paths
    (out_dir / "openapi.yaml").write_text(yaml.safe_dump(root, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return len(new_paths)


if __name__ == "__main__":  # pragma: no cover
    count = write_synthetic_spec(Path(sys.argv[1]), int(sys.argv[2]))
    print(f"{count} methods in {sys.argv[1]}")
