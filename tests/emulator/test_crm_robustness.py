"""Whatever a client sends, every CRM-core method answers with a result or a Bitrix error body — never a
5xx or a dropped connection (the classic proxies drop what they cannot read; crm.item refuses it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b24crm.testing import Emulator
from b24crm.testing.crm import HANDLERS
from tests.emulator.conftest import Portal

KEYS = ["id", "ID", "entityTypeId", "fields", "filter", "order", "select", "start", "params", "useOriginalUfNames"]
NAMES = [
    "TITLE",
    "title",
    ">ID",
    "@id",
    "><ID",
    "><id",
    "logic",
    "LOGIC",
    "0",
    "STAGE_ID",
    "stageId",
    "PHONE",
    "fm",
    "categoryId",
    "CATEGORY_ID",
    "name",
    "sort",
    "isDefault",
    "opportunity",
    "UF_CRM_1",
    "ufCrm_1",
    "contactIds",
    "!%title",
    "+TITLE",
    "=%TITLE",
    "<=DATE_CREATE",
    ">createdTime",
    "VALUE",
    "DELETE",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "x", "Y", "N", "2", "1030", "C1:NEW", "2024-01-01", "*", "DESC", "asc", "%a_"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(NAMES), inner, max_size=3)),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def small_portal() -> Iterator[Portal]:
    with Emulator(seed="demo", deals=60) as emu:
        helper = Portal(emu)
        yield helper
        helper.raw.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(sorted(HANDLERS)),
    params=st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=5),
)
def test_any_input_gets_a_result_or_an_error_body(small_portal: Portal, method: str, params: dict[str, Any]) -> None:
    reply = small_portal.call(method, params)
    body = json.loads(reply.raw)
    if reply.status == 200:
        assert "result" in body
    else:
        assert reply.status == 400 and set(body) == {"error", "error_description"}, (reply.status, body)
