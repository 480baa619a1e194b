"""b24pysdk 1.3.2 (the official SDK's webhook client): a method call, as_list, as_list_fast and call_batch."""

from __future__ import annotations

import importlib.metadata

import pytest
from b24pysdk import Client as PyClient

from b24crm import Client
from b24crm.testing import Emulator

from .conftest import deal_history

pytestmark = pytest.mark.peers


def test_pinned_version() -> None:
    assert importlib.metadata.version("b24pysdk") == "1.3.2"


def test_call_status_list_agrees_with_b24crm(py: PyClient, ours_py: Client) -> None:
    response = py.crm.status.list(filter={"ENTITY_ID": "DEAL_STAGE_1"}, order={"SORT": "ASC"})
    rows = response.result
    assert rows == ours_py.call("crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE_1"}, "order": {"SORT": "ASC"}})
    assert [r["STATUS_ID"] for r in rows] == [
        s.status_id for s in ours_py.crm.status.list(filter={"ENTITY_ID": "DEAL_STAGE_1"}, order={"SORT": "ASC"})
    ]


def test_call_single_items(py: PyClient, ours_py: Client) -> None:
    stage = py.crm.status.get(53).result
    assert stage["STATUS_ID"] == ours_py.crm.status.get(id=53).status_id == "C1:NEW"
    assert py.crm.settings.mode.get().result == ours_py.crm.settings.mode.get() == 1
    found = py.crm.duplicate.findbycomm("EMAIL", ["anna@example.com"]).result
    ours = ours_py.crm.duplicate.findbycomm(type="EMAIL", values=["anna@example.com"])
    assert (found["LEAD"], found["CONTACT"]) == (ours.lead, ours.contact) == ([1], [1, 4])


def test_writes_are_seen_by_b24crm(py: PyClient, ours_py: Client) -> None:
    new_id = py.crm.status.add(
        fields={"ENTITY_ID": "DEAL_STAGE_1", "STATUS_ID": "PYSDK", "NAME": "From b24pysdk", "SORT": 38}
    ).result
    assert ours_py.crm.status.get(id=int(new_id)).status_id == "C1:PYSDK"


def test_as_list_agrees_with_b24crm(py_emu: Emulator, py: PyClient, ours_py: Client) -> None:
    rows = list(py.crm.stagehistory.list(2).as_list().result)
    ids = [row["ID"] for row in rows]
    assert len(ids) == len(set(ids)) == deal_history(py_emu)
    ours = [item.id for item in ours_py.crm.stagehistory.iter_all(entity_type_id=2)]
    assert set(ids) == set(ours)


def test_as_list_fast_agrees_with_b24crm_in_order(py_emu: Emulator, py: PyClient, ours_py: Client) -> None:
    before = py_emu.stats()["requests"]
    theirs = [row["ID"] for row in py.crm.stagehistory.list(2).as_list_fast().result]
    their_requests = py_emu.stats()["requests"] - before
    ours = [item.id for item in ours_py.crm.stagehistory.iter_all(entity_type_id=2)]
    assert theirs == ours and len(ours) == deal_history(py_emu)  # both walk >ID with start=-1 in chained batches
    assert their_requests <= 3


def test_as_list_fast_with_a_filter(py_emu: Emulator, py: PyClient, ours_py: Client) -> None:
    theirs = [row["ID"] for row in py.crm.stagehistory.list(2, filter={"CATEGORY_ID": 1}).as_list_fast().result]
    ours = [i.id for i in ours_py.crm.stagehistory.iter_all(entity_type_id=2, filter={"CATEGORY_ID": 1})]
    assert theirs == ours and 0 < len(ours) < deal_history(py_emu)


def test_call_batch(py_emu: Emulator, py: PyClient, ours_py: Client) -> None:
    batch = py.call_batch(
        {
            "stage": py.crm.status.get(53),
            "items": py.crm.status.entity.items("DEAL_STAGE_2"),
            "mode": py.crm.settings.mode.get(),
            "missing": py.crm.status.get(999_999),
        }
    ).result
    assert batch.result["stage"]["STATUS_ID"] == "C1:NEW"
    assert [i["STATUS_ID"] for i in batch.result["items"]] == [
        i.status_id for i in ours_py.crm.status.entity.items(entity_id="DEAL_STAGE_2")
    ]
    assert batch.result["mode"] == 1
    assert "missing" not in batch.result
    assert batch.result_error["missing"]["error_description"] == "Status is not found."
    assert set(batch.result_time) == {"stage", "items", "mode"}
    assert py_emu.stats()["by_method"].get("batch") == 1
