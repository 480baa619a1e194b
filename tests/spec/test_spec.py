"""spec/ is a valid, complete and honest transcription of the docs (issue 3).

The docs' tables of contents, Source URLs and README headings are parsed here, never copied, so a
method or extension added on one side and forgotten on the other fails a test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest
from openapi_spec_validator import validate as openapi_validate

from codegen.load import LoadedSpec
from codegen.validate import EXTENSIONS

ROOT = Path(__file__).resolve().parents[2]
SPEC_ROOT = ROOT / "spec" / "openapi.yaml"

# ---- the docs ----------------------------------------------------------------------------------

_METHOD = re.compile(r"\bcrm(?:\.[A-Za-z]+)+\b")
_STANDALONE_METHOD = re.compile(r"^crm(?:\.[A-Za-z]+)+$")
_TAG = re.compile(r"<[^>]+>")
_TOC_ENTRY = re.compile(r"^- \[(?P<title>.*)\]\(#[^)]*\)$")
_SEED = re.compile(r"^(?P<file>\d{3}_[0-9a-f]{16}\.txt):(?P<line>\d+)$")
_PROTOCOL = re.compile(r"^protocol\.md §(?P<section>\d+(?:\.\d+)?)$")


@attrs.frozen
class DocPage:
    file: str
    title: str
    line: int  # 1-based line of the page's heading
    source_url: str
    method: str | None  # None for overview pages


def toc_titles(lines: list[str]) -> list[str]:
    start = lines.index("## Table of Contents")
    titles = []
    for line in lines[start + 1 :]:
        if not line.strip():
            if titles:
                break
            continue
        match = _TOC_ENTRY.match(line)
        if not match:
            break
        titles.append(match["title"])
    return titles


def parse_pages(path: Path) -> list[DocPage]:
    """Every page listed in the file's "Table of Contents", with its Source URL and method name."""
    lines = path.read_text(encoding="utf-8").splitlines()
    titles = toc_titles(lines)
    assert titles, f"{path.name}: no Table of Contents entries"
    starts = []
    for title in titles:
        heading = f"## {title}"
        assert heading in lines, f"{path.name}: the TOC names {title!r} but no heading has that text"
        starts.append(lines.index(heading))
    pages = []
    for i, (title, start) in enumerate(zip(titles, starts, strict=True)):
        end = starts[i + 1] if i + 1 < len(starts) else len(lines)
        body = lines[start + 1 : end]
        sources = [ln.removeprefix("**Source:**").strip() for ln in body if ln.startswith("**Source:**")]
        assert sources, f"{path.name}:{start + 1}: page {title!r} has no **Source:** line"
        url = sources[0]
        method: str | None = None
        if not url.endswith("/index"):  # overview pages list methods, they are not one
            in_title = _METHOD.findall(_TAG.sub(" ", title))
            standalone = [ln.strip() for ln in body if _STANDALONE_METHOD.match(ln.strip())]
            method = in_title[0] if in_title else (standalone[0] if standalone else None)
            assert method, f"{path.name}:{start + 1}: cannot tell which method page {title!r} documents"
        pages.append(DocPage(path.name, title, start + 1, url, method))
    return pages


@pytest.fixture(scope="module")
def doc_pages(docs_dir: Path) -> dict[str, DocPage]:
    """Method name -> its page, from the two complete documents (001 and 003)."""
    files = sorted(docs_dir.glob("001_*.txt")) + sorted(docs_dir.glob("003_*.txt"))
    assert len(files) == 2, f"expected one 001_*.txt and one 003_*.txt in {docs_dir}, found {files}"
    pages: dict[str, DocPage] = {}
    for path in files:
        for page in parse_pages(path):
            if page.method is not None:
                assert page.method not in pages, f"{page.method} is documented twice"
                pages[page.method] = page
    return pages


# ---- the spec ----------------------------------------------------------------------------------


def operations(spec: LoadedSpec) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for path, item in sorted(spec.document["paths"].items()):
        yield path, item["post"]


