"""make demo: a realistic job against the embedded Bitrix24 emulator, printed so a person can follow it.

Everything goes through the generated client over real HTTP on loopback; the emulator enforces the
standard plan's request limit (50 burst, 2 per second), so the limiter has real work to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from b24crm import Client, RateLimited, enums
from b24crm.testing import Emulator

HISTORY = 25_000
BURST = 60


def step(title: str) -> None:
    print(f"\n== {title}")


def requests_used(emu: Emulator, since: int) -> int:
    return int(emu.stats()["requests"]) - since


def measured(emu: Emulator, action: Callable[[], Any]) -> tuple[Any, int, float]:
    before, started = int(emu.stats()["requests"]), time.perf_counter()
    value = action()
    return value, requests_used(emu, before), time.perf_counter() - started


def main() -> None:
    print("b24crm demo: a Bitrix24 portal emulated on loopback (plan 'standard': 50 burst, 2 requests/s)")
    with Emulator(seed="demo", stage_history=HISTORY, plan="standard") as emu:
        client = emu.client()
        print(f"portal: {client!r}")
        run_job(emu, client)
        stats = emu.stats()
        print(
            f"\nDone: {stats['requests']} HTTP requests in all, {stats['batch_subcalls']} batch commands, "
            f"{stats['rate_limited']} rate-limit rejections."
        )


def run_job(emu: Emulator, client: Client) -> None:
    step("1. CRM mode")
    mode = client.crm.settings.mode.get()
    print(f"crm.settings.mode.get -> {mode!r} ({'classic' if mode == enums.CrmMode.CLASSIC else 'simple'} mode)")

    step("2. Directory types")
    types = client.crm.status.entity.types()
    for t in types[:6]:
        print(f"  {t.id:24} {t.name}")
    print(
        f"  ... {len(types)} directory types in all; deal funnels: "
        f"{[t.id for t in types if t.id.startswith('DEAL_STAGE')]}"
    )

    step("3. A new deal funnel: stages with colors and semantics")
    funnel = emu.add_deal_category("Enterprise deals")  # an administrator creates the funnel in the portal UI
    entity = f"DEAL_STAGE_{funnel}"
    batch = client.batch()
    plan = [
        ("QUALIFY", "Qualification", "#2FC6F6", 15),
        ("PILOT", "Pilot", "#FFA900", 25),
        ("LEGAL", "Legal review", "#7BD500", 35),
    ]
    handles = {
        code: batch.crm.status.add(
            fields={"ENTITY_ID": entity, "STATUS_ID": code, "NAME": name, "COLOR": color, "SORT": sort}
        )
        for code, name, color, sort in plan
    }
    lost = batch.crm.status.add(
        fields={"ENTITY_ID": entity, "STATUS_ID": "NO_DEAL", "NAME": "No budget", "SEMANTICS": "F", "SORT": 75}
    )
    _, used, _ = measured(emu, batch.execute)
    print(
        f"created {len(handles) + 1} stages in {used} request: "
        f"ids {[h.result for h in handles.values()]} + {lost.result}"
    )

    step("4. Reorder: the pilot comes before qualification")
    client.crm.status.update(id=handles["PILOT"].result, fields={"SORT": 12})
    client.crm.status.update(id=handles["QUALIFY"].result, fields={"SORT": 22, "COLOR": "#00C4FB"})
    for stage in client.crm.status.list(filter={"ENTITY_ID": entity}, order={"SORT": "ASC"}):
        word = stage.extra.semantics if stage.extra else None
        print(f"  {stage.sort:>3}  {stage.status_id:24} {stage.name:22} {stage.color or '':8} {word}")

    step(f"5. Stage history: every deal stage change ({HISTORY:,} records)")
    counts: dict[int, int] = {}
    records, used, seconds = measured(emu, lambda: list(client.crm.stagehistory.iter_all(entity_type_id=2)))
    for record in records:
        counts[int(record.type_id)] = counts.get(int(record.type_id), 0) + 1
    names = {int(t): t.name for t in enums.StageHistoryEntryType}
    summary = ", ".join(f"{names.get(k, k)}: {v:,}" for k, v in sorted(counts.items()))
    print(f"read {len(records):,} typed records in {used} requests ({seconds:.1f} s): {summary}")
    print(f"  first: #{records[0].id} deal {records[0].owner_id} -> {records[0].stage_id} at {records[0].created_time}")

    step("6. Duplicates by phone and e-mail, then merged")
    by_phone = client.crm.duplicate.findbycomm(type="PHONE", values=["+1 555 010-0001"], entity_type="CONTACT")
    by_mail = client.crm.duplicate.findbycomm(type="EMAIL", values=["ANNA@example.com"], entity_type="CONTACT")
    print(f"phone +1 555 010-0001 -> contacts {by_phone.contact}; anna@example.com -> contacts {by_mail.contact}")
    same = sorted(set(by_phone.contact or []) & set(by_mail.contact or []))
    merged = client.crm.entity.merge_batch(params={"entityTypeId": 3, "entityIds": same})
    print(f"crm.entity.mergeBatch {same} -> {merged.status} (merged away: {merged.entity_ids})")
    after = client.crm.duplicate.findbycomm(type="EMAIL", values=["anna@example.com"], entity_type="CONTACT")
    print(f"after the merge anna@example.com -> contacts {after.contact}")

    step("7. Enumerations")
    owner_types = client.crm.enum.ownertype()
    print("owner types: " + ", ".join(f"{t.id}={t.symbol_code}" for t in owner_types[:8]) + ", ...")
    print("address types: " + ", ".join(t.name or "" for t in client.crm.enum.addresstype()))

    step("8. A batch whose second command uses the first one's result")
    batch = client.batch()
    created = batch.crm.status.add(fields={"ENTITY_ID": "SOURCE", "STATUS_ID": "TRADE_FAIR", "NAME": "Trade fair"})
    fetched = batch.crm.status.get(id=created.ref())
    _, used, _ = measured(emu, batch.execute)
    print(
        f"add -> {created.result}; get(id=$result[add]) -> "
        f"{fetched.result.status_id!r} {fetched.result.name!r} ({used} request)"
    )

    step(f"9. A burst of {BURST} calls from 8 threads, absorbed by the limiter")
    rejected_before = int(emu.stats()["rate_limited"])

    def one(i: int) -> int:
        return len(client.crm.enum.ownertype() if i % 2 else client.crm.status.entity.items(entity_id="SOURCE"))

    errors = 0
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(one, i) for i in range(BURST)]:
            try:
                future.result()
            except RateLimited:
                errors += 1
    rejected = int(emu.stats()["rate_limited"]) - rejected_before
    print(
        f"{BURST} calls in {time.perf_counter() - started:.1f} s; rate-limit errors: {errors}; "
        f"requests the portal rejected: {rejected}"
    )


if __name__ == "__main__":
    main()
