"""crm.status.* (8 methods) through the generated client against the emulator: state, prefixes, typed rows."""

from __future__ import annotations

import pytest

from b24crm import Client, enums, errors, models
from b24crm.testing import Emulator


def _by_code(client: Client, entity_id: str) -> dict[str, models.Status]:
    return {s.status_id: s for s in client.crm.status.list(filter={"ENTITY_ID": entity_id}) if s.status_id}


def test_add_to_a_deal_funnel_gets_the_category_prefix(client: Client) -> None:
    new_id = client.crm.status.add(
        fields={"ENTITY_ID": "DEAL_STAGE_1", "STATUS_ID": "REVIEW", "NAME": "Review", "SORT": 36, "COLOR": "ABCDEF"}
    )
    assert isinstance(new_id, int) and new_id > 0

    item = client.crm.status.get(id=new_id)
    assert isinstance(item, models.Status)
    assert item.id == new_id
    assert item.entity_id == "DEAL_STAGE_1"
    assert item.status_id == "C1:REVIEW"
    assert item.category_id == 1
    assert item.name == "Review"
    assert item.sort == 36
    assert item.color == "#ABCDEF"  # the server prepends the missing '#'
    assert item.system is False  # "N" on the wire, a bool in the model
    assert item.semantics == "P"  # add without SEMANTICS stores P
    assert item.extra is not None and item.extra.semantics is enums.StatusExtraSemantics.PROCESS

    # list shows it in SORT order, between the seeded C1:DECISION (35) and C1:EXECUTING (40)
    codes = [s.status_id for s in client.crm.status.list(filter={"ENTITY_ID": "DEAL_STAGE_1"}, order={"SORT": "ASC"})]
    assert codes.index("C1:REVIEW") == codes.index("C1:DECISION") + 1
    assert codes.index("C1:EXECUTING") == codes.index("C1:REVIEW") + 1


def test_add_takes_a_model_and_replaces_a_foreign_prefix(client: Client) -> None:
    new_id = client.crm.status.add(
        fields=models.StatusAddFields(entity_id="DYNAMIC_177_STAGE_7", status_id="C9:CHECK", name="Check", sort=15)
    )
    item = client.crm.status.get(id=new_id)
    assert item.status_id == "DT177_7:CHECK"
    assert item.category_id == 7
    assert item.extra is None  # smart-process stages carry no EXTRA


def test_add_to_a_plain_directory_has_no_prefix_and_no_color(client: Client) -> None:
    new_id = client.crm.status.add(fields={"ENTITY_ID": "SOURCE", "STATUS_ID": "FAIR", "NAME": "Trade fair"})
    item = client.crm.status.get(id=new_id)
    assert (item.status_id, item.sort, item.color, item.category_id, item.extra) == ("FAIR", 10, None, None, None)
    assert "FAIR" in _by_code(client, "SOURCE")


def test_duplicate_status_id_is_a_typed_error(client: Client) -> None:
    with pytest.raises(errors.StatusDuplicateStatusIdError) as caught:
        client.crm.status.add(fields={"ENTITY_ID": "DEAL_STAGE_1", "STATUS_ID": "DECISION", "NAME": "Again"})
    assert isinstance(caught.value, errors.InvalidParams)
    assert caught.value.code == "ERROR_CORE"


def test_unknown_directory_is_rejected_by_the_server(client: Client) -> None:
    with pytest.raises(errors.StatusEntityTypeNotSupportedError):
        client.crm.status.add(fields={"ENTITY_ID": "NO_SUCH_DIRECTORY", "STATUS_ID": "X", "NAME": "x"})


def test_update_changes_name_sort_and_color_only(client: Client) -> None:
    decision = _by_code(client, "DEAL_STAGE_1")["C1:DECISION"]
    assert decision.id is not None
    assert (
        client.crm.status.update(id=decision.id, fields={"NAME": "Decision (board)", "SORT": 45, "COLOR": "#112233"})
        is True
    )
    after = client.crm.status.get(id=decision.id)
    assert (after.name, after.sort, after.color) == ("Decision (board)", 45, "#112233")
    assert after.status_id == "C1:DECISION" and after.entity_id == "DEAL_STAGE_1"

    # EXTRA.COLOR counts as a color change; a model works as well as a mapping
    assert (
        client.crm.status.update(
            id=decision.id, fields=models.StatusUpdateFields(extra=models.StatusUpdateExtra(color="445566"))
        )
        is True
    )
    assert client.crm.status.get(id=decision.id).color == "#445566"

    # none of NAME/SORT/COLOR: true, nothing changes
    assert client.crm.status.update(id=decision.id, fields={}) is True
    assert client.crm.status.get(id=decision.id) == client.crm.status.get(id=decision.id)
    unchanged = client.crm.status.get(id=decision.id)
    assert (unchanged.name, unchanged.sort, unchanged.color) == ("Decision (board)", 45, "#445566")


def test_update_of_a_missing_item_is_not_found(client: Client) -> None:
    with pytest.raises(errors.StatusNotFoundError) as caught:
        client.crm.status.update(id=999_999, fields={"NAME": "x"})
    assert isinstance(caught.value, errors.NotFound)


def test_delete_a_plain_item(client: Client) -> None:
    new_id = client.crm.status.add(fields={"ENTITY_ID": "DEAL_STAGE_2", "STATUS_ID": "TEMP", "NAME": "Temp", "SORT": 5})
    assert client.crm.status.delete(id=new_id) is True
    with pytest.raises(errors.StatusNotFoundError):
        client.crm.status.get(id=new_id)
    assert "C2:TEMP" not in _by_code(client, "DEAL_STAGE_2")


