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
from tests.spec import docsource

ROOT = Path(__file__).resolve().parents[2]
SPEC_ROOT = ROOT / "spec" / "openapi.yaml"

# ---- the docs ----------------------------------------------------------------------------------

#: The overview pages whose method lists are the spec's scope, and the stand-alone method pages beside them.
TOC_PAGES = (
    "api-reference/crm/status/index.md",
    "api-reference/crm/duplicates/index.md",
    "api-reference/crm/auxiliary/index.md",
)
STANDALONE_PAGES = ("api-reference/crm/crm-stage-history-list.md", "api-reference/crm/crm-settings-mode-get.md")
_TOC_LINK = re.compile(r"\[(?P<method>crm(?:\.[A-Za-z]+)+)\]\((?P<href>\./[^)#]+\.md)\)")
_H1_METHOD = re.compile(r"^# .*?\b(?P<method>crm(?:\.[A-Za-z]+)+)\b", re.MULTILINE)
_PROTOCOL = re.compile(r"^docs/protocol\.md#(?P<anchor>[a-z0-9-]+)$")
PROTOCOL_DOC = ROOT / "docs" / "protocol.md"


def page_url(path: str) -> str:
    return docsource.PUBLIC_BASE + path.removesuffix(".md")


@pytest.fixture(scope="module")
def doc_methods(docs_root: Path) -> dict[str, str]:
    """Method name -> its public page URL, from the overview pages' method links (own folder only)."""
    methods: dict[str, str] = {}
    for toc in TOC_PAGES:
        path = docs_root / toc
        for match in _TOC_LINK.finditer(path.read_text(encoding="utf-8")):
            target = (path.parent / match["href"]).resolve().relative_to(docs_root.resolve()).as_posix()
            url = page_url(target)
            assert methods.setdefault(match["method"], url) == url, f"{match['method']}: two pages"
    for page in STANDALONE_PAGES:
        found = _H1_METHOD.search((docs_root / page).read_text(encoding="utf-8"))
        assert found, f"{page}: no method in its title"
        methods[found["method"]] = page_url(page)
    return methods


def protocol_anchors() -> set[str]:
    return set(re.findall(r'<a id="([a-z0-9-]+)"></a>', PROTOCOL_DOC.read_text(encoding="utf-8")))


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


def test_docs_list_28_distinct_methods(doc_methods: dict[str, str]) -> None:
    assert len(doc_methods) == 28, sorted(doc_methods)


def test_every_documented_method_has_an_operation(spec: LoadedSpec, doc_methods: dict[str, str]) -> None:
    paths = spec.document["paths"]
    missing = sorted(m for m in doc_methods if f"/{m}" not in paths)
    assert not missing, f"documented but not in the spec: {missing}"
    for method in doc_methods:
        assert paths[f"/{method}"]["post"]["operationId"] == method


def test_every_operation_is_a_documented_page(spec: LoadedSpec, docs_root: Path) -> None:
    """Every operation, in the 28 or added since, is the method its externalDocs page documents."""
    problems = []
    for path, op in operations(spec):
        method = path.removeprefix("/")
        url = op.get("externalDocs", {}).get("url", "")
        page = docs_root / (url.removeprefix(docsource.PUBLIC_BASE) + ".md")
        if not url.startswith(docsource.PUBLIC_BASE) or not page.is_file():
            problems.append(f"{method}: externalDocs.url {url!r} is not a page of the docs")
        elif not re.search(rf"(?<![\w.]){re.escape(method)}(?![\w])", page.read_text(encoding="utf-8")):
            problems.append(f"{method}: its page {page.name} never names it")
    assert not problems, "\n".join(problems)


def test_external_docs_url_is_the_methods_page(spec: LoadedSpec, doc_methods: dict[str, str]) -> None:
    wrong = {
        m: (spec.document["paths"][f"/{m}"]["post"].get("externalDocs", {}).get("url"), url)
        for m, url in doc_methods.items()
        if spec.document["paths"][f"/{m}"]["post"].get("externalDocs", {}).get("url") != url
    }
    assert not wrong, f"externalDocs.url differs from the page the docs link (spec, docs): {wrong}"


