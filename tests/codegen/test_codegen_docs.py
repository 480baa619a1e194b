"""docs/reference.md: rendered from the spec by `python -m codegen.docs`, complete and deterministic."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.location import PyTestLocation
from syrupy.types import SnapshotIndex

from codegen.build import build
from codegen.docs import generate_reference, main
from codegen.load import load

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "openapi.yaml"
REFERENCE = ROOT / "docs" / "reference.md"
KITCHEN_SINK = Path(__file__).resolve().parent / "fixtures" / "kitchen_sink" / "openapi.yaml"


class MarkdownSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "md"

    @classmethod
    def get_snapshot_name(cls, *, test_location: PyTestLocation, index: SnapshotIndex = 0) -> str:
        assert isinstance(index, str)
        return index


@pytest.fixture(scope="module")
def text() -> str:
    return generate_reference(SPEC)


def sections(text: str) -> dict[str, str]:
    """Method name -> its section of the reference."""
    parts = re.split(r"^### `([^`]+)`$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_reference_in_the_tree_is_fresh(text: str) -> None:
    assert REFERENCE.is_file(), "docs/reference.md is missing: run `make docs`"
    assert REFERENCE.read_text(encoding="utf-8") == text, "docs/reference.md is stale: run `make docs`"


def test_rendering_is_deterministic(text: str) -> None:
    assert generate_reference(SPEC) == text


def test_every_method_has_a_complete_section(text: str) -> None:
    spec = load(SPEC)
    package = build(spec)
    found = sections(text)
    assert sorted(found) == sorted(m.wire_name for m in package.methods)
    for m in package.methods:
        section = found[m.wire_name]
        op = spec.document["paths"][f"/{m.wire_name}"]["post"]
        call = ".".join(("client", *m.namespace, m.py_name)) + "("
        assert call in section, m.wire_name
        assert f"**Result:** `{m.result_qexpr if m.item_qexpr is None else f'Page[{m.item_qexpr}]'}`" in section
        assert f"[{m.source_url}]({m.source_url})" in section
        assert ("**Deprecated:**" in section) == m.deprecated
        for p in m.params:
            assert f"| `{p.wire_name}` | `{p.py_name}` |" in section, (m.wire_name, p.wire_name)
        for e in m.errors:
            assert f"| `{e}` |" in section
        example = re.search(r"```json\n(.*?)\n```", section, flags=re.DOTALL)
        assert example is not None, m.wire_name
        assert json.loads(example[1]) == op["responses"]["200"]["content"]["application/json"]["example"]
        if op.get("x-b24-quirk"):
            assert "**Quirks**" in section and "- **method**:" in section


def test_nested_parameters_and_system_errors_are_listed(text: str) -> None:
    add = sections(text)["crm.status.add"]
    assert "| `fields.STATUS_ID` | `fields.status_id` | `str` | yes | minLength 1; maxLength 50 |" in add
    spec = load(SPEC)
    tail = text.split('<a id="system-errors"></a>', 1)[1]
    for row in spec.document["x-b24-system-errors"]:
        assert f"| `{row['name']}` | {row['status']} |" in tail


def test_check_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reference.md"
    assert main(["--out", str(out)]) == 0
    assert main(["--check", "--out", str(out)]) == 0
    out.write_text(out.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    assert main(["--check", "--out", str(out)]) == 1
    assert "stale" in capsys.readouterr().err


def test_kitchen_sink_reference(snapshot: SnapshotAssertion) -> None:
    assert generate_reference(KITCHEN_SINK) == snapshot(extension_class=MarkdownSnapshot, name="reference")