def walk(node: Any, where: str = "", skip: frozenset[str] = frozenset()) -> Iterator[tuple[str, Any, Any]]:
    """(location, key, value) for every mapping entry, not inside examples (wire data) or ``skip`` keys."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield where, key, value
            if key not in ("example", "examples") and key not in skip:
                yield from walk(value, f"{where}/{key}", skip)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{where}/{i}", skip)


#: Subschemas that only constrain (``if: {properties: {ENTITY_ID: {const: STATUS}}}``), never models.
CONSTRAINT_ONLY = frozenset({"if", "then", "else"})


def error_rows(spec: LoadedSpec) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for i, row in enumerate(spec.document.get("x-b24-system-errors", [])):
        yield f"x-b24-system-errors/{i}", row
    for path, op in operations(spec):
        for i, row in enumerate(op.get("x-b24-errors", [])):
            yield f"{path}/x-b24-errors/{i}", row


def readme_extensions() -> set[str]:
    text = (ROOT / "spec" / "README.md").read_text(encoding="utf-8")
    return set(re.findall(r"^### `(x-b24-[a-z0-9-]+)`", text, flags=re.MULTILINE))


# ---- OpenAPI -----------------------------------------------------------------------------------


def test_root_is_valid_openapi_with_file_refs(spec: LoadedSpec) -> None:
    openapi_validate(spec.raw_files[SPEC_ROOT.name], base_uri=SPEC_ROOT.resolve().as_uri())


def test_resolved_document_is_valid_openapi(spec: LoadedSpec) -> None:
    assert spec.document["openapi"].startswith("3.1")
    openapi_validate(spec.document)


def test_every_operation_is_one_post_named_after_its_path(spec: LoadedSpec) -> None:
    for path, item in spec.document["paths"].items():
        assert set(item) == {"post"}, path
        op = item["post"]
        assert op["operationId"] == path.removeprefix("/"), path
        assert op.get("summary") and op.get("description"), path
        assert isinstance(op.get("x-b24-idempotent"), bool), path
        assert isinstance(op.get("x-b24-batch"), bool), path


def test_every_example_validates_against_its_response_schema(spec: LoadedSpec) -> None:
    checked = 0
    for path, op in operations(spec):
        content = op["responses"]["200"]["content"]["application/json"]
        assert "example" in content, f"{path}: the documented response example is missing"
        validator = jsonschema.Draft202012Validator(
            content["schema"], format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        problems = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(content["example"])
        ]
        assert not problems, f"{path}: example does not match its schema:\n" + "\n".join(problems)
        checked += 1
    assert checked == len(spec.document["paths"])


def test_schemas_reject_what_they_should(spec: LoadedSpec) -> None:
    """The example check above can fail: a broken envelope is rejected by the same schemas."""
    _path, op = next(operations(spec))
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert list(jsonschema.Draft202012Validator(schema).iter_errors({"time": {}}))  # no result


# ---- completeness against the docs -------------------------------------------------------------


def test_docs_list_28_distinct_methods(doc_pages: dict[str, DocPage]) -> None:
    assert len(doc_pages) == 28, sorted(doc_pages)


def test_every_documented_method_has_an_operation(spec: LoadedSpec, doc_pages: dict[str, DocPage]) -> None:
    paths = spec.document["paths"]
    missing = sorted(m for m in doc_pages if f"/{m}" not in paths)
    assert not missing, f"documented but not in the spec: {missing}"
    for method in doc_pages:
        assert paths[f"/{method}"]["post"]["operationId"] == method


def test_spec_has_no_undocumented_method(spec: LoadedSpec, doc_pages: dict[str, DocPage]) -> None:
    extra = sorted(p.removeprefix("/") for p in spec.document["paths"] if p.removeprefix("/") not in doc_pages)
    assert not extra, f"in the spec but not in the docs' tables of contents: {extra}"


def test_external_docs_url_is_the_pages_source(spec: LoadedSpec, doc_pages: dict[str, DocPage]) -> None:
    wrong = {
        m: (spec.document["paths"][f"/{m}"]["post"].get("externalDocs", {}).get("url"), page.source_url)
        for m, page in doc_pages.items()
        if spec.document["paths"][f"/{m}"]["post"].get("externalDocs", {}).get("url") != page.source_url
    }
    assert not wrong, f"externalDocs.url differs from the page's Source (spec, docs): {wrong}"


def test_exactly_the_discontinued_methods_are_deprecated(spec: LoadedSpec, doc_pages: dict[str, DocPage]) -> None:
    # The docs file discontinued pages under .../outdated/; those are the six crm.enum.activity*/contenttype.
    outdated = {m for m, page in doc_pages.items() if "/outdated/" in page.source_url}
    assert len(outdated) == 6
    assert all(re.fullmatch(r"crm\.enum\.(activity[a-z]+|contenttype)", m) for m in outdated), outdated
    deprecated = {p.removeprefix("/") for p, op in operations(spec) if op.get("deprecated") is True}
    assert deprecated == outdated


def test_operation_source_points_at_its_page(spec: LoadedSpec, doc_pages: dict[str, DocPage]) -> None:
    for method, page in doc_pages.items():
        op = spec.document["paths"][f"/{method}"]["post"]
        assert op.get("x-b24-source") == f"{page.file}:{page.line}", method


# ---- extensions ----------------------------------------------------------------------------------


def test_readme_defines_the_extensions_the_generator_knows() -> None:
    defined = readme_extensions()
    assert len(defined) >= 10
    assert defined == set(EXTENSIONS)


def test_every_extension_used_is_defined_in_the_readme(spec: LoadedSpec) -> None:
    defined = readme_extensions()
    used: dict[str, str] = {}
    for name, data in sorted(spec.raw_files.items()):
        for loc, key, _value in walk(data, f"{name}#"):
            if isinstance(key, str) and key.startswith("x-b24-"):
                used.setdefault(key, loc)
    undefined = {k: v for k, v in used.items() if k not in defined}
    assert not undefined, f"x-b24-* keys spec/README.md does not define (first use): {undefined}"
    assert {"x-b24-errors", "x-b24-source", "x-b24-system-errors"} <= used.keys()


def test_every_seed_source_points_at_a_line_of_an_existing_file(spec: LoadedSpec, docs_dir: Path) -> None:
    line_counts: dict[str, int] = {}
    problems = []
    seen = 0
    for name, data in sorted(spec.raw_files.items()):
        for loc, key, value in walk(data, f"{name}#"):
            if key != "x-b24-source":
                continue
            seen += 1
            text = str(value)
            seed = _SEED.match(text)
            if seed is None:
                if not _PROTOCOL.match(text):
                    problems.append(f"{loc}: {text!r} is neither <seed file>:<line> nor protocol.md §<n>")
                continue
            file = seed["file"]
            if file not in line_counts:
                path = docs_dir / file
                line_counts[file] = len(path.read_text(encoding="utf-8").splitlines()) if path.is_file() else -1
            if line_counts[file] < 0:
                problems.append(f"{loc}: {file} is not in {docs_dir}")
            elif not 1 <= int(seed["line"]) <= line_counts[file]:
                problems.append(f"{loc}: {file} has {line_counts[file]} lines, not {seed['line']}")
    assert seen > 100
    assert not problems, "\n".join(problems)


def test_protocol_sources_name_existing_sections(spec: LoadedSpec, reference_dir: Path) -> None:
    text = (reference_dir / "protocol.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", text, flags=re.MULTILINE))
    missing = []
    for name, data in sorted(spec.raw_files.items()):
        for loc, key, value in walk(data, f"{name}#"):
            match = _PROTOCOL.match(str(value)) if key == "x-b24-source" else None
            if match and match["section"] not in sections:
                missing.append(f"{loc}: {value}")
    assert not missing, missing


# ---- schema rules ----------------------------------------------------------------------------------


def test_every_object_schema_with_properties_has_a_title(spec: LoadedSpec) -> None:
    untitled = []
    count = 0
    for name, data in sorted(spec.raw_files.items()):
        for loc, key, value in walk(data, f"{name}#", CONSTRAINT_ONLY):
            if isinstance(value, Mapping) and "properties" in value and key not in ("properties", *CONSTRAINT_ONLY):
                count += 1
                if not value.get("title"):
                    untitled.append(f"{loc}/{key}")
    assert count > 20
    assert not untitled, untitled


def test_component_names_equal_their_titles(spec: LoadedSpec) -> None:
    for name, data in sorted(spec.raw_files.items()):
        for component, schema in (data.get("components", {}) or {}).get("schemas", {}).items():
            if "properties" in schema or "enum" in schema:
                assert schema.get("title") == component, f"{name}: components/schemas/{component}"


def test_no_one_of_or_any_of(spec: LoadedSpec) -> None:
    for name, data in sorted(spec.raw_files.items()):
        for loc, key, _value in walk(data, f"{name}#"):
            assert key not in ("oneOf", "anyOf"), f"{loc}: {key} (use x-b24-wire-type)"


def test_enum_names_match_their_values(spec: LoadedSpec) -> None:
    for name, data in sorted(spec.raw_files.items()):
        for loc, key, value in walk(data, f"{name}#"):
            if isinstance(value, Mapping) and "x-b24-enum-names" in value:
                names = value["x-b24-enum-names"]
                values = [v for v in value["enum"] if v is not None]
                assert len(names) == len(values), f"{loc}/{key}"
                assert len(set(names)) == len(names), f"{loc}/{key}: duplicate member names"
                assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", n) for n in names), f"{loc}/{key}: {names}"


# ---- errors ----------------------------------------------------------------------------------------


def test_system_error_table_has_the_15_documented_rows_and_more(spec: LoadedSpec) -> None:
    rows = spec.document["x-b24-system-errors"]
    seeded = [r for r in rows if _SEED.match(str(r.get("x-b24-source", "")))]
    assert len(seeded) == 15
    assert len(rows) > 15  # plus the protocol-level errors


def test_error_rows_are_complete(spec: LoadedSpec) -> None:
    kinds = {"rate_limited", "auth", "access_denied", "not_found", "invalid_params", "server_error"}
    for loc, row in error_rows(spec):
        assert {"name", "kind", "status", "code", "message", "meaning", "x-b24-source"} <= row.keys(), loc
        assert row["kind"] in kinds, loc
        assert isinstance(row["status"], int) and 200 <= row["status"] < 600, loc
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*Error", row["name"]), f"{loc}: {row['name']!r}"


def test_error_names_are_consistent(spec: LoadedSpec) -> None:
    """One name is one row: reusing a name means the same kind, status, code and message."""
    by_name: dict[str, tuple[Any, ...]] = {}
    clashes = []
    for loc, row in error_rows(spec):
        identity = (row["kind"], row["status"], str(row["code"]), str(row["message"]))
        if by_name.setdefault(row["name"], identity) != identity:
            clashes.append(f"{loc}: {row['name']} {identity} vs {by_name[row['name']]}")
    assert not clashes, "\n".join(clashes)


def test_one_operation_never_lists_a_row_twice(spec: LoadedSpec) -> None:
    """Two classes for the same wire (status, code, message) could never be told apart."""
    for path, op in operations(spec):
        wires = [(r["status"], str(r["code"]), str(r["message"])) for r in op.get("x-b24-errors", [])]
        assert len(wires) == len(set(wires)), path
        names = [r["name"] for r in op.get("x-b24-errors", [])]
        assert len(names) == len(set(names)), path


def test_method_errors_do_not_shadow_system_errors(spec: LoadedSpec) -> None:
    system = {r["name"]: r for r in spec.document["x-b24-system-errors"]}
    for path, op in operations(spec):
        for row in op.get("x-b24-errors", []):
            if row["name"] in system:
                other = system[row["name"]]
                assert (row["status"], row["code"], row["message"]) == (
                    other["status"],
                    other["code"],
                    other["message"],
                ), f"{path}: {row['name']}"
