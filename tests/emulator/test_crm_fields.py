"""The emulator's field tables and the spec agree: every field the spec's models name is a field the emulated
object has, under the same wire name, and what the emulator answers decodes into those models."""

from __future__ import annotations

import warnings

import attrs
import pytest

from b24crm import models
from b24crm.testing.crm.fields import camel_name, schema_for, upper_name
from tests.emulator.conftest import Portal

CLASSIC = {"Lead": 1, "Deal": 2, "Contact": 3, "Company": 4}


def wire_names(model: type) -> set[str]:
    return {f.metadata["wire"] for f in attrs.fields(model) if "wire" in f.metadata}


@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_every_spec_field_is_emulated(name: str) -> None:
    spec_fields = wire_names(getattr(models, name))
    emulated = set(schema_for(CLASSIC[name]).by_upper)
    assert spec_fields - emulated == set()


@pytest.mark.parametrize("entity", ["deal", "lead", "contact", "company"])
def test_get_answers_only_spec_fields_and_user_fields(portal: Portal, entity: str) -> None:
    row = portal.ok(f"crm.{entity}.list", {"select": ["ID"], "start": -1})["result"][0]
    got = portal.ok(f"crm.{entity}.get", {"id": row["ID"]})["result"]
    spec_fields = wire_names(getattr(models, entity.capitalize()))
    extra = {k for k in got if k not in spec_fields and not k.startswith("UF_")}
    assert extra <= {"CONTACT_IDS"}  # the docs' crm.deal.fields lists it; the spec's Deal does not
    with portal.emu.client() as client, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Bitrix24 deprecates the per-entity API
        typed = getattr(client.crm, entity).get(id=int(row["ID"]))
    assert isinstance(typed, getattr(models, entity.capitalize())) and set(typed.additional_properties) <= extra


def test_user_field_names_round_trip() -> None:
    for upper, camel in (
        ("UF_CRM_1721244707107", "ufCrm_1721244707107"),
        ("UF_CRM_2_1639669411830", "ufCrm2_1639669411830"),
    ):
        assert camel_name(upper) == camel and upper_name(camel) == upper
