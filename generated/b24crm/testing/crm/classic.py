"""The per-entity (classic) API — ``<prefix>.{add,get,list,update,delete,fields}`` — for any schema.

One factory serves ``crm.deal``, ``crm.lead``, ``crm.contact``, ``crm.company`` and any object family a
user adds to the spec (see :mod:`families`): classic proxies read ``fields``/``filter``/``order``/``select``
in any of their spellings (docs/protocol.md#encodings), answer UPPER_CASE fields with numbers as strings and ``Y``/``N``
flags, drop unknown fields and filters silently, and report errors with an empty code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from b24crm.testing.api import CallContext, Handler, Result
from b24crm.testing.crm.codec import Reader, classic_renderer, parse_value, reader
from b24crm.testing.crm.errors import documented
from b24crm.testing.crm.fields import MULTIFIELDS, Field, Schema
from b24crm.testing.crm.filters import Bounds, compile_filter
from b24crm.testing.crm.query import run_list
from b24crm.testing.crm.store import Objects, objects
from b24crm.testing.methods.common import resolve_id, resolve_param

__all__ = ["classic_handlers", "render_row"]

Row = dict[str, Any]


def render_row(schema: Schema, objs: Objects, row: Row, names: list[str] | None) -> Row:
    """A stored row in classic form: ``names`` (canonical) or, when None, every field the row has a
    value for plus every standard non-multifield field (as ``get`` answers)."""
    if names is None:
        names = [f.upper for f in schema.fields if f.kind != "multifield"]
        names += objs.user_fields(schema.entity_type_id)
        names += [k for k in MULTIFIELDS if row.get(k)]
        if schema.open:
            names += [k for k in row if k not in names]
    return {name: read(row) for name, read in _plan(schema, names)}


_PLANS: dict[tuple[int, tuple[str, ...]], list[tuple[str, Reader]]] = {}


def _plan(schema: Schema, names: list[str]) -> list[tuple[str, Reader]]:
    """(name, renderer) per selected field, made once per schema and selection."""
    key = (schema.entity_type_id, tuple(names))
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) > 512:
            _PLANS.clear()
        fields = [(n, f) for n in names if (f := schema.field(n)) is not None]
        plan = _PLANS[key] = [(n, reader(f, classic_renderer(f))) for n, f in fields]
    return plan


def _selected(schema: Schema, objs: Objects, select: Any) -> list[str] | None:
    """``*`` = standard fields without user fields and multifields, ``UF_*`` = user fields, names as given;
    none given = ``*`` + ``UF_*`` (docs/protocol.md#crm-filters)."""
    if isinstance(select, dict):
        select = list(select.values())
    wanted = [str(s).upper() for s in select] if isinstance(select, list) and select else ["*", "UF_*"]
    if schema.open and "*" in wanted:
        return None  # an open family's `*` is every field its rows have
    names: list[str] = ["ID"]
    for name in wanted:
        if name == "*":
            names += [f.upper for f in schema.fields if f.kind != "multifield"]
        elif name == "UF_*":
            names += objs.user_fields(schema.entity_type_id)
        elif schema.field(name) is not None:
            names.append(name)
    return list(dict.fromkeys(names))


def classic_handlers(prefix: str, schema: Schema) -> dict[str, Handler]:
    """The six handlers of one classic family, keyed by lowercase method name."""

    def error(verb: str, contains: str, fallback: str) -> Exception:
        # Any code: crm.contact.delete documents its "not found" as ERROR_CORE "Element not found".
        return documented(f"{prefix}.{verb}", None, contains, fallback)

    def parse_fields(verb: str, params: Mapping[str, Any]) -> Row:
        raw = resolve_param(params, "fields")
        if not isinstance(raw, dict):
            raise error(verb, "must be array", "Parameter 'fields' must be array")
        values: Row = {}
        for key, value in raw.items():
            name = str(key).upper()
            field = schema.field(name)
            if field is None or (field.readonly and name != "ID"):
                continue  # unknown and read-only fields are dropped, as the proxies do
            values[name] = parse_value(field, value, classic=True)  # classic parsing coerces, never refuses
        return values

    def check(verb: str, params: Mapping[str, Any], objs: Objects) -> int:
        object_id = resolve_id(params)
        if object_id <= 0:
            raise error(verb, "not defined", "ID is not defined or invalid")
        if objs.get(schema.entity_type_id, object_id) is None:
            raise error(verb, "not found", "Not found")
        return object_id

    def add(params: dict[str, Any], ctx: CallContext) -> Any:
        objs = objects(ctx.store)
        values = parse_fields("add", params)
        return objs.add(schema, values, ctx.auth.user_id, strict=False)

    def get(params: dict[str, Any], ctx: CallContext) -> Any:
        objs = objects(ctx.store)
        object_id = check("get", params, objs)
        row = objs.get(schema.entity_type_id, object_id)
        assert row is not None
        return render_row(schema, objs, row, None)

    def update(params: dict[str, Any], ctx: CallContext) -> Any:
        objs = objects(ctx.store)
        object_id = check("update", params, objs)
        values = parse_fields("update", params)
        if "CATEGORY_ID" in values and schema.entity_type_id == 2:
            del values["CATEGORY_ID"]  # immutable in crm.deal.update (crm.item.update moves funnels)
        objs.update(schema, object_id, values, ctx.auth.user_id, strict=False)
        return True

    def delete(params: dict[str, Any], ctx: CallContext) -> Any:
        objs = objects(ctx.store)
        object_id = check("delete", params, objs)
        objs.delete(schema.entity_type_id, object_id)
        return True

    def list_(params: dict[str, Any], ctx: CallContext) -> Any:
        objs = objects(ctx.store)
        flt = resolve_param(params, "filter")
        order_raw = resolve_param(params, "order")
        if flt not in (None, "") and not isinstance(flt, (dict, list)):  # {"0": ...} arrives as a PHP list
            raise error("list", "'filter'", "Parameter 'filter' must be array.")
        if order_raw not in (None, "", []) and not isinstance(order_raw, dict):
            raise error("list", "'order'", "Parameter 'order' must be array.")
        bounds = Bounds()
        predicate = compile_filter(flt or {}, _exact(schema), strict=False, bounds=bounds)
        order: list[tuple[Field, bool]] = []
        for key, direction in (order_raw or {}).items():
            field = schema.field(str(key).upper())
            if field is not None:
                order.append((field, str(direction).upper() == "DESC"))
        page = run_list(objs, schema, predicate, bounds, order, ctx.start)
        names = _selected(schema, objs, resolve_param(params, "select"))
        if names is None:
            rows = [render_row(schema, objs, row, None) for row in page.rows]
        else:
            plan = _plan(schema, names)
            rows = [{name: read(row) for name, read in plan} for row in page.rows]
        if page.total is None:
            return Result(rows, total=0, counted=False)  # classic start=-1: total 0, no next (docs/protocol.md#paging)
        return Result(rows, next=page.next, total=page.total)

    def fields(params: dict[str, Any], ctx: CallContext) -> Any:
        objs = objects(ctx.store)
        out = {f.upper: f.descriptor(item=False) for f in schema.fields}
        for name in objs.user_fields(schema.entity_type_id):
            field = schema.field(name)
            assert field is not None
            out[name] = field.descriptor(item=False)
        return out

    return {
        f"{prefix}.add".lower(): add,
        f"{prefix}.get".lower(): get,
        f"{prefix}.list".lower(): list_,
        f"{prefix}.update".lower(): update,
        f"{prefix}.delete".lower(): delete,
        f"{prefix}.fields".lower(): fields,
    }


def _exact(schema: Schema) -> Any:
    """Classic filters match field names exactly and in upper case (docs/protocol.md#crm-filters)."""

    def resolve(name: str) -> Field | None:
        return schema.field(name) if name == name.upper() else None

    return resolve
