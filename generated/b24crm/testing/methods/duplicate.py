"""Duplicates: ``crm.duplicate.findbycomm``, ``crm.entity.mergeBatch``, ``crm.duplicate.volatileType.*``.

Semantics from docs/protocol.md#crm-duplicates and the ``VolatileType`` controller: findbycomm normalizes values, caps
them at 20 and matches at 20 per value (leads first, so leads can hide contacts); mergeBatch keeps the first
remaining ID as the root and answers HTTP 200 with SUCCESS / CONFLICT / ERROR.
"""

from __future__ import annotations

import re
from typing import Any

from b24crm.testing.api import BitrixError, CallContext, Handler
from b24crm.testing.methods.common import classic_error, d7_error, d7_int, php_intval, resolve_param
from b24crm.testing.state import Store

__all__ = ["ENTITY_TABLES", "HANDLERS", "normalize"]

#: CRM entity type ID -> (name, state table) for the entities that carry multifields.
ENTITY_TABLES: dict[int, tuple[str, str]] = {1: ("LEAD", "lead"), 3: ("CONTACT", "contact"), 4: ("COMPANY", "company")}
_KNOWN_TYPES = {1, 2, 3, 4, 5, 7, 8, 31, 36, 39}
_MAX_VALUES = 20
_MAX_MATCHES = 20
_MULTIFIELDS = ("PHONE", "EMAIL", "WEB", "IM")
#: Fields merge compares; service fields differ between any two records and never conflict.
_SERVICE_FIELDS = {
    *("ID", "DATE_CREATE", "DATE_MODIFY", "CREATED_BY_ID", "MODIFY_BY_ID", "MOVED_TIME", "MOVED_BY_ID"),
    *("CREATED_TIME", "UPDATED_TIME", "CREATED_BY", "UPDATED_BY", "MOVED_BY", "HAS_PHONE", "HAS_EMAIL", "HAS_IMOL"),
    *_MULTIFIELDS,
}


def normalize(kind: str, value: str) -> str:
    """EMAIL: trimmed, lower case. PHONE: digits only, extension after ``;``/``#``/``ext`` dropped."""
    if kind == "EMAIL":
        return value.strip().lower()
    main = re.split(r"[;#]|\bext\.?", value, maxsplit=1, flags=re.IGNORECASE)[0]
    return re.sub(r"\D", "", main)


def findbycomm(params: dict[str, Any], ctx: CallContext) -> Any:
    """``crm.duplicate.findbycomm``: ``{"LEAD": [...], "CONTACT": [...], "COMPANY": [...]}`` or ``[]``."""
    kind = str(resolve_param(params, "type") or "").upper()
    if not kind:
        raise BitrixError.documented("DuplicateTypeNotDefinedError")
    if kind not in ("EMAIL", "PHONE"):
        raise classic_error(f"Communication type '{kind}' is not supported in current context.")
    raw_values = resolve_param(params, "values")
    if isinstance(raw_values, dict):
        raw_values = list(raw_values.values())
    if not isinstance(raw_values, list) or not raw_values:
        raise BitrixError.documented("DuplicateValuesNotDefinedError")
    entity_raw = None
    for key in ("entity_type", "ENTITY_TYPE", "EntityType", "arEntityType", "Entity_type"):
        if params.get(key) not in (None, ""):
            entity_raw = params[key]
            break
    type_ids = sorted(ENTITY_TABLES)
    if isinstance(entity_raw, str):
        name = entity_raw.upper()
        if name == "DEAL":
            raise BitrixError.documented("DuplicateDealNotSupportedError")
        for type_id, (type_name, _) in ENTITY_TABLES.items():
            if type_name == name:
                type_ids = [type_id]
    wanted: list[str] = []
    for value in raw_values:
        if not isinstance(value, str) or not value:
            continue  # JSON numbers and empty values are skipped silently
        norm = normalize(kind, value)
        if norm and norm not in wanted:
            wanted.append(norm)
        if len(wanted) >= _MAX_VALUES:
            break
    found: dict[str, list[int]] = {}
    for norm in wanted:
        matches = 0
        for type_id in type_ids:
            name, table = ENTITY_TABLES[type_id]
            for row_id in sorted(ctx.store.rows(table)):
                if matches >= _MAX_MATCHES:
                    break
                row = ctx.store.rows(table)[row_id]
                if any(normalize(kind, str(m.get("VALUE", ""))) == norm for m in row.get(kind) or []):
                    matches += 1
                    ids = found.setdefault(name, [])
                    if row_id not in ids:
                        ids.append(row_id)
    ordered = {name: found[name] for name, _ in (ENTITY_TABLES[t] for t in sorted(ENTITY_TABLES)) if name in found}
    return ordered  # an empty dict is serialized as [] (PHP array), as the server does


