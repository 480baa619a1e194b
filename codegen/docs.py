"""``python -m codegen.docs [--spec spec/openapi.yaml] [--out docs/reference.md] [--check]``.

The method reference, rendered from the same IR as the package (Python names and types) plus the spec
(constraints, examples, quirks, sources) by ``templates/reference.md.jinja``. Deterministic: the same spec
gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from codegen import ir
from codegen.build import _strip, build
from codegen.diagnostics import SpecError
from codegen.load import LoadedSpec, SpecLoadError, load
from codegen.render import environment
from codegen.validate import validate

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "reference.md.jinja"


@attrs.frozen
class Row:
    """One parameter or result field; nested fields carry dotted paths (``fields.STATUS_ID``)."""

    wire: str
    python: str
    type: str
    required: bool
    constraints: str
    description: str


@attrs.frozen
class ErrorDoc:
    class_name: str
    status: int
    code: str
    message: str
    meaning: str


@attrs.frozen
class Quirk:
    where: str
    text: str


@attrs.frozen
class MethodDoc:
    name: str
    anchor: str
    tag: str
    summary: str
    description: str
    deprecated: bool
    facts: str
    call: tuple[str, ...]
    result_type: str
    #: The record type ``iter_all()`` yields, for paginated methods.
    item_type: str | None
    params: tuple[Row, ...]
    result_fields: tuple[Row, ...]
    errors: tuple[ErrorDoc, ...]
    example: str | None
    source_url: str
    source: str
    quirks: tuple[Quirk, ...]


@attrs.frozen
class Group:
    tag: str
    methods: tuple[MethodDoc, ...]


@attrs.frozen
class Reference:
    title: str
    spec_sha256: str
    groups: tuple[Group, ...]
    system_errors: tuple[ErrorDoc, ...]
    method_count: int


# ---- constraints --------------------------------------------------------------------------------------


def one_line(text: str) -> str:
    """Whitespace collapsed; Markdown, not a docstring, so nothing else is escaped."""
    return " ".join(text.split())


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def _types(schema: Mapping[str, Any]) -> list[str]:
    t = schema.get("type", [])
    return [t] if isinstance(t, str) else list(t)


def constraints(schema: Mapping[str, Any], *, prefix: str = "") -> list[str]:
    """The documented rules of one schema, in a fixed order, as short phrases."""
    out: list[str] = []
    if "null" in _types(schema):
        out.append("nullable")
    if schema.get("format"):
        out.append(f"format {schema['format']}")
    if schema.get("x-b24-wire-type"):
        out.append(f"wire: {schema['x-b24-wire-type']}")
    if "const" in schema:
        out.append(f"= `{_json(schema['const'])}`")
    if "enum" in schema:
        values = ", ".join(f"`{_json(v)}`" for v in schema["enum"])
        out.append(f"one of {values}" + (" (others kept)" if schema.get("title") else ""))
    for key, label in (
        ("minLength", "minLength"),
        ("maxLength", "maxLength"),
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minItems", "minItems"),
        ("maxItems", "maxItems"),
    ):
        if key in schema and not (key == "maxItems" and schema.get("x-b24-wire-type") == "empty-list-object"):
            out.append(f"{label} {schema[key]}")
    if schema.get("pattern"):
        out.append(f"pattern `{schema['pattern']}`")
    if schema.get("uniqueItems"):
        out.append("unique items")
    if "default" in schema:
        out.append(f"default `{_json(schema['default'])}`")
    for rule in schema.get("allOf", ()):
        if isinstance(rule, Mapping) and "if" in rule:
            text = f"if `{_json(_strip(rule['if']))}` then `{_json(_strip(rule.get('then', {})))}`"
            if "else" in rule:
                text += f" else `{_json(_strip(rule['else']))}`"
            out.append(text)
    if schema.get("x-b24-docs-only"):
        out.append("docs only (the server ignores it)")
    items = schema.get("items")
    if isinstance(items, Mapping) and "properties" not in items:
        out += constraints(items, prefix="items ")
    return [prefix + c for c in out]


# ---- rows ---------------------------------------------------------------------------------------------


def _without_unset(expr: str) -> str:
    return expr.replace(" | Unset", "")


class _Rows:
    def __init__(self, package: ir.Package) -> None:
        self.models = {m.name: m for m in package.models}

    def rows(
        self, schema: Mapping[str, Any], wire: str, python: str, type_text: str, required: bool, seen: frozenset[str]
    ) -> Iterator[Row]:
        yield Row(
            wire=wire,
            python=python,
            type=_without_unset(type_text),
            required=required,
            constraints="; ".join(constraints(schema)),
            description=one_line(str(schema.get("description", ""))),
        )
        yield from self.children(schema, wire, python, seen)

    def children(self, schema: Mapping[str, Any], wire: str, python: str, seen: frozenset[str]) -> Iterator[Row]:
        """The fields of a model-typed value (or of the models in an array), one level down."""
        target, suffix = schema, ""
        items = schema.get("items")
        if "properties" not in schema and isinstance(items, Mapping) and "properties" in items:
            target, suffix = items, "[]"
        title = target.get("title")
        if "properties" not in target or title not in self.models or title in seen:
            return
        required = set(target.get("required", ()))
        for field in self.models[title].fields:
            sub = target["properties"][field.wire_name]
            yield from self.rows(
                sub,
                f"{wire}{suffix}.{field.wire_name}" if wire else field.wire_name,
                f"{python}{suffix}.{field.py_name}" if python else field.py_name,
                str(field.type_expr),
                field.wire_name in required,
                seen | {title},
            )


def _quirks(schema: Any, where: str, seen: set[int]) -> Iterator[Quirk]:
    if not isinstance(schema, Mapping) or id(schema) in seen:
        return
    seen.add(id(schema))
    if schema.get("x-b24-quirk"):
        yield Quirk(where, one_line(str(schema["x-b24-quirk"])))
    for wire, sub in schema.get("properties", {}).items():
        yield from _quirks(sub, f"{where}.{wire}" if where else wire, seen)
    if isinstance(schema.get("items"), Mapping):
        yield from _quirks(schema["items"], f"{where}[]", seen)
    if isinstance(schema.get("additionalProperties"), Mapping):
        yield from _quirks(schema["additionalProperties"], f"{where}{{*}}", seen)


def _error(row: Mapping[str, Any]) -> ErrorDoc:
    return ErrorDoc(
        class_name=str(row["name"]),
        status=int(row["status"]),
        code=str(row["code"]),
        message=one_line(str(row["message"])),
        meaning=one_line(str(row.get("meaning", ""))),
    )


def _call(method: ir.Method) -> tuple[str, ...]:
    target = ".".join(("client", *method.namespace, method.py_name))
    required = ", ".join(f"{p.py_name}=..." for p in method.params if p.default_expr is None)
    if method.item_qexpr is None:
        return (f"result = {target}({required})",)
    iter_target = ".".join(("client", *method.namespace, "iter_all"))
    iter_required = ", ".join(f"{p.py_name}=..." for p in method.iter_params if p.default_expr is None)
    return (
        f"page = {target}({required})  # one page: page.items, page.total, page.next",
        f"for item in {iter_target}({iter_required}):  # every record, count-free",
        "    ...",
    )


def method_doc(package: ir.Package, method: ir.Method, op: Mapping[str, Any]) -> MethodDoc:
    rows = _Rows(package)
    params: list[Row] = []
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if isinstance(body, Mapping):
        required = set(body.get("required", ()))
        for p in method.params:
            params += rows.rows(
                body["properties"][p.wire_name],
                p.wire_name,
                p.py_name,
                str(p.type_qexpr),
                p.wire_name in required,
                frozenset(),
            )
    content = op["responses"]["200"]["content"]["application/json"]
    result = content["schema"]["properties"]["result"]
    result_fields = tuple(rows.children(result, "", "", frozenset()))
    result_type = str(method.result_qexpr) if method.item_qexpr is None else f"Page[{method.item_qexpr}]"

    quirks: list[Quirk] = []
    if op.get("x-b24-quirk"):
        quirks.append(Quirk("method", one_line(str(op["x-b24-quirk"]))))
    seen: set[int] = set()
    if isinstance(body, Mapping):
        for wire, sub in body.get("properties", {}).items():
            quirks += _quirks(sub, wire, seen)
    quirks += _quirks(result, "result", seen)
    for row in op.get("x-b24-errors", []):
        if row.get("x-b24-quirk"):
            quirks.append(Quirk(f"error {row['name']}", one_line(str(row["x-b24-quirk"]))))

    facts = [
        f"scope `{method.scope}`",
        f"who: {one_line(str(op['x-b24-access']))}" if op.get("x-b24-access") else "",
        "idempotent (retried on timeouts and 5xx)" if method.idempotent else "not idempotent (never retried once sent)",
        "allowed in `batch`" if method.batchable else "not allowed in `batch`",
    ]
    example = content.get("example")
    return MethodDoc(
        name=method.wire_name,
        anchor=method.wire_name.replace(".", "-").lower(),
        tag=str((op.get("tags") or ["other"])[0]),
        summary=method.summary,
        description=one_line(str(op.get("description", ""))),
        deprecated=method.deprecated,
        facts=" · ".join(f for f in facts if f),
        call=_call(method),
        result_type=result_type,
        item_type=None if method.item_qexpr is None else str(method.item_qexpr),
        params=tuple(params),
        result_fields=result_fields,
        errors=tuple(_error(r) for r in op.get("x-b24-errors", [])),
        example=json.dumps(example, indent=2, ensure_ascii=False) if example is not None else None,
        source_url=method.source_url,
        source=str(op.get("x-b24-source", "")),
        quirks=tuple(quirks),
    )


def reference(spec: LoadedSpec, package: ir.Package) -> Reference:
    doc = spec.document
    methods = [method_doc(package, m, doc["paths"][f"/{m.wire_name}"]["post"]) for m in package.methods]
    tag_order = [str(t["name"]) for t in doc.get("tags", []) if isinstance(t, Mapping) and "name" in t]
    tags = sorted({m.tag for m in methods}, key=lambda t: (tag_order.index(t) if t in tag_order else len(tag_order), t))
    groups = tuple(Group(tag, tuple(m for m in methods if m.tag == tag)) for tag in tags)
    return Reference(
        title=package.title,
        spec_sha256=package.spec_sha256,
        groups=groups,
        system_errors=tuple(_error(r) for r in doc.get("x-b24-system-errors", [])),
        method_count=len(methods),
    )


def _md(value: object) -> str:
    """Prose safe in Markdown: ``<TYPE>`` outside code spans would be taken for an HTML tag."""
    parts = str(value).split("`")
    return "`".join(p if i % 2 else p.replace("<", "&lt;") for i, p in enumerate(parts))


def _cell(value: object) -> str:
    """Text safe inside a Markdown table cell (one line, pipes escaped)."""
    return " ".join(str(value).split()).replace("|", "\\|")


def render_reference(spec: LoadedSpec, package: ir.Package) -> str:
    env = environment()
    env.filters["cell"] = _cell
    env.filters["md"] = _md
    text = env.get_template(TEMPLATE).render(ref=reference(spec, package))
    lines: list[str] = []
    for line in (raw.rstrip() for raw in text.splitlines()):
        if line or (lines and lines[-1]):  # no runs of blank lines, none at the top
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def generate_reference(spec_path: Path) -> str:
    spec = load(spec_path)
    validate(spec)
    return render_reference(spec, build(spec))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen.docs", description="Render docs/reference.md from spec/.")
    parser.add_argument("--spec", type=Path, default=ROOT / "spec" / "openapi.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "reference.md")
    parser.add_argument("--check", action="store_true", help="fail if --out differs from what would be rendered")
    args = parser.parse_args(argv)
    try:
        text = generate_reference(args.spec)
    except (SpecError, SpecLoadError) as exc:
        print(f"codegen.docs: {exc}", file=sys.stderr)
        return 2
    data = text.encode("utf-8")
    current = args.out.read_bytes() if args.out.is_file() else None
    if args.check:
        if current != data:
            print(f"codegen.docs: {args.out} is stale; run `make docs`", file=sys.stderr)
            return 1
        print(f"codegen.docs: {args.out} is fresh")
        return 0
    if current != data:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(data)
    print(f"codegen.docs: {args.out} ({text.count(chr(10))} lines, {'changed' if current != data else 'unchanged'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
