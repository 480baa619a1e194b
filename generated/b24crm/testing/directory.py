"""Directory (``crm.status``) entity types and their default items (docs/protocol.md#crm-status).

Why a module of its own: the entity-type list depends on portal state (deal funnels, smart processes,
smart-invoice funnels), and ``crm.status.*``, the seed and the stage history all need the same answer to
"which ENTITY_IDs exist, what prefix do their STATUS_IDs carry, what is their final stage".
"""

from __future__ import annotations

from typing import Any

import attrs

from b24crm.testing.state import Store

__all__ = ["EntityType", "default_items", "entity_types", "find_entity_type"]


@attrs.frozen
class EntityType:
    """One ENTITY_ID the portal knows."""

    id: str
    name: str
    #: ``C1`` / ``DT177_7`` or "" — STATUS_ID values are stored as ``PREFIX:CODE``.
    prefix: str = ""
    entity_type_id: int | None = None
    category_id: int | None = None
    #: ``lead`` | ``deal`` | ``quote`` | ``dynamic`` | ``plain`` — decides EXTRA, semantics and defaults.
    kind: str = "plain"
    category_name: str | None = None
    category_sort: int | None = None
    is_default_category: bool | None = None

    @property
    def has_extra(self) -> bool:
        """``EXTRA`` is added only for lead, quote and deal stages."""
        return self.kind in ("lead", "deal", "quote")

    @property
    def status_id_limit(self) -> tuple[int, bool]:
        """(max length, restricted to ``[0-9A-Z_-]``) for STATUS_ID, prefix included."""
        if self.id == "STATUS":
            return 21, True
        if self.id in ("QUOTE_STATUS", "DEAL_STAGE"):
            return 22, True
        if self.kind == "deal":
            return 22, True
        return 50, False

    def code(self, code: str) -> str:
        """Apply the prefix: strip any ``xxx:`` and prepend this type's ``PREFIX:``."""
        bare = code.split(":", 1)[1] if ":" in code else code
        return f"{self.prefix}:{bare}" if self.prefix else bare

    def descriptor(self) -> dict[str, Any]:
        """The ``crm.status.entity.types`` row."""
        row: dict[str, Any] = {"ID": self.id, "NAME": self.name}
        if self.kind in ("lead", "deal", "quote"):
            start, success, failure = _FINALS[self.kind]
            if self.id.startswith("DEAL_STAGE_"):
                row["PARENT_ID"] = "DEAL_STAGE"
            row["SEMANTIC_INFO"] = {
                "START_FIELD": self.code(start) if self.prefix else start,
                "FINAL_SUCCESS_FIELD": self.code(success) if self.prefix else success,
                "FINAL_UNSUCCESS_FIELD": self.code(failure) if self.prefix else failure,
                "FINAL_SORT": 0,
            }
            if self.kind == "deal":
                if self.prefix:
                    row["PREFIX"] = self.prefix
                row["FIELD_ATTRIBUTE_SCOPE"] = f"category_{self.category_id}" if self.category_id else ""
                row["ENTITY_TYPE_ID"] = 2
                # The docs' example carries "1" (a string) for non-default funnels and 0 for the default one.
                row["CATEGORY_ID"] = str(self.category_id) if self.category_id else 0
            else:
                row["ENTITY_TYPE_ID"] = self.entity_type_id
        elif self.kind == "dynamic":
            row["SEMANTIC_INFO"] = []
            row["PREFIX"] = self.prefix
            row["FIELD_ATTRIBUTE_SCOPE"] = f"category_{self.category_id}"
            row["ENTITY_TYPE_ID"] = self.entity_type_id
            row["IS_ENABLED"] = True
            row["CATEGORY_ID"] = self.category_id
            if self.category_name is not None:
                row["CATEGORY_NAME"] = self.category_name
                row["CATEGORY_SORT"] = self.category_sort
                row["IS_DEFAULT_CATEGORY"] = self.is_default_category
        return row

    def semantics_word(self, status_id: str, sort: int, final_sort: int | None) -> str:
        """``EXTRA.SEMANTICS``: success/failure by code, else apology above the final SORT, else process."""
        _, success, failure = _FINALS.get(self.kind, ("", "", ""))
        bare = status_id.split(":", 1)[1] if ":" in status_id else status_id
        if bare == success:
            return "success"
        if bare == failure:
            return "failure"
        if final_sort is not None and sort > final_sort:
            return "apology"
        return "process"

    def success_code(self) -> str | None:
        """The STATUS_ID of the final successful stage (lead, deal, quote), prefix applied."""
        if self.kind not in _FINALS:
            return None
        return self.code(_FINALS[self.kind][1])


_FINALS = {
    "lead": ("NEW", "CONVERTED", "JUNK"),
    "deal": ("NEW", "WON", "LOSE"),
    "quote": ("DRAFT", "APPROVED", "DECLAINED"),
}