def merge_batch(params: dict[str, Any], ctx: CallContext) -> Any:
    """``crm.entity.mergeBatch``: merge into the first remaining ID, delete the rest."""
    inner = params.get("params")
    if inner == []:
        inner = {}
    if not isinstance(inner, dict):
        raise d7_error("Could not find value for parameter {params}")
    if inner.get("entityTypeId") in (None, ""):
        raise BitrixError.documented("MergeEntityTypeIdRequiredError")
    type_id = php_intval(inner["entityTypeId"])
    if type_id not in _KNOWN_TYPES and not 128 <= type_id <= 191 and not (type_id >= 1030 and type_id % 2 == 0):
        raise BitrixError.documented("MergeOwnerNotFoundError")
    raw_ids = inner.get("entityIds")
    if isinstance(raw_ids, dict):
        raw_ids = list(raw_ids.values())
    # The CRM object store (leads, deals, contacts, companies, quotes, invoices, smart processes, synthetic
    # deals included); imported here because the crm package reads this module's HANDLERS.
    from b24crm.testing.crm.store import objects, table_for

    objs = objects(ctx.store)
    ids = [php_intval(i) for i in raw_ids] if isinstance(raw_ids, list) else []
    rows = {i: row for i in ids if (row := objs.get(type_id, i)) is not None}
    ids = [i for i in ids if i in rows]
    if not ids:
        raise BitrixError.documented("MergeNoValidEntityIdsError")
    if len(ids) < 2:
        raise BitrixError.documented("MergeTooFewEntityIdsError")
    root_id, others = ids[0], ids[1:]
    if root_id in others:
        # Merging an entity into itself fails inside the merger; the action still answers 200.
        return {"STATUS": "ERROR", "ENTITY_IDS": others}
    root = dict(rows[root_id])
    merged = dict(root)
    for other_id in others:
        other = rows[other_id]
        for key, value in other.items():
            if key in _SERVICE_FIELDS or _empty(value):
                continue
            if _empty(merged.get(key)):
                merged[key] = value
            elif merged[key] != value:
                return {"STATUS": "CONFLICT", "ENTITY_IDS": others}
    for kind in _MULTIFIELDS:
        values: list[dict[str, Any]] = list(root.get(kind) or [])
        seen = {normalize(kind, str(v.get("VALUE", ""))) for v in values}
        for other_id in others:
            for item in rows[other_id].get(kind) or []:
                norm = normalize(kind, str(item.get("VALUE", "")))
                if norm not in seen:
                    seen.add(norm)
                    values.append(dict(item))
        if values:
            merged[kind] = values
    ctx.store.put(table_for(type_id), root_id, merged)
    for other_id in others:
        objs.delete(type_id, other_id)
    return {"STATUS": "SUCCESS", "ENTITY_IDS": others}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