_DEPRECATED_NOTE = re.compile(r'\{%\s*note\s+\w+\s+"DEPRECATED"\s*%\}')


def test_exactly_the_discontinued_methods_are_deprecated(
    spec: LoadedSpec, doc_methods: dict[str, str], docs_root: Path
) -> None:
    """deprecated: true exactly where the method's page carries the docs' DEPRECATED note."""
    # Of the 28, the docs file the discontinued pages under .../outdated/: the six crm.enum.activity*/contenttype.
    outdated = {m for m, url in doc_methods.items() if "/outdated/" in url}
    assert len(outdated) == 6
    assert all(re.fullmatch(r"crm\.enum\.(activity[a-z]+|contenttype)", m) for m in outdated), outdated
    noted = set()
    for path, op in operations(spec):
        page = docs_root / (op["externalDocs"]["url"].removeprefix(docsource.PUBLIC_BASE) + ".md")
        if page.is_file() and _DEPRECATED_NOTE.search(page.read_text(encoding="utf-8")):
            noted.add(path.removeprefix("/"))
    assert outdated <= noted
    deprecated = {p.removeprefix("/") for p, op in operations(spec) if op.get("deprecated") is True}
    assert deprecated == noted


def test_operation_source_is_its_page(spec: LoadedSpec) -> None:
    for path, op in operations(spec):
        assert str(op.get("x-b24-source", "")).split(" | ")[0] == op["externalDocs"]["url"], path


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


def sources(spec: LoadedSpec) -> Iterator[tuple[str, str]]:
    """(location, value) of every ``x-b24-source`` in the spec files."""
    for name, data in sorted(spec.raw_files.items()):
        for loc, key, value in walk(data, f"{name}#"):
            if key == "x-b24-source":
                yield loc, str(value)


def test_every_source_is_a_public_page_or_a_protocol_section(spec: LoadedSpec) -> None:
    anchors = protocol_anchors()
    problems = []
    seen = 0
    for loc, text in sources(spec):
        seen += 1
        section = _PROTOCOL.match(text)
        if section is not None:
            if section["anchor"] not in anchors:
                problems.append(f"{loc}: docs/protocol.md has no anchor #{section['anchor']}")
        elif docsource.parse_citation(text) is None:
            problems.append(
                f"{loc}: {text!r} is neither '<page URL>[ | <table>[ | <row>]]' nor docs/protocol.md#<anchor>"
            )
    assert seen > 300
    assert not problems, "\n".join(problems)


def test_protocol_anchors_are_the_documented_ones() -> None:
    """The anchors code and spec point at exist, each once."""
    text = PROTOCOL_DOC.read_text(encoding="utf-8")
    ids = re.findall(r'<a id="([a-z0-9-]+)"></a>', text)
    assert len(ids) == len(set(ids)), "an anchor is defined twice"
    assert {"batch-references", "request-size", "input-variable-cap", "sources-disagree", "crm-status"} <= set(ids)
    assert "This document is the emulator's specification" in text


def test_every_protocol_anchor_cited_in_the_repository_exists() -> None:
    """``docs/protocol.md#<anchor>`` in the spec, the code, the docs and the tests names a defined section."""
    anchors = protocol_anchors()
    cited: dict[str, str] = {}
    for folder in ("spec", "codegen", "generated", "docs", "tests", "README.md"):
        base = ROOT / folder
        for path in [base] if base.is_file() else sorted(base.rglob("*")):
            if path.suffix not in (".py", ".md", ".yaml", ".jinja") or not path.is_file():
                continue
            for name in re.findall(r"(?:docs/|\./)protocol\.md#([a-z0-9-]+)", path.read_text(encoding="utf-8")):
                cited.setdefault(name, str(path.relative_to(ROOT)))
    assert len(cited) > 10
    unknown = {name: where for name, where in cited.items() if name not in anchors}
    assert not unknown, f"docs/protocol.md has no such anchor (first use): {unknown}"


