"""Validated spec -> IR. Every naming, typing and default decision the templates print is made here."""

from __future__ import annotations

import json
import pprint
import textwrap
from collections.abc import Mapping
from typing import Any

import attrs

from codegen import ir
from codegen.load import LoadedSpec
from codegen.naming import FIELD_RESERVED, NAME_RESERVED, constant, pascal, snake

#: Schema keywords the runtime validator reads; everything else is dropped from embedded request schemas.
VALIDATION_KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "allOf",
        "if",
        "then",
        "else",
        "minProperties",
        "maxProperties",
    }
)
DOC_WIDTH = 100
_SCALARS = {"integer": "int", "number": "float", "boolean": "bool"}
_ENUMS = ir.Import("b24crm", "enums")
_MODELS = ir.Import("b24crm", "models")
_SEQUENCE = ir.named("Sequence", ir.Import("collections.abc", "Sequence"))
_UNSET_TYPE = ir.named("Unset", ir.Import("b24crm.runtime.types", "Unset"))
_UNSET = ir.Expr("UNSET", frozenset({ir.Import("b24crm.runtime.types", "UNSET")}))
_NONE_DEFAULT = ir.Expr("None")
#: The base of every response model (b24crm/runtime/record.py says why).
_WIRE_RECORD = ir.Expr("WireRecord", frozenset({ir.Import("b24crm.runtime.record", "WireRecord")}))
_BATCH_REF = ir.named("BatchRef", ir.Import("b24crm.runtime.batch", "BatchRef"))


def _mapping(inner: ir.TypeExpr) -> ir.TypeExpr:
    return ir.generic(ir.named("Mapping", ir.Import("collections.abc", "Mapping")), ir.named("str"), inner)


def _types(schema: Mapping[str, Any]) -> list[str]:
    t = schema.get("type", [])
    return [t] if isinstance(t, str) else list(t)


def doc_escape(text: str) -> str:
    """Text safe inside a triple-quoted docstring."""
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').strip()


def wrap(text: str, width: int = DOC_WIDTH) -> tuple[str, ...]:
    lines: list[str] = []
    for para in doc_escape(text).split("\n"):
        lines += textwrap.wrap(para, width=width, break_long_words=False, break_on_hyphens=False) or [""]
    while lines and not lines[-1]:
        lines.pop()
    return tuple(lines)


def _hanging(text: str, width: int = DOC_WIDTH - 4) -> list[str]:
    """An ``Args:``/``Attributes:`` entry: first line indented 4, continuation lines 8.

    ``text`` is already docstring-safe (built from ``one_line`` pieces): escaping again would double backslashes.
    """
    lines = textwrap.wrap(text.strip(), width=width, break_long_words=False, break_on_hyphens=False)
    return [("    " if i == 0 else "        ") + line for i, line in enumerate(lines)]


def tidy(lines: list[str]) -> tuple[str, ...]:
    """No runs of blank lines, none at either end."""
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return tuple(out) or ("",)


def one_line(text: str) -> str:
    return " ".join(doc_escape(text).split())