# -- volatile types ---------------------------------------------------------------------------------------
_VOLATILE_FIELDS: dict[int, list[tuple[str, str]]] = {
    1: [
        ("TITLE", "Lead Name"),
        ("NAME", "First name"),
        ("SECOND_NAME", "Second name"),
        ("LAST_NAME", "Last name"),
        ("COMPANY_TITLE", "Company name"),
        ("POST", "Position"),
        ("ADDRESS", "Address"),
        ("COMMENTS", "Comment"),
        ("UF_CRM_1750854801", "String"),
    ],
    3: [
        ("NAME", "First name"),
        ("SECOND_NAME", "Second name"),
        ("LAST_NAME", "Last name"),
        ("POST", "Position"),
        ("ADDRESS", "Address"),
        ("COMMENTS", "Comment"),
        ("RQ.DE.NAME", "Name (Requisite)"),
    ],
    4: [
        ("TITLE", "Company name"),
        ("ADDRESS", "Address"),
        ("BANKING_DETAILS", "Payment details"),
        ("COMMENTS", "Comment"),
        ("RQ.DE.NAME", "Name (Requisite)"),
    ],
}
#: The seven dedupe type slots (``DuplicateVolatileCriterion::getSupportedDedupeTypes``).
_VOLATILE_SLOTS = tuple(range(1, 8))


def _volatile_rows(store: Store) -> dict[int, dict[str, Any]]:
    return store.rows("volatile")


def volatile_fields(params: dict[str, Any], ctx: CallContext) -> Any:
    """``crm.duplicate.volatileType.fields``: all types, or one when ``entityTypeId`` is given."""
    type_id = d7_int(params, "entityTypeId", required=False)
    types = [type_id] if type_id else sorted(_VOLATILE_FIELDS)
    return [
        {"entityTypeId": t, "fieldCode": code, "fieldTitle": title}
        for t in types
        for code, title in _VOLATILE_FIELDS.get(t, [])
    ]


def volatile_list(params: dict[str, Any], ctx: CallContext) -> Any:
    """``crm.duplicate.volatileType.list``."""
    rows = _volatile_rows(ctx.store)
    return [{"id": i, "entityTypeId": rows[i]["entityTypeId"], "fieldCode": rows[i]["fieldCode"]} for i in sorted(rows)]


def volatile_register(params: dict[str, Any], ctx: CallContext) -> Any:
    """``crm.duplicate.volatileType.register``: reuse a slot already bound to the field, else the first free one."""
    type_id = d7_int(params, "entityTypeId")
    if "fieldCode" not in params or params["fieldCode"] is None:
        raise d7_error("Could not find value for parameter {fieldCode}")
    code = str(params["fieldCode"])
    if code not in {c for c, _ in _VOLATILE_FIELDS.get(type_id or 0, [])}:
        raise BitrixError.documented("VolatileTypeFieldNotFoundError")
    rows = _volatile_rows(ctx.store)
    for slot, row in rows.items():
        if row["entityTypeId"] == type_id and row["fieldCode"] == code:
            return {"id": slot}
    free = [slot for slot in _VOLATILE_SLOTS if slot not in rows]
    if not free:
        raise BitrixError.documented("VolatileTypeMaxTypesCountExceededError")
    ctx.store.put("volatile", free[0], {"ID": free[0], "entityTypeId": type_id, "fieldCode": code})
    return {"id": free[0]}


def volatile_unregister(params: dict[str, Any], ctx: CallContext) -> Any:
    """``crm.duplicate.volatileType.unregister``."""
    slot = d7_int(params, "id")
    if slot is None or ctx.store.get("volatile", slot) is None:
        raise BitrixError.documented("VolatileTypeNotAssignedError")
    ctx.store.delete("volatile", slot)
    return True


HANDLERS: dict[str, Handler] = {
    "crm.duplicate.findbycomm": findbycomm,
    "crm.entity.mergebatch": merge_batch,
    "crm.duplicate.volatiletype.fields": volatile_fields,
    "crm.duplicate.volatiletype.list": volatile_list,
    "crm.duplicate.volatiletype.register": volatile_register,
    "crm.duplicate.volatiletype.unregister": volatile_unregister,
}