def test_delete_of_a_system_item_needs_forced(client: Client) -> None:
    new_stage = _by_code(client, "DEAL_STAGE_2")["C2:NEW"]
    assert new_stage.system is True and new_stage.id is not None
    with pytest.raises(errors.StatusSystemDeleteNotForcedError):
        client.crm.status.delete(id=new_stage.id)
    with pytest.raises(errors.StatusSystemDeleteNotForcedError):
        client.crm.status.delete(id=new_stage.id, params={"FORCED": "N"})
    assert "C2:NEW" in _by_code(client, "DEAL_STAGE_2")  # still there

    assert client.crm.status.delete(id=new_stage.id, params=models.StatusDeleteParams(forced=True)) is True
    assert "C2:NEW" not in _by_code(client, "DEAL_STAGE_2")

    call_work = _by_code(client, "CALL_LIST")["IN_WORK"]
    assert call_work.id is not None
    assert client.crm.status.delete(id=call_work.id, params={"FORCED": "Y"}) is True
    assert "IN_WORK" not in _by_code(client, "CALL_LIST")


def test_list_filters_and_orders(client: Client) -> None:
    rows = client.crm.status.list(filter={"ENTITY_ID": "DEAL_STAGE"}, order={"SORT": "DESC"})
    assert rows and all(isinstance(r, models.Status) for r in rows)
    assert {r.entity_id for r in rows} == {"DEAL_STAGE"}
    sorts = [r.sort for r in rows]
    assert sorts == sorted(sorts, reverse=True)  # typed ints, so numeric order
    won = next(r for r in rows if r.status_id == "WON")
    assert won.semantics == "S" and won.extra is not None and won.extra.semantics is enums.StatusExtraSemantics.SUCCESS
    everything = client.crm.status.list()
    assert len(everything) > len(rows)  # the whole set, no 50-row page
    assert {r.entity_id for r in everything} >= {"STATUS", "SOURCE", "DEAL_STAGE", "DEAL_STAGE_1", "QUOTE_STATUS"}


def test_fields_are_typed_descriptors(client: Client) -> None:
    fields = client.crm.status.fields()
    assert isinstance(fields, models.StatusFields)
    assert isinstance(fields.status_id, models.FieldDescriptor)
    assert fields.status_id.is_required is True and fields.status_id.is_immutable is True
    assert fields.id is not None and fields.id.is_read_only is True and fields.id.type == "integer"
    assert fields.name is not None and fields.name.is_required is True
    assert fields.extra is not None and fields.extra.type == "crm_status_extra"
    assert fields.system is not None and fields.system.type == "char"


def test_entity_items_sorted_and_case_insensitive(client: Client) -> None:
    items = client.crm.status.entity.items(entity_id="deal_stage_1")
    assert all(isinstance(i, models.StatusEntityItem) for i in items)
    assert [i.sort for i in items] == sorted(i.sort or 0 for i in items)
    codes = [i.status_id for i in items]
    assert codes[0] == "C1:NEW" and "C1:DECISION" in codes
    new_id = client.crm.status.add(
        fields={"ENTITY_ID": "DEAL_STAGE_1", "STATUS_ID": "FIRST", "NAME": "First", "SORT": 1}
    )
    assert client.crm.status.entity.items(entity_id="DEAL_STAGE_1")[0].status_id == "C1:FIRST"
    assert client.crm.status.delete(id=new_id) is True
    assert client.crm.status.entity.items(entity_id="NO_SUCH_DIRECTORY") == []


def test_entity_types_semantic_info(client: Client) -> None:
    types = {t.id: t for t in client.crm.status.entity.types()}
    assert all(isinstance(t, models.StatusEntityType) for t in types.values())

    deal = types["DEAL_STAGE"]
    assert deal.entity_type_id == 2 and deal.category_id == 0 and deal.prefix is None
    assert isinstance(deal.semantic_info, models.StatusSemanticInfo)
    assert (deal.semantic_info.start_field, deal.semantic_info.final_success_field) == ("NEW", "WON")
    assert deal.semantic_info.final_unsuccess_field == "LOSE"

    funnel = types["DEAL_STAGE_1"]
    assert (funnel.prefix, funnel.parent_id, funnel.category_id) == ("C1", "DEAL_STAGE", 1)
    assert funnel.semantic_info is not None and funnel.semantic_info.final_success_field == "C1:WON"

    dynamic = types["DYNAMIC_177_STAGE_7"]
    assert dynamic.entity_type_id == 177 and dynamic.prefix == "DT177_7"
    assert dynamic.semantic_info == models.StatusSemanticInfo()  # the wire's [] becomes an empty object
    assert dynamic.is_default_category is True and dynamic.category_name == "General"
    assert types["DYNAMIC_177_STAGE_9"].is_default_category is False

    assert types["SOURCE"].semantic_info is None
    assert (
        types["STATUS"].semantic_info is not None and types["STATUS"].semantic_info.final_success_field == "CONVERTED"
    )


def test_entity_types_follow_state(emu: Emulator, client: Client) -> None:
    """The directory list is the portal's, not a constant: a seedless portal has one deal funnel."""
    with Emulator(seed="empty") as empty, empty.client() as other:
        ids = {t.id for t in other.crm.status.entity.types()}
    assert "DEAL_STAGE" in ids and "DEAL_STAGE_1" not in ids
    assert "DEAL_STAGE_1" in {t.id for t in client.crm.status.entity.types()}