class _Builder:
    def __init__(self, spec: LoadedSpec) -> None:
        self.spec = spec
        self.enums: dict[str, ir.EnumDef] = {}
        self.models: dict[str, ir.Model] = {}
        self.model_deps: dict[str, set[str]] = {}
        self.errors: dict[str, ir.ErrorClass] = {}
        self.param_dicts: dict[str, ir.ParamDict] = {}
        self.kinds = {
            name: ir.ErrorKind(
                name=name,
                base=str(row["base"]),
                may_have_run=bool(row["may_have_run"]),
                retry=str(row["retry"]),
                meaning_expr=repr(one_line(str(row["meaning"]))),
            )
            for name, row in sorted(spec.document.get("x-b24-error-kinds", {}).items())
        }

    # ---- types -------------------------------------------------------------------------------

    def type_expr(
        self, schema: Mapping[str, Any], *, request: bool, qualified: bool, deps: set[str] | None = None
    ) -> ir.TypeExpr:
        """The Python annotation for ``schema`` (without the request-side ``| Unset``)."""
        types = _types(schema)
        nullable = "null" in types
        wire_type = schema.get("x-b24-wire-type")
        base: ir.TypeExpr
        if "enum" in schema and schema.get("title"):
            enum_def = self.enum(schema)
            base = ir.named(f"enums.{enum_def.name}", _ENUMS).or_(ir.named(enum_def.base))
        elif "properties" in schema:
            name = self.model(schema, request=request)
            if deps is not None:
                deps.add(name)
            base = ir.named(f"models.{name}", _MODELS) if qualified else ir.named(name)
            if request:  # the model, its TypedDict twin, and any mapping where the schema is open
                twin = self.param_dicts[name]
                base = base.or_(ir.named(f"models.{twin.name}", _MODELS) if qualified else ir.named(twin.name))
                if twin.open:
                    base = base.or_(_mapping(ir.ANY))
        elif wire_type == "numeric-string":
            base = ir.named("int")
        elif wire_type == "yn-bool":
            base = ir.named("bool")
        else:
            concrete = [t for t in types if t != "null"]
            if "object" in concrete:
                concrete = ["object"]
            if len(concrete) != 1:
                base = ir.ANY
            else:
                base = self._simple(concrete[0], schema, request=request, qualified=qualified, deps=deps)
        if nullable and not base.is_any:
            base = base.or_(ir.NONE)
        return base

    def dict_value_expr(self, schema: Mapping[str, Any], deps: set[str]) -> ir.TypeExpr:
        """A value inside a TypedDict twin: what travels as given (Y/N flags as ``"Y"``/``"N"``, IDs as int or
        numeric text), since a plain mapping goes out without the model's conversions."""
        wire_type = schema.get("x-b24-wire-type")
        nullable = "null" in _types(schema)
        if wire_type == "yn-bool":
            base = ir.named("Literal['Y', 'N']", ir.Import("typing", "Literal"))
        elif wire_type == "numeric-string":
            base = ir.named("int").or_(ir.named("str"))
        elif schema.get("format") == "date-time":
            base = ir.named("datetime.datetime", ir.Import("datetime")).or_(ir.named("str"))
        else:
            return self.type_expr(schema, request=True, qualified=False, deps=deps)
        return base.or_(ir.NONE) if nullable else base

    def _simple(
        self, kind: str, schema: Mapping[str, Any], *, request: bool, qualified: bool, deps: set[str] | None
    ) -> ir.TypeExpr:
        if kind == "string":
            return (
                ir.named("datetime.datetime", ir.Import("datetime"))
                if schema.get("format") == "date-time"
                else ir.named("str")
            )
        if kind in _SCALARS:
            return ir.named(_SCALARS[kind])
        if kind == "array":
            items = schema.get("items")
            inner = (
                self.type_expr(items, request=request, qualified=qualified, deps=deps)
                if isinstance(items, Mapping)
                else ir.ANY
            )
            return ir.generic(_SEQUENCE if request else ir.named("list"), inner)
        if kind == "object":
            extra = schema.get("additionalProperties", True)
            inner = (
                self.type_expr(extra, request=request, qualified=qualified, deps=deps)
                if isinstance(extra, Mapping)
                else ir.ANY
            )
            return _mapping(inner) if request else ir.generic(ir.named("dict"), ir.named("str"), inner)
        return ir.ANY

    def enum(self, schema: Mapping[str, Any]) -> ir.EnumDef:
        schema = self.spec.component(schema)
        name = schema["title"]
        if name in self.enums:
            return self.enums[name]
        values = [v for v in schema["enum"] if v is not None]
        names = schema.get("x-b24-enum-names")
        base = "int" if all(isinstance(v, int) and not isinstance(v, bool) for v in values) else "str"
        members = tuple(
            ir.EnumMember(
                name=(names[i] if names else snake(str(v)).rstrip("_").upper()),
                value_expr=repr(v if base == "int" else str(v)),
            )
            for i, v in enumerate(values)
        )
        doc = wrap(schema.get("description", f"Values of {name}."))
        enum_def = ir.EnumDef(name=name, base=base, doc_lines=doc, members=members)
        self.enums[name] = enum_def
        return enum_def

    def model(self, schema: Mapping[str, Any], *, request: bool) -> str:
        schema = self.spec.component(schema)  # the component itself, not a use of it with its own description
        name: str = schema["title"]
        if name in self.models:
            return name
        self.models[name] = None  # type: ignore[assignment]  # reserve: recursion guard
        if request:
            self.param_dict(schema)
        deps: set[str] = set()
        required = set(schema.get("required", ()))
        fields: list[ir.Field] = []
        for wire, sub in schema["properties"].items():
            expr = self.type_expr(sub, request=request, qualified=False, deps=deps)
            metadata = {"wire": wire}
            if sub.get("x-b24-wire-type") == "yn-bool":
                metadata["wire_type"] = "yn-bool"
            default: ir.Expr | None
            if wire in required:
                default = None
            elif request:
                expr, default = _with_unset(expr), _UNSET
            else:
                default = _NONE_DEFAULT
                if not expr.is_any:
                    expr = expr.or_(ir.NONE)
            fields.append(
                ir.Field(
                    py_name=snake(wire, FIELD_RESERVED),
                    wire_name=wire,
                    type_expr=expr,
                    default_expr=default,
                    metadata_expr=json.dumps(metadata),
                    doc=one_line(sub.get("description", "")),
                )
            )
        doc = list(wrap(schema.get("description", name)))
        if fields:
            doc += ["", "Attributes:"]
            for f in fields:
                doc += _hanging(f"{f.py_name}: ``{f.wire_name}``" + (f" — {f.doc}" if f.doc else ""))
        self.models[name] = ir.Model(
            name=name,
            doc_lines=tidy(doc),
            fields=tuple(fields),
            keeps_unknown=not request,
            source=str(schema.get("x-b24-source", "")),
            twin=self.param_dicts.get(name) if request else None,
            bases=() if request else (_WIRE_RECORD,),
        )
        self.model_deps[name] = deps - {name}
        return name

    def param_dict(self, schema: Mapping[str, Any]) -> None:
        """Register the TypedDict twin of a request model before its fields are typed (they may refer to it)."""
        name: str = schema["title"]
        if name in self.param_dicts:
            return
        extra = schema.get("additionalProperties", False)
        self.param_dicts[name] = ir.ParamDict(name=f"{name}Dict", model=name, fields=(), open=extra is not False)
        required = set(schema.get("required", ()))
        deps: set[str] = set()
        fields = tuple(
            ir.DictField(wire_name=wire, type_expr=self.dict_value_expr(sub, deps), required=wire in required)
            for wire, sub in schema["properties"].items()
        )
        self.param_dicts[name] = attrs.evolve(self.param_dicts[name], fields=fields)

    # ---- errors ------------------------------------------------------------------------------

    def error_ref(self, row: Mapping[str, Any]) -> str:
        """The class name of a documented error row, registering its class once."""
        name = str(row["name"])
        if name not in self.errors:
            meaning = str(row.get("meaning", ""))
            self.errors[name] = ir.ErrorClass(
                name=name,
                base=self.kinds[row["kind"]].base,
                kind=str(row["kind"]),
                code_expr=repr(str(row["code"])),
                message_expr=repr(str(row["message"])),
                status=int(row["status"]),
                meaning_expr=repr(one_line(meaning)),
                doc_lines=wrap(f"{row['message']} — {meaning}".strip(" —")),
            )
        return name

    # ---- methods -----------------------------------------------------------------------------

    def method(self, name: str, op: Mapping[str, Any]) -> ir.Method:
        body_schema: Mapping[str, Any] | None = None
        if op.get("requestBody"):
            body_schema = op["requestBody"]["content"]["application/json"]["schema"]
        params: list[ir.Param] = []
        if body_schema is not None:
            required = set(body_schema.get("required", ()))
            ordered = sorted(body_schema["properties"].items(), key=lambda kv: kv[0] not in required)
            for wire, sub in ordered:
                expr = self.type_expr(sub, request=True, qualified=True)
                default = None if wire in required else _UNSET
                if default is not None:
                    expr = _with_unset(expr)
                params.append(
                    ir.Param(
                        py_name=snake(wire),
                        wire_name=wire,
                        type_qexpr=expr,
                        batch_type_qexpr=_with_ref(expr),
                        default_expr=default,
                        doc=one_line(sub.get("description", "")),
                    )
                )
        envelope = op["responses"]["200"]["content"]["application/json"]["schema"]
        result = envelope["properties"]["result"]
        result_expr = self.type_expr(result, request=False, qualified=True)
        pagination = op.get("x-b24-pagination")
        item_expr: ir.TypeExpr | None = None
        iter_params = tuple(params)
        if pagination is not None:
            node: Mapping[str, Any] = result
            for step in pagination["items_path"]:
                node = node["properties"][step]
            item_expr = self.type_expr(node["items"], request=False, qualified=True)
            iter_params = tuple(p for p in params if p.wire_name != pagination["start_param"])
        rows = sorted(op.get("x-b24-errors", []), key=lambda r: (str(r["code"]), str(r["message"]), str(r["name"])))
        errors = tuple(dict.fromkeys(self.error_ref(r) for r in rows))
        summary = one_line(op.get("summary", name)).rstrip(".")
        doc = [f"{summary}.", "", *wrap(op.get("description", ""))]
        quirk = op.get("x-b24-quirk")
        if quirk:
            doc += ["", *wrap(f"Note: {quirk}")]
        if params:
            doc += ["", "Args:"]
            for p in params:
                doc += _hanging(f"{p.py_name}: ``{p.wire_name}``" + (f" — {p.doc}" if p.doc else ""))
        documented = {str(r["name"]): r for r in op.get("x-b24-errors", [])}
        if documented:
            doc += ["", "Raises:"]
            for class_name, row in sorted(documented.items()):
                text = one_line(str(row["message"])) or "(no message)"
                doc += _hanging(f"errors.{class_name}: {text} (HTTP {row['status']})")
            doc += ["    Any system error of ``b24crm.errors``, RequestValidationError, TransportError."]
        doc += ["", f"Calls ``{name}``; docs: {op['externalDocs']['url']}"]
        if op.get("deprecated"):
            doc += ["", "Deprecated: Bitrix24 has discontinued this method; calling it warns (DeprecationWarning)."]
        segments = name.split(".")
        token_type = item_expr if item_expr is not None else result_expr
        return ir.Method(
            wire_name=name,
            const_name=constant(name),
            py_name=snake(segments[-1], NAME_RESERVED),
            namespace=tuple(snake(s, NAME_RESERVED) for s in segments[:-1]),
            summary=summary,
            summary_expr=repr(summary),
            doc_lines=tidy(doc),
            source_url=op["externalDocs"]["url"],
            deprecated=bool(op.get("deprecated", False)),
            idempotent=bool(op["x-b24-idempotent"]),
            batchable=bool(op["x-b24-batch"]),
            scope=str(op.get("x-b24-scope", "crm")),
            params=tuple(params),
            iter_params=iter_params,
            result_qexpr=result_expr,
            item_qexpr=item_expr,
            request_schema_expr=_literal(_strip(body_schema)) if body_schema is not None else "None",
            pagination=_pagination(pagination),
            errors=errors,
            token_name=f"_{constant(name)}",
            token_type=token_type,
        )


