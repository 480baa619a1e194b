"""Every method through the generated client (webhook and OAuth), so the emulator and b24crm agree."""

from __future__ import annotations

from typing import Any

import pytest

from b24crm.testing import Emulator
from tests.emulator.conftest import stored_history

client_module = pytest.importorskip("b24crm._client")


@pytest.fixture
def client(emu: Emulator) -> Any:
    with emu.client() as c:
        yield c


def test_status_methods(client: Any) -> None:
    new_id = client.crm.status.add(
        fields={"ENTITY_ID": "DEAL_STAGE_1", "STATUS_ID": "REVIEW", "NAME": "Review", "SORT": 25}
    )
    item = client.crm.status.get(id=new_id)
    assert (item.status_id, item.sort, item.system) == ("C1:REVIEW", 25, False)
    assert client.crm.status.update(id=new_id, fields={"NAME": "Reviewed"}) is True
    listed = client.crm.status.list(filter={"ENTITY_ID": "DEAL_STAGE_1"}, order={"SORT": "ASC"})
    assert "Reviewed" in [s.name for s in listed]
    assert client.crm.status.delete(id=new_id) is True
    assert next(i.status_id for i in client.crm.status.entity.items(entity_id="QUOTE_STATUS")) == "DRAFT"
    assert any(t.id == "DEAL_STAGE_1" for t in client.crm.status.entity.types())
    assert client.crm.status.fields()


def test_stagehistory(client: Any, emu: Emulator) -> None:
    stored = stored_history(emu)
    page = client.crm.stagehistory.list(entity_type_id=2, filter={">ID": 100})
    assert page.total == 914 + sum(1 for r in stored if r["ID"] > 100) and page.next == 50 and len(page.items) == 50
    assert sum(1 for _ in client.crm.stagehistory.iter_all(entity_type_id=2)) == 1000 + len(stored)


def test_duplicates_and_merge(client: Any) -> None:
    found = client.crm.duplicate.findbycomm(type="PHONE", values=["+1 555 010 0001"])
    assert list(found.contact) == [1, 4]
    assert client.crm.duplicate.volatile_type.fields(entity_type_id=1)
    registered = client.crm.duplicate.volatile_type.register(entity_type_id=1, field_code="TITLE")
    assert [r.id for r in client.crm.duplicate.volatile_type.list()] == [registered.id]
    assert client.crm.duplicate.volatile_type.unregister(id=registered.id) is True
    merged = client.crm.entity.merge_batch(params={"entityTypeId": 3, "entityIds": [1, 4]})
    assert str(merged.status.value if hasattr(merged.status, "value") else merged.status) == "SUCCESS"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_enums_and_settings(client: Any) -> None:
    assert client.crm.settings.mode.get() == 1
    assert next(e.id for e in client.crm.enum.activitytype()) == 0
    for name in (
        "activitydirection",
        "activitynotifytype",
        "activitypriority",
        "activitystatus",
        "addresstype",
        "contenttype",
        "ownertype",
        "getorderownertypes",
        "fields",
    ):
        assert getattr(client.crm.enum, name)()
    assert client.crm.enum.settings.mode()
    assert client.crm.multifield.fields()


def test_batch_and_oauth(emu: Emulator) -> None:
    with emu.client(auth="oauth") as client:
        batch = client.batch()
        mode = batch.crm.settings.mode.get()
        stages = batch.crm.status.entity.items(entity_id="DEAL_STAGE")
        batch.execute()
        assert mode.result == 1 and len(stages.result) == 8
        emu.expire_tokens()
        assert client.crm.settings.mode.get() == 1  # refreshed through the emulator's token endpoint
    assert emu.stats()["oauth_refreshes"] == 1
