"""make demo: an integration's day on a Bitrix24 portal, run against the embedded emulator and printed step by step.

A new sales funnel is set up, contacts and deals are imported in batches, deals move through the funnel, their
stage history is read back, duplicate contacts are found by phone and merged, and finally every deal of the
portal is exported without counting. Everything goes through the generated client over real HTTP on loopback;
the portal runs the standard plan's request limit (50 burst, 2 per second), so batching is what keeps it fast.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from b24crm import Client, enums, models
from b24crm.testing import Emulator

#: Deals already on the portal before the job starts (made up on demand by the emulator: memory flat in N).
PORTAL_DEALS = 20_000
CONTACTS = 200
DEALS = 300
#: Contacts imported twice under another spelling of the same phone (a second import of the same CRM export).
DUPLICATES = 8
T = TypeVar("T")

# The per-entity methods (crm.contact.*, crm.deal.*) are marked deprecated by Bitrix24 in favour of crm.item.*;
# most integrations still call them, and so does this demo. The client warns on each call: the demo says it once.
warnings.filterwarnings("ignore", message=r"crm\.\w+\.\w+ is deprecated", category=DeprecationWarning)


def step(title: str) -> None:
    print(f"\n== {title}")


def measured(emu: Emulator, action: Callable[[], T]) -> tuple[T, int, float]:
    """The action's value, the HTTP requests it took and its seconds."""
    before, started = int(emu.stats()["requests"]), time.perf_counter()
    value = action()
    return value, int(emu.stats()["requests"]) - before, time.perf_counter() - started


def phone(n: int) -> str:
    return f"+1 555 {n:04d}"


def main() -> None:
    print(
        f"b24crm demo: a Bitrix24 portal emulated on loopback (plan 'standard'), {PORTAL_DEALS:,} deals already there"
    )
    started = time.perf_counter()
    with Emulator(seed="demo", deals=PORTAL_DEALS, plan="standard") as emu, emu.client() as client:
        run_job(emu, client)
        stats = emu.stats()
    print(
        f"\nDone in {time.perf_counter() - started:.1f} s: {stats['requests']} HTTP requests, "
        f"{stats['batch_subcalls']} batch commands, {stats['counted_pages']} counted pages, "
        f"{stats['rate_limited']} rate-limit rejections."
    )


def run_job(emu: Emulator, client: Client) -> None:
    entity, stages = create_funnel(emu, client)
    contacts = import_contacts(emu, client)
    deals = import_deals(emu, client, stages, contacts)
    move_deals(emu, client, stages, deals)
    read_history(emu, client, deals)
    merge_duplicates(emu, client, contacts)
    export_deals(emu, client, entity)


def create_funnel(emu: Emulator, client: Client) -> tuple[str, list[str]]:
    step("1. A new deal funnel with its stages")
    funnel = client.crm.category.add(entity_type_id=2, fields={"name": "Enterprise", "sort": 50}).category
    assert funnel.id is not None
    entity = f"DEAL_STAGE_{funnel.id}"
    batch = client.batch()
    for code, name, color, sort in (
        ("QUALIFY", "Qualification", "#2FC6F6", 15),
        ("PILOT", "Pilot", "#FFA900", 25),
        ("LEGAL", "Legal review", "#7BD500", 35),
    ):
        batch.crm.status.add(
            fields={"ENTITY_ID": entity, "STATUS_ID": code, "NAME": name, "COLOR": color, "SORT": sort}
        )
    _, used, _ = measured(emu, batch.execute)
    stages = [i.status_id for i in client.crm.status.entity.items(entity_id=entity) if i.status_id]
    print(f"crm.category.add -> funnel #{funnel.id} {funnel.name!r} with the default stages in {entity};")
    print(f"3 stages of ours added by crm.status.add in {used} batch request:")
    print("  " + " -> ".join(stages))
    return entity, stages


def import_contacts(emu: Emulator, client: Client) -> list[int]:
    step(f"2. Import {CONTACTS} contacts in batches ({DUPLICATES} of them twice, the phone spelled differently)")
    batch = client.batch()
    rows: list[dict[str, Any]] = [
        {"NAME": f"Client {n}", "PHONE": [{"VALUE": phone(n), "VALUE_TYPE": "WORK"}]} for n in range(CONTACTS)
    ]
    rows += [
        {
            "NAME": f"Client {n}",
            "POST": "Buyer",
            "PHONE": [{"VALUE": phone(n).replace(" ", "-"), "VALUE_TYPE": "MOBILE"}],
        }
        for n in range(DUPLICATES)
    ]
    handles = [batch.crm.contact.add(fields=row) for row in rows]
    _, used, seconds = measured(emu, batch.execute)
    ids = [h.result for h in handles]
    print(f"{len(ids)} contacts (#{ids[0]}..#{ids[-1]}) in {used} requests ({seconds:.1f} s)")
    print("  (crm.contact.add is marked deprecated by Bitrix24 in favour of crm.item.add; it keeps working)")
    return ids


