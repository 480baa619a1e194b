"""Seeds: ``empty`` (a freshly installed portal: default directories only) and ``demo`` (a small realistic
portal: three deal funnels, a smart invoice funnel, a smart process with two funnels, custom stages and
sources, and leads/contacts/companies whose phones and e-mails overlap so findbycomm and mergeBatch have
something to find). ``stage_history=N`` adds N synthetic deal records (computed on demand, see
:mod:`b24crm.testing.methods.stagehistory`), so a million costs nothing up front.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from b24crm.testing.crm.seed import seed_crm
from b24crm.testing.directory import default_items, entity_types, find_entity_type
from b24crm.testing.methods.stagehistory import iso
from b24crm.testing.state import Store

__all__ = ["SEEDS", "add_entity", "seed"]

SEEDS = ("demo", "empty")
_T0_SYNTHETIC = dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp()
_T0_STORED = dt.datetime(2023, 6, 1, 9, 0, tzinfo=dt.UTC).timestamp()
_TABLES = {"LEAD": "lead", "CONTACT": "contact", "COMPANY": "company", "1": "lead", "3": "contact", "4": "company"}


def seed(store: Store, kind: str, stage_history: int = 0, deals: int = 0) -> None:
    """Fill an empty store with the ``kind`` portal (``deals``: synthetic deals 1..N, see crm.store)."""
    if kind not in SEEDS:
        raise ValueError(f"unknown seed {kind!r}; use one of {', '.join(SEEDS)}")
    store.meta_set("crm_mode", 1)
    store.meta_set("deal_categories", [{"id": 0, "name": "General", "sort": 100}])
    if kind == "demo":
        store.meta_set(
            "deal_categories",
            [
                {"id": 0, "name": "General", "sort": 100},
                {"id": 1, "name": "Partners", "sort": 200},
                {"id": 2, "name": "Wholesale", "sort": 300},
            ],
        )
        store.meta_set("smart_invoice_categories", [{"id": 3, "name": "Invoices"}])
        store.meta_set(
            "dynamic_types",
            [
                {
                    "id": 177,
                    "title": "Equipment Purchase",
                    "categories": [
                        {"id": 7, "name": "General", "sort": 500, "is_default": True},
                        {"id": 9, "name": "Second Funnel", "sort": 500, "is_default": False},
                    ],
                }
            ],
        )
    for entity_type in entity_types(store):
        for row in default_items(entity_type):
            store.insert("status", row)
    if kind == "demo":
        _demo_directory(store)
        _demo_entities(store)
        _demo_history(store)
    base = max(store.rows("history"), default=0)
    categories = [int(c["id"]) for c in store.meta_get("deal_categories", [])]
    store.meta_set(
        "synthetic_history", {"base": base, "count": int(stage_history), "t0": _T0_SYNTHETIC, "categories": categories}
    )
    seed_crm(store, kind, deals)
    store.meta_set("seed", kind)
    store.commit()


def _demo_directory(store: Store) -> None:
    extra = [
        ("SOURCE", "TELEGRAM", "Telegram", 130),
        ("SOURCE", "MARKETPLACE", "Marketplace", 140),
        ("DEAL_STAGE_1", "DECISION", "Decision making", 35),
        ("DEAL_STAGE_2", "CONTRACT", "Contract signing", 45),
        ("DEAL_TYPE", "RENEWAL", "Subscription renewal", 60),
    ]
    for entity_id, code, name, sort in extra:
        entity_type = find_entity_type(store, entity_id)
        assert entity_type is not None
        store.insert(
            "status",
            {
                "ENTITY_ID": entity_id,
                "STATUS_ID": entity_type.code(code),
                "NAME": name,
                "NAME_INIT": "",
                "SORT": sort,
                "SYSTEM": "N",
                "CATEGORY_ID": entity_type.category_id if entity_type.prefix else None,
                "COLOR": "#FFA900" if entity_type.has_extra else None,
                "SEMANTICS": "P" if entity_type.has_extra else None,
            },
        )


def _phones(*values: str) -> list[dict[str, Any]]:
    return [{"VALUE": v, "VALUE_TYPE": "WORK"} for v in values]


def _demo_entities(store: Store) -> None:
    companies = [
        {
            "TITLE": "Northwind Traders",
            "COMPANY_TYPE": "CUSTOMER",
            "INDUSTRY": "IT",
            "PHONE": _phones("+1 (555) 010-2000"),
            "EMAIL": _phones("office@northwind.example"),
        },
        {
            "TITLE": "Contoso Ltd",
            "COMPANY_TYPE": "PARTNER",
            "INDUSTRY": "MANUFACTURING",
            "PHONE": _phones("+1 555 010 3000"),
            "EMAIL": _phones("hello@contoso.example"),
        },
        {
            "TITLE": "Fabrikam",
            "COMPANY_TYPE": "SUPPLIER",
            "INDUSTRY": "DELIVERY",
            "PHONE": _phones("+44 20 7946 0000"),
            "EMAIL": _phones("sales@fabrikam.example"),
        },
        {
            "TITLE": "Contoso Ltd",
            "COMPANY_TYPE": "PARTNER",
            "INDUSTRY": "MANUFACTURING",
            "PHONE": _phones("+15550103000"),
            "EMAIL": _phones("HELLO@contoso.example"),
        },
    ]
    contacts = [
        {
            "NAME": "Anna",
            "LAST_NAME": "Schmidt",
            "TYPE_ID": "CLIENT",
            "SOURCE_ID": "CALL",
            "PHONE": _phones("+1 (555) 010-0001"),
            "EMAIL": _phones("anna@example.com"),
        },
        {
            "NAME": "Boris",
            "LAST_NAME": "Ivanov",
            "TYPE_ID": "CLIENT",
            "SOURCE_ID": "WEB",
            "PHONE": _phones("+1 555 010 0002"),
            "EMAIL": _phones("boris@example.com"),
        },
        {
            "NAME": "Chen",
            "LAST_NAME": "Wei",
            "TYPE_ID": "PARTNER",
            "SOURCE_ID": "EMAIL",
            "PHONE": _phones("+1 555 010 0003"),
            "EMAIL": _phones("chen@example.com"),
        },
        {
            "NAME": "Anna",
            "LAST_NAME": "Schmidt",
            "TYPE_ID": "CLIENT",
            "SOURCE_ID": "CALL",
            "PHONE": _phones("15550100001"),
            "EMAIL": _phones(" Anna@Example.com "),
        },
        {
            "NAME": "Dana",
            "LAST_NAME": "Lopez",
            "TYPE_ID": "SUPPLIER",
            "SOURCE_ID": "PARTNER",
            "PHONE": _phones("+1 (555) 010-2000;ext 12"),
            "EMAIL": _phones("dana@northwind.example"),
        },
        {
            "NAME": "Erik",
            "LAST_NAME": "Berg",
            "TYPE_ID": "CLIENT",
            "SOURCE_ID": "CALL",
            "PHONE": _phones("+1 555 010 0002"),
            "EMAIL": _phones("erik@example.com"),
        },
        {
            "NAME": "Fatima",
            "LAST_NAME": "Khan",
            "TYPE_ID": "CLIENT",
            "SOURCE_ID": "TELEGRAM",
            "PHONE": _phones("+1 555 010 0006"),
            "EMAIL": _phones("fatima@example.com"),
        },
        {
            "NAME": "Gustav",
            "LAST_NAME": "Nilsson",
            "TYPE_ID": "OTHER",
            "SOURCE_ID": "WEBFORM",
            "PHONE": _phones("+46 8 123 456"),
            "EMAIL": _phones("gustav@example.se"),
        },
    ]
    leads = [
        {
            "TITLE": "Website enquiry",
            "NAME": "Anna",
            "STATUS_ID": "NEW",
            "SOURCE_ID": "WEB",
            "PHONE": _phones("+1 555 010 0001"),
            "EMAIL": _phones("anna@example.com"),
        },
        {
            "TITLE": "Call back request",
            "NAME": "Hiro",
            "STATUS_ID": "IN_PROCESS",
            "SOURCE_ID": "CALLBACK",
            "PHONE": _phones("+81 3 1234 5678"),
            "EMAIL": _phones("hiro@example.jp"),
        },
        {
            "TITLE": "Trade show contact",
            "NAME": "Chen",
            "STATUS_ID": "PROCESSED",
            "SOURCE_ID": "TRADE_SHOW",
            "PHONE": _phones("+1 555 010 0003"),
            "EMAIL": _phones("chen@example.com"),
        },
        {
            "TITLE": "Partner referral",
            "NAME": "Ivy",
            "STATUS_ID": "NEW",
            "SOURCE_ID": "PARTNER",
            "PHONE": _phones("+1 555 010 0009"),
            "EMAIL": _phones("ivy@example.com"),
        },
        {
            "TITLE": "Spam",
            "NAME": "",
            "STATUS_ID": "JUNK",
            "SOURCE_ID": "EMAIL",
            "PHONE": [],
            "EMAIL": _phones("noreply@spam.example"),
        },
    ]
    for table, rows in (("company", companies), ("contact", contacts), ("lead", leads)):
        for row in rows:
            add_entity(store, table, row)


def add_entity(store: Store, entity_type: str | int, fields: dict[str, Any]) -> int:
    """Store a lead, contact or company (multifields get IDs and TYPE_ID); returns its ID."""
    table = _TABLES.get(str(entity_type).upper())
    if table is None:
        raise ValueError(f"entity_type must be LEAD, CONTACT or COMPANY (or 1, 3, 4), not {entity_type!r}")
    row: dict[str, Any] = {k: v for k, v in fields.items() if k != "ID"}
    now = iso(_T0_STORED)
    row.setdefault("DATE_CREATE", now)
    for kind in ("PHONE", "EMAIL", "WEB", "IM"):
        items = []
        for item in row.get(kind) or []:
            value = item if isinstance(item, dict) else {"VALUE": str(item), "VALUE_TYPE": "WORK"}
            sequence = int(store.meta_get("multifield_seq", 0)) + 1
            store.meta_set("multifield_seq", sequence)
            items.append(
                {
                    "ID": sequence,
                    "VALUE_TYPE": value.get("VALUE_TYPE", "WORK"),
                    "VALUE": str(value.get("VALUE", "")),
                    "TYPE_ID": kind,
                }
            )
        if kind in row:
            row[kind] = items
    return store.insert(table, row)


def _demo_history(store: Store) -> None:
    rows: list[dict[str, Any]] = []
    for lead_id, path in (
        (1, ("NEW",)),
        (2, ("NEW", "IN_PROCESS")),
        (3, ("NEW", "IN_PROCESS", "PROCESSED")),
        (4, ("NEW",)),
        (5, ("NEW", "JUNK")),
    ):
        for step, code in enumerate(path):
            semantic = "F" if code == "JUNK" else "P"
            type_id = 1 if step == 0 else (4 if code == "JUNK" else 2)
            rows.append(
                {
                    "ENTITY_TYPE_ID": 1,
                    "TYPE_ID": type_id,
                    "OWNER_ID": lead_id,
                    "STATUS_SEMANTIC_ID": semantic,
                    "STATUS_ID": code,
                }
            )
    for item_id, path in ((1, ("NEW", "PREPARATION", "SUCCESS")), (2, ("NEW", "FAIL"))):
        for step, code in enumerate(path):
            semantic = {"SUCCESS": "S", "FAIL": "F"}.get(code, "P")
            type_id = 1 if step == 0 else (3 if semantic != "P" else 2)
            rows.append(
                {
                    "ENTITY_TYPE_ID": 177,
                    "TYPE_ID": type_id,
                    "OWNER_ID": item_id,
                    "CATEGORY_ID": 7,
                    "STAGE_SEMANTIC_ID": semantic,
                    "STAGE_ID": f"DT177_7:{code}",
                }
            )
    for number, row in enumerate(rows):
        ts = _T0_STORED + number * 3600
        row["CREATED_TIME"] = iso(ts)
        row["_ts"] = ts
        store.insert("history", row)
