"""``crm.category.{add,get,list,update,delete,fields}``: funnels of deals, smart invoices and smart processes.

A funnel is a ``deal_categories`` / ``smart_invoice_categories`` / ``dynamic_types[].categories`` entry
(:mod:`funnels`), so adding one makes its stage directory appear in ``crm.status.entity.types`` with the
default stages, and deleting one drops them. Answers are camelCase with ``isDefault`` as ``Y``/``N``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from b24crm.testing.api import CallContext, Handler
from b24crm.testing.crm import funnels
from b24crm.testing.crm.errors import documented
from b24crm.testing.crm.store import objects
from b24crm.testing.methods.common import d7_error, d7_int, php_intval

__all__ = ["HANDLERS"]

_NAMES = {1: "LEAD", 3: "CONTACT", 4: "COMPANY", 5: "INVOICE", 7: "QUOTE", 8: "REQUISITE"}
_META = {2: "deal_categories", 31: "smart_invoice_categories"}
_FIELDS = {
    "id": ("integer", "ID", True),
    "name": ("string", "Name", False),
    "sort": ("integer", "Sort", False),
    "entityTypeId": ("integer", "Entity type ID", True),
    "isDefault": ("boolean", "Is default", False),
}


def _entity_type(method: str, params: Mapping[str, Any], ctx: CallContext) -> int:
    etid = d7_int(params, "entityTypeId")
    assert etid is not None
    if funnels.has_categories(ctx.store, etid):
        return etid
    if etid in _NAMES:
        raise documented(
            method,
            "ENTITY_TYPE_NOT_SUPPORTED",
            "not supported",
            "Entity type {entityTypeName} is not supported",
            fill={"entityTypeName": _NAMES[etid]},
        )
    raise documented(method, "NOT_FOUND", "not found", "Smart process not found")


def _render(etid: int, cat: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": cat["id"],
        "name": cat["name"],
        "sort": cat["sort"],
        "entityTypeId": etid,
        "isDefault": "Y" if cat["isDefault"] else "N",
    }


def _one(method: str, params: Mapping[str, Any], ctx: CallContext, etid: int) -> dict[str, Any]:
    category_id = d7_int(params, "id")
    for cat in funnels.categories(ctx.store, etid):
        if cat["id"] == category_id:
            return cat
    raise documented(method, "NOT_FOUND", "element not found", "Element not found")


def _fields(params: Mapping[str, Any]) -> dict[str, Any]:
    raw = params.get("fields")
    if raw == []:
        raw = {}  # an empty PHP array
    if not isinstance(raw, dict):
        raise d7_error("Could not find value for parameter {fields}", "100")
    return raw


def category_add(params: dict[str, Any], ctx: CallContext) -> Any:
    method = "crm.category.add"
    etid = _entity_type(method, params, ctx)
    fields = _fields(params)
    name = str(fields.get("name", fields.get("NAME", "")) or "").strip()
    if not name:
        raise documented(method, "0", "required", "Field 'NAME' is required")
    sort = max(0, php_intval(fields.get("sort", 500)))
    is_default = str(fields.get("isDefault", "N")).upper() == "Y" and etid != 2
    new_id = funnels.add_category(ctx.store, etid, name[:255], sort, is_default)
    return {"category": _render(etid, _one(method, {"id": new_id}, ctx, etid))}


def category_get(params: dict[str, Any], ctx: CallContext) -> Any:
    etid = _entity_type("crm.category.get", params, ctx)
    return {"category": _render(etid, _one("crm.category.get", params, ctx, etid))}


def category_list(params: dict[str, Any], ctx: CallContext) -> Any:
    etid = _entity_type("crm.category.list", params, ctx)
    cats = sorted(funnels.categories(ctx.store, etid), key=lambda c: (c["sort"], c["id"]))
    return {"categories": [_render(etid, c) for c in cats]}


def _rewrite(ctx: CallContext, etid: int, category_id: int, change: Mapping[str, Any] | None) -> None:
    """Replace (``change``) or remove (None) one funnel's metadata entry."""
    store = ctx.store
    if etid in _META:
        rows = [dict(r) for r in store.meta_get(_META[etid], [])]
        kept = [r for r in rows if change or int(r["id"]) != category_id]
        rows = [r if int(r["id"]) != category_id else {**r, **(change or {})} for r in kept]
        store.meta_set(_META[etid], rows)
        return
    types = store.meta_get("dynamic_types", [])
    for dyn in types:
        if int(dyn["id"]) == etid:
            if change and change.get("is_default"):
                for cat in dyn["categories"]:
                    cat["is_default"] = False
            dyn["categories"] = [
                c if int(c["id"]) != category_id else {**c, **(change or {})}
                for c in dyn["categories"]
                if change or int(c["id"]) != category_id
            ]
    store.meta_set("dynamic_types", types)


def category_update(params: dict[str, Any], ctx: CallContext) -> Any:
    method = "crm.category.update"
    etid = _entity_type(method, params, ctx)
    cat = _one(method, params, ctx, etid)
    fields = _fields(params)
    change: dict[str, Any] = {}
    if "name" in fields and str(fields["name"]).strip():
        change["name"] = str(fields["name"]).strip()[:255]
    if "sort" in fields:
        change["sort"] = max(0, php_intval(fields["sort"]))
    if "isDefault" in fields and etid != 2 and str(fields["isDefault"]).upper() == "Y":
        change["is_default"] = True
    if change:
        _rewrite(ctx, etid, int(cat["id"]), change)
    return {"category": _render(etid, _one(method, params, ctx, etid))}


def category_delete(params: dict[str, Any], ctx: CallContext) -> Any:
    method = "crm.category.delete"
    etid = _entity_type(method, params, ctx)
    cat = _one(method, params, ctx, etid)
    if cat["isDefault"]:
        if etid == 2:
            raise documented(method, "0", "cannot be deleted", "Default deal category cannot be deleted")
        raise documented(method, "BX_ERROR", "default funnel", "This funnel is the default funnel")
    objs = objects(ctx.store)
    if any(row.get("CATEGORY_ID") == cat["id"] for row in objs.scan(etid, 1, 2**62)):
        if etid == 2:
            raise documented(
                method,
                "0",
                "related to the funnel",
                "Deals related to the funnel {categoryName} found",
                fill={"categoryName": str(cat["name"])},
            )
        raise documented(method, "BX_ERROR", "elements related", "Elements related to the funnel found")
    _rewrite(ctx, etid, int(cat["id"]), None)
    funnels.remove_directory(ctx.store, etid, int(cat["id"]))
    return None


def category_fields(params: dict[str, Any], ctx: CallContext) -> Any:
    _entity_type("crm.category.fields", params, ctx)
    return {
        "fields": {
            name: {
                "type": kind,
                "isRequired": name == "name",
                "isReadOnly": readonly,
                "isImmutable": False,
                "isMultiple": False,
                "isDynamic": False,
                "title": title,
            }
            for name, (kind, title, readonly) in _FIELDS.items()
        }
    }


HANDLERS: dict[str, Handler] = {
    "crm.category.add": category_add,
    "crm.category.get": category_get,
    "crm.category.list": category_list,
    "crm.category.update": category_update,
    "crm.category.delete": category_delete,
    "crm.category.fields": category_fields,
}
