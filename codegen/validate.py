"""Spec validation: openapi-spec-validator for OpenAPI itself, plus b24crm's rules for ``x-b24-*``.

Every problem is collected with its location (``status.yaml#/paths/~1crm.status.add/post``) before one
SpecError lists them all, so a curator fixes a broken spec in one round.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jsonschema_path import SchemaPath
from openapi_spec_validator.settings import OpenAPISpecValidatorSettings
from openapi_spec_validator.shortcuts import get_validator_cls
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError, ValidatorDetectError

from codegen.diagnostics import Diagnostic, SpecError
from codegen.load import LoadedSpec
from codegen.naming import FIELD_RESERVED, NAME_RESERVED, snake

#: The extensions spec/README.md defines, and where each may appear.
EXTENSIONS = frozenset(
    {
        "x-b24-scope",
        "x-b24-access",
        "x-b24-idempotent",
        "x-b24-batch",
        "x-b24-pagination",
        "x-b24-errors",
        "x-b24-system-errors",
        "x-b24-error-kinds",
        "x-b24-source",
        "x-b24-quirk",
        "x-b24-wire-type",
        "x-b24-enum-names",
        "x-b24-docs-only",
    }
)
WIRE_TYPES = frozenset({"numeric-string", "yn-bool", "empty-list-object"})
#: The runtime's grouping bases an error kind may name (``b24crm.runtime.errors``).
ERROR_BASES = frozenset(
    {"RateLimited", "AuthError", "AccessDenied", "Blocked", "NotFound", "InvalidParams", "ServerError"}
)
#: What the runtime does after an error of a kind (``x-b24-error-kinds``; spec/README.md says what each means).
RETRY_RULES = frozenset({"backoff", "reset", "refresh", "idempotent", "never"})
ERROR_KIND_KEYS = frozenset({"base", "may_have_run", "retry", "meaning"})
ERROR_ROW_KEYS = frozenset(
    {"name", "kind", "status", "code", "message", "meaning", "doc_code", "doc_status", "x-b24-source", "x-b24-quirk"}
)
#: Keys allowed on a schema object: the JSON Schema keywords the generator and validator read, annotations,
#: and the x-b24-* extensions. Anything else is a typo or a YAML accident (``{description: a, b}``).
SCHEMA_KEYS = frozenset(
    {
        "type", "enum", "const", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
        "uniqueItems", "minLength", "maxLength", "pattern", "minimum", "maximum", "exclusiveMinimum",
        "exclusiveMaximum", "allOf", "if", "then", "else", "minProperties", "maxProperties", "title",
        "description", "format", "default", "example", "examples", "deprecated", "readOnly", "writeOnly",
        "$comment",
    }
)  # fmt: skip
OPERATION_KEYS = frozenset(
    {"operationId", "tags", "summary", "description", "externalDocs", "deprecated", "requestBody", "responses"}
)
ROOT_KEYS = frozenset({"openapi", "info", "servers", "tags", "paths", "components"})
GROUP_FILE_KEYS = frozenset({"paths", "components"})
PAGINATION_KEYS = {
    "page_size": int,
    "items_path": list,
    "id_field": str,
    "order_param": str,
    "filter_param": str,
    "start_param": str,
    "count_free": bool,
}
UNSUPPORTED_KEYWORDS = frozenset(
    {"oneOf", "anyOf", "not", "$defs", "patternProperties", "prefixItems", "dependentSchemas"}
)
#: Client attributes a root namespace must not shadow.
CLIENT_ATTRIBUTES = frozenset(
    {"call", "call_raw", "batch", "close", "from_webhook", "from_oauth", "portal", "iter_all"}
)
_CLASS_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")


def validate(spec: LoadedSpec) -> None:
    """Raise SpecError listing every problem; return quietly when the spec is good."""
    problems = list(_openapi(spec))
    problems += list(_extension_keys(spec))
    problems += list(_unknown_keys(spec))
    if not problems:
        problems += list(_rules(spec))
    if problems:
        raise SpecError(problems)


def _openapi(spec: LoadedSpec) -> Iterator[Diagnostic]:
    """openapi-spec-validator over the spec's files, each ``$ref`` followed by the validator itself.

    The validator reads referenced files through ``_LoadedFiles``: the YAML ``load`` already parsed, rather
    than parsing every file again (with pure-Python YAML) whenever a reference points into it, which
    dominated generation time on large specs.
    """
    root = spec.raw_files[spec.root_path.name]
    try:
        path = SchemaPath.from_dict(
            root,
            base_uri=spec.root_path.resolve().as_uri(),
            handlers={"file": _LoadedFiles(spec)},
            resolved_cache_maxsize=OpenAPISpecValidatorSettings().resolved_cache_maxsize,
        )
        get_validator_cls(root)(path).validate()
    except ValidatorDetectError:
        yield Diagnostic(f"{spec.root_path.name}#/openapi", "not valid OpenAPI 3.1: no supported `openapi` version")
    except OpenAPIValidationError as exc:
        where = "/".join(str(p) for p in getattr(exc, "absolute_path", ()) or ())
        message = str(exc.message).strip().splitlines()[0]  # the first line; validator backends add detail below
        yield Diagnostic(f"{spec.root_path.name}#/{where}", f"not valid OpenAPI 3.1: {message}")


class _LoadedFiles:
    """A ``file://`` handler for the validator that answers with the files ``load`` parsed."""

    def __init__(self, spec: LoadedSpec) -> None:
        self._base = spec.root_path.resolve().parent
        self._files = spec.raw_files

    def __call__(self, uri: str) -> Any:
        path = Path(urllib.parse.unquote(urllib.parse.urlsplit(uri).path))
        name = path.relative_to(self._base).as_posix() if path.is_relative_to(self._base) else None
        if name is None or name not in self._files:
            raise FileNotFoundError(uri)
        return self._files[name]


