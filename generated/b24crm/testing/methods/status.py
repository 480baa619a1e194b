"""``crm.status.*``: directories (docs/protocol.md#crm-status). Classic proxy: string values, ``error: ""``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from b24crm.testing.api import BitrixError, CallContext, Handler, Result
from b24crm.testing.directory import EntityType, entity_types, find_entity_type
from b24crm.testing.methods.common import classic_error, php_intval, resolve_id, resolve_param
from b24crm.testing.state import Store

__all__ = ["HANDLERS", "externalize", "insert_status"]

_CODE_RE = re.compile(r"^[0-9A-Z_-]+$", re.IGNORECASE)
_INT_FILTERS = ("ID", "SORT", "CATEGORY_ID")
_STRING_FILTERS = ("ENTITY_ID", "STATUS_ID", "SEMANTICS")
_ORDER_KEYS = ("ID", "ENTITY_ID", "STATUS_ID", "NAME", "SORT", "SYSTEM", "CATEGORY_ID", "SEMANTICS")


def _field(kind: str, title: str, *, required: bool = False, read_only: bool = False, immutable: bool = False) -> Any:
    return {
        "type": kind,
        "isRequired": required,
        "isReadOnly": read_only,
        "isImmutable": immutable,
        "isMultiple": False,
        "isDynamic": False,
        "title": title,
    }


FIELDS = {
    "ID": _field("integer", "ID", read_only=True),
    "ENTITY_ID": _field("string", "Entity ID", required=True, immutable=True),
    "STATUS_ID": _field("string", "Status", required=True, immutable=True),
    "SORT": _field("integer", "Sorting"),
    "NAME": _field("string", "Name", required=True),
    "NAME_INIT": _field("string", "Default Name", read_only=True),
    "SYSTEM": _field("char", "System", read_only=True),
    "CATEGORY_ID": _field("integer", "CATEGORY_ID", immutable=True),
    "COLOR": _field("string", "COLOR"),
    "SEMANTICS": _field("char", "SEMANTICS", immutable=True),
    "EXTRA": _field("crm_status_extra", "Additional Fields"),
}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def externalize(store: Store, row: Mapping[str, Any], entity_type: EntityType | None) -> dict[str, Any]:
    """A stored row as the classic proxy returns it: every DB value a string, EXTRA where it applies."""
    out: dict[str, Any] = {
        "ID": str(row["ID"]),
        "ENTITY_ID": row["ENTITY_ID"],
        "STATUS_ID": row["STATUS_ID"],
        "NAME": row["NAME"],
        "NAME_INIT": row.get("NAME_INIT") or "",
        "SORT": str(row["SORT"]),
        "SYSTEM": row["SYSTEM"],
        "CATEGORY_ID": _str(row.get("CATEGORY_ID")),
        "COLOR": row.get("COLOR"),
        "SEMANTICS": row.get("SEMANTICS"),
    }
    if entity_type is not None and entity_type.has_extra:
        out["EXTRA"] = {
            "SEMANTICS": entity_type.semantics_word(
                row["STATUS_ID"], int(row["SORT"]), _final_sort(store, entity_type)
            ),
            "COLOR": row.get("COLOR") or "",
        }
    return out


def _final_sort(store: Store, entity_type: EntityType) -> int | None:
    success = entity_type.success_code()
    for row in store.rows("status").values():
        if row["ENTITY_ID"] == entity_type.id and row["STATUS_ID"] == success:
            return int(row["SORT"])
    return None


def insert_status(store: Store, row: dict[str, Any]) -> int:
    """Store a directory row (used by the seed and by ``crm.status.add``)."""
    return store.insert("status", row)


def _types_by_id(store: Store) -> dict[str, EntityType]:
    return {t.id: t for t in entity_types(store)}


def _fields_param(params: Mapping[str, Any]) -> dict[str, Any]:
    fields = resolve_param(params, "fields")
    if isinstance(fields, list):  # a PHP array with integer keys (or an empty one) is still an array
        fields = {str(i): v for i, v in enumerate(fields)}
    if not isinstance(fields, dict):
        raise classic_error("Parameter 'fields' must be array.")
    return fields


def _color(fields: Mapping[str, Any]) -> str | None:
    color = fields.get("COLOR")
    extra = fields.get("EXTRA")
    if not color and isinstance(extra, dict):
        color = extra.get("COLOR")
    if color is None or color == "":
        return None
    text = str(color)
    return text if text.startswith("#") else "#" + text


def _sort(value: Any) -> int:
    sort = php_intval(value)
    return sort if sort > 0 else 10


def status_add(params: dict[str, Any], ctx: CallContext) -> Any:
    """``crm.status.add``: validate like ``CCrmStatusRestProxy::innerAdd`` and return the new integer ID."""
    store = ctx.store
    fields = _fields_param(params)
    entity_id = str(fields.get("ENTITY_ID") or "")
    code = str(fields.get("STATUS_ID") or "")
    missing = [
        f"The field {name} is required." for name, value in (("ENTITY_ID", entity_id), ("STATUS_ID", code)) if not value
    ]
    if missing:
        raise classic_error("\n".join(missing))
    entity_type = find_entity_type(store, entity_id)
    if entity_type is None:
        raise BitrixError.documented("StatusEntityTypeNotSupportedError")
    name = fields.get("NAME")
    if name is None or str(name) == "":
        raise classic_error("The field Title is required.")
    status_id = entity_type.code(code)
    limit, restricted = entity_type.status_id_limit
    bare = status_id.split(":", 1)[1] if ":" in status_id else status_id
    if len(status_id) > limit or not bare or (restricted and not _CODE_RE.match(bare)):
        raise BitrixError.documented("StatusCreateFailedError")
    for row in store.rows("status").values():
        if row["ENTITY_ID"] == entity_type.id and row["STATUS_ID"] == status_id:
            raise BitrixError.documented("StatusDuplicateStatusIdError")
    semantics = fields.get("SEMANTICS")
    semantics = str(semantics).upper() if semantics in ("S", "F", "s", "f") else "P"
    sort = _sort(fields.get("SORT"))
    if entity_type.kind == "deal" and semantics == "P":
        final = _final_sort(store, entity_type)
        if final is not None and sort > final:
            raise classic_error(
                "Cannot create more stages after the final stage because the final successful stage already exists."
                " Try using sort order values less than that of the final stage."
            )
    row = {
        "ENTITY_ID": entity_type.id,
        "STATUS_ID": status_id,
        "NAME": str(name),
        "NAME_INIT": "",
        "SORT": sort,
        "SYSTEM": "N",
        "CATEGORY_ID": entity_type.category_id if entity_type.prefix else None,
        "COLOR": _color(fields),
        "SEMANTICS": semantics,
    }
    return insert_status(store, row)


def _existing(params: Mapping[str, Any], store: Store) -> dict[str, Any]:
    row_id = resolve_id(params)
    if row_id <= 0:
        raise BitrixError.documented("StatusInvalidIdError")
    row = store.get("status", row_id)
    if row is None:
        raise BitrixError.documented("StatusNotFoundError")
    return row


def status_update(params: dict[str, Any], ctx: CallContext) -> Any:
    """``crm.status.update``: only NAME, SORT and COLOR change; nothing to change still answers ``true``."""
    row = _existing(params, ctx.store)
    fields = _fields_param(params)
    extra = fields.get("EXTRA")
    has_extra_color = isinstance(extra, dict) and "COLOR" in extra
    if not any(k in fields for k in ("NAME", "SORT", "COLOR")) and not has_extra_color:
        return True
    updated = dict(row)
    if "NAME" in fields and fields["NAME"] not in (None, ""):
        updated["NAME"] = str(fields["NAME"])
    if "SORT" in fields:
        updated["SORT"] = _sort(fields["SORT"])
    if "COLOR" in fields or has_extra_color:
        updated["COLOR"] = _color(fields)
    ctx.store.put("status", int(row["ID"]), updated)
    return True


def status_delete(params: dict[str, Any], ctx: CallContext) -> Any:
    """``crm.status.delete``: SYSTEM items need ``params[FORCED]=Y``; items in use cannot go."""
    row = _existing(params, ctx.store)
    options = resolve_param(params, "params")
    forced = isinstance(options, dict) and str(options.get("FORCED", "")).upper() == "Y"
    if row["SYSTEM"] == "Y" and not forced:
        raise BitrixError.documented("StatusSystemDeleteNotForcedError")
    in_use = any(lead.get("STATUS_ID") == row["STATUS_ID"] for lead in ctx.store.rows("lead").values())
    if row["ENTITY_ID"] == "STATUS" and in_use:
        raise BitrixError.documented("StatusActiveItemsError")
    ctx.store.delete("status", int(row["ID"]))
    return True


def status_get(params: dict[str, Any], ctx: CallContext) -> Any:
    """``crm.status.get``."""
    row = _existing(params, ctx.store)
    return externalize(ctx.store, row, _types_by_id(ctx.store).get(row["ENTITY_ID"]))


def _filter_matches(row: Mapping[str, Any], flt: Mapping[str, Any]) -> bool:
    for key, value in flt.items():
        if value is None or value == "" or (isinstance(value, (list, dict)) and not value):
            continue  # empty values are ignored
        if key in _STRING_FILTERS:
            if isinstance(value, (list, dict)):
                raise classic_error(f"Filter by {key} must be a string")
            if str(row.get(key) or "") != str(value):
                return False
        elif key in _INT_FILTERS:
            if isinstance(value, (list, dict)):
                if key == "SORT":
                    raise classic_error("Filter by SORT must be a string")
                continue
            stored = row.get(key)
            if stored is None or int(stored) != php_intval(value):
                return False
        elif key == "SYSTEM":
            wanted = "Y" if str(value) == "Y" else "N"
            if row.get("SYSTEM") != wanted:
                return False
        elif key == "NAME" and str(value).lower() not in str(row.get("NAME") or "").lower():
            return False
        # operator-prefixed, lower-case and unknown keys are silently ignored (docs/protocol.md#crm-status)
    return True


def _order(raw: Any) -> list[tuple[str, bool]]:
    if not isinstance(raw, dict):
        raw = {"sort": "asc"}
    order = []
    for key, direction in raw.items():
        name = str(key).upper()
        if name in _ORDER_KEYS:
            order.append((name, str(direction).upper() != "ASC"))
    return order or [("ID", True)]


def _sort_key(row: Mapping[str, Any], name: str) -> tuple[int, Any]:
    value = row.get(name)
    if value is None:
        return (0, 0)
    if name in ("ID", "SORT", "CATEGORY_ID"):
        return (1, int(value))
    return (1, str(value))


def status_list(params: dict[str, Any], ctx: CallContext) -> Any:
    """``crm.status.list``: exact-match filter, whole set (``start`` ignored), ``total`` = count, no ``next``."""
    flt = resolve_param(params, "filter")
    rows = list(ctx.store.rows("status").values())
    if isinstance(flt, dict):
        rows = [row for row in rows if _filter_matches(row, flt)]
    rows.sort(key=lambda r: int(r["ID"]))
    for name, descending in reversed(_order(resolve_param(params, "order"))):
        rows.sort(key=lambda r, n=name: _sort_key(r, n), reverse=descending)  # type: ignore[misc]
    types = _types_by_id(ctx.store)
    items = [externalize(ctx.store, row, types.get(row["ENTITY_ID"])) for row in rows]
    return Result(items, total=len(items))


def status_entity_items(params: dict[str, Any], ctx: CallContext) -> Any:
    """``crm.status.entity.items``: ``[{NAME, SORT, STATUS_ID}]`` by SORT; unknown entity -> ``[]``."""
    raw = None
    for key in ("entityId", "entityID", "entity_id", "ENTITY_ID"):
        if params.get(key) not in (None, ""):
            raw = params[key]
            break
    if raw is None or isinstance(raw, (list, dict)):
        raise BitrixError.documented("StatusEntityIdMissingError")
    entity_id = str(raw).upper()
    rows = [r for r in ctx.store.rows("status").values() if r["ENTITY_ID"] == entity_id]
    rows.sort(key=lambda r: (int(r["SORT"]), int(r["ID"])))
    return [{"NAME": r["NAME"], "SORT": int(r["SORT"]), "STATUS_ID": r["STATUS_ID"]} for r in rows]


def status_entity_types(params: dict[str, Any], ctx: CallContext) -> Any:
    """``crm.status.entity.types``."""
    return [t.descriptor() for t in entity_types(ctx.store)]


def status_fields(params: dict[str, Any], ctx: CallContext) -> Any:
    """``crm.status.fields``."""
    return FIELDS


HANDLERS: dict[str, Handler] = {
    "crm.status.add": status_add,
    "crm.status.update": status_update,
    "crm.status.delete": status_delete,
    "crm.status.get": status_get,
    "crm.status.list": status_list,
    "crm.status.entity.items": status_entity_items,
    "crm.status.entity.types": status_entity_types,
    "crm.status.fields": status_fields,
}