@attrs.frozen
class _Pages:
    """Parsed pages of the checkout, with rendered copies standing in for includes the checkout lacks."""

    root: Path
    rendered: Path | None

    def tables(self, citation: docsource.Citation) -> tuple[dict[str, list[list[str]]], list[str]] | None:
        path = self.root / citation.path
        if not path.is_file():
            return None
        text, missing = docsource.expand_includes(path, self.root)
        return docsource.tables(text), missing

    def in_rendered_copy(self, table: str, row: str) -> bool:
        """A row of an included table the checkout lacks, found in a rendered copy of the same include."""
        if self.rendered is None:
            return False
        wanted = docsource.normalize(row)
        return any(
            wanted in {docsource.normalize(line) for line in section.lines}
            for section in docsource.rendered_sections(self.rendered, table)
        )


def check_citation(pages: _Pages, citation: docsource.Citation) -> str | None:
    """None when the cited page, table and row exist; else what is missing."""
    parsed = pages.tables(citation)
    if parsed is None:
        return f"no page {citation.path}"
    tables, missing = parsed
    if citation.table is None:
        return None
    rows = tables.get(citation.table)
    if rows is not None and (citation.row is None or docsource.has_row(rows, citation.row)):
        return None
    if missing and citation.row is not None and pages.in_rendered_copy(citation.table, citation.row):
        return None  # the table comes from an include this folder lacks; its rendered copy has the row
    if rows is None:
        return f"no table {citation.table!r} in {citation.path} (tables: {sorted(tables)}; missing includes: {missing})"
    return f"no row {citation.row!r} in table {citation.table!r} of {citation.path}"


def test_every_cited_row_is_in_its_page(spec: LoadedSpec, docs_root: Path, rendered_dir: Path | None) -> None:
    pages = _Pages(docs_root, rendered_dir)
    problems = []
    rows = 0
    for loc, text in sources(spec):
        citation = docsource.parse_citation(text)
        if citation is None:
            continue
        rows += citation.row is not None
        problem = check_citation(pages, citation)
        if problem:
            problems.append(f"{loc}: {problem}")
    assert rows > 250
    assert not problems, "\n".join(problems)


def test_the_citation_check_finds_what_is_not_there(docs_root: Path, rendered_dir: Path | None) -> None:
    pages = _Pages(docs_root, rendered_dir)
    page = "https://apidocs.bitrix24.com/api-reference/crm/status/crm-status-add"
    assert check_citation(pages, docsource.Citation(page, "Possible Error Codes", "ERROR_CORE")) is None
    assert check_citation(pages, docsource.Citation(page, "Possible Error Codes", "NO_SUCH_CODE"))
    assert check_citation(pages, docsource.Citation(page, "No Such Table", None))
    assert check_citation(pages, docsource.Citation(page + "-nope", None, None))


def test_every_page_the_protocol_cites_exists(docs_root: Path) -> None:
    urls = set(
        re.findall(r"https://apidocs\.bitrix24\.com/[A-Za-z0-9/_.-]*[A-Za-z0-9_-]", PROTOCOL_DOC.read_text("utf-8"))
    )
    assert len(urls) > 15
    missing = sorted(
        u
        for u in urls
        if not (docs_root / (u.removeprefix(docsource.PUBLIC_BASE) + ".md")).is_file()
        and not (docs_root / u.removeprefix(docsource.PUBLIC_BASE) / "index.md").is_file()
    )
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
    tabled = [r for r in rows if docsource.parse_citation(str(r.get("x-b24-source", ""))) is not None]
    from_system_table = [r for r in tabled if "| Statuses and System Error Codes |" in r["x-b24-source"]]
    assert len(from_system_table) == 13  # plus the two batch rows, cited from the batch page's own table
    assert len(tabled) >= 15
    assert len(rows) > 15  # plus the protocol-level errors


def test_error_rows_are_complete(spec: LoadedSpec) -> None:
    kinds = set(spec.document["x-b24-error-kinds"])
    assert kinds == {
        "throttled", "operating_limit", "token_expired", "auth", "access_denied", "blocked", "not_found",
        "invalid_params", "transient", "failed",
    }  # fmt: skip
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
