"""``crm.enum.*``, ``crm.multifield.fields`` and ``crm.settings.mode.get``: static tables from the docs.

Values are typed (ints) as the docs' examples show; the legacy activity enums include ``ID 0`` with an
empty NAME (docs/protocol.md#crm-enums). ``crm.enum.ownertype`` adds the portal's smart processes from state.
"""

from __future__ import annotations

from typing import Any

from b24crm.testing.api import CallContext, Handler

__all__ = ["HANDLERS", "ownertypes"]


def _items(*pairs: tuple[int, str]) -> list[dict[str, Any]]:
    return [{"ID": i, "NAME": n, "SYMBOL_CODE": None, "SYMBOL_CODE_SHORT": None} for i, n in pairs]


def _field(kind: str, title: str, read_only: bool = True) -> dict[str, Any]:
    return {
        "type": kind,
        "isRequired": False,
        "isReadOnly": read_only,
        "isImmutable": False,
        "isMultiple": False,
        "isDynamic": False,
        "title": title,
    }


_STATIC: dict[str, Any] = {
    "crm.enum.fields": {
        "ID": _field("int", "ID"),
        "NAME": _field("string", "Name"),
        "SYMBOL_CODE": _field("string", "Symbol Code"),
        "SYMBOL_CODE_SHORT": _field("string", "Short Symbol Code"),
    },
    "crm.multifield.fields": {
        "ID": _field("int", "ID"),
        "TYPE_ID": _field("string", "Field Type"),
        "VALUE": _field("string", "Value", read_only=False),
        "VALUE_TYPE": _field("string", "Value Type", read_only=False),
    },
    "crm.enum.getorderownertypes": [{"attribute": "DYN", "code": "DEAL", "id": 2, "name": "Deal"}],
    "crm.enum.addresstype": _items(
        (11, "Delivery Address"),
        (1, "Actual Address"),
        (6, "Legal Address"),
        (4, "Registration Address"),
        (8, "Correspondence Address"),
        (9, "Beneficiary Address"),
    ),
    "crm.enum.settings.mode": _items((1, "Classic CRM"), (2, "Simple CRM")),
    "crm.enum.activitytype": _items(
        (0, ""), (1, "Meeting"), (2, "Call"), (3, "Task"), (4, "E-mail"), (5, "Action"), (6, "Custom Action")
    ),
    "crm.enum.activitydirection": _items((0, ""), (1, "Incoming"), (2, "Outgoing")),
    "crm.enum.activitypriority": _items((0, ""), (1, "low"), (2, "medium"), (3, "high")),
    "crm.enum.activitynotifytype": _items((0, ""), (1, "min."), (2, "hr."), (3, "day.")),
    "crm.enum.contenttype": _items((0, ""), (1, "Plain text"), (2, "bbCode"), (3, "HTML")),
    "crm.enum.activitystatus": _items((0, ""), (1, "Pending"), (2, "Completed"), (3, "Automatically completed")),
}

_OWNER_TYPES: list[tuple[int, str, str, str]] = [
    (1, "Lead", "LEAD", "L"),
    (2, "Deal", "DEAL", "D"),
    (3, "Contact", "CONTACT", "C"),
    (4, "Company", "COMPANY", "CO"),
    (5, "Invoice (old version)", "INVOICE", "I"),
    (31, "Invoice", "SMART_INVOICE", "SI"),
    (7, "Estimate", "QUOTE", "Q"),
    (8, "Requisites", "REQUISITE", "RQ"),
    (36, "Document", "SMART_DOCUMENT", "DO"),
    (39, "Company Document", "SMART_B2E_DOC", "SBD"),
]


def ownertypes(ctx: CallContext) -> list[dict[str, Any]]:
    """Owner types, smart processes last (``DYNAMIC_<id>`` / ``T<hex id>``)."""
    rows = [{"ID": i, "NAME": n, "SYMBOL_CODE": c, "SYMBOL_CODE_SHORT": s} for i, n, c, s in _OWNER_TYPES]
    for dyn in ctx.store.meta_get("dynamic_types", []):
        type_id = int(dyn["id"])
        rows.append(
            {
                "ID": type_id,
                "NAME": dyn["title"],
                "SYMBOL_CODE": f"DYNAMIC_{type_id}",
                "SYMBOL_CODE_SHORT": f"T{type_id:x}",
            }
        )
    return rows


def _static(name: str) -> Handler:
    def handler(params: dict[str, Any], ctx: CallContext) -> Any:
        return _STATIC[name]

    handler.__doc__ = f"``{name}``: a static table."
    return handler


def settings_mode_get(params: dict[str, Any], ctx: CallContext) -> Any:
    """``crm.settings.mode.get``: 1 classic (with leads), 2 simple."""
    return int(ctx.store.meta_get("crm_mode", 1))


HANDLERS: dict[str, Handler] = {name: _static(name) for name in _STATIC}
HANDLERS["crm.enum.ownertype"] = lambda params, ctx: ownertypes(ctx)
HANDLERS["crm.settings.mode.get"] = settings_mode_get
