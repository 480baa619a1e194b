"""The IR decisions (names, types, defaults, imports) on small inline spec fragments."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codegen import ir
from codegen.build import build
from codegen.load import load

Op = Callable[..., dict[str, Any]]
Build = Callable[..., ir.Package]

NUMERIC = {"type": ["integer", "string"], "pattern": "^-?[0-9]+$", "x-b24-wire-type": "numeric-string"}
YN = {"type": "string", "enum": ["Y", "N"], "x-b24-wire-type": "yn-bool"}


def model(package: ir.Package, name: str) -> ir.Model:
    return next(m for m in package.models if m.name == name)


def field(package: ir.Package, model_name: str, wire: str) -> ir.Field:
    return next(f for f in model(package, model_name).fields if f.wire_name == wire)


def method(package: ir.Package, name: str) -> ir.Method:
    return next(m for m in package.methods if m.wire_name == name)


def param(package: ir.Package, method_name: str, wire: str) -> ir.Param:
    return next(p for p in method(package, method_name).params if p.wire_name == wire)


def record(properties: dict[str, Any], title: str = "Thing", **extra: Any) -> dict[str, Any]:
    return {"type": "object", "title": title, "properties": properties, **extra}


# ---- response models ------------------------------------------------------------------------------


def test_response_fields_are_snake_case_optional_none_and_keep_unknown(op: Op, build_fragment: Build) -> None:
    result = record({"STATUS_ID": {"type": "string"}, "entityTypeId": {"type": "integer"}}, required=["STATUS_ID"])
    pkg = build_fragment([op("crm.thing.get", result=result)])
    thing = model(pkg, "Thing")
    assert [(f.py_name, f.wire_name) for f in thing.fields] == [
        ("status_id", "STATUS_ID"),
        ("entity_type_id", "entityTypeId"),
    ]
    assert str(field(pkg, "Thing", "STATUS_ID").type_expr) == "str"
    assert field(pkg, "Thing", "STATUS_ID").default_expr is None
    assert str(field(pkg, "Thing", "entityTypeId").type_expr) == "int | None"
    assert str(field(pkg, "Thing", "entityTypeId").default_expr) == "None"
    assert thing.keeps_unknown is True
    assert str(method(pkg, "crm.thing.get").result_qexpr) == "models.Thing"


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (NUMERIC, "int"),
        (YN, "bool"),
        ({"type": ["string", "null"]}, "str | None"),
        ({"type": "string", "format": "date-time"}, "datetime.datetime"),
        ({"type": ["string", "null"], "format": "date-time"}, "datetime.datetime | None"),
        ({"type": "number"}, "float"),
        ({"type": "array", "items": {"type": "integer"}}, "list[int]"),
        ({"type": "array"}, "list[Any]"),
        ({"type": "object", "additionalProperties": {"type": "string"}}, "dict[str, str]"),
        ({"type": "object", "additionalProperties": True}, "dict[str, Any]"),
        ({"type": ["integer", "boolean"]}, "Any"),
        ({}, "Any"),
    ],
)
def test_wire_types_map_to_python_types(op: Op, build_fragment: Build, schema: dict[str, Any], expected: str) -> None:
    pkg = build_fragment([op("crm.thing.get", result=record({"X": schema}, required=["X"]))])
    assert str(field(pkg, "Thing", "X").type_expr) == expected


def test_yn_bool_and_wire_metadata(op: Op, build_fragment: Build) -> None:
    pkg = build_fragment([op("crm.thing.get", result=record({"ACTIVE": YN, "ID": NUMERIC}))])
    assert ast.literal_eval(field(pkg, "Thing", "ACTIVE").metadata_expr.replace("true", "True")) == {
        "wire": "ACTIVE",
        "wire_type": "yn-bool",
    }
    assert field(pkg, "Thing", "ID").metadata_expr == '{"wire": "ID"}'


def test_empty_list_object_is_typed_as_its_model_or_mapping(op: Op, build_fragment: Build) -> None:
    inner = record({"A": {"type": "string"}}, title="Inner", maxItems=0)
    inner["type"] = ["object", "array"]
    inner["x-b24-wire-type"] = "empty-list-object"
    mapping = {
        "type": ["object", "array"],
        "maxItems": 0,
        "additionalProperties": {"type": "integer"},
        "x-b24-wire-type": "empty-list-object",
    }
    pkg = build_fragment([op("crm.thing.get", result=record({"IN": inner, "MAP": mapping}, required=["IN", "MAP"]))])
    assert str(field(pkg, "Thing", "IN").type_expr) == "Inner"
    assert str(field(pkg, "Thing", "MAP").type_expr) == "dict[str, int]"


def test_nested_models_come_after_their_dependencies(op: Op, build_fragment: Build) -> None:
    leaf = {"$ref": "#/components/schemas/Leaf"}
    mid = record({"LEAF": leaf, "LEAVES": {"type": "array", "items": leaf}}, title="Mid")
    pkg = build_fragment(
        [op("crm.thing.get", result=record({"MID": mid}, title="AAATop"))],
        schemas={"Leaf": record({"V": {"type": "integer"}}, title="Leaf")},
    )
    names = [m.name for m in pkg.models]
    assert names.index("Leaf") < names.index("Mid") < names.index("AAATop")
    assert str(field(pkg, "Mid", "LEAVES").type_expr) == "list[Leaf] | None"


def test_a_referenced_schema_is_one_model(op: Op, build_fragment: Build) -> None:
    ref = {"$ref": "#/components/schemas/Shared"}
    shared = record({"V": {"type": "integer"}}, title="Shared")
    pkg = build_fragment(
        [op("crm.a.get", result=ref), op("crm.b.get", result={"type": "array", "items": ref})],
        schemas={"Shared": shared},
    )
    assert [m.name for m in pkg.models].count("Shared") == 1
    assert str(method(pkg, "crm.b.get").result_qexpr) == "list[models.Shared]"


# ---- enums ----------------------------------------------------------------------------------------


def test_string_enum_members_and_open_typing(op: Op, build_fragment: Build) -> None:
    semantics = {
        "type": ["string", "null"],
        "title": "Semantics",
        "enum": ["S", "F", "", None],
        "x-b24-enum-names": ["SUCCESS", "FAILURE", "IN_PROGRESS"],
    }
    color = {"type": "string", "title": "Color", "enum": ["red", "darkBlue"], "description": "A colour."}
    pkg = build_fragment(
        [op("crm.thing.get", result=record({"SEM": semantics, "COLOR": color}, required=["SEM", "COLOR"]))]
    )
    sem = next(e for e in pkg.enums if e.name == "Semantics")
    assert sem.base == "str"
    assert [(m.name, m.value_expr) for m in sem.members] == [
        ("SUCCESS", "'S'"),
        ("FAILURE", "'F'"),
        ("IN_PROGRESS", "''"),
    ]
    assert str(field(pkg, "Thing", "SEM").type_expr) == "enums.Semantics | str | None"
    col = next(e for e in pkg.enums if e.name == "Color")
    assert [m.name for m in col.members] == ["RED", "DARK_BLUE"]
    assert col.doc_lines == ("A colour.",)


def test_integer_enum(op: Op, build_fragment: Build) -> None:
    kind = {"type": "integer", "title": "Kind", "enum": [1, 2], "x-b24-enum-names": ["ONE", "TWO"]}
    pkg = build_fragment([op("crm.thing.get", params={"kind": kind}, required=("kind",), result={"type": "boolean"})])
    assert pkg.enums[0].base == "int"
    assert [m.value_expr for m in pkg.enums[0].members] == ["1", "2"]
    assert str(param(pkg, "crm.thing.get", "kind").type_qexpr) == "enums.Kind | int"


def test_untitled_enum_is_a_plain_type(op: Op, build_fragment: Build) -> None:
    pkg = build_fragment(
        [op("crm.thing.get", result=record({"X": {"type": "string", "enum": ["a", "b"]}}, required=["X"]))]
    )
    assert pkg.enums == ()
    assert str(field(pkg, "Thing", "X").type_expr) == "str"


# ---- parameters -----------------------------------------------------------------------------------


def test_params_required_first_then_unset_defaults(op: Op, build_fragment: Build) -> None:
    params = {
        "filter": {"type": "object", "additionalProperties": True},
        "entityTypeId": {"type": "integer"},
        "note": {"type": ["string", "null"]},
        "ids": {"type": "array", "items": {"type": "integer"}},
        "class": {"type": "string"},
    }
    pkg = build_fragment([op("crm.thing.list", params=params, required=("entityTypeId",))])
    m = method(pkg, "crm.thing.list")
    assert [(p.py_name, p.wire_name, str(p.type_qexpr), p.default_expr and str(p.default_expr)) for p in m.params] == [
        ("entity_type_id", "entityTypeId", "int", None),
        ("filter", "filter", "Mapping[str, Any] | Unset", "UNSET"),
        ("note", "note", "str | Unset | None", "UNSET"),
        ("ids", "ids", "Sequence[int] | Unset", "UNSET"),
        ("class_", "class", "str | Unset", "UNSET"),
    ]


def test_request_models_accept_mappings_and_use_unset(op: Op, build_fragment: Build) -> None:
    fields = record(
        {"NAME": {"type": "string"}, "SORT": {"type": ["integer", "null"]}}, title="ThingFields", required=["NAME"]
    )
    pkg = build_fragment([op("crm.thing.add", params={"fields": fields}, required=("fields",))])
    fields = param(pkg, "crm.thing.add", "fields").type_qexpr
    assert str(fields) == "models.ThingFields | models.ThingFieldsDict"  # closed: the model or its TypedDict twin
    things = model(pkg, "ThingFields")
    assert things.keeps_unknown is False
    assert field(pkg, "ThingFields", "NAME").default_expr is None
    assert str(field(pkg, "ThingFields", "SORT").type_expr) == "int | Unset | None"
    assert str(field(pkg, "ThingFields", "SORT").default_expr) == "UNSET"


def test_request_schema_is_inlined_and_stripped(op: Op, build_fragment: Build) -> None:
    fields = record(
        {"CODE": {"type": "string", "maxLength": 5, "description": "gone", "x-b24-source": "gone"}},
        title="ThingFields",
        allOf=[{"if": {"required": ["CODE"]}, "then": {"properties": {"CODE": {"pattern": "^[A-Z]+$"}}}}],
    )
    pkg = build_fragment(
        [op("crm.thing.add", params={"fields": {"$ref": "#/components/schemas/ThingFields"}}, required=("fields",))],
        schemas={"ThingFields": fields},
    )
    schema = ast.literal_eval(method(pkg, "crm.thing.add").request_schema_expr)
    assert schema == {
        "type": "object",
        "required": ["fields"],
        "properties": {
            "fields": {
                "type": "object",
                "properties": {"CODE": {"type": "string", "maxLength": 5}},
                "allOf": [{"if": {"required": ["CODE"]}, "then": {"properties": {"CODE": {"pattern": "^[A-Z]+$"}}}}],
            }
        },
    }
    assert method(pkg, "crm.thing.add").pagination is None


def test_no_params_means_no_request_schema(op: Op, build_fragment: Build) -> None:
    pkg = build_fragment([op("crm.thing.fields")])
    assert method(pkg, "crm.thing.fields").params == ()
    assert method(pkg, "crm.thing.fields").request_schema_expr == "None"


# ---- pagination -----------------------------------------------------------------------------------


LIST_PARAMS = {
    "order": {"type": "object", "additionalProperties": {"type": "string"}},
    "filter": {"type": "object", "additionalProperties": True},
    "select": {"type": "array", "items": {"type": "string"}},
    "start": {"type": "integer"},
}
PAGINATION = {
    "page_size": 50,
    "items_path": ["items"],
    "id_field": "ID",
    "order_param": "order",
    "filter_param": "filter",
    "start_param": "start",
    "count_free": True,
}


def test_pagination_item_type_and_iter_params(op: Op, build_fragment: Build) -> None:
    item = record({"ID": {"type": "integer"}}, title="Row", required=["ID"])
    page = record({"items": {"type": "array", "items": item}}, title="RowPage", required=["items"])
    pkg = build_fragment([op("crm.row.list", params=LIST_PARAMS, result=page, **{"x-b24-pagination": PAGINATION})])
    m = method(pkg, "crm.row.list")
    assert str(m.item_qexpr) == "models.Row"
    assert str(m.result_qexpr) == "models.RowPage"
    assert [p.wire_name for p in m.params] == ["order", "filter", "select", "start"]
    assert [p.wire_name for p in m.iter_params] == ["order", "filter", "select"]
    assert str(m.pagination) == (
        "Pagination(page_size=50, items_path=('items',), id_field='ID', order_param='order', "
        "filter_param='filter', start_param='start', count_free=True)"
    )


def test_pagination_with_result_as_the_list(op: Op, build_fragment: Build) -> None:
    item = record({"ID": NUMERIC}, title="Deal")
    pag = {**PAGINATION, "items_path": [], "count_free": False}
    pkg = build_fragment(
        [op("crm.deal.list", params=LIST_PARAMS, result={"type": "array", "items": item}, **{"x-b24-pagination": pag})]
    )
    m = method(pkg, "crm.deal.list")
    assert str(m.item_qexpr) == "models.Deal"
    assert "items_path=()" in str(m.pagination)
    assert "count_free=False" in str(m.pagination)


def test_unpaged_methods_have_no_item_type(op: Op, build_fragment: Build) -> None:
    pkg = build_fragment(
        [op("crm.thing.list", params=LIST_PARAMS, result={"type": "array", "items": {"type": "integer"}})]
    )
    m = method(pkg, "crm.thing.list")
    assert m.item_qexpr is None
    assert m.iter_params == m.params


# ---- errors ---------------------------------------------------------------------------------------


def error_row(
    name: str, kind: str = "invalid_params", status: int = 400, code: str = "", message: str = "Bad."
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "status": status,
        "code": code,
        "message": message,
        "meaning": f"{name} happened",
    }


def test_error_classes_from_rows_deduplicated_and_sorted(op: Op, build_fragment: Build) -> None:
    shared = error_row("ThingAccessDeniedError", kind="access_denied", message="Access denied.")
    pkg = build_fragment(
        [
            op(
                "crm.thing.get",
                **{"x-b24-errors": [error_row("ThingNotFoundError", kind="not_found", message="Not found."), shared]},
            ),
            op("crm.thing.add", **{"x-b24-errors": [shared]}),
        ],
        system_errors=[
            error_row(
                "QueryLimitExceededError",
                kind="throttled",
                status=503,
                code="QUERY_LIMIT_EXCEEDED",
                message="Too many requests",
            )
        ],
    )
    assert [(e.name, e.base) for e in pkg.errors] == [
        ("QueryLimitExceededError", "RateLimited"),
        ("ThingAccessDeniedError", "AccessDenied"),
        ("ThingNotFoundError", "NotFound"),
    ]
    limit = pkg.errors[0]
    assert (limit.code_expr, limit.message_expr, limit.status) == ("'QUERY_LIMIT_EXCEEDED'", "'Too many requests'", 503)
    assert limit.meaning_expr == "'QueryLimitExceededError happened'"
    assert list(method(pkg, "crm.thing.get").errors) == ["ThingAccessDeniedError", "ThingNotFoundError"]
    assert list(pkg.system_errors) == ["QueryLimitExceededError"]
    assert (limit.kind, pkg.errors[2].kind) == ("throttled", "not_found")


@pytest.mark.parametrize(
    ("kind", "base"),
    [
        ("throttled", "RateLimited"),
        ("operating_limit", "RateLimited"),
        ("token_expired", "AuthError"),
        ("auth", "AuthError"),
        ("access_denied", "AccessDenied"),
        ("blocked", "Blocked"),
        ("not_found", "NotFound"),
        ("invalid_params", "InvalidParams"),
        ("transient", "ServerError"),
        ("failed", "ServerError"),
    ],
)
def test_error_kinds_pick_the_runtime_base(op: Op, build_fragment: Build, kind: str, base: str) -> None:
    pkg = build_fragment([op("crm.thing.get", **{"x-b24-errors": [error_row("OneError", kind=kind)]})])
    assert pkg.errors[0].base == base


# ---- methods, docstrings, namespaces ------------------------------------------------------------------


def test_method_names_and_namespaces(op: Op, build_fragment: Build) -> None:
    pkg = build_fragment(
        [
            op("crm.duplicate.volatileType.register"),
            op("crm.entity.mergeBatch"),
            op("crm.status.entity.types"),
            op("crm.status.add"),
        ]
    )
    m = method(pkg, "crm.duplicate.volatileType.register")
    assert (m.py_name, m.namespace, m.const_name) == (
        "register",
        ("crm", "duplicate", "volatile_type"),
        "CRM_DUPLICATE_VOLATILE_TYPE_REGISTER",
    )
    assert method(pkg, "crm.entity.mergeBatch").py_name == "merge_batch"
    assert [n.path for n in pkg.namespaces] == [
        ("crm",),
        ("crm", "duplicate"),
        ("crm", "duplicate", "volatile_type"),
        ("crm", "entity"),
        ("crm", "status"),
        ("crm", "status", "entity"),
    ]
    status = next(n for n in pkg.namespaces if n.path == ("crm", "status"))
    assert status.class_name == "CrmStatusApi"
    assert status.batch_class_name == "CrmStatusBatchApi"
    assert [(c.attr, c.class_name) for c in status.children] == [("entity", "CrmStatusEntityApi")]
    assert [x.py_name for x in status.methods] == ["add"]
    assert [(r.attr, r.class_name) for r in pkg.roots] == [("crm", "CrmApi")]
    vt = next(n for n in pkg.namespaces if n.path == ("crm", "duplicate", "volatile_type"))
    assert vt.class_name == "CrmDuplicateVolatileTypeApi"


def test_method_flags_and_docstring(op: Op, build_fragment: Build) -> None:
    pkg = build_fragment(
        [
            op(
                "crm.thing.old",
                deprecated=True,
                params={"id": {"type": "integer", "description": 'The "id" with a \\ backslash and """quotes"""'}},
                **{
                    "x-b24-quirk": "Sends strings.",
                    "x-b24-idempotent": False,
                    "x-b24-batch": False,
                    "x-b24-scope": "user",
                },
            )
        ]
    )
    m = method(pkg, "crm.thing.old")
    assert (m.deprecated, m.idempotent, m.batchable, m.scope) == (True, False, False, "user")
    assert m.summary == "Summary of crm.thing.old"
    assert m.doc_lines[0] == "Summary of crm.thing.old."
    assert "Note: Sends strings." in m.doc_lines
    assert any(line.startswith("Deprecated:") for line in m.doc_lines)
    assert any("https://example.test/crm.thing.old" in line for line in m.doc_lines)
    doc = "\n".join(m.doc_lines)
    assert '"""' not in doc
    # The docstring text is a valid Python string literal that reads back as the docs said.
    assert 'The "id" with a \\ backslash and """quotes"""' in " ".join(ast.literal_eval('"""' + doc + '"""').split())


def test_build_is_deterministic(op: Op, spec_folder: Callable[..., Path]) -> None:
    ops = [op(f"crm.n{i}.get", result=record({"B": {"type": "integer"}, "A": YN}, title=f"R{i}")) for i in (3, 1, 2)]
    root = spec_folder(ops)
    first, second = build(load(root)), build(load(root))
    assert first == second
    assert [m.wire_name for m in first.methods] == ["crm.n1.get", "crm.n2.get", "crm.n3.get"]
    assert [m.name for m in first.models] == ["R1", "R2", "R3"]
    # Field order is the spec's order (the docs' table order), not sorted.
    assert [f.wire_name for f in first.models[0].fields] == ["B", "A"]
