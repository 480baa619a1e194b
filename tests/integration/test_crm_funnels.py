"""crm.category.* (funnels) and crm.type.* (smart-process types) through the generated client.

Coherent with the seed methods: a funnel made by crm.category.add has its stage directory in
crm.status.entity.types (``DEAL_STAGE_<id>`` / ``DYNAMIC_<type>_STAGE_<id>``), a type made by crm.type.add
has a default funnel and stages, and items of the new type land on its stages.
"""

from __future__ import annotations

import pytest

from b24crm import Client, errors, models


def _directories(client: Client) -> set[str]:
    return {t.id for t in client.crm.status.entity.types()}


def test_deal_funnel_lifecycle(client: Client) -> None:
    listed = client.crm.category.list(entity_type_id=2)
    assert isinstance(listed, models.CategoryListResult)
    assert [(c.id, c.name, c.is_default) for c in listed.categories] == [
        (0, "General", True),
        (1, "Partners", False),
        (2, "Wholesale", False),
    ]

    made = client.crm.category.add(entity_type_id=2, fields={"name": "Enterprise", "sort": 50})
    assert isinstance(made, models.CategoryResult)
    funnel = made.category
    assert funnel.id is not None and (funnel.name, funnel.sort, funnel.entity_type_id) == ("Enterprise", 50, 2)
    assert funnel.is_default is False
    assert f"DEAL_STAGE_{funnel.id}" in _directories(client)  # the funnel's stage directory exists
    stages = [s.status_id for s in client.crm.status.entity.items(entity_id=f"DEAL_STAGE_{funnel.id}")]
    assert stages[0] == f"C{funnel.id}:NEW" and f"C{funnel.id}:WON" in stages

    assert client.crm.category.get(entity_type_id=2, id=funnel.id) == made
    renamed = client.crm.category.update(entity_type_id=2, id=funnel.id, fields={"name": "Enterprise (EU)"})
    assert renamed.category.name == "Enterprise (EU)" and renamed.category.sort == 50

    assert client.crm.category.delete(entity_type_id=2, id=funnel.id) is None  # success is "result": null
    with pytest.raises(errors.CategoryNotFoundError) as caught:
        client.crm.category.get(entity_type_id=2, id=funnel.id)
    assert isinstance(caught.value, errors.NotFound)
    assert f"DEAL_STAGE_{funnel.id}" not in _directories(client)


def test_a_funnel_with_deals_cannot_be_deleted(client: Client) -> None:
    with pytest.raises(errors.CategoryDealsExistError):
        client.crm.category.delete(entity_type_id=2, id=1)  # the demo's "Partners" holds deals
    assert [c.id for c in client.crm.category.list(entity_type_id=2).categories] == [0, 1, 2]


def test_category_fields_are_typed(client: Client) -> None:
    fields = client.crm.category.fields(entity_type_id=2).fields
    assert isinstance(fields, models.CategoryFieldDescriptors)
    assert fields.id is not None and fields.id.is_read_only is True and fields.id.type == "integer"
    assert fields.name is not None and fields.name.is_required is True
    assert fields.is_default is not None and fields.is_default.type == "boolean"


def test_smart_process_type_lifecycle(client: Client) -> None:
    (seeded,) = client.crm.type.list()
    assert isinstance(seeded, models.CrmType) and (seeded.title, seeded.entity_type_id) == ("Equipment Purchase", 177)

    made = client.crm.type.add(fields={"title": "Repairs", "isCategoriesEnabled": "Y", "isStagesEnabled": "Y"})
    assert isinstance(made, models.CrmTypeResult)
    kind = made.type
    assert kind.id is not None and kind.entity_type_id is not None and kind.entity_type_id >= 1030
    assert kind.title == "Repairs" and kind.is_categories_enabled is True and kind.is_stages_enabled is True
    assert client.crm.type.get(id=kind.id) == made
    assert client.crm.type.get_by_entity_type_id(entity_type_id=kind.entity_type_id) == made
    assert [t.id for t in client.crm.type.iter_all()] == [seeded.id, kind.id]

    (general,) = client.crm.category.list(entity_type_id=kind.entity_type_id).categories
    assert general.is_default is True and general.id is not None
    urgent = client.crm.category.add(entity_type_id=kind.entity_type_id, fields={"name": "Urgent", "sort": 10})
    assert urgent.category.id is not None
    directory = f"DYNAMIC_{kind.entity_type_id}_STAGE_{urgent.category.id}"
    assert {f"DYNAMIC_{kind.entity_type_id}_STAGE_{general.id}", directory} <= _directories(client)

    item = client.crm.item.add(
        entity_type_id=kind.entity_type_id, fields={"title": "Pump", "categoryId": urgent.category.id}
    ).item
    assert item.stage_id == f"DT{kind.entity_type_id}_{urgent.category.id}:NEW" and item.id is not None
    assert item.stage_id in [s.status_id for s in client.crm.status.entity.items(entity_id=directory)]

    with pytest.raises(errors.CrmTypeHasItemsError):
        client.crm.type.delete(id=kind.id)  # a type with items stays
    renamed = client.crm.type.update(id=kind.id, fields={"title": "Field repairs"})
    assert renamed.type.title == "Field repairs" and renamed.type.entity_type_id == kind.entity_type_id

    client.crm.item.delete(entity_type_id=kind.entity_type_id, id=item.id)
    client.crm.type.delete(id=kind.id)
    with pytest.raises(errors.CrmTypeNotFoundError):
        client.crm.type.get(id=kind.id)
    assert [t.id for t in client.crm.type.list()] == [seeded.id]
    assert not any(d.startswith(f"DYNAMIC_{kind.entity_type_id}_") for d in _directories(client))


def test_type_fields_are_descriptors(client: Client) -> None:
    fields = client.crm.type.fields().fields
    assert all(isinstance(d, models.CrmRestFieldDescriptor) for d in fields.values())
    assert fields["title"].is_required is True and fields["id"].is_read_only is True
    assert fields["isCategoriesEnabled"].type == "boolean"
