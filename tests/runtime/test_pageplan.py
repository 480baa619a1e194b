"""The bulk-read plan is sans-IO: driven here by a pure in-memory portal, no client, no sender, no sockets.

Each batch command the plan asks for is encoded, checked against PHP's ``max_input_vars`` and decoded the way
the server would (``phpinput.parse_str`` cuts at 1,000 variables), so a command that would lose a variable
fails the test instead of going unnoticed.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import re
from collections.abc import Mapping
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b24crm.runtime import limits
from b24crm.runtime.batchwire import encode_command
from b24crm.runtime.pageplan import CursorPlan, MergedPlan, OffsetPlan, PageReply, Plan, plan_for
from b24crm.runtime.phpquery import count_vars
from b24crm.testing.phpinput import parse_str

from .fakes import ITEM_LIST, REGISTRY

assert ITEM_LIST.pagination is not None
#: ITEM_LIST without count-free reads: counted start offsets.
COUNTED_LIST = attrs.evolve(ITEM_LIST, pagination=attrs.evolve(ITEM_LIST.pagination, count_free=False))

_REF = re.compile(r"^\$result\[(\w+)\]((?:\[[^\]]*\])*)$")


class MemoryPortal:
    """Records ``{"ID", "OWNER_ID"}`` with filters ``>ID``, ``<ID``, ``@F``/``F`` (IN), ``!@F`` (NOT IN)."""

    def __init__(self, ids: list[int]) -> None:
        self.rows = [{"ID": i, "OWNER_ID": i // 5} for i in sorted(ids)]
        self.requests = 0

    def page(self, params: Mapping[str, Any]) -> PageReply:
        flt = dict(params.get("filter") or {})
        desc = str(dict(params.get("order") or {"ID": "ASC"}).get("ID", "ASC")).upper() == "DESC"
        ids = [r["ID"] for r in self.rows]
        lo, hi = 0, len(self.rows)
        checks = []
        for key, value in flt.items():
            field = key.lstrip("<>!@=")
            if key in (">ID", "<ID"):
                if not isinstance(value, (int, str)) or not str(value).lstrip("-").isdigit():
                    return PageReply(error={"error": "INVALID_ARG_VALUE", "error_description": "cursor"}, failed=True)
                if key == ">ID":
                    lo = max(lo, bisect.bisect_right(ids, int(value)))
                else:
                    hi = min(hi, bisect.bisect_left(ids, int(value)))
                continue
            wanted = {int(v) for v in (value.values() if isinstance(value, Mapping) else value)}
            checks.append((field, wanted, key.startswith("!")))
        window = self.rows[lo:hi][::-1] if desc else self.rows[lo:hi]
        matching = (r for r in window if all((r[f] in w) != neg for f, w, neg in checks))
        start = int(params.get("start", 0))
        if start == -1:
            return PageReply({"items": list(itertools.islice(matching, 50))})
        rows = list(matching)
        page = rows[start : start + 50]
        return PageReply({"items": page}, start + 50 if start + 50 < len(rows) else None, len(rows))

    def run(self, plan: Plan, bound: int) -> list[int]:
        out: list[int] = []
        while (step := plan.next_step()) is not None and len(out) <= bound:
            self.requests += 1
            if step.commands is None:
                replies = [self.page(step.params or {})]
            else:
                results: dict[str, Any] = {}
                replies = []
                for key, params in step.commands.items():
                    assert count_vars(params) <= limits.MAX_INPUT_VARS
                    kept = parse_str(encode_command("m", params).partition("?")[2])  # what the server keeps
                    assert count_vars(kept) == count_vars(params)  # nothing was cut
                    try:
                        reply = self.page(_resolve(kept, results))
                    except (IndexError, KeyError, TypeError):  # PHP would substitute garbage; the command then fails
                        reply = PageReply(error={"error": "INVALID_ARG_VALUE", "error_description": "ref"}, failed=True)
                    results[key] = reply.result
                    replies.append(reply)
            for page in plan.feed(step, replies):
                out.extend(int(r["ID"]) for r in page)
        return out


def _resolve(value: Any, results: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, results) for k, v in value.items()}
    if isinstance(value, str) and (m := _REF.match(value)):
        current: Any = results[m.group(1)]
        for part in re.findall(r"\[([^\]]*)\]", m.group(2)):
            current = current[int(part)] if isinstance(current, list) else current[part]
        return current
    return value


def _ids(n: int, seed: int) -> list[int]:
    rnd = random.Random(seed)
    out, cur = [], rnd.randint(1, 50)
    for _ in range(n):
        out.append(cur)
        cur += 1 if rnd.random() < 0.6 else rnd.randint(2, 60)
    return out


def _plan(spec: Any, params: dict[str, Any], **kw: Any) -> Plan:
    return plan_for(
        spec, params, limit=kw.get("limit"), after_id=kw.get("after_id"), system_rows=REGISTRY.system_errors
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 4000),
    seed=st.integers(0, 2**31),
    values=st.integers(0, 5000),
    key=st.sampled_from(["@ID", "ID", "@OWNER_ID", "!@ID"]),
    desc=st.booleans(),
    counted=st.booleans(),
)
def test_every_record_once_and_no_command_over_the_cap(
    n: int, seed: int, values: int, key: str, desc: bool, counted: bool
) -> None:
    ids = _ids(n, seed)
    rnd = random.Random(seed + 1)
    top = (max(ids, default=100) + 100) // (5 if "OWNER" in key else 1)
    chosen = [rnd.randint(0, top) for _ in range(values)]
    params: dict[str, Any] = {"order": {"ID": "DESC" if desc else "ASC"}}
    if chosen:
        params["filter"] = {key: chosen}
    portal = MemoryPortal(ids)
    wanted = set(chosen)
    field = key.lstrip("!@")
    expected = [r["ID"] for r in portal.rows if not chosen or ((r[field] in wanted) != key.startswith("!"))]
    if desc:
        expected.reverse()
    got = portal.run(_plan(COUNTED_LIST if counted else ITEM_LIST, params), bound=len(expected) + 1)
    assert got == expected


def test_the_strategy_follows_what_fits_in_a_command() -> None:
    small = _plan(ITEM_LIST, {"filter": {"@ID": list(range(900))}})
    assert isinstance(small, CursorPlan) and small.batched
    split = _plan(ITEM_LIST, {"filter": {"@ID": list(range(2000))}})
    assert isinstance(split, MergedPlan) and len(split.parts) == 3
    negated = _plan(ITEM_LIST, {"filter": {"!@ID": list(range(2000))}})  # NOT IN does not split
    assert isinstance(negated, CursorPlan) and not negated.batched
    either = _plan(ITEM_LIST, {"filter": {"LOGIC": "OR", "@ID": list(range(2000)), "NAME": "x"}})
    assert isinstance(either, CursorPlan) and not either.batched
    substituted = _plan(ITEM_LIST, {"filter": {"NAME": "$result[p00][items][0][NAME]"}})
    assert isinstance(substituted, CursorPlan) and not substituted.batched
    counted = _plan(COUNTED_LIST, {"filter": {"@ID": list(range(2000))}})
    assert isinstance(counted, OffsetPlan) and not counted.batched


def test_request_counts() -> None:
    ids = list(range(1, 10_001))
    plain = MemoryPortal(ids)
    assert len(plain.run(_plan(ITEM_LIST, {}), bound=len(ids))) == len(ids)
    assert plain.requests == math.ceil(len(ids) / 2500) + 1
    wide = MemoryPortal(ids)
    owners = list(range(0, 2001))  # 2,001 IN values covering every record
    assert wide.run(_plan(ITEM_LIST, {"filter": {"@OWNER_ID": owners}}), bound=len(ids)) == ids
    parts = math.ceil(len(owners) / (limits.MAX_INPUT_VARS - 4))
    assert wide.requests <= parts * (math.ceil(len(ids) / parts / 2500) + 2)


def test_limit_and_after_id_hold_across_split_parts() -> None:
    portal = MemoryPortal(list(range(1, 5001)))
    flt = {"@ID": list(range(1, 5001, 2))}  # odd IDs, 2,500 values: three parts
    plan = _plan(ITEM_LIST, {"filter": flt}, limit=777, after_id=1000)
    assert portal.run(plan, bound=800) == list(itertools.islice(range(1001, 5001, 2), 777))
