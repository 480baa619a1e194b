"""Funnels (categories), smart-process types and their stage directories, as portal metadata.

Why metadata and the ``status`` table: :mod:`b24crm.testing.directory` already derives every
``crm.status`` ENTITY_ID from the ``deal_categories`` / ``smart_invoice_categories`` / ``dynamic_types``
metadata, so a funnel created here is at once a directory ``crm.status.list`` shows, and a deal's stage is
valid exactly when it is a ``STATUS_ID`` of its funnel's directory (``DEAL_STAGE`` for funnel 0,
``DEAL_STAGE_<id>`` otherwise).
"""

from __future__ import annotations

from typing import Any

from b24crm.testing.directory import default_items, find_entity_type
from b24crm.testing.state import Store

__all__ = [
    "BadStage",
    "add_category",
    "categories",
    "category_exists",
    "category_of_stage",
    "default_category",
    "directory_id",
    "has_categories",
    "has_stages",
    "is_dynamic",
    "remove_directory",
    "stages",
]

_META = {2: "deal_categories", 31: "smart_invoice_categories"}


class BadStage(ValueError):
    """A stage or funnel that does not exist for the object; carries the canonical field name."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def is_dynamic(store: Store, entity_type_id: int) -> bool:
    """Whether a smart-process type with this entityTypeId exists."""
    types = store.meta_peek("dynamic_types") or []
    return any(int(t["id"]) == entity_type_id for t in types)


def has_categories(store: Store, entity_type_id: int) -> bool:
    """Deals, smart invoices and smart processes have funnels."""
    return entity_type_id in _META or is_dynamic(store, entity_type_id)


def has_stages(store: Store, entity_type_id: int) -> bool:
    """Leads (STATUS), quotes (QUOTE_STATUS) and every type with funnels."""
    return entity_type_id in (1, 7) or (
        has_categories(store, entity_type_id) and bool(categories(store, entity_type_id))
    )


def categories(store: Store, entity_type_id: int) -> list[dict[str, Any]]:
    """The funnels of a type as ``{"id", "name", "sort", "isDefault"}`` (bool), in stored order."""
    if entity_type_id in _META:
        rows = store.meta_peek(_META[entity_type_id]) or []
        first = min((int(r["id"]) for r in rows), default=None)
        return [
            {
                "id": int(r["id"]),
                "name": r["name"],
                "sort": int(r.get("sort", 500)),
                "isDefault": bool(r.get("is_default", int(r["id"]) == (0 if entity_type_id == 2 else first))),
            }
            for r in rows
        ]
    for dyn in store.meta_peek("dynamic_types") or []:
        if int(dyn["id"]) == entity_type_id:
            return [
                {
                    "id": int(c["id"]),
                    "name": c["name"],
                    "sort": int(c.get("sort", 500)),
                    "isDefault": bool(c.get("is_default", False)),
                }
                for c in dyn["categories"]
            ]
    return []


def default_category(store: Store, entity_type_id: int) -> int:
    """The default funnel's ID (0 for deals)."""
    found = categories(store, entity_type_id)
    for cat in found:
        if cat["isDefault"]:
            return int(cat["id"])
    return int(found[0]["id"]) if found else 0


def category_exists(store: Store, entity_type_id: int, category_id: int) -> bool:
    return any(c["id"] == category_id for c in categories(store, entity_type_id))


def directory_id(entity_type_id: int, category_id: int | None) -> str | None:
    """The ``crm.status`` ENTITY_ID holding the stages of one funnel (None for types without stages)."""
    if entity_type_id == 1:
        return "STATUS"
    if entity_type_id == 7:
        return "QUOTE_STATUS"
    if entity_type_id == 2:
        return f"DEAL_STAGE_{category_id}" if category_id else "DEAL_STAGE"
    if entity_type_id == 31:
        return f"SMART_INVOICE_STAGE_{category_id}"
    if category_id is None:
        return None
    return f"DYNAMIC_{entity_type_id}_STAGE_{category_id}"


def stages(store: Store, entity_type_id: int, category_id: int | None) -> dict[str, str]:
    """STATUS_ID -> semantic (``P``/``S``/``F``) of a funnel's stages, by SORT."""
    entity_id = directory_id(entity_type_id, category_id)
    if entity_id is None:
        return {}
    rows = [r for r in store.rows("status").values() if r.get("ENTITY_ID") == entity_id]
    rows.sort(key=lambda r: (int(r.get("SORT") or 0), int(r["ID"])))
    return {str(r["STATUS_ID"]): (str(r["SEMANTICS"]) if r.get("SEMANTICS") in ("S", "F") else "P") for r in rows}


def category_of_stage(store: Store, entity_type_id: int, stage: str) -> int | None:
    """The funnel a prefixed stage (``C2:NEW``, ``DT177_9:NEW``) belongs to, when the prefix says so."""
    for cat in categories(store, entity_type_id):
        if stage in stages(store, entity_type_id, int(cat["id"])):
            return int(cat["id"])
    return None


def _next_category_id(store: Store) -> int:
    """Category IDs are unique across all types (one table on the server)."""
    ids = [int(c["id"]) for key in _META.values() for c in store.meta_peek(key) or []]
    ids += [int(c["id"]) for dyn in store.meta_peek("dynamic_types") or [] for c in dyn["categories"]]
    return max(ids, default=0) + 1


def add_category(store: Store, entity_type_id: int, name: str, sort: int, is_default: bool) -> int:
    """Create a funnel and its stage directory with the default stages; returns the new ID."""
    new_id = _next_category_id(store)
    entry: dict[str, Any] = {"id": new_id, "name": name, "sort": sort}
    if entity_type_id in _META:
        rows = list(store.meta_get(_META[entity_type_id], []))
        rows.append(entry)
        store.meta_set(_META[entity_type_id], rows)
    else:
        types = store.meta_get("dynamic_types", [])
        for dyn in types:
            if int(dyn["id"]) == entity_type_id:
                if is_default:
                    for cat in dyn["categories"]:
                        cat["is_default"] = False
                entry["is_default"] = is_default or not dyn["categories"]
                dyn["categories"].append(entry)
        store.meta_set("dynamic_types", types)
    entity_id = directory_id(entity_type_id, new_id)
    entity_type = find_entity_type(store, entity_id or "")
    if entity_type is not None:
        for row in default_items(entity_type):
            store.insert("status", row)
    return new_id


def remove_directory(store: Store, entity_type_id: int, category_id: int) -> None:
    """Drop a funnel's stage rows (the funnel itself is removed from metadata by the caller)."""
    entity_id = directory_id(entity_type_id, category_id)
    for row_id, row in list(store.rows("status").items()):
        if row.get("ENTITY_ID") == entity_id:
            store.delete("status", row_id)
