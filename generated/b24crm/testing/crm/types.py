"""``crm.type.{add,get,getByEntityTypeId,list,update,delete,fields}``: smart-process types.

A type is a ``dynamic_types`` metadata entry (the shape :mod:`b24crm.testing.directory` already reads):
``crm.type.add`` gives it the next free entityTypeId (even numbers from 1030, as the portal assigns them),
a default funnel with the default stages, and from then on ``crm.item.*``, ``crm.category.*`` and
``crm.status.*`` all know it. Deleting a type with items is refused, as documented.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from b24crm.testing.api import CallContext, Handler, Result
from b24crm.testing.crm import funnels
from b24crm.testing.crm.errors import documented
from b24crm.testing.crm.fields import now_iso
from b24crm.testing.crm.store import objects
from b24crm.testing.methods.common import d7_error, d7_int, php_intval

__all__ = ["HANDLERS"]

#: The type's Y/N settings and their defaults (crm.type.fields).
_FLAGS = {
    "isCategoriesEnabled": "N",
    "isStagesEnabled": "Y",
    "isBeginCloseDatesEnabled": "N",
    "isClientEnabled": "N",
    "isUseInUserfieldEnabled": "N",
    "isLinkWithProductsEnabled": "N",
    "isMycompanyEnabled": "N",
    "isDocumentsEnabled": "N",
    "isSourceEnabled": "N",
    "isObserversEnabled": "N",
    "isRecyclebinEnabled": "N",
    "isAutomationEnabled": "N",
    "isBizProcEnabled": "N",
    "isSetOpenPermissions": "Y",
    "isPaymentsEnabled": "N",
    "isCountersEnabled": "N",
}
_FIRST_ID, _MAX_ID = 1030, 2**31 - 1


def _types(ctx: CallContext) -> list[dict[str, Any]]:
    types: list[dict[str, Any]] = ctx.store.meta_get("dynamic_types", [])
    for position, dyn in enumerate(types):
        dyn.setdefault("typeId", position + 1)
    return types


def _render(dyn: Mapping[str, Any]) -> dict[str, Any]:
    settings = {**_FLAGS, **dyn.get("settings", {})}
    if len(dyn["categories"]) > 1:
        settings["isCategoriesEnabled"] = "Y"
    return {
        "id": int(dyn["typeId"]),
        "title": dyn["title"],
        "code": dyn.get("code", ""),
        "createdBy": int(dyn.get("createdBy", 1)),
        "entityTypeId": int(dyn["id"]),
        "customSectionId": dyn.get("customSectionId"),
        **settings,
        "createdTime": dyn.get("createdTime", "2023-06-01T09:00:00+00:00"),
        "updatedTime": dyn.get("updatedTime", dyn.get("createdTime", "2023-06-01T09:00:00+00:00")),
        "updatedBy": int(dyn.get("updatedBy", 1)),
    }


def _settings(fields: Mapping[str, Any]) -> dict[str, str]:
    return {k: ("Y" if str(fields[k]).upper() in ("Y", "TRUE", "1") else "N") for k in _FLAGS if k in fields}


def _fields(params: Mapping[str, Any], *, default: dict[str, Any] | None = None) -> dict[str, Any]:
    """``fields``; missing, it is the action's default when it has one (update's ``[]``), else code 100."""
    raw = params.get("fields", default)
    if raw == []:
        raw = {}  # an empty PHP array
    if not isinstance(raw, dict):
        raise d7_error("Could not find value for parameter {fields}", "100")
    return raw


def type_add(params: dict[str, Any], ctx: CallContext) -> Any:
    method = "crm.type.add"
    fields = _fields(params)
    types = _types(ctx)
    taken = {int(t["id"]) for t in types}
    if fields.get("entityTypeId") not in (None, ""):
        etid = php_intval(fields["entityTypeId"])
        in_range = 128 <= etid <= 191 or (_FIRST_ID <= etid <= _MAX_ID and etid % 2 == 0)
        if not in_range or etid in taken:
            raise documented(
                method, "INVALID_ARG_VALUE", "out of allowed range", "entityTypeId is out of allowed range"
            )
    else:
        etid = max([t for t in taken if t >= _FIRST_ID] or [_FIRST_ID - 2]) + 2
    now = now_iso()
    entry = {
        "id": etid,
        "typeId": max((int(t["typeId"]) for t in types), default=0) + 1,
        "title": str(fields.get("title") or f"Smart process {etid}"),
        "code": str(fields.get("code") or ""),
        "categories": [],
        "settings": _settings(fields),
        "createdBy": ctx.auth.user_id,
        "updatedBy": ctx.auth.user_id,
        "createdTime": now,
        "updatedTime": now,
    }
    types.append(entry)
    ctx.store.meta_set("dynamic_types", types)
    funnels.add_category(ctx.store, etid, "General", 500, True)
    return {"type": _render(_by(ctx, "entityTypeId", etid, method))}


def _by(ctx: CallContext, key: str, value: int | None, method: str) -> dict[str, Any]:
    for dyn in _types(ctx):
        if (int(dyn["typeId"]) if key == "id" else int(dyn["id"])) == value:
            return dyn
    raise documented(method, "0", "not found", "Smart process not found")


def type_get(params: dict[str, Any], ctx: CallContext) -> Any:
    return {"type": _render(_by(ctx, "id", d7_int(params, "id"), "crm.type.get"))}


def type_get_by_entity_type_id(params: dict[str, Any], ctx: CallContext) -> Any:
    method = "crm.type.getByEntityTypeId"
    return {"type": _render(_by(ctx, "entityTypeId", d7_int(params, "entityTypeId"), method))}


def type_list(params: dict[str, Any], ctx: CallContext) -> Any:
    rows = [_render(d) for d in _types(ctx)]
    flt = params.get("filter")
    if isinstance(flt, dict):
        for key, value in flt.items():
            name = str(key).lstrip("=")
            if rows and name not in rows[0]:
                raise documented(
                    "crm.type.list",
                    "INVALID_ARG_VALUE",
                    "not allowed in filter",
                    "Invalid filter: field '<field_n>' is not allowed in filter",
                    fill={"field_n": name, "field": name},
                )
            rows = [r for r in rows if str(r[name]) == str(value)]
    start = max(ctx.start or 0, 0) // 50 * 50
    page = rows[start : start + 50]
    following = start + len(page)
    return Result({"types": page}, next=following if following < len(rows) else None, total=len(rows))


def type_update(params: dict[str, Any], ctx: CallContext) -> Any:
    method = "crm.type.update"
    fields = _fields(params, default={})  # the server's updateAction defaults fields to [] (docs/protocol.md#errors)
    dyn = _by(ctx, "id", d7_int(params, "id"), method)
    types = _types(ctx)
    for entry in types:
        if entry["typeId"] == dyn["typeId"]:
            if fields.get("title"):
                entry["title"] = str(fields["title"])
            entry["settings"] = {**entry.get("settings", {}), **_settings(fields)}
            entry["updatedTime"] = now_iso()
            entry["updatedBy"] = ctx.auth.user_id
            dyn = entry
    ctx.store.meta_set("dynamic_types", types)
    return {"type": _render(dyn)}


def type_delete(params: dict[str, Any], ctx: CallContext) -> Any:
    method = "crm.type.delete"
    dyn = _by(ctx, "id", d7_int(params, "id"), method)
    etid = int(dyn["id"])
    if len(objects(ctx.store).ids(etid)):
        raise documented(method, "BX_ERROR", "has elements", "You cannot delete an entity type that has elements")
    for cat in dyn["categories"]:
        funnels.remove_directory(ctx.store, etid, int(cat["id"]))
    ctx.store.meta_set("dynamic_types", [t for t in _types(ctx) if int(t["id"]) != etid])
    return None


def type_fields(params: dict[str, Any], ctx: CallContext) -> Any:
    base = {
        "id": ("integer", "ID", True),
        "title": ("string", "Title", False),
        "code": ("string", "Code", False),
        "createdBy": ("user", "Created by", True),
        "entityTypeId": ("integer", "Entity type ID", True),
        "customSectionId": ("integer", "Custom section", False),
    }
    described: dict[str, Any] = {
        name: _descriptor(kind, title, readonly, name == "title") for name, (kind, title, readonly) in base.items()
    }
    for flag in _FLAGS:
        described[flag] = _descriptor("boolean", flag, False, False)
    for name, title in (("createdTime", "Created at"), ("updatedTime", "Updated at")):
        described[name] = _descriptor("datetime", title, True, False)
    described["updatedBy"] = _descriptor("user", "Updated by", True, False)
    return {"fields": described}


def _descriptor(kind: str, title: str, readonly: bool, required: bool) -> dict[str, Any]:
    return {
        "type": kind,
        "isRequired": required,
        "isReadOnly": readonly,
        "isImmutable": False,
        "isMultiple": False,
        "isDynamic": False,
        "title": title,
    }


HANDLERS: dict[str, Handler] = {
    "crm.type.add": type_add,
    "crm.type.get": type_get,
    "crm.type.getbyentitytypeid": type_get_by_entity_type_id,
    "crm.type.list": type_list,
    "crm.type.update": type_update,
    "crm.type.delete": type_delete,
    "crm.type.fields": type_fields,
}