# (STATUS_ID, NAME, SORT, SYSTEM, SEMANTICS, COLOR)
_Item = tuple[str, str, int, str, str | None, str]
_DEFAULTS: dict[str, list[_Item]] = {
    "STATUS": [
        ("NEW", "Unassigned", 10, "Y", None, "#39A8EF"),
        ("IN_PROCESS", "In Progress", 20, "N", None, "#2FC6F6"),
        ("PROCESSED", "Processed", 30, "N", None, "#55D0E0"),
        ("CONVERTED", "Good lead", 40, "Y", "S", "#7BD500"),
        ("JUNK", "Junk lead", 50, "Y", "F", "#FF5752"),
    ],
    "DEAL_STAGE": [
        ("NEW", "New", 10, "Y", None, "#39A8EF"),
        ("PREPARATION", "Document Preparation", 20, "N", None, "#2FC6F6"),
        ("PREPAYMENT_INVOICE", "Prepayment Invoice", 30, "N", None, "#55D0E0"),
        ("EXECUTING", "In Progress", 40, "N", None, "#47E4C2"),
        ("FINAL_INVOICE", "Final Invoice", 50, "N", None, "#FFA900"),
        ("WON", "Deal Won", 60, "Y", "S", "#7BD500"),
        ("LOSE", "Deal Lost", 70, "Y", "F", "#FF5752"),
        ("APOLOGY", "Analyzing Cause of Loss", 80, "N", "F", "#FF5752"),
    ],
    "QUOTE_STATUS": [
        ("DRAFT", "New", 10, "Y", None, "#39A8EF"),
        ("SENT", "Sent to customer", 20, "N", None, "#2FC6F6"),
        ("APPROVED", "Approved", 30, "Y", "S", "#7BD500"),
        ("DECLAINED", "Declined", 40, "Y", "F", "#FF5752"),
        ("APOLOGY", "Analyze failure", 50, "N", "F", "#FF5752"),
    ],
    "SOURCE": [
        ("CALL", "Call", 10, "Y", None, ""),
        ("EMAIL", "E-Mail", 20, "N", None, ""),
        ("WEB", "Website", 30, "N", None, ""),
        ("ADVERTISING", "Advertising", 40, "N", None, ""),
        ("PARTNER", "Existing client", 50, "N", None, ""),
        ("RECOMMENDATION", "By recommendation", 60, "N", None, ""),
        ("TRADE_SHOW", "Show/Exhibition", 70, "N", None, ""),
        ("WEBFORM", "CRM form", 80, "Y", None, ""),
        ("CALLBACK", "Callback", 90, "Y", None, ""),
        ("RC_GENERATOR", "Sales boost", 100, "Y", None, ""),
        ("STORE", "Online Store", 110, "Y", None, ""),
        ("REPEAT_SALE", "Repeat sale", 115, "Y", None, ""),
        ("BOOKING", "Booking", 117, "Y", None, ""),
        ("OTHER", "Other", 120, "N", None, ""),
    ],
    "CONTACT_TYPE": [
        ("CLIENT", "Clients", 10, "N", None, ""),
        ("SUPPLIER", "Suppliers", 20, "N", None, ""),
        ("PARTNER", "Partners", 30, "N", None, ""),
        ("OTHER", "Other", 40, "N", None, ""),
    ],
    "COMPANY_TYPE": [
        ("CUSTOMER", "Client", 10, "N", None, ""),
        ("SUPPLIER", "Supplier", 20, "N", None, ""),
        ("COMPETITOR", "Competitor", 30, "N", None, ""),
        ("PARTNER", "Partner", 40, "N", None, ""),
        ("OTHER", "Other", 50, "N", None, ""),
    ],
    "EMPLOYEES": [
        ("EMPLOYEES_1", "less than 50", 10, "Y", None, ""),
        ("EMPLOYEES_2", "50-250", 20, "N", None, ""),
        ("EMPLOYEES_3", "250-500", 30, "N", None, ""),
        ("EMPLOYEES_4", "over 500", 40, "N", None, ""),
    ],
    "INDUSTRY": [
        ("IT", "Information Technology", 10, "N", None, ""),
        ("TELECOM", "Telecommunication", 20, "N", None, ""),
        ("MANUFACTURING", "Manufacturing", 30, "N", None, ""),
        ("BANKING", "Banking Services", 40, "N", None, ""),
        ("CONSULTING", "Consulting", 50, "N", None, ""),
        ("FINANCE", "Finance", 60, "N", None, ""),
        ("GOVERNMENT", "Government", 70, "N", None, ""),
        ("DELIVERY", "Delivery", 80, "N", None, ""),
        ("ENTERTAINMENT", "Entertainment", 90, "N", None, ""),
        ("NOTPROFIT", "Not for profit", 100, "N", None, ""),
        ("OTHER", "Other", 110, "N", None, ""),
    ],
    "DEAL_TYPE": [
        ("SALE", "Sales", 10, "N", None, ""),
        ("COMPLEX", "Complex sale", 20, "N", None, ""),
        ("GOODS", "Merchandise sales", 30, "N", None, ""),
        ("SERVICES", "Services sale", 40, "N", None, ""),
        ("SERVICE", "After-sales service", 50, "N", None, ""),
    ],
    "HONORIFIC": [
        ("HNR_EN_1", "Mr.", 10, "N", None, ""),
        ("HNR_EN_2", "Mrs.", 20, "N", None, ""),
        ("HNR_EN_3", "Ms.", 30, "N", None, ""),
        ("HNR_EN_4", "Dr.", 40, "N", None, ""),
    ],
    "CALL_LIST": [
        ("IN_WORK", "In progress", 10, "Y", None, ""),
        ("SUCCESS", "Successful", 20, "Y", None, ""),
        ("WRONG_NUMBER", "Wrong number", 30, "Y", None, ""),
        ("STOP_CALLING", "Do not call", 40, "Y", None, ""),
    ],
    "DYNAMIC": [
        ("NEW", "New", 10, "Y", "P", "#39A8EF"),
        ("PREPARATION", "Preparation", 20, "N", "P", "#2FC6F6"),
        ("CLIENT", "Client", 30, "N", "P", "#55D0E0"),
        ("SUCCESS", "Success", 40, "Y", "S", "#7BD500"),
        ("FAIL", "Fail", 50, "Y", "F", "#FF5752"),
    ],
    "SMART_INVOICE": [
        ("N", "New", 10, "Y", "P", "#39A8EF"),
        ("S", "Sent", 20, "N", "P", "#2FC6F6"),
        ("P", "Paid", 30, "Y", "S", "#7BD500"),
        ("D", "Declined", 40, "Y", "F", "#FF5752"),
    ],
}


