"""Property: on random deals and random filters (every operator, nested OR groups), crm.item.list and
crm.deal.list return exactly the IDs a plain-Python reference selects.

The reference restates the documented semantics independently of the emulator's code: values compare in
the field's type (text case-insensitively), an empty filter value means "the field is empty", ordering and
LIKE never match an empty field, ``%`` takes its value literally, ``=%``/``%=`` take a LIKE pattern, a
negation is the plain complement, a list value with ``=`` means IN.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b24crm.testing import Emulator
from tests.emulator.conftest import Portal

TITLES = ["alpha", "Beta", "gamma ray", "ALPHA", "", "a_b%c"]
PATTERNS = ["al%", "%A", "_eta", "%", "a\\_b%", "%ray", "ALPHA"]
FIELDS: dict[str, tuple[str, list[Any]]] = {
    "title": ("str", TITLES),
    "opportunity": ("float", [0, 10.5, 100, 250.25]),
    "probability": ("int", [0, 10, 50, 99]),
    "opened": ("bool", ["Y", "N"]),
    "begindate": ("date", ["2024-01-01", "2024-06-15", "2025-01-01"]),
}
OPS = ["", "=", "!", "!=", ">", ">=", "<", "<=", "@", "!@", "%", "!%", "=%", "%=", "!=%", "!%="]


def norm(kind: str, value: Any) -> Any:
    if value is None or value == "":
        return None
    if kind == "str":
        return str(value).casefold()
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "bool":
        return value in ("Y", True, 1, "1")
    return str(value)  # ISO dates order as text


def like(pattern: str, text: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern.casefold())
    return re.fullmatch(regex, text, re.DOTALL) is not None


def positive(op: str, kind: str, actual: Any, wanted: Any) -> bool:
    have = norm(kind, actual)
    if op in ("", "=", "@"):
        options = wanted if isinstance(wanted, list) else [wanted]
        return any((have is None) if norm(kind, w) is None else have == norm(kind, w) for w in options)
    if have is None:
        return False
    if op in ("%", "=%", "%="):
        text = str(actual).casefold()
        return str(wanted).casefold() in text if op == "%" else like(str(wanted), text)
    target = norm(kind, wanted)
    if target is None:
        return False
    return {">": have > target, ">=": have >= target, "<": have < target, "<=": have <= target}[op]


def reference(row: dict[str, Any], flt: dict[str, Any]) -> bool:
    logic = flt.get("logic", "AND")
    results = []
    for key, wanted in flt.items():
        if key == "logic":
            continue
        if key.isdigit():
            results.append(reference(row, wanted))
            continue
        match = re.match(r"^(!?)(=%|%=|>=|<=|[=><@%]?)(\w+)$", key)
        assert match is not None, key
        negate, op, name = match.groups()
        hit = positive(op, FIELDS[name][0], row.get(name), wanted)
        results.append(not hit if negate else hit)
    return any(results) if logic == "OR" else all(results)


@st.composite
def conditions(draw: st.DrawFn) -> tuple[str, Any]:
    name = draw(st.sampled_from(sorted(FIELDS)))
    kind, pool = FIELDS[name]
    # LIKE is a text operator: numbers, flags and dates are filtered by value and order only.
    op = draw(st.sampled_from(OPS if kind == "str" else [o for o in OPS if "%" not in o]))
    if op in ("@", "!@") or (op in ("", "=", "!=") and draw(st.booleans())):
        value: Any = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
    elif op.lstrip("!") in ("=%", "%="):
        value = draw(st.sampled_from(PATTERNS))
    else:
        value = draw(st.sampled_from(pool))
    return f"{op}{name}", value


@st.composite
def filters(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    flt: dict[str, Any] = {}
    for key, value in draw(st.lists(conditions(), min_size=0, max_size=3)):
        flt.setdefault(key, value)
    if depth < 2 and draw(st.booleans()):
        group = draw(filters(depth=depth + 1))
        group["logic"] = draw(st.sampled_from(["OR", "AND"]))
        flt[str(len(flt))] = group
    if depth > 0 and not any(k != "logic" for k in flt):
        flt["@probability"] = [0, 10]
    return flt


rows_strategy = st.lists(
    st.fixed_dictionaries({name: st.one_of(st.none(), st.sampled_from(pool)) for name, (_, pool) in FIELDS.items()}),
    min_size=1,
    max_size=10,
)


@pytest.fixture(scope="module")
def empty_portal() -> Iterator[Portal]:
    with Emulator(seed="empty") as emu:
        helper = Portal(emu)
        yield helper
        helper.raw.close()


def classic(flt: dict[str, Any]) -> dict[str, Any]:
    """The same filter in the classic naming (UPPER_CASE fields, ``LOGIC``)."""
    out: dict[str, Any] = {}
    for key, value in flt.items():
        if key == "logic":
            out["LOGIC"] = value
        elif key.isdigit():
            out[key] = classic(value)
        else:
            match = re.match(r"^(\W*)(\w+)$", key)
            assert match is not None
            out[match.group(1) + match.group(2).upper()] = value
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy, flt=filters())
def test_filters_match_the_reference(empty_portal: Portal, rows: list[dict[str, Any]], flt: dict[str, Any]) -> None:
    empty_portal.emu.reset()
    stored: dict[int, dict[str, Any]] = {}
    for row in rows:
        fields = {k: v for k, v in row.items() if v is not None}
        made = empty_portal.ok("crm.item.add", {"entityTypeId": 2, "fields": fields})["result"]["item"]
        # A new deal is open and worth 0 unless told otherwise.
        stored[made["id"]] = {**row, "opened": row["opened"] or "Y", "opportunity": row["opportunity"] or 0}
    expected = sorted(i for i, row in stored.items() if reference(row, flt))
    items = empty_portal.ok("crm.item.list", {"entityTypeId": 2, "filter": flt, "select": ["id"]})
    assert sorted(i["id"] for i in items["result"]["items"]) == expected, flt
    deals = empty_portal.ok("crm.deal.list", {"filter": classic(flt), "select": ["ID"]})
    assert sorted(int(d["ID"]) for d in deals["result"]) == expected, classic(flt)