def _extension_keys(spec: LoadedSpec) -> Iterator[Diagnostic]:
    def walk(node: Any, where: str) -> Iterator[Diagnostic]:
        if isinstance(node, Mapping):
            for key, value in node.items():
                here = f"{where}/{str(key).replace('~', '~0').replace('/', '~1')}"
                if isinstance(key, str) and key.startswith("x-b24-") and key not in EXTENSIONS:
                    yield Diagnostic(here, f"unknown extension {key!r} (spec/README.md defines the allowed ones)")
                if key not in ("example", "examples"):
                    yield from walk(value, here)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, f"{where}/{i}")

    for name, data in sorted(spec.raw_files.items()):
        yield from walk(data, f"{name}#")


def _unexpected(node: Mapping[str, Any], allowed: frozenset[str], where: str, what: str) -> Iterator[Diagnostic]:
    for key in node:
        if not isinstance(key, str) or (key not in allowed and not key.startswith("x-b24-")):
            yield Diagnostic(where, f"unknown key {key!r} in {what}")


def _schema_keys(schema: Any, where: str, locations: Mapping[int, str]) -> Iterator[Diagnostic]:
    """Every key of ``schema`` and its sub-schemas is a known keyword (or an x-b24-* extension)."""
    if not isinstance(schema, Mapping):
        return
    loc = locations.get(id(schema), where)
    yield from _unexpected(schema, SCHEMA_KEYS | UNSUPPORTED_KEYWORDS, loc, "a schema")  # those get their own
    for wire, sub in (schema.get("properties") or {}).items():
        yield from _schema_keys(sub, f"{loc}/properties/{wire}", locations)
    for key in ("items", "additionalProperties", "if", "then", "else"):
        yield from _schema_keys(schema.get(key), f"{loc}/{key}", locations)
    for i, sub in enumerate(schema.get("allOf") or ()):
        yield from _schema_keys(sub, f"{loc}/allOf/{i}", locations)


