"""``crm.item.{add,get,list,update,delete,fields}``: the D7 API over the same objects as the classic one.

camelCase names (``useOriginalUfNames=Y`` keeps ``UF_CRM_*``), ``{item}``/``{items}``/``{fields}``
wrappers, typed values, the strict filter (unknown field or bad value -> ``INVALID_ARG_VALUE``) with
``logic: OR`` groups, and errors with codes (``NOT_FOUND``, ``CRM_FIELD_ERROR_VALUE_NOT_VALID``, ...).
Multifields appear as ``fm`` for leads, contacts and companies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from b24crm.testing.api import CallContext, Handler, Result
from b24crm.testing.crm import funnels
from b24crm.testing.crm.codec import InvalidValue, Reader, item_renderer, parse_value, reader
from b24crm.testing.crm.errors import documented
from b24crm.testing.crm.fields import MULTIFIELDS, Field, Schema, schema_for
from b24crm.testing.crm.filters import Bounds, FilterError, compile_filter
from b24crm.testing.crm.query import run_list
from b24crm.testing.crm.store import Objects, objects
from b24crm.testing.methods.common import d7_error, d7_int, php_truthy

__all__ = ["HANDLERS", "item_schema", "render_item_row"]

Row = dict[str, Any]
_STANDARD = {1, 2, 3, 4, 7, 31}


def item_schema(method: str, params: Mapping[str, Any], ctx: CallContext) -> Schema:
    """The schema for ``entityTypeId`` or the documented "not found" / "not supported" error."""
    etid = d7_int(params, "entityTypeId")
    assert etid is not None
    if etid == 5:
        raise documented(method, "NOT_SUPPORTED", "not supported", "Entity type INVOICE is not supported")
    if etid not in _STANDARD and not funnels.is_dynamic(ctx.store, etid):
        raise documented(method, "NOT_FOUND", "process not found", "Smart process not found")
    return schema_for(etid)


def _names(params: Mapping[str, Any]) -> Callable[[Field], str]:
    original = php_truthy(params.get("useOriginalUfNames")) and str(params.get("useOriginalUfNames")).upper() != "N"
    return lambda f: f.upper if original and f.dynamic else f.camel


def _resolver(schema: Schema) -> Callable[[str], Field | None]:
    """camelCase names, and the UPPER_CASE ones the controller also accepts (it converts keys before it
    validates them: b24pysdk's ``as_list_fast`` orders crm.item by ``ID``)."""

    def resolve(name: str) -> Field | None:
        if name.startswith("UF_"):
            return schema.field(name)
        return schema.from_camel(name) or (schema.by_upper.get(name) if name.isupper() else None)

    return resolve


@attrs.frozen
class ItemPlan:
    """What one ``select`` renders: (wire name, reader of the stored row) per field, and whether ``fm``."""

    fields: tuple[tuple[str, Reader], ...]
    with_fm: bool

    def render(self, row: Row) -> Row:
        out: Row = {name: read(row) for name, read in self.fields}
        if self.with_fm:
            out["fm"] = [
                {"id": int(m["ID"]), "typeId": kind, "valueType": m.get("VALUE_TYPE", ""), "value": m["VALUE"]}
                for kind in MULTIFIELDS
                for m in row.get(kind) or []
            ]
        return out


def item_plan(schema: Schema, objs: Objects, select: Any, name_of: Callable[[Field], str]) -> ItemPlan:
    """``select`` names (camelCase, ``*``, ``ufCrm*``) or everything; ``id`` always."""
    if isinstance(select, dict):
        select = list(select.values())
    wanted = [str(s) for s in select] if isinstance(select, list) and select else ["*"]
    user = [f for n in objs.user_fields(schema.entity_type_id) if (f := schema.field(n)) is not None]
    chosen: list[Field] = [schema.by_upper["ID"]]
    with_fm = False
    for name in wanted:
        if name == "*":
            chosen += [f for f in schema.fields if f.kind != "multifield"]
            chosen += user
            with_fm = schema.has_multifields
        elif name in ("ufCrm*", "UF_*"):
            chosen += user
        else:
            field = _resolver(schema)(name)
            if field is not None and field.kind != "multifield":
                chosen.append(field)
    unique = list(dict.fromkeys(chosen))
    return ItemPlan(tuple((name_of(f), reader(f, item_renderer(f))) for f in unique), with_fm)


def render_item_row(schema: Schema, objs: Objects, row: Row, select: Any, name_of: Callable[[Field], str]) -> Row:
    """One item as crm.item answers it (see :func:`item_plan`)."""
    return item_plan(schema, objs, select, name_of).render(row)


def _parse_fields(method: str, schema: Schema, params: Mapping[str, Any]) -> Row:
    raw = params.get("fields")
    if raw in (None, []):
        raw = {}
    if not isinstance(raw, dict):
        raise d7_error("Could not find value for parameter {fields}", "100")
    values: Row = {}
    resolve = _resolver(schema)
    for key, value in raw.items():
        name = str(key)
        if name == "fm" and schema.has_multifields:
            for item in value.values() if isinstance(value, dict) else value if isinstance(value, list) else []:
                if isinstance(item, dict) and str(item.get("typeId", "")).upper() in MULTIFIELDS:
                    values.setdefault(str(item["typeId"]).upper(), []).append(item)
            continue
        field = resolve(name)
        if field is None or field.readonly or field.kind == "multifield":
            continue
        try:
            values[field.upper] = parse_value(field, value, classic=False)
        except InvalidValue as bad:
            if bad.multiple:
                raise documented(
                    method,
                    "100",
                    "iterable",
                    "Expected iterable value for multiple field, but got <type> instead",
                    fill={"type": bad.got},
                ) from None
            raise _invalid(method, bad.field) from None
    return values


def _invalid(method: str, field: Field) -> Exception:
    return documented(
        method,
        "CRM_FIELD_ERROR_VALUE_NOT_VALID",
        "invalid value",
        'Invalid value for field "<field>"',
        fill={"field": field.title},
    )


def _found(method: str, schema: Schema, objs: Objects, params: Mapping[str, Any]) -> tuple[int, Row]:
    object_id = d7_int(params, "id")
    assert object_id is not None
    row = objs.get(schema.entity_type_id, object_id)
    if row is None:
        raise documented(method, "NOT_FOUND", "element not found", "Element not found")
    return object_id, row


def item_add(params: dict[str, Any], ctx: CallContext) -> Any:
    schema = item_schema("crm.item.add", params, ctx)
    objs = objects(ctx.store)
    values = _parse_fields("crm.item.add", schema, params)
    try:
        new_id = objs.add(schema, values, ctx.auth.user_id)
    except funnels.BadStage as bad:
        raise _invalid("crm.item.add", schema.by_upper.get(bad.field) or schema.by_upper["ID"]) from None
    row = objs.get(schema.entity_type_id, new_id)
    assert row is not None
    return {"item": render_item_row(schema, objs, row, None, _names(params))}


def item_get(params: dict[str, Any], ctx: CallContext) -> Any:
    schema = item_schema("crm.item.get", params, ctx)
    objs = objects(ctx.store)
    _, row = _found("crm.item.get", schema, objs, params)
    return {"item": render_item_row(schema, objs, row, None, _names(params))}


def item_update(params: dict[str, Any], ctx: CallContext) -> Any:
    schema = item_schema("crm.item.update", params, ctx)
    objs = objects(ctx.store)
    object_id, _ = _found("crm.item.update", schema, objs, params)
    values = _parse_fields("crm.item.update", schema, params)
    try:
        objs.update(schema, object_id, values, ctx.auth.user_id)
    except funnels.BadStage as bad:
        raise _invalid("crm.item.update", schema.by_upper.get(bad.field) or schema.by_upper["ID"]) from None
    row = objs.get(schema.entity_type_id, object_id)
    assert row is not None
    return {"item": render_item_row(schema, objs, row, None, _names(params))}


def item_delete(params: dict[str, Any], ctx: CallContext) -> Any:
    schema = item_schema("crm.item.delete", params, ctx)
    objs = objects(ctx.store)
    object_id, _ = _found("crm.item.delete", schema, objs, params)
    objs.delete(schema.entity_type_id, object_id)
    return []


def item_fields(params: dict[str, Any], ctx: CallContext) -> Any:
    schema = item_schema("crm.item.fields", params, ctx)
    objs = objects(ctx.store)
    name_of = _names(params)
    out: Row = {}
    for field in schema.fields:
        if field.kind == "multifield":
            continue
        status_type = None
        if field.upper == schema.stage_field and funnels.has_stages(ctx.store, schema.entity_type_id):
            status_type = funnels.directory_id(
                schema.entity_type_id, funnels.default_category(ctx.store, schema.entity_type_id)
            )
        out[name_of(field)] = field.descriptor(item=True, status_type=status_type)
    for name in objs.user_fields(schema.entity_type_id):
        user = schema.field(name)
        assert user is not None
        out[name_of(user)] = user.descriptor(item=True)
    return {"fields": out}


def item_list(params: dict[str, Any], ctx: CallContext) -> Any:
    method = "crm.item.list"
    schema = item_schema(method, params, ctx)
    objs = objects(ctx.store)
    bounds = Bounds()
    try:
        predicate = compile_filter(params.get("filter") or {}, _resolver(schema), strict=True, bounds=bounds)
    except FilterError as bad:
        if bad.reason == "field":
            raise documented(
                method,
                "INVALID_ARG_VALUE",
                "not allowed in filter",
                "Invalid filter: field '<field>' is not allowed in filter",
                fill={"field": bad.name},
            ) from None
        raise documented(
            method,
            "INVALID_ARG_VALUE",
            "has invalid value",
            "Invalid filter: field '<field>' has invalid value",
            fill={"field": bad.name},
        ) from None
    order: list[tuple[Field, bool]] = []
    raw_order = params.get("order")
    if isinstance(raw_order, dict):
        for key, direction in raw_order.items():
            field = _resolver(schema)(str(key))
            if field is None:
                raise documented(
                    method,
                    "INVALID_ARG_VALUE",
                    "not allowed in order",
                    "Invalid order: field '<field>' is not allowed in order",
                    fill={"field": str(key)},
                )
            word = str(direction).upper()
            if word not in ("ASC", "DESC"):
                raise documented(
                    method,
                    "INVALID_ARG_VALUE",
                    "sort directions",
                    "Invalid order: allowed sort directions are ASC, DESC. But got '<orderValue>' for field '<field>'",
                    fill={"orderValue": str(direction), "field": str(key)},
                )
            order.append((field, word == "DESC"))
    page = run_list(objs, schema, predicate, bounds, order, ctx.start)
    name_of = _names(params)
    plan = item_plan(schema, objs, params.get("select"), name_of)
    items = [plan.render(row) for row in page.rows]
    if page.total is None:
        return Result({"items": items})  # D7 start=-1: neither total nor next (docs/protocol.md#paging)
    return Result({"items": items}, next=page.next, total=page.total)


HANDLERS: dict[str, Handler] = {
    "crm.item.add": item_add,
    "crm.item.get": item_get,
    "crm.item.update": item_update,
    "crm.item.delete": item_delete,
    "crm.item.fields": item_fields,
    "crm.item.list": item_list,
}
