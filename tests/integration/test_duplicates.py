"""crm.duplicate.findbycomm, crm.entity.mergeBatch and crm.duplicate.volatileType.* against the demo portal.

The demo seed has Anna Schmidt twice as a contact (phones "+1 (555) 010-0001" and "15550100001", e-mails
"anna@example.com" and " Anna@Example.com ") and once as lead 1; two identical "Contoso Ltd" companies (2, 4);
Boris (contact 2) and Erik (contact 6) share a phone but not a name.
"""

from __future__ import annotations

import pytest

from b24crm import Client, enums, errors, models
from b24crm.testing import Emulator


def test_findbycomm_phone_is_normalized(client: Client) -> None:
    for spelling in ("+1 555 010 0001", "1 (555) 010-0001", "15550100001;ext 7", "+1-555-010-0001 #22"):
        found = client.crm.duplicate.findbycomm(type="PHONE", values=[spelling])
        assert isinstance(found, models.DuplicateFindbycommResult)
        assert (found.lead, found.contact, found.company) == ([1], [1, 4], None), spelling


def test_findbycomm_email_is_normalized(client: Client) -> None:
    found = client.crm.duplicate.findbycomm(type=enums.CommunicationType.EMAIL, values=["  ANNA@example.COM "])
    assert (found.lead, found.contact, found.company) == ([1], [1, 4], None)


def test_findbycomm_several_values_and_entity_type(client: Client) -> None:
    found = client.crm.duplicate.findbycomm(type="PHONE", values=["+1 (555) 010-2000", "+1 555 010 3000"])
    assert found.contact == [5]  # Dana's number carries an extension, which is ignored
    assert found.company == [1, 2, 4]
    assert found.lead is None
    only = client.crm.duplicate.findbycomm(
        type="PHONE", values=["+1 555 010 0001"], entity_type=enums.DuplicateEntityType.CONTACT
    )
    assert (only.lead, only.contact, only.company) == (None, [1, 4], None)


def test_findbycomm_nothing_found_is_an_empty_result(client: Client) -> None:
    found = client.crm.duplicate.findbycomm(type="EMAIL", values=["nobody@nowhere.example"])
    assert found == models.DuplicateFindbycommResult()  # the wire's [] decodes to an empty result


def test_findbycomm_sees_entities_added_later(emu: Emulator, client: Client) -> None:
    new_id = emu.add_entity(
        "LEAD", {"TITLE": "Walk-in", "PHONE": [{"VALUE": "+44 20 7946 0000", "VALUE_TYPE": "WORK"}]}
    )
    found = client.crm.duplicate.findbycomm(type="PHONE", values=["442079460000"])
    assert found.lead == [new_id] and found.company == [3]


def test_findbycomm_more_than_20_values_is_refused_before_sending(emu: Emulator, client: Client) -> None:
    with pytest.raises(errors.RequestValidationError) as caught:
        client.crm.duplicate.findbycomm(type="EMAIL", values=[f"u{i}@example.com" for i in range(21)])
    assert [p.path for p in caught.value.problems] == ["values"]
    assert emu.stats()["requests"] == 0


def test_merge_batch_success_deletes_the_others(client: Client) -> None:
    result = client.crm.entity.merge_batch(params={"entityTypeId": 3, "entityIds": [1, 4]})
    assert isinstance(result, models.MergeBatchResult)
    assert result.status is enums.MergeStatus.SUCCESS
    assert result.entity_ids == [4]
    # contact 4 is gone; the survivor keeps both spellings' matches
    assert client.crm.duplicate.findbycomm(type="PHONE", values=["+1 555 010 0001"]).contact == [1]
    assert client.crm.duplicate.findbycomm(type="EMAIL", values=["anna@example.com"]).contact == [1]