def _unknown_keys(spec: LoadedSpec) -> Iterator[Diagnostic]:
    """Keys nothing reads are rejected, wherever they stand: a misspelt keyword must not pass silently."""
    root_name = spec.root_path.name
    for name, data in sorted(spec.raw_files.items()):
        if isinstance(data, Mapping):
            allowed = ROOT_KEYS if name == root_name else GROUP_FILE_KEYS
            yield from _unexpected(data, allowed, f"{name}#", "a spec file's top level")
    doc = spec.document
    for name, schema in sorted((doc.get("components") or {}).get("schemas", {}).items()):
        yield from _schema_keys(schema, f"{root_name}#/components/schemas/{name}", spec.locations)
    for path, item in sorted((doc.get("paths") or {}).items()):
        if not isinstance(item, Mapping):
            continue
        loc = spec.locations.get(id(item), f"{root_name}#/paths/{path}")
        yield from _unexpected(item, frozenset({"post", "summary", "description"}), loc, "a path item")
        op = item.get("post")
        if not isinstance(op, Mapping):
            continue
        oloc = spec.locations.get(id(op), f"{loc}/post")
        yield from _unexpected(op, OPERATION_KEYS, oloc, "an operation")
        body = op.get("requestBody")
        if isinstance(body, Mapping):
            yield from _unexpected(
                body, frozenset({"required", "description", "content"}), f"{oloc}/requestBody", "a requestBody"
            )
            for media in (body.get("content") or {}).values():
                if isinstance(media, Mapping):
                    yield from _unexpected(media, frozenset({"schema"}), f"{oloc}/requestBody/content", "a media type")
                    yield from _schema_keys(media.get("schema"), f"{oloc}/requestBody/schema", spec.locations)
        for status, response in (op.get("responses") or {}).items():
            if not isinstance(response, Mapping):
                continue
            rloc = f"{oloc}/responses/{status}"
            yield from _unexpected(response, frozenset({"description", "content"}), rloc, "a response")
            for media in (response.get("content") or {}).values():
                if isinstance(media, Mapping):
                    yield from _unexpected(
                        media, frozenset({"schema", "example", "examples"}), f"{rloc}/content", "a media type"
                    )
                    yield from _schema_keys(media.get("schema"), f"{rloc}/schema", spec.locations)
        pagination = op.get("x-b24-pagination")
        if isinstance(pagination, Mapping):
            yield from _unexpected(
                pagination, frozenset(PAGINATION_KEYS), f"{oloc}/x-b24-pagination", "x-b24-pagination"
            )
        for i, row in enumerate(op.get("x-b24-errors") or ()):
            if isinstance(row, Mapping):
                yield from _unexpected(row, ERROR_ROW_KEYS, f"{oloc}/x-b24-errors/{i}", "an error row")
    for i, row in enumerate(doc.get("x-b24-system-errors") or ()):
        if isinstance(row, Mapping):
            yield from _unexpected(row, ERROR_ROW_KEYS, f"{root_name}#/x-b24-system-errors/{i}", "an error row")


def _kind_checks(kinds: Any, where: str) -> Iterator[Diagnostic]:
    if not isinstance(kinds, Mapping) or not kinds:
        yield Diagnostic(where, "must map each error kind to its base, may_have_run, retry and meaning")
        return
    for name, kind in kinds.items():
        loc = f"{where}/{name}"
        if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
            yield Diagnostic(loc, f"kind name {name!r} must be a lower_snake_case identifier")
        if not isinstance(kind, Mapping):
            yield Diagnostic(loc, "must be a mapping")
            continue
        yield from _unexpected(kind, ERROR_KIND_KEYS, loc, "an error kind")
        missing = sorted(ERROR_KIND_KEYS - kind.keys())
        if missing:
            yield Diagnostic(loc, f"error kind lacks {', '.join(missing)}")
        if "base" in kind and kind["base"] not in ERROR_BASES:
            yield Diagnostic(loc, f"base {kind['base']!r} is not one of {sorted(ERROR_BASES)}")
        if "retry" in kind and kind["retry"] not in RETRY_RULES:
            yield Diagnostic(loc, f"retry {kind['retry']!r} is not one of {sorted(RETRY_RULES)}")
        if "may_have_run" in kind and not isinstance(kind["may_have_run"], bool):
            yield Diagnostic(loc, "may_have_run must be true or false")
        if kind.get("retry") == "idempotent" and kind.get("may_have_run") is False:
            yield Diagnostic(loc, "retry: idempotent is for errors after which the call may have run")