def import_deals(emu: Emulator, client: Client, stages: list[str], contacts: list[int]) -> list[int]:
    step(f"3. Import {DEALS} deals into the funnel through crm.item.add, each with its contact")
    category = int(stages[0].split(":")[0].removeprefix("C"))
    batch = client.batch()
    handles = [
        batch.crm.item.add(
            entity_type_id=2,
            fields={
                "title": f"Enterprise deal {n}",
                "categoryId": category,
                "opportunity": 1000 + 25 * n,
                "contactId": contacts[n % CONTACTS],
            },
        )
        for n in range(DEALS)
    ]
    _, used, seconds = measured(emu, batch.execute)
    ids = [h.result.item.id for h in handles if h.result.item.id is not None]
    first = handles[0].result.item
    print(
        f"{len(ids)} deals in {used} requests ({seconds:.1f} s); "
        f"the first: #{first.id} {first.title!r} at {first.stage_id}"
    )
    return ids


def move_deals(emu: Emulator, client: Client, stages: list[str], deals: list[int]) -> None:
    step("4. Move the deals through the funnel")
    by_code = {s.split(":")[1]: s for s in stages}
    rounds = [
        ("QUALIFY", deals),
        ("PILOT", deals[: 2 * len(deals) // 3]),
        ("WON", deals[: len(deals) // 3]),
        ("LOSE", deals[2 * len(deals) // 3 :]),
    ]
    for code, chosen in rounds:
        batch = client.batch()
        for deal_id in chosen:
            batch.crm.item.update(entity_type_id=2, id=deal_id, fields={"stageId": by_code[code]})
        _, used, _ = measured(emu, batch.execute)
        print(f"  {len(chosen):>3} deals -> {by_code[code]:12} ({used} requests)")
    funnel = Counter(
        d.stage_id for d in client.crm.item.iter_all(entity_type_id=2, select=["id", "stageId"], filter={"@id": deals})
    )
    print("  now: " + ", ".join(f"{stage} {count}" for stage, count in sorted(funnel.items())))


def read_history(emu: Emulator, client: Client, deals: list[int]) -> None:
    step("5. Their stage history")
    history, used, _ = measured(
        emu, lambda: list(client.crm.stagehistory.iter_all(entity_type_id=2, filter={"@OWNER_ID": deals}))
    )
    names = {int(t): t.name for t in enums.StageHistoryEntryType}
    kinds = Counter(names.get(int(r.type_id), str(r.type_id)) for r in history if r.type_id is not None)
    print(f"{len(history)} records in {used} requests: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    path = [r.stage_id for r in history if r.owner_id == deals[0]]
    print(f"  deal #{deals[0]}: " + " -> ".join(str(s) for s in path))


def merge_duplicates(emu: Emulator, client: Client, contacts: list[int]) -> None:
    step("6. Find duplicate contacts by phone and merge them")
    batch = client.batch()
    checks = [
        batch.crm.duplicate.findbycomm(type="PHONE", values=[phone(n)], entity_type="CONTACT") for n in range(CONTACTS)
    ]
    _, used, _ = measured(emu, batch.execute)
    groups = [sorted(c.result.contact or []) for c in checks if len(c.result.contact or []) > 1]
    print(f"{CONTACTS} phones checked in {used} requests: {len(groups)} groups of duplicates, e.g. {groups[:3]}")
    batch = client.batch()
    merges = [batch.crm.entity.merge_batch(params={"entityTypeId": 3, "entityIds": group}) for group in groups]
    _, used, _ = measured(emu, batch.execute)
    outcome: list[models.MergeBatchResult] = [m.result for m in merges]
    print(
        f"crm.entity.mergeBatch x{len(merges)} in {used} request: "
        + ", ".join(sorted({str(o.status) for o in outcome}))
    )
    kept = client.crm.contact.get(id=groups[0][0])
    assert kept.phone is not None
    print(f"  contact #{kept.id} keeps {[p.value for p in kept.phone]}, post {kept.post!r}")
    left = client.crm.duplicate.findbycomm(type="PHONE", values=[phone(0)], entity_type="CONTACT").contact
    print(f"  {phone(0)} -> contacts {left}")


def export_deals(emu: Emulator, client: Client, entity: str) -> None:
    step("7. Export every deal of the portal, count-free")
    before = int(emu.stats()["counted_pages"])
    stages: Counter[str] = Counter()

    def export() -> int:
        n = 0
        for deal in client.crm.deal.iter_all(select=["*", "UF_*"]):
            stages[str(deal.stage_id)] += 1
            n += 1
        return n

    total, used, seconds = measured(emu, export)
    counted = int(emu.stats()["counted_pages"]) - before
    print(
        f"crm.deal.iter_all(select=['*', 'UF_*']): {total:,} typed deals in {used} requests "
        f"({seconds:.1f} s), {counted} counted pages (bound: ceil(N/2500)+1 = {-(-total // 2500) + 1})"
    )
    ours = {s: n for s, n in stages.items() if s.startswith(entity.replace("DEAL_STAGE_", "C") + ":")}
    print("  in the new funnel: " + ", ".join(f"{s} {n}" for s, n in sorted(ours.items())))


if __name__ == "__main__":
    main()
