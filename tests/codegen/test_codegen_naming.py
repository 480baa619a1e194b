"""The one renaming b24crm does: wire names -> snake_case (and PascalCase / CONSTANT for classes)."""

from __future__ import annotations

import keyword

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codegen.naming import FIELD_RESERVED, NAME_RESERVED, PARAMETER_RESERVED, constant, pascal, snake


@pytest.mark.parametrize(
    ("wire", "python"),
    [
        ("entityTypeId", "entity_type_id"),
        ("STATUS_ID", "status_id"),
        ("volatileType", "volatile_type"),
        ("mergeBatch", "merge_batch"),
        ("fieldCode", "field_code"),
        ("values", "values"),
        ("ENTITY_ID", "entity_id"),
        ("SEMANTIC_INFO", "semantic_info"),
        ("UF_CRM_1712345", "uf_crm_1712345"),
        ("isRequired", "is_required"),
        ("HTTPServer", "http_server"),
        ("getOrderOwnerTypes", "get_order_owner_types"),
        ("ownertype", "ownertype"),
        ("date_start", "date_start"),
        ("ID", "id"),
        ("id", "id"),
        ("entity-type", "entity_type"),
        ("a..b", "a_b"),
        ("__x__", "x"),
        ("class", "class_"),
        ("from", "from_"),
        ("None", "none"),  # lower-cased, so no longer a keyword
        ("self", "self_"),
        ("request_options", "request_options_"),
        ("limit", "limit_"),
        ("progress", "progress_"),
        ("afterId", "after_id_"),
        ("1C", "f_1_c"),  # a digit then a capital is a word boundary too
        ("", "f_"),
        ("%", "f_"),
    ],
)
def test_snake(wire: str, python: str) -> None:
    """Parameter names (the default role); the reserved ones are the runtime's and the templates' own."""
    assert snake(wire) == python


@pytest.mark.parametrize(
    ("wire", "python"),
    [
        ("crm.status.entity", "CrmStatusEntity"),
        ("crm.duplicate.volatileType", "CrmDuplicateVolatileType"),
        ("crm", "Crm"),
        ("crm.entity.mergeBatch", "CrmEntityMergeBatch"),
    ],
)
def test_pascal(wire: str, python: str) -> None:
    assert pascal(wire) == python


@pytest.mark.parametrize(
    ("wire", "python"),
    [
        ("crm.status.add", "CRM_STATUS_ADD"),
        ("crm.duplicate.volatileType.register", "CRM_DUPLICATE_VOLATILE_TYPE_REGISTER"),
        ("crm.enum.settings.mode", "CRM_ENUM_SETTINGS_MODE"),
    ],
)
def test_constant(wire: str, python: str) -> None:
    assert constant(wire) == python


WIRE = st.text(alphabet=st.characters(codec="ascii", categories=("L", "N", "P")), max_size=30)


@given(WIRE)
def test_snake_always_gives_a_usable_identifier(wire: str) -> None:
    name = snake(wire)
    assert name.isidentifier()
    assert not keyword.iskeyword(name)
    assert name == name.lower()
    assert "__" not in name


@given(WIRE.filter(lambda w: any(c.isalnum() for c in w)))
def test_snake_is_idempotent(wire: str) -> None:
    """Renaming a Python name again changes nothing (names with no letter or digit become a placeholder)."""
    assert snake(snake(wire)) == snake(wire)


@given(st.from_regex(r"[a-z]+([A-Z][a-z]+){0,4}", fullmatch=True))
def test_camel_case_round_trips(camel: str) -> None:
    name = snake(camel)
    rebuilt = name.rstrip("_").split("_")
    assert rebuilt[0] + "".join(p.capitalize() for p in rebuilt[1:]) == camel or keyword.iskeyword(camel)


@given(st.lists(st.from_regex(r"[a-z][a-zA-Z]{0,8}", fullmatch=True), min_size=1, max_size=5))
def test_pascal_and_constant_are_identifiers(segments: list[str]) -> None:
    dotted = ".".join(segments)
    assert pascal(dotted).isidentifier() and pascal(dotted)[0].isupper()
    assert constant(dotted).isidentifier() and constant(dotted) == constant(dotted).upper()


@pytest.mark.parametrize(
    ("wire", "reserved", "python"),
    [
        ("additional_properties", FIELD_RESERVED, "additional_properties_"),
        ("limit", FIELD_RESERVED, "limit"),  # a model field may be called limit: nothing else is
        ("class", FIELD_RESERVED, "class_"),
        ("class", NAME_RESERVED, "class_"),
        ("limit", NAME_RESERVED, "limit"),
        ("additional_properties", PARAMETER_RESERVED, "additional_properties"),
    ],
)
def test_reserved_names_by_role(wire: str, reserved: frozenset[str], python: str) -> None:
    assert snake(wire, reserved) == python