def _with_unset(expr: ir.TypeExpr) -> ir.TypeExpr:
    """``X | None`` -> ``X | Unset | None``: absent and null stay distinct, None stays last."""
    return expr.or_(_UNSET_TYPE)


def _with_ref(expr: ir.TypeExpr) -> ir.TypeExpr:
    """``X | None`` -> ``X | BatchRef | None``: a batch parameter may be ``handle.ref(...)``."""
    return expr.or_(_BATCH_REF)


def _strip(schema: Any) -> Any:
    """Only what the runtime validator reads: no docs, examples or extensions in the package."""
    if isinstance(schema, Mapping):
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key not in VALIDATION_KEYWORDS:
                continue
            if key == "properties":
                out[key] = {k: _strip(v) for k, v in value.items()}
            else:
                out[key] = _strip(value)
        return out
    if isinstance(schema, list):
        return [_strip(v) for v in schema]
    return schema


def _literal(value: Any) -> str:
    return pprint.pformat(value, width=100, sort_dicts=True)


def _pagination(p: Mapping[str, Any] | None) -> ir.PaginationDef | None:
    if p is None:
        return None
    return ir.PaginationDef(
        page_size=int(p["page_size"]),
        items_path=tuple(p["items_path"]),
        id_field=str(p["id_field"]),
        order_param=str(p["order_param"]),
        filter_param=str(p["filter_param"]),
        start_param=str(p["start_param"]),
        count_free=bool(p["count_free"]),
    )


