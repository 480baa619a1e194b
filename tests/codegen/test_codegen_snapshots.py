"""Every generated file for the kitchen-sink fixture spec, pinned as a readable .py snapshot.

The kitchen sink (tests/codegen/fixtures/kitchen_sink/) uses every x-b24-* extension and every wire type;
a test below keeps it that way. Re-record with ``make snapshot-update`` and read the diff.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.location import PyTestLocation
from syrupy.types import SnapshotIndex

from codegen.__main__ import generate
from codegen.build import build
from codegen.load import load
from codegen.render import OUTPUTS, render
from codegen.validate import EXTENSIONS, WIRE_TYPES, validate

KITCHEN_SINK = Path(__file__).resolve().parent / "fixtures" / "kitchen_sink" / "openapi.yaml"
#: A fixed version, so bumping the package version does not touch the snapshots.
VERSION = "0.0.0"


class PythonFileSnapshot(SingleFileSnapshotExtension):
    """One generated module per snapshot file, named after the module: ``__snapshots__/<test file>/models.py``."""

    _write_mode = WriteMode.TEXT
    file_extension = "py"

    @classmethod
    def get_snapshot_name(cls, *, test_location: PyTestLocation, index: SnapshotIndex = 0) -> str:
        assert isinstance(index, str), "name each generated-file snapshot"
        return index


def snapshot_name(output: str) -> str:
    """``__init__.py`` -> ``init``, ``_client.py`` -> ``client``: unique, and never collected as a test."""
    return output.removesuffix(".py").replace("__init__", "init").replace("/", "__").strip("_")


@pytest.fixture(scope="module")
def kitchen_sink_files() -> dict[str, bytes]:
    return generate(KITCHEN_SINK, VERSION)


#: Every module the kitchen sink renders: the fixed outputs plus one namespace module per top-level group.
KITCHEN_OUTPUTS = sorted(generate(KITCHEN_SINK, VERSION))


@pytest.mark.parametrize("output", KITCHEN_OUTPUTS)
def test_generated_file(kitchen_sink_files: dict[str, bytes], snapshot: SnapshotAssertion, output: str) -> None:
    text = kitchen_sink_files[output].decode("utf-8")
    assert text == snapshot(extension_class=PythonFileSnapshot, name=snapshot_name(output))


def test_snapshots_cover_every_generated_template(kitchen_sink_files: dict[str, bytes]) -> None:
    namespaces = {name for name in kitchen_sink_files if name.startswith("namespaces/")}
    assert set(kitchen_sink_files) == set(OUTPUTS.values()) | namespaces
    assert "namespaces/__init__.py" in namespaces and len(namespaces) >= 3  # the root and a module per group
    assert len({snapshot_name(o) for o in kitchen_sink_files}) == len(kitchen_sink_files)


def test_generated_files_are_valid_python(kitchen_sink_files: dict[str, bytes]) -> None:
    for output, data in kitchen_sink_files.items():
        ast.parse(data, filename=output)


# ---- the fixture really is a kitchen sink ------------------------------------------------------------


def _walk(node: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield key, value
            if key not in ("example", "examples"):
                yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _pairs() -> list[tuple[Any, Any]]:
    spec = load(KITCHEN_SINK)
    return [pair for data in spec.raw_files.values() for pair in _walk(data)]


def test_kitchen_sink_uses_every_extension() -> None:
    used = {k for k, _v in _pairs() if isinstance(k, str) and k.startswith("x-b24-")}
    assert used == set(EXTENSIONS)


def test_kitchen_sink_uses_every_wire_type_and_schema_feature() -> None:
    pairs = _pairs()
    assert {v for k, v in pairs if k == "x-b24-wire-type"} == set(WIRE_TYPES)
    keys = {k for k, _v in pairs}
    for keyword in (
        "allOf",
        "if",
        "then",
        "const",
        "pattern",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "uniqueItems",
        "default",
        "additionalProperties",
        "deprecated",
        "$ref",
    ):
        assert keyword in keys, keyword
    assert ("format", "date-time") in pairs
    types = [v for k, v in pairs if k == "type"]
    assert any(isinstance(t, list) and "null" in t for t in types)  # nullable
    enums = [v for k, v in pairs if k == "enum"]
    assert any(all(isinstance(x, int) for x in e) for e in enums)  # int enum
    assert any(None in e for e in enums)  # nullable enum
    spec = load(KITCHEN_SINK)
    validate(spec)
    package = build(spec)
    paged = [m for m in package.methods if m.item_qexpr]
    assert {m.pagination is not None and m.pagination.items_path == () for m in paged} == {True, False}
    assert any(not m.batchable for m in package.methods)
    assert any(m.deprecated for m in package.methods)
    assert package.system_errors and package.errors
    kitchen = render(package, VERSION)
    assert re.search(rb"class WidgetExtra\(WireRecord\):", kitchen["models.py"])
