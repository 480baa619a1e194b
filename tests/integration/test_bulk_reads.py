"""Bulk reads with long filters against the emulator (issue 14, "Bulk reads").

The emulator parses every batch command with PHP's ``max_input_vars`` cap (1,000 variables, the rest dropped
silently), like the server. A chained page whose filter holds ~1,000 values used to lose its cursor, ``order``
and ``start=-1`` (encoded last) and return the first page again and again, for ever; the counted path lost
``start`` the same way. Now no command exceeds the cap: a long IN-list is split into several filters read
with chained batches and merged in ID order, anything else that does not fit is read one JSON request per
page. Every read below is bounded (``islice``), so a regression fails instead of hanging.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b24crm.testing import Emulator
from b24crm.testing.methods.stagehistory import Synthetic

#: Synthetic deal stage-history records: IDs 1..N, five per deal (OWNER_ID = (ID - 1) // 5 + 1).
RECORDS = 3000

ORDERS: dict[str, dict[str, str]] = {
    "id_asc": {"ID": "ASC"},
    "id_desc": {"ID": "DESC"},
    "counted": {"CREATED_TIME": "ASC"},  # not by ID: counted start offsets
}


def _rows(emu: Emulator) -> list[dict[str, Any]]:
    synth = Synthetic.from_store(emu.portal.store)
    assert synth is not None
    return [synth.row(i) for i in range(synth.first_id, synth.last_id + 1)]


def _expected(rows: list[dict[str, Any]], key: str, values: list[int]) -> list[int]:
    field = key.lstrip("!@=")
    wanted = set(values)
    negate = key.startswith("!")
    return [r["ID"] for r in rows if (r[field] in wanted) != negate]


def _read(emu: Emulator, flt: dict[str, Any], order: dict[str, str], bound: int) -> tuple[list[int], int]:
    """IDs read by iter_all (at most ``bound``), and the HTTP requests it took."""
    before = emu.stats()["requests"]
    with emu.client() as client:
        stream = client.crm.stagehistory.iter_all(entity_type_id=2, filter=flt, order=order)
        ids = [item.id for item in itertools.islice(stream, bound)]
    return ids, emu.stats()["requests"] - before


@st.composite
def filters(draw: st.DrawFn) -> tuple[str, list[int]]:
    """An IN / NOT IN filter of 0-5,000 values with random gaps (values beyond the records included)."""
    key = draw(st.sampled_from(["@ID", "@OWNER_ID", "OWNER_ID", "!@ID"]))
    count = draw(st.integers(0, 5000))
    seed = draw(st.integers(0, 2**31))
    rnd = random.Random(seed)
    top = RECORDS + 500 if "ID" in key and "OWNER" not in key else RECORDS // 5 + 100
    values, current = [], rnd.randint(1, 20)
    for _ in range(count):
        values.append(current)
        current += 1 if rnd.random() < 0.5 else rnd.randint(2, 40)
        if current > top:
            current = rnd.randint(1, top)  # wrap around: repeats and disorder, as user data has
    return key, values


@pytest.mark.heavy
@pytest.mark.b24_emulator(seed="empty", stage_history=RECORDS)
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=filters(), order=st.sampled_from(sorted(ORDERS)))
def test_long_filters_read_every_record_exactly_once(
    b24_emulator: Emulator, spec: tuple[str, list[int]], order: str
) -> None:
    key, values = spec
    rows = _rows(b24_emulator)
    flt = {key: values} if values else {}
    expected = _expected(rows, key, values) if values else [r["ID"] for r in rows]
    if ORDERS[order] == {"ID": "DESC"}:
        expected.reverse()
    got, requests = _read(b24_emulator, flt, ORDERS[order], bound=len(expected) + 1)
    assert got == expected  # every record once, in the order asked for; the read ended
    assert requests <= math.ceil(len(expected) / 50) + 2 * math.ceil(len(values) / 500) + 2


@pytest.mark.heavy
@pytest.mark.b24_emulator(seed="empty", stage_history=100_000)
def test_request_counts_for_100k_records(b24_emulator: Emulator) -> None:
    """The numbers quoted in docs/reliability.md: a 2,000-value IN filter stays near the count-free bound."""
    n = 100_000
    plain, plain_requests = _read(b24_emulator, {}, {"ID": "ASC"}, bound=n + 1)
    assert len(plain) == n and plain_requests <= math.ceil(n / 2500) + 1  # 41
    # 2,000 values that together match all 100,000 records (TYPE_ID is 1, 2 or 3).
    wide, wide_requests = _read(b24_emulator, {"@TYPE_ID": list(range(1, 2001))}, {"ID": "ASC"}, bound=n + 1)
    assert wide == plain
    assert wide_requests <= math.ceil(n / 2500) + 1 + 2  # one first page per extra part of the split list: 43
    # 2,000 deals' histories (10,000 records), the issue's example.
    owners = list(range(1, 20_001, 10))
    some, some_requests = _read(b24_emulator, {"@OWNER_ID": owners}, {"ID": "ASC"}, bound=n + 1)
    assert len(some) == 10_000 == len(set(some)) and some == sorted(some)
    assert some_requests <= math.ceil(10_000 / 2500) + 3 * 2  # 9