def _toposort(models: Mapping[str, ir.Model], deps: Mapping[str, set[str]]) -> tuple[ir.Model, ...]:
    """Dependencies first, otherwise alphabetical: models.py needs no forward references."""
    done: list[str] = []
    placed: set[str] = set()

    def place(name: str, stack: tuple[str, ...]) -> None:
        if name in placed:
            return
        if name in stack:
            raise ValueError(f"models refer to each other in a cycle: {' -> '.join((*stack, name))}")
        for dep in sorted(deps.get(name, ())):
            place(dep, (*stack, name))
        placed.add(name)
        done.append(name)

    for name in sorted(models):
        place(name, ())
    return tuple(models[n] for n in done)


def build(spec: LoadedSpec) -> ir.Package:
    """The whole package's IR from a validated spec."""
    b = _Builder(spec)
    doc = spec.document
    methods = tuple(b.method(path.lstrip("/"), item["post"]) for path, item in sorted(doc["paths"].items()))
    system = tuple(b.error_ref(r) for r in doc.get("x-b24-system-errors", []))

    # Namespaces: every method's dotted prefix, with its child namespaces and its methods.
    paths: set[tuple[str, ...]] = set()
    #: Python path -> the wire spelling of its segments, for docstrings (``crm.duplicate.volatileType``).
    wire_paths: dict[tuple[str, ...], str] = {}
    for m in methods:
        wire_segments = m.wire_name.split(".")[:-1]
        for depth in range(1, len(m.namespace) + 1):
            paths.add(m.namespace[:depth])
            wire_paths.setdefault(m.namespace[:depth], ".".join(wire_segments[:depth]))
    namespaces = []
    for path in sorted(paths):
        children = tuple(
            _child(p) for p in sorted(paths) if len(p) == len(path) + 1 and p[: len(path)] == path
        )
        own = tuple(m for m in methods if m.namespace == path)
        names = _child(path)
        namespaces.append(
            ir.Namespace(
                path=path,
                class_name=names.class_name,
                async_class_name=names.async_class_name,
                batch_class_name=names.batch_class_name,
                doc=f"``{wire_paths[path]}.*`` methods.",
                children=children,
                methods=own,
            )
        )
    roots = tuple(_child(p) for p in sorted(paths) if len(p) == 1)
    info = doc.get("info", {})
    modules = _namespace_modules(tuple(namespaces), wire_paths)
    return ir.Package(
        spec_sha256=spec.sha256,
        title=one_line(str(info.get("title", ""))),
        version=str(info.get("version", "0")),
        enums=tuple(b.enums[n] for n in sorted(b.enums)),
        kinds=tuple(b.kinds.values()),
        models=(models := _toposort(b.models, b.model_deps)),
        param_dicts=tuple(b.param_dicts[m.name] for m in models if m.name in b.param_dicts),
        errors=tuple(b.errors[n] for n in sorted(b.errors)),
        system_errors=system,
        methods=methods,
        namespaces=tuple(namespaces),
        roots=roots,
        namespace_modules=modules,
    )


