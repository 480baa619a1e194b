"""client.batch(): references between commands, per-command results and errors, chunking above 50, halt."""

from __future__ import annotations

import pytest

from b24crm import Client, errors, models
from b24crm.runtime.errors import BatchCommandSkipped, BatchError
from b24crm.runtime.paging import Page
from b24crm.testing import Emulator


def test_reference_from_add_to_get(emu: Emulator, client: Client) -> None:
    batch = client.batch()
    added = batch.crm.status.add(
        fields={"ENTITY_ID": "DEAL_STAGE_2", "STATUS_ID": "AUDIT", "NAME": "Audit", "SORT": 42}
    )
    fetched = batch.crm.status.get(id=added.ref())
    items = batch.crm.status.entity.items(entity_id="DEAL_STAGE_2")
    batch.execute()

    assert isinstance(added.result, int)
    assert isinstance(fetched.result, models.Status)
    assert fetched.result.id == added.result and fetched.result.status_id == "C2:AUDIT"
    assert "C2:AUDIT" in [i.status_id for i in items.result]
    stats = emu.stats()
    assert stats["requests"] == 1 and stats["by_method"] == {"batch": 1} and stats["batch_subcalls"] == 3
    assert client.crm.status.get(id=added.result).name == "Audit"  # committed on the portal


def test_reference_into_a_list_result(client: Client) -> None:
    batch = client.batch()
    stages = batch.crm.status.list(filter={"ENTITY_ID": "DEAL_STAGE_1"}, order={"SORT": "ASC"})
    first = batch.crm.status.get(id=stages.ref("[0][ID]"))
    history = batch.crm.stagehistory.list(entity_type_id=2, filter={">ID": 100})
    batch.execute()
    assert first.result.status_id == "C1:NEW" == stages.result[0].status_id
    # a batched page is the type the same call returns outside a batch: Page[StageHistoryItem]
    alone = client.crm.stagehistory.list(entity_type_id=2, filter={">ID": 100})
    assert type(history.result) is type(alone) is Page
    assert history.result.items == alone.items and history.result.next == alone.next == history.next
    assert len(history.result.items) == 50 and history.next == 50
    assert history.total is not None and history.total < 1000
    assert all(isinstance(item, models.StageHistoryItem) and item.id > 100 for item in history.result.items)


def test_partial_failure_is_kept_per_handle(emu: Emulator, client: Client) -> None:
    batch = client.batch()
    good = batch.crm.status.get(id=1)
    missing = batch.crm.status.get(id=999_999)
    dup = batch.crm.status.add(fields={"ENTITY_ID": "DEAL_STAGE_1", "STATUS_ID": "DECISION", "NAME": "Again"})
    after = batch.crm.settings.mode.get()
    handles = batch.execute()

    assert handles == [good, missing, dup, after]
    assert good.ok and good.result.status_id == "NEW"
    assert not missing.ok and isinstance(missing.error, errors.StatusNotFoundError)
    with pytest.raises(errors.StatusNotFoundError):
        _ = missing.result
    assert isinstance(dup.error, errors.StatusDuplicateStatusIdError)
    assert after.ok and after.result == 1  # halt=False: commands after a failure still run
    assert emu.stats()["requests"] == 1


def test_halt_skips_the_rest(client: Client) -> None:
    batch = client.batch(halt=True)
    first = batch.crm.status.get(id=1)
    missing = batch.crm.status.get(id=999_999)
    skipped = batch.crm.status.add(fields={"ENTITY_ID": "SOURCE", "STATUS_ID": "NEVER", "NAME": "Never"})
    batch.execute()
    assert first.ok and isinstance(missing.error, errors.StatusNotFoundError)
    assert isinstance(skipped.error, BatchCommandSkipped)
    assert "NEVER" not in [s.status_id for s in client.crm.status.list(filter={"ENTITY_ID": "SOURCE"})]


def test_more_than_50_commands_are_chunked(emu: Emulator, client: Client) -> None:
    batch = client.batch()
    handles = [
        batch.crm.status.add(fields={"ENTITY_ID": "SOURCE", "STATUS_ID": f"BULK_{i:03d}", "NAME": f"Bulk {i}"})
        for i in range(120)
    ]
    checks = [batch.crm.status.get(id=h.ref()) for h in handles[100:]]  # same chunk as their targets
    batch.execute()

    assert all(h.ok for h in handles + checks)
    assert len({h.result for h in handles}) == 120
    assert [c.result.status_id for c in checks] == [f"BULK_{i:03d}" for i in range(100, 120)]
    stats = emu.stats()
    assert stats["by_method"] == {"batch": 3} and stats["batch_subcalls"] == 140
    codes = {s.status_id for s in client.crm.status.list(filter={"ENTITY_ID": "SOURCE"})}
    assert {f"BULK_{i:03d}" for i in range(120)} <= codes


def test_a_reference_across_chunks_is_refused_before_sending(emu: Emulator, client: Client) -> None:
    batch = client.batch()
    first = batch.crm.status.add(fields={"ENTITY_ID": "SOURCE", "STATUS_ID": "EARLY", "NAME": "Early"})
    for i in range(55):
        batch.crm.status.get(id=1 + i % 5)
    batch.crm.status.get(id=first.ref())  # command 57, second chunk
    with pytest.raises(BatchError, match="earlier chunk"):
        batch.execute()
    assert emu.stats()["requests"] == 0


def test_raw_commands_and_validation_inside_a_batch(emu: Emulator, client: Client) -> None:
    batch = client.batch()
    raw = batch.call("crm.status.entity.items", {"entityId": "QUOTE_STATUS"})
    with pytest.raises(errors.RequestValidationError):
        batch.crm.duplicate.findbycomm(type="FAX", values=["1"])  # refused when enqueued, not later
    batch.execute()
    first = raw.result[0]
    assert isinstance(first, dict)  # plain JSON, not models
    assert (first["STATUS_ID"], first["SORT"]) == ("DRAFT", 10)
    assert emu.stats()["batch_subcalls"] == 1


@pytest.mark.parametrize(("kind", "error", "status"), [("internal_error", errors.ServerInternalError, 500)])
def test_a_command_error_means_what_the_same_error_means_outside_a_batch(
    emu: Emulator, client: Client, kind: str, error: type[errors.APIError], status: int
) -> None:
    """Same code, same class, same status and same ``may_have_run``, whether it arrives alone or in a batch."""
    emu.faults.add(method="crm.status.fields", kind=kind, in_batch=True)
    batch = client.batch()
    handle = batch.crm.status.fields()
    batch.execute()
    inside = handle.error
    emu.faults.add(method="crm.status.fields", kind=kind, times=4)
    with pytest.raises(error) as alone:
        client.crm.status.fields()
    assert type(inside) is type(alone.value) is error
    assert isinstance(inside, errors.APIError)
    assert (inside.http_status, inside.may_have_run, inside.kind) == (status, True, alone.value.kind)
    assert alone.value.http_status == status and alone.value.may_have_run


def test_a_documented_command_error_keeps_its_rows_status(client: Client) -> None:
    batch = client.batch()
    handle = batch.crm.status.get(id=987654)
    batch.execute()
    assert isinstance(handle.error, errors.StatusNotFoundError)
    assert handle.error.http_status == errors.StatusNotFoundError.wire_status
    assert not handle.error.may_have_run  # not_found: the portal changed nothing
