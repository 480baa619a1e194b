"""Helpers for the generator tests: small spec folders written to tmp_path, the pipeline run on them."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from codegen import ir
from codegen.build import build
from codegen.diagnostics import SpecError
from codegen.load import LoadedSpec, SpecLoadError, load
from codegen.validate import validate

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Generated snapshot files are .py: never collect them as tests.
collect_ignore_glob = ["__snapshots__/*"]

#: The real spec's table of error kinds: every fragment spec shares it, as every real spec does.
ERROR_KINDS: dict[str, Any] = yaml.safe_load((ROOT / "spec" / "openapi.yaml").read_text(encoding="utf-8"))[
    "x-b24-error-kinds"
]

ENVELOPE_TIME = {"type": "object", "title": "Time", "properties": {"start": {"type": "number"}}}


def operation(
    name: str,
    *,
    params: Mapping[str, Any] | None = None,
    required: tuple[str, ...] = (),
    result: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A minimal valid operation for ``name``; ``extra`` adds or overrides operation keys."""
    op: dict[str, Any] = {
        "operationId": name,
        "summary": f"Summary of {name}",
        "description": f"Description of {name}.",
        "externalDocs": {"url": f"https://example.test/{name}"},
        "x-b24-idempotent": True,
        "x-b24-batch": True,
        "responses": {
            "200": {
                "description": "ok",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "title": "Envelope" + "".join(p[:1].upper() + p[1:] for p in name.split(".")),
                            "required": ["result"],
                            "properties": {
                                "result": dict(result or {"type": "boolean"}),
                                "time": {"$ref": "common.yaml#/components/schemas/Time"},
                            },
                        }
                    }
                },
            }
        },
    }
    if params is not None:
        body: dict[str, Any] = {"type": "object", "properties": dict(params)}
        if required:
            body["required"] = list(required)
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    op.update(extra)
    return op


def write_spec(
    folder: Path,
    operations: list[dict[str, Any]],
    *,
    schemas: Mapping[str, Any] | None = None,
    system_errors: list[dict[str, Any]] | None = None,
) -> Path:
    """A spec folder: openapi.yaml refs each operation in group.yaml; ``schemas`` go to group.yaml's components."""
    folder.mkdir(parents=True, exist_ok=True)
    group: dict[str, Any] = {"paths": {}, "components": {"schemas": dict(schemas or {})}}
    root: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "Fragment", "version": "1.0.0"},
        "paths": {},
        "x-b24-error-kinds": copy.deepcopy(ERROR_KINDS),
    }
    for op in operations:
        path = "/" + op["operationId"]
        group["paths"][path] = {"post": copy.deepcopy(op)}
        root["paths"][path] = {"$ref": "group.yaml#/paths/" + path.replace("~", "~0").replace("/", "~1")}
    if system_errors is not None:
        root["x-b24-system-errors"] = system_errors
    common = {"components": {"schemas": {"Time": ENVELOPE_TIME}}}
    for name, data in (("openapi.yaml", root), ("group.yaml", group), ("common.yaml", common)):
        (folder / name).write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return folder / "openapi.yaml"


def load_valid(root: Path) -> LoadedSpec:
    spec = load(root)
    validate(spec)
    return spec


def spec_error_text(root: Path) -> str:
    """The one failure a broken spec gives (load or validate), as the user sees it."""
    try:
        validate(load(root))
    except (SpecError, SpecLoadError) as exc:
        return f"{type(exc).__name__}: {exc}"
    raise AssertionError(f"{root} validated without problems")


BuildFragment = Callable[..., ir.Package]


@pytest.fixture
def build_fragment(tmp_path: Path) -> BuildFragment:
    """``build_fragment([operation(...)], schemas={...})`` -> the IR of that small spec."""
    counter = iter(range(1000))

    def run(operations: list[dict[str, Any]], **kwargs: Any) -> ir.Package:
        root = write_spec(tmp_path / f"spec{next(counter)}", operations, **kwargs)
        return build(load_valid(root))

    return run


@pytest.fixture
def op() -> Callable[..., dict[str, Any]]:
    """``op("crm.x.get", params={...}, required=(...), result={...})`` -> an operation mapping."""
    return operation


@pytest.fixture
def spec_folder(tmp_path: Path) -> Callable[..., Path]:
    """``spec_folder([op(...)], schemas=..., system_errors=...)`` -> the root openapi.yaml in tmp_path."""
    counter = iter(range(1000))

    def run(operations: list[dict[str, Any]], **kwargs: Any) -> Path:
        return write_spec(tmp_path / f"folder{next(counter)}", operations, **kwargs)

    return run


@pytest.fixture
def error_text() -> Callable[[Path], str]:
    return spec_error_text