def _child(path: tuple[str, ...]) -> ir.Child:
    """The one place namespace class names are made: ``crm.status`` → ``CrmStatusApi`` (sync client),
    ``CrmStatusAsyncApi`` (asyncio client), ``CrmStatusBatchApi`` (both clients' batches)."""
    base = pascal(".".join(path))
    return ir.Child(
        attr=path[-1],
        class_name=base + "Api",
        async_class_name=base + "AsyncApi",
        batch_class_name=base + "BatchApi",
    )


def _namespace_modules(
    namespaces: tuple[ir.Namespace, ...], wire_paths: Mapping[tuple[str, ...], str]
) -> tuple[ir.NamespaceModule, ...]:
    """Roots (``crm``) in the package's ``__init__``; each top-level group (``crm.status``) in a module of its own."""
    groups: dict[tuple[str, ...], list[ir.Namespace]] = {}
    for ns in namespaces:
        groups.setdefault(ns.path[:2], []).append(ns)
    roots = [n for key, members in groups.items() if len(key) == 1 for n in members]
    children = {key: members for key, members in groups.items() if len(key) == 2}
    modules = [
        ir.NamespaceModule(name=key[1], wire=wire_paths[key], namespaces=tuple(members), uses=())
        for key, members in sorted(children.items())
    ]
    refs = tuple(ir.NamespaceModuleRef(name=m.name, class_names=m.class_names) for m in modules)
    root = ir.NamespaceModule(name="", wire="", namespaces=tuple(roots), uses=refs)
    return (root, *modules)
