"""One store of CRM objects over the portal :class:`~b24crm.testing.state.Store`, for both APIs.

Why here and not in the handlers: ``crm.deal.add`` and ``crm.item.add(entityTypeId=2)`` must create the same
deal, with the same stage checks and the same stage-history record, and ``crm.duplicate.findbycomm`` /
``crm.entity.mergeBatch`` must see the contacts ``crm.contact.add`` made. So leads, deals, contacts and
companies live in the ``lead``/``deal``/``contact``/``company`` tables the duplicate methods already read,
every other type in ``item_<entityTypeId>``, all keyed by canonical (UPPER_CASE) field names, and every
write goes through :class:`Objects`.

Large data: ``deals=N`` makes deals 1..N *synthetic* — deal ``i`` is computed from ``i`` and the funnels the
seed saw (:class:`SyntheticDeals`), stored only once it is changed (an overlay row) or deleted (a
tombstone) — so 100,000 deals cost a few MB and no seeding time, and survive ``--state`` as one meta key.
A sorted ID array per table (rebuilt when the table's size or largest ID changes; IDs only grow) gives ID
ranges by bisection, so the count-free ``>ID`` export reads one page per request.
"""

from __future__ import annotations

import bisect
import datetime as dt
from array import array
from collections.abc import Iterator
from typing import Any
from weakref import WeakKeyDictionary

import attrs

from b24crm.testing.crm import funnels
from b24crm.testing.crm.fields import MULTIFIELDS, Schema, is_user_field, now_iso, parse_time
from b24crm.testing.state import Store

__all__ = ["Objects", "SyntheticDeals", "objects", "register_table", "table_for"]

Row = dict[str, Any]
_TABLES = {1: "lead", 2: "deal", 3: "contact", 4: "company"}
#: Entity types whose stage moves ``crm.stagehistory.list`` reports (see ``stagehistory.fields_for``).
_HISTORY_TYPES = {1, 2, 31}
_TOMBSTONES = "deal_deleted"


#: Tables of families known only from the spec (see :mod:`families`), by their pseudo entity type ID.
_FAMILY_TABLES: dict[int, str] = {}


def table_for(entity_type_id: int) -> str:
    """The state table of an entity type."""
    return _TABLES.get(entity_type_id) or _FAMILY_TABLES.get(entity_type_id) or f"item_{entity_type_id}"


def register_table(entity_type_id: int, table: str) -> None:
    """Give a spec-only family (pseudo entity type ID) its own table."""
    _FAMILY_TABLES[entity_type_id] = table


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


