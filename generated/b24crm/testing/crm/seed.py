"""CRM objects for the seeds: demo deals moved through their funnels, and ``deals=N`` synthetic deals.

Why through :class:`~b24crm.testing.crm.store.Objects`: demo deals are made and moved exactly as
``crm.deal.add``/``update`` would do it, so their stage history, stage semantics and funnel checks are the
real code paths' output, not a second hand-written copy of them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from b24crm.testing.crm import funnels
from b24crm.testing.crm.fields import schema_for
from b24crm.testing.crm.store import objects, table_for
from b24crm.testing.state import Store

__all__ = ["seed_crm"]

_T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp()
#: (title, funnel, amount, contact, company, stage path after the first stage)
_DEMO_DEALS: tuple[tuple[str, int, float, int | None, int | None, tuple[str, ...]], ...] = (
    ("Website redesign", 0, 12000.0, 1, 1, ("PREPARATION", "EXECUTING", "WON")),
    ("Support contract", 0, 4800.0, 2, 2, ("PREPARATION",)),
    ("Hardware refresh", 0, 56000.0, 3, 3, ("PREPARATION", "LOSE")),
    ("Consulting hours", 0, 2500.0, 5, 1, ()),
    ("Partner onboarding", 1, 9000.0, 3, 2, ("C1:PREPARATION", "C1:DECISION")),
    ("Reseller licence", 1, 15000.0, 7, None, ("C1:WON",)),
    ("Bulk order Q1", 2, 87000.0, None, 3, ("C2:PREPARATION", "C2:CONTRACT", "C2:WON")),
    ("Bulk order Q2", 2, 91000.0, None, 3, ("C2:PREPARATION",)),
    ("Spare parts", 2, 3100.0, 8, 4, ("C2:LOSE",)),
)


def seed_crm(store: Store, kind: str, deals: int) -> None:
    """After the directory seed: reserve the synthetic ID ranges, then add the demo deals."""
    seq: dict[str, int] = store.meta_get("seq", {})
    synthetic_history = store.meta_get("synthetic_history") or {}
    seq["history"] = max(
        seq.get("history", 0),
        int(synthetic_history.get("base", 0)) + int(synthetic_history.get("count", 0)),
        max(store.rows("history"), default=0),
    )
    if deals:
        pipes: list[list[Any]] = []
        for cat in funnels.categories(store, 2):
            stages = funnels.stages(store, 2, int(cat["id"]))
            pipes.append([int(cat["id"]), [[s, m] for s, m in stages.items()]])
        store.meta_set("synthetic_deals", {"count": int(deals), "funnels": pipes, "t0": _T0})
        seq["deal"] = max(seq.get("deal", 0), int(deals))
        known = store.meta_get("crm_user_fields", {})
        known["2"] = sorted({*known.get("2", []), "UF_CRM_1700000000"})
        store.meta_set("crm_user_fields", known)
    store.meta_set("seq", seq)
    if kind != "demo":
        return
    # The seed's leads, contacts and companies (testing/seed.py) get what the store gives every object:
    # owner and editor, OPENED, the modification date, and a lead its status' semantics.
    lead_stages = funnels.stages(store, 1, None)
    for table in ("lead", "contact", "company"):
        for row_id, row in list(store.rows(table).items()):
            full = {"CREATED_BY_ID": 1, "MODIFY_BY_ID": 1, "ASSIGNED_BY_ID": 1, "OPENED": True, **row}
            full.setdefault("DATE_MODIFY", full.get("DATE_CREATE"))
            if table == "lead":
                full["STATUS_SEMANTIC_ID"] = lead_stages.get(str(full.get("STATUS_ID")), "P")
            store.put(table, row_id, full)
    # The two "Equipment Purchase" items the demo's stage history already tells about (see testing/seed.py).
    for title, stage, semantic in (("Laser cutter", "DT177_7:SUCCESS", "S"), ("3D printer", "DT177_7:FAIL", "F")):
        row = {"TITLE": title, "CATEGORY_ID": 7, "STAGE_ID": stage, "STAGE_SEMANTIC_ID": semantic, "OPENED": True}
        store.insert(table_for(177), {**row, "CREATED_BY": 1, "UPDATED_BY": 1, "ASSIGNED_BY_ID": 1})
    objs = objects(store)
    schema = schema_for(2)
    for title, category, amount, contact, company, path in _DEMO_DEALS:
        values: dict[str, Any] = {"TITLE": title, "CATEGORY_ID": category, "OPPORTUNITY": amount}
        if contact is not None and store.get("contact", contact) is not None:
            values["CONTACT_ID"] = contact
        if company is not None and store.get("company", company) is not None:
            values["COMPANY_ID"] = company
        deal_id = objs.add(schema, values, 1)
        for stage in path:
            objs.update(schema, deal_id, {"STAGE_ID": stage}, 1)