def _rules(spec: LoadedSpec) -> Iterator[Diagnostic]:
    doc = spec.document
    seen_titles: dict[str, tuple[int, str]] = {}
    directions: dict[str, set[str]] = {}
    error_rows: dict[str, tuple[Any, ...]] = {}
    namespaces: dict[tuple[str, ...], set[str]] = {}
    methods: dict[tuple[str, ...], set[str]] = {}
    #: namespace -> its paginated methods: each one gets the namespace's single ``iter_all()``.
    paged: dict[tuple[str, ...], list[str]] = {}
    #: root namespace -> where it is first used, for diagnostics.
    ns_where: dict[str, str] = {}

    def schema_checks(schema: Any, where: str, direction: str) -> Iterator[Diagnostic]:
        if not isinstance(schema, Mapping):
            return
        loc = spec.locations.get(id(schema), where)
        for kw in sorted(UNSUPPORTED_KEYWORDS & schema.keys()):
            yield Diagnostic(loc, f"{kw} is not supported: describe the wire form with x-b24-wire-type")
        wire_type = schema.get("x-b24-wire-type")
        if wire_type is not None and wire_type not in WIRE_TYPES:
            yield Diagnostic(loc, f"x-b24-wire-type {wire_type!r} is not one of {sorted(WIRE_TYPES)}")
        title = schema.get("title")
        is_model = "properties" in schema
        is_enum = "enum" in schema
        if is_model and not title:
            yield Diagnostic(loc, "an object schema with properties needs a title (its Python class name)")
        if title and (is_model or is_enum):
            if not _CLASS_NAME.match(title):
                yield Diagnostic(loc, f"title {title!r} is not a PascalCase class name")
            identity = id(schema["properties"]) if is_model else id(schema["enum"])
            previous = seen_titles.setdefault(title, (identity, loc))
            if previous[0] != identity:
                yield Diagnostic(loc, f"title {title!r} is also used by a different schema at {previous[1]}")
            if is_model:
                directions.setdefault(title, set()).add(direction)
        if is_enum:
            names = schema.get("x-b24-enum-names")
            values = [v for v in schema["enum"] if v is not None]
            if names is not None and (not isinstance(names, list) or len(names) != len(values)):
                yield Diagnostic(loc, "x-b24-enum-names must list one name per non-null enum value")
            if names is None and title:
                bad = [v for v in schema["enum"] if v is not None and not str(v).isidentifier()]
                if bad:
                    yield Diagnostic(loc, f"enum values {bad!r} are not identifiers: add x-b24-enum-names")
        if is_model:
            py_names: dict[str, str] = {}
            for wire, sub in schema["properties"].items():
                py = snake(wire, FIELD_RESERVED)
                if py in py_names:
                    yield Diagnostic(loc, f"properties {py_names[py]!r} and {wire!r} both become {py!r} in Python")
                py_names[py] = wire
                yield from schema_checks(sub, f"{loc}/properties/{wire}", direction)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), Mapping):
                yield from schema_checks(schema[key], f"{loc}/{key}", direction)
        for i, sub in enumerate(schema.get("allOf", ())):
            yield from schema_checks(sub, f"{loc}/allOf/{i}", direction)

    kinds = doc.get("x-b24-error-kinds")
    yield from _kind_checks(kinds, "openapi.yaml#/x-b24-error-kinds")
    error_kinds = sorted(kinds) if isinstance(kinds, Mapping) else []

    def error_checks(rows: Any, where: str) -> Iterator[Diagnostic]:
        if not isinstance(rows, list):
            yield Diagnostic(where, "must be a list of error rows")
            return
        for i, row in enumerate(rows):
            loc = f"{where}/{i}"
            if not isinstance(row, Mapping):
                yield Diagnostic(loc, "an error row must be a mapping")
                continue
            missing = [k for k in ("name", "kind", "status", "code", "message") if k not in row]
            if missing:
                yield Diagnostic(loc, f"error row lacks {', '.join(missing)}")
                continue
            if row["kind"] not in error_kinds:
                yield Diagnostic(loc, f"kind {row['kind']!r} is not one of x-b24-error-kinds {error_kinds}")
            if not isinstance(row["name"], str) or not _CLASS_NAME.match(row["name"]):
                yield Diagnostic(loc, f"name {row['name']!r} is not a PascalCase class name")
            if not isinstance(row["status"], int):
                yield Diagnostic(loc, "status must be an integer HTTP status")
            identity = (row["kind"], row["status"], str(row["code"]), str(row["message"]))
            previous = error_rows.setdefault(row["name"], identity)
            if previous != identity:
                yield Diagnostic(loc, f"error name {row['name']!r} is reused with a different status/code/message/kind")

    yield from error_checks(doc.get("x-b24-system-errors", []), "openapi.yaml#/x-b24-system-errors")

    for path, item in sorted(doc.get("paths", {}).items()):
        loc = spec.locations.get(id(item), f"openapi.yaml#/paths/{path}")
        name = path.lstrip("/")
        extra_verbs = sorted(set(item) - {"post", "summary", "description"})
        if extra_verbs or "post" not in item:
            yield Diagnostic(loc, "each method is exactly one `post` operation")
            continue
        op = item["post"]
        oloc = spec.locations.get(id(op), loc)
        if op.get("operationId") != name:
            yield Diagnostic(oloc, f"operationId must be the method name {name!r}")
        for key in ("summary", "description"):
            if not op.get(key):
                yield Diagnostic(oloc, f"{key} is missing")
        if not isinstance(op.get("externalDocs", {}).get("url"), str):
            yield Diagnostic(oloc, "externalDocs.url (the docs page) is missing")
        for key in ("x-b24-idempotent", "x-b24-batch"):
            if not isinstance(op.get(key), bool):
                yield Diagnostic(oloc, f"{key} must be true or false")
        segments = name.split(".")
        if any(not s or not snake(s, NAME_RESERVED).isidentifier() for s in segments):
            yield Diagnostic(oloc, "every dot-segment of the method name must be a non-empty name")
        for depth in range(1, len(segments)):
            namespaces.setdefault(tuple(segments[: depth - 1]), set()).add(snake(segments[depth - 1], NAME_RESERVED))
            ns_where.setdefault(snake(segments[depth - 1], NAME_RESERVED), f"{oloc} ({name})")
        methods.setdefault(tuple(segments[:-1]), set()).add(snake(segments[-1], NAME_RESERVED))
        body = op.get("requestBody")
        params: Mapping[str, Any] = {}
        if body is not None:
            schema = body.get("content", {}).get("application/json", {}).get("schema")
            if not isinstance(schema, Mapping) or schema.get("type") != "object" or "properties" not in schema:
                yield Diagnostic(oloc, "requestBody must be application/json with an object schema of the parameters")
            else:
                params = schema["properties"]
                seen: dict[str, str] = {}
                for wire, sub in params.items():
                    py = snake(wire)
                    if py in seen:
                        yield Diagnostic(oloc, f"parameters {seen[py]!r} and {wire!r} both become {py!r}")
                    seen[py] = wire
                    yield from schema_checks(sub, f"{oloc}/requestBody/{wire}", "request")
        response = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
        rschema = response.get("schema")
        if not isinstance(rschema, Mapping) or "result" not in rschema.get("properties", {}):
            yield Diagnostic(oloc, 'responses."200" must be the envelope: an object schema with a `result` property')
            continue
        yield from schema_checks(rschema["properties"]["result"], f"{oloc}/responses/200/result", "response")
        yield from error_checks(op.get("x-b24-errors", []), f"{oloc}/x-b24-errors")
        pagination = op.get("x-b24-pagination")
        if pagination is not None:
            paged.setdefault(tuple(segments[:-1]), []).append(name)
            yield from _pagination_checks(
                pagination, rschema["properties"]["result"], params, f"{oloc}/x-b24-pagination"
            )

    for title, dirs in sorted(directions.items()):
        if len(dirs) > 1:
            yield Diagnostic(f"schema {title}", "is used in both requests and responses: split it into two schemas")
    for ns, names in sorted(paged.items()):
        if len(names) > 1 or "iter_all" in methods.get(ns, set()):
            yield Diagnostic(
                ".".join(ns),
                f"paginated methods {', '.join(names)} would share this namespace's iter_all(): one per namespace",
            )
    for ns, children in sorted(namespaces.items()):
        clash = children & methods.get(ns, set())
        for name in sorted(clash):
            yield Diagnostic(".".join((*ns, name)), "is both a namespace and a method")
        if not ns:
            for name in sorted(children & CLIENT_ATTRIBUTES):
                yield Diagnostic(
                    ns_where.get(name, name), f"the root namespace {name!r} would shadow a Client attribute"
                )