@attrs.frozen
class SyntheticDeals:
    """Deals ``1..count`` computed on demand; ``funnels`` = ((category, ((stage, semantic), ...)), ...)."""

    count: int
    funnels: tuple[tuple[int, tuple[tuple[str, str], ...]], ...]
    t0: float

    @classmethod
    def from_store(cls, store: Store) -> SyntheticDeals | None:
        meta = store.meta_get("synthetic_deals")
        if not meta or not meta.get("count"):
            return None
        pipes = tuple((int(c), tuple((str(s), str(m)) for s, m in stages)) for c, stages in meta["funnels"])
        return cls(int(meta["count"]), pipes, float(meta["t0"]))

    def row(self, deal_id: int) -> Row:
        """Deal ``deal_id``: funnels in turn, stages spread over each funnel, amounts and dates from the ID."""
        category, stages = self.funnels[deal_id % len(self.funnels)]
        stage, semantic = stages[(deal_id // len(self.funnels)) % len(stages)]
        created = _iso(self.t0 + deal_id * 60)
        return {
            "ID": deal_id,
            "TITLE": f"Deal #{deal_id}",
            "TYPE_ID": "SALE",
            "CATEGORY_ID": category,
            "STAGE_ID": stage,
            "STAGE_SEMANTIC_ID": semantic,
            "CLOSED": semantic != "P",
            "OPENED": True,
            "CURRENCY_ID": "USD",
            "OPPORTUNITY": float(deal_id * 7919 % 100_000),
            "IS_MANUAL_OPPORTUNITY": False,
            "ASSIGNED_BY_ID": 1 + deal_id % 5,
            "CREATED_BY_ID": 1,
            "MODIFY_BY_ID": 1,
            "SOURCE_ID": ("CALL", "EMAIL", "WEB")[deal_id % 3],
            "DATE_CREATE": created,
            "DATE_MODIFY": created,
            "BEGINDATE": created,
            "UF_CRM_1700000000": f"EXT-{deal_id:06d}",
        }


class Objects:
    """CRUD over the object tables, with the funnel/stage rules and stage history applied on write."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ids: dict[str, tuple[tuple[int, int, int], array[int]]] = {}
        self._synth_meta: Any = None
        self._synth: SyntheticDeals | None = None

    # -- reading ----------------------------------------------------------------------------------------
    def synthetic(self, entity_type_id: int) -> SyntheticDeals | None:
        """The synthetic deals (cached on the identity of their meta value, which every write replaces)."""
        if entity_type_id != 2:
            return None
        meta = self.store.meta_peek("synthetic_deals")
        if meta is not self._synth_meta:
            self._synth_meta = meta
            self._synth = SyntheticDeals.from_store(self.store)
        return self._synth

    def ids(self, entity_type_id: int) -> array[int]:
        """Live IDs in ascending order (cached until the table's size or largest ID changes)."""
        table = table_for(entity_type_id)
        rows = self.store.rows(table)
        synth = self.synthetic(entity_type_id)
        dead = self.store.rows(_TOMBSTONES) if synth else {}
        key = (len(rows), self.store.top_id(table), (synth.count if synth else 0) * 1_000_003 + len(dead))
        cached = self._ids.get(table)
        if cached is not None and cached[0] == key:
            return cached[1]
        if synth is None:
            ids = array("q", sorted(rows))
        else:
            ids = array("q", (i for i in range(1, synth.count + 1) if i not in dead))
            ids.extend(sorted(i for i in rows if i > synth.count))
        self._ids[table] = (key, ids)
        return ids

    def get(self, entity_type_id: int, object_id: int) -> Row | None:
        """The stored row (do not mutate it), or None."""
        row = self.store.get(table_for(entity_type_id), object_id)
        if row is not None:
            return row
        synth = self.synthetic(entity_type_id)
        if synth and 1 <= object_id <= synth.count and self.store.get(_TOMBSTONES, object_id) is None:
            return synth.row(object_id)
        return None

    def scan(self, entity_type_id: int, lo: int, hi: int, desc: bool = False) -> Iterator[Row]:
        """Rows with ``lo <= ID <= hi`` in ID order."""
        ids = self.ids(entity_type_id)
        start, stop = bisect.bisect_left(ids, lo), bisect.bisect_right(ids, hi)
        positions = range(stop - 1, start - 1, -1) if desc else range(start, stop)
        for position in positions:
            row = self.get(entity_type_id, ids[position])
            if row is not None:
                yield row

    def id_window(self, entity_type_id: int, lo: int, hi: int) -> tuple[array[int], int, int]:
        """The sorted IDs and the positions ``[first, stop)`` of those in ``lo..hi`` (no copy)."""
        ids = self.ids(entity_type_id)
        return ids, bisect.bisect_left(ids, lo), bisect.bisect_right(ids, hi)

    def user_fields(self, entity_type_id: int) -> list[str]:
        """The ``UF_*`` names this portal has for the type (every name ever written)."""
        known: dict[str, list[str]] = self.store.meta_get("crm_user_fields", {})
        return list(known.get(str(entity_type_id), []))

    # -- writing ----------------------------------------------------------------------------------------
    def add(self, schema: Schema, values: Row, user_id: int, *, strict: bool = True) -> int:
        """Create an object from parsed canonical ``values``; stage and category are checked and filled."""
        etid = schema.entity_type_id
        now = now_iso()
        row: Row = {k: v for k, v in values.items() if v is not None and k != "ID"}
        created, modified = ("DATE_CREATE", "DATE_MODIFY") if etid in _TABLES else ("CREATED_TIME", "UPDATED_TIME")
        by, mod_by = ("CREATED_BY_ID", "MODIFY_BY_ID") if etid in _TABLES else ("CREATED_BY", "UPDATED_BY")
        row.setdefault(created, now)
        row[modified] = row[created]
        row[by] = row[mod_by] = user_id
        row.setdefault("ASSIGNED_BY_ID", user_id)
        if "OPENED" in schema.by_upper:
            row.setdefault("OPENED", True)
        for kind in MULTIFIELDS:
            if kind in row:
                row[kind] = self._merge_multifield(kind, [], row[kind])
        self._note_user_fields(etid, row)
        _flags(schema, row)
        if funnels.has_stages(self.store, etid):
            self._place(schema, row, None, user_id, now, strict)
        if etid == 2:
            for flag in ("IS_NEW", "IS_RECURRING", "IS_RETURN_CUSTOMER", "IS_REPEATED_APPROACH"):
                row.setdefault(flag, flag == "IS_NEW")
            row.setdefault("CURRENCY_ID", "USD")
            row.setdefault("OPPORTUNITY", 0.0)
            row.setdefault("TYPE_ID", "SALE")
            row.setdefault("IS_MANUAL_OPPORTUNITY", False)
        new_id = self.store.insert(table_for(etid), row)
        if etid in _HISTORY_TYPES or funnels.is_dynamic(self.store, etid):
            self._history(schema, row, 1, now)
        return new_id

    def update(self, schema: Schema, object_id: int, values: Row, user_id: int, *, strict: bool = True) -> None:
        """Apply parsed changes; a stage move writes stage history, multifields merge by ID."""
        etid = schema.entity_type_id
        old = self.get(etid, object_id)
        if old is None:
            raise KeyError(object_id)
        now = now_iso()
        row = dict(old)
        for key, value in values.items():
            if key == "ID":
                continue
            if key in MULTIFIELDS:
                row[key] = self._merge_multifield(key, list(old.get(key) or []), value)
            elif value is None:
                row.pop(key, None)
            else:
                row[key] = value
        self._note_user_fields(etid, row)
        _flags(schema, row)
        modified, mod_by = ("DATE_MODIFY", "MODIFY_BY_ID") if etid in _TABLES else ("UPDATED_TIME", "UPDATED_BY")
        row[modified], row[mod_by] = now, user_id
        moved = False
        if funnels.has_stages(self.store, etid):
            moved = self._place(schema, row, old, user_id, now, strict)
        self.store.put(table_for(etid), object_id, row)
        if moved and (etid in _HISTORY_TYPES or funnels.is_dynamic(self.store, etid)):
            changed_funnel = row.get("CATEGORY_ID") != old.get("CATEGORY_ID")
            semantic = row.get(schema.semantic_field)
            final = 3 if semantic in ("S", "F") else 2
            if etid == 1 and semantic == "F":
                final = 4  # a lead marked junk (StageHistoryEntryType.JUNK), as the demo's history has it
            self._history(schema, row, 5 if changed_funnel else final, now)

    def delete(self, entity_type_id: int, object_id: int) -> bool:
        """Remove an object; False when there is none."""
        if self.get(entity_type_id, object_id) is None:
            return False
        self.store.delete(table_for(entity_type_id), object_id)
        synth = self.synthetic(entity_type_id)
        if synth and object_id <= synth.count:
            self.store.put(_TOMBSTONES, object_id, {"ID": object_id})
        return True

    # -- rules ------------------------------------------------------------------------------------------
    def _place(self, schema: Schema, row: Row, old: Row | None, user_id: int, now: str, strict: bool) -> bool:
        """Check/fill the funnel and stage; True when the stage (or funnel) changed.

        A funnel or stage that does not exist raises :class:`funnels.BadStage` naming the field when
        ``strict`` (crm.item's field check); otherwise — the classic proxies, which answer no such error —
        it is replaced: the default funnel (or the object's own), the stage it had or the funnel's first.
        Either way a stored object's stage is always one of its funnel's."""
        etid = schema.entity_type_id
        stage_field, semantic_field = schema.stage_field, schema.semantic_field
        stage = row.get(stage_field)
        if funnels.has_categories(self.store, etid):
            category = row.get("CATEGORY_ID")
            if category is None and isinstance(stage, str) and old is None:
                category = funnels.category_of_stage(self.store, etid, stage)
            if category is None:
                category = funnels.default_category(self.store, etid)
            if not funnels.category_exists(self.store, etid, int(category)):
                if strict:
                    raise funnels.BadStage("CATEGORY_ID")
                own = old.get("CATEGORY_ID") if old is not None else None
                category = funnels.default_category(self.store, etid) if own is None else own
            row["CATEGORY_ID"] = int(category)
        stages = funnels.stages(self.store, etid, row.get("CATEGORY_ID"))
        if not stages:
            return False
        if old is not None and row.get("CATEGORY_ID") != old.get("CATEGORY_ID") and stage == old.get(stage_field):
            stage = None  # a funnel change without a stage lands on the new funnel's first stage
        if stage is None or stage == "":
            stage = next(iter(stages))
        if stage not in stages:
            if strict:
                raise funnels.BadStage(stage_field)
            kept = old.get(stage_field) if old is not None else None
            stage = kept if kept in stages else next(iter(stages))
        row[stage_field] = stage
        row[semantic_field] = stages[stage]
        if etid == 2:
            row["CLOSED"] = stages[stage] != "P"
        moved = old is None or stage != old.get(stage_field) or row.get("CATEGORY_ID") != old.get("CATEGORY_ID")
        if moved:
            row["MOVED_TIME"] = now
            row["MOVED_BY_ID" if etid in _TABLES else "MOVED_BY"] = user_id
        return moved and old is not None

    def _history(self, schema: Schema, row: Row, type_id: int, now: str) -> None:
        etid = schema.entity_type_id
        record: Row = {"ENTITY_TYPE_ID": etid, "TYPE_ID": type_id, "OWNER_ID": row["ID"]}
        if etid == 1:
            record["STATUS_SEMANTIC_ID"] = row.get("STATUS_SEMANTIC_ID")
            record["STATUS_ID"] = row.get("STATUS_ID")
        else:
            record["CATEGORY_ID"] = row.get("CATEGORY_ID")
            record["STAGE_SEMANTIC_ID"] = row.get("STAGE_SEMANTIC_ID")
            record["STAGE_ID"] = row.get("STAGE_ID")
        record["CREATED_TIME"] = now
        record["_ts"] = parse_time(now) or 0.0
        self.store.insert("history", record)

    def _merge_multifield(self, kind: str, existing: list[Row], given: Any) -> list[Row]:
        """Classic multifield semantics: an item with a known ID updates it (``DELETE: Y`` removes it),
        one without an ID is added with the next multifield ID."""
        if isinstance(given, dict):
            given = list(given.values())
        if not isinstance(given, list):
            return existing
        by_id = {int(m["ID"]): dict(m) for m in existing}
        for item in given:
            if not isinstance(item, dict):
                item = {"VALUE": str(item)}
            raw_id = item.get("ID", item.get("id"))
            value = item.get("VALUE", item.get("value"))
            value_type = item.get("VALUE_TYPE", item.get("valueType")) or "WORK"
            known = by_id.get(int(str(raw_id))) if str(raw_id or "").isdigit() else None
            if known is not None:
                if str(item.get("DELETE", "N")).upper() == "Y" or value in ("", None):
                    del by_id[int(known["ID"])]
                else:
                    known.update({"VALUE": str(value), "VALUE_TYPE": value_type})
                continue
            if value in ("", None):
                continue
            sequence = int(self.store.meta_get("multifield_seq", 0)) + 1
            self.store.meta_set("multifield_seq", sequence)
            by_id[sequence] = {"ID": sequence, "VALUE_TYPE": value_type, "VALUE": str(value), "TYPE_ID": kind}
        return [by_id[i] for i in sorted(by_id)]

    def _note_user_fields(self, entity_type_id: int, row: Row) -> None:
        names = [k for k in row if is_user_field(k)]
        if not names:
            return
        known: dict[str, list[str]] = self.store.meta_get("crm_user_fields", {})
        have = known.setdefault(str(entity_type_id), [])
        fresh = [n for n in names if n not in have]
        if fresh:
            have.extend(fresh)
            self.store.meta_set("crm_user_fields", known)


def _flags(schema: Schema, row: Row) -> None:
    """HAS_PHONE / HAS_EMAIL / HAS_IMOL follow the multifields, as the server keeps them (stored only when
    set, so mergeBatch never sees two records "conflict" on a derived flag; rendered ``N`` when absent)."""
    for flag, kind in (("HAS_PHONE", "PHONE"), ("HAS_EMAIL", "EMAIL"), ("HAS_IMOL", "IM")):
        if flag in schema.by_upper and row.get(kind):
            row[flag] = True
        else:
            row.pop(flag, None)


_OBJECTS: WeakKeyDictionary[Store, Objects] = WeakKeyDictionary()


def objects(store: Store) -> Objects:
    """The :class:`Objects` view of a portal store (one per store, so the ID cache is shared)."""
    found = _OBJECTS.get(store)
    if found is None:
        found = _OBJECTS[store] = Objects(store)
    return found