def entity_types(store: Store) -> list[EntityType]:
    """Every ENTITY_ID of the portal, in the order ``crm.status.entity.types`` lists them."""
    deal_categories: list[dict[str, Any]] = store.meta_get("deal_categories", [])
    dynamic_types: list[dict[str, Any]] = store.meta_get("dynamic_types", [])
    invoice_categories: list[dict[str, Any]] = store.meta_get("smart_invoice_categories", [])
    types: list[EntityType] = [
        EntityType("STATUS", "Lead stages", entity_type_id=1, kind="lead"),
        EntityType("SOURCE", "Sources"),
        EntityType("CONTACT_TYPE", "Contact type"),
        EntityType("COMPANY_TYPE", "Company type"),
        EntityType("EMPLOYEES", "Number of employees"),
        EntityType("INDUSTRY", "Industry"),
        EntityType("DEAL_TYPE", "Deal type"),
    ]
    for cat in invoice_categories:
        types.append(
            EntityType(
                f"SMART_INVOICE_STAGE_{cat['id']}",
                "Invoice stages",
                prefix=f"DT31_{cat['id']}",
                entity_type_id=31,
                category_id=int(cat["id"]),
                kind="dynamic",
            )
        )
    for cat in deal_categories:
        if int(cat["id"]) == 0:
            continue
        types.append(
            EntityType(
                f"DEAL_STAGE_{cat['id']}",
                f"{cat['name']} deal stages",
                prefix=f"C{cat['id']}",
                entity_type_id=2,
                category_id=int(cat["id"]),
                kind="deal",
            )
        )
    types += [
        EntityType("DEAL_STAGE", "General deal stages", entity_type_id=2, category_id=0, kind="deal"),
        EntityType("QUOTE_STATUS", "Quote stages", entity_type_id=7, kind="quote"),
        EntityType("HONORIFIC", "Honorifics"),
        EntityType("CALL_LIST", "Call statuses"),
    ]
    for dyn in dynamic_types:
        for cat in dyn["categories"]:
            types.append(
                EntityType(
                    f"DYNAMIC_{dyn['id']}_STAGE_{cat['id']}",
                    f"{dyn['title']} ({cat['name']})",
                    prefix=f"DT{dyn['id']}_{cat['id']}",
                    entity_type_id=int(dyn["id"]),
                    category_id=int(cat["id"]),
                    kind="dynamic",
                    category_name=cat["name"],
                    category_sort=int(cat.get("sort", 500)),
                    is_default_category=bool(cat.get("is_default", False)),
                )
            )
    return types


def find_entity_type(store: Store, entity_id: str) -> EntityType | None:
    """The EntityType named ``entity_id`` (exact, upper case), or None."""
    for entity_type in entity_types(store):
        if entity_type.id == entity_id:
            return entity_type
    return None


def default_items(entity_type: EntityType) -> list[dict[str, Any]]:
    """The seeded rows (SYSTEM flags, SORT, SEMANTICS) an install creates for ``entity_type``."""
    if entity_type.kind == "deal":
        key = "DEAL_STAGE"
    elif entity_type.kind == "dynamic":
        key = "SMART_INVOICE" if entity_type.entity_type_id == 31 else "DYNAMIC"
    else:
        key = entity_type.id
    rows = []
    for code, name, sort, system, semantics, color in _DEFAULTS.get(key, []):
        rows.append(
            {
                "ENTITY_ID": entity_type.id,
                "STATUS_ID": entity_type.code(code),
                "NAME": name,
                "NAME_INIT": name if system == "Y" else "",
                "SORT": sort,
                "SYSTEM": system,
                "CATEGORY_ID": entity_type.category_id if entity_type.prefix else None,
                "COLOR": color or None,
                "SEMANTICS": semantics,
            }
        )
    return rows