def _pagination_checks(
    pagination: Any, result: Mapping[str, Any], params: Mapping[str, Any], loc: str
) -> Iterator[Diagnostic]:
    if not isinstance(pagination, Mapping):
        yield Diagnostic(loc, "must be a mapping")
        return
    for key, kind in PAGINATION_KEYS.items():
        if not isinstance(pagination.get(key), kind):
            yield Diagnostic(loc, f"{key} must be of type {kind.__name__}")
    for key in ("order_param", "filter_param", "start_param"):
        if isinstance(pagination.get(key), str) and pagination[key] not in params:
            yield Diagnostic(loc, f"{key} {pagination[key]!r} is not a parameter of the method")
    node: Any = result
    for step in pagination.get("items_path", []) or []:
        node = node.get("properties", {}).get(step) if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping) or "array" not in _types(node) or not isinstance(node.get("items"), Mapping):
        yield Diagnostic(loc, "items_path does not lead to an array in the result schema")
    elif pagination.get("id_field") not in node["items"].get("properties", {}):
        yield Diagnostic(loc, f"id_field {pagination.get('id_field')!r} is not a field of the records")


def _types(schema: Mapping[str, Any]) -> list[str]:
    t = schema.get("type", [])
    return [t] if isinstance(t, str) else list(t)