def test_merge_batch_companies_with_a_model(client: Client) -> None:
    result = client.crm.entity.merge_batch(params=models.MergeBatchParams(entity_type_id=4, entity_ids=[2, 4]))
    assert (result.status, result.entity_ids) == (enums.MergeStatus.SUCCESS, [4])
    assert client.crm.duplicate.findbycomm(type="PHONE", values=["+1 555 010 3000"]).company == [2]


def test_merge_batch_conflict_keeps_everything(client: Client) -> None:
    result = client.crm.entity.merge_batch(params={"entityTypeId": 3, "entityIds": [2, 6]})
    assert (result.status, result.entity_ids) == (enums.MergeStatus.CONFLICT, [6])
    assert client.crm.duplicate.findbycomm(type="PHONE", values=["+1 555 010 0002"]).contact == [2, 6]


def test_merge_batch_errors(client: Client) -> None:
    with pytest.raises(errors.MergeTooFewEntityIdsError):
        client.crm.entity.merge_batch(params={"entityTypeId": 3, "entityIds": [1, 999_999]})  # unknown IDs dropped
    with pytest.raises(errors.MergeNoValidEntityIdsError):
        client.crm.entity.merge_batch(params={"entityTypeId": 3, "entityIds": [999_998, 999_999]})
    with pytest.raises(errors.MergeOwnerNotFoundError) as caught:
        client.crm.entity.merge_batch(params={"entityTypeId": 9, "entityIds": [1, 4]})
    assert isinstance(caught.value, errors.NotFound)


def test_volatile_type_fields(client: Client) -> None:
    lead_fields = client.crm.duplicate.volatile_type.fields(entity_type_id=enums.VolatileTypeEntityType.LEAD)
    assert lead_fields and all(isinstance(f, models.VolatileTypeField) for f in lead_fields)
    assert {f.entity_type_id for f in lead_fields} == {1}
    assert "TITLE" in {f.field_code for f in lead_fields}
    everything = client.crm.duplicate.volatile_type.fields()
    assert {f.entity_type_id for f in everything} == {1, 3, 4}
    assert len(everything) > len(lead_fields)


def test_volatile_type_register_list_unregister(client: Client) -> None:
    assert client.crm.duplicate.volatile_type.list() == []
    registered = client.crm.duplicate.volatile_type.register(entity_type_id=1, field_code="TITLE")
    assert isinstance(registered, models.VolatileTypeRegisterResult) and isinstance(registered.id, int)
    again = client.crm.duplicate.volatile_type.register(entity_type_id=1, field_code="TITLE")
    assert again.id == registered.id  # re-registering returns the existing record
    company = client.crm.duplicate.volatile_type.register(entity_type_id=4, field_code="RQ.DE.NAME")

    records = client.crm.duplicate.volatile_type.list()
    assert all(isinstance(r, models.VolatileTypeRecord) for r in records)
    assert {(r.id, r.entity_type_id, r.field_code) for r in records} == {
        (registered.id, 1, "TITLE"),
        (company.id, 4, "RQ.DE.NAME"),
    }

    assert client.crm.duplicate.volatile_type.unregister(id=registered.id or 0) is True
    assert [r.field_code for r in client.crm.duplicate.volatile_type.list()] == ["RQ.DE.NAME"]
    with pytest.raises(errors.VolatileTypeNotAssignedError):
        client.crm.duplicate.volatile_type.unregister(id=registered.id or 0)


def test_volatile_type_limits(client: Client) -> None:
    with pytest.raises(errors.VolatileTypeFieldNotFoundError):
        client.crm.duplicate.volatile_type.register(entity_type_id=1, field_code="NO_SUCH_FIELD")
    codes = [f.field_code for f in client.crm.duplicate.volatile_type.fields(entity_type_id=1)]
    for code in codes[:7]:
        client.crm.duplicate.volatile_type.register(entity_type_id=1, field_code=code or "")
    with pytest.raises(errors.VolatileTypeMaxTypesCountExceededError):
        client.crm.duplicate.volatile_type.register(entity_type_id=1, field_code=codes[7] or "")
    assert len(client.crm.duplicate.volatile_type.list()) == 7
