"""The converter: every wire quirk handled in one place, in both directions, for every generated model."""

from __future__ import annotations

import datetime
import enum
import typing
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24crm import enums, models
from b24crm.runtime.converter import from_wire, to_wire
from b24crm.runtime.errors import ResponseDecodeError
from b24crm.runtime.types import UNSET


def test_numbers_sent_as_strings_become_ints() -> None:
    status = from_wire({"ID": "101", "SORT": "10", "CATEGORY_ID": None, "SYSTEM": "Y"}, models.Status, "crm.status.get")
    assert (status.id, status.sort, status.category_id) == (101, 10, None)


def test_yn_flags_are_strict_booleans() -> None:
    assert from_wire({"SYSTEM": "N"}, models.Status, "m").system is False  # cattrs' default would say True
    assert from_wire({"SYSTEM": "Y"}, models.Status, "m").system is True
    with pytest.raises(ResponseDecodeError, match=r"result\.SYSTEM"):
        from_wire({"SYSTEM": "maybe"}, models.Status, "m")


def test_an_empty_list_is_an_empty_object() -> None:
    entity = from_wire({"ID": "DYNAMIC_177_STAGE_7", "NAME": "x", "SEMANTIC_INFO": []}, models.StatusEntityType, "m")
    assert entity.semantic_info == models.StatusSemanticInfo()
    found = from_wire([], models.DuplicateFindbycommResult, "crm.duplicate.findbycomm")
    assert (found.lead, found.contact, found.company) == (None, None, None)


def test_unknown_keys_are_kept_not_dropped() -> None:
    status = from_wire({"ID": "1", "UF_CRM_COLOR_HINT": "warm"}, models.Status, "m")
    assert status.additional_properties == {"UF_CRM_COLOR_HINT": "warm"}
    assert to_wire(status)["UF_CRM_COLOR_HINT"] == "warm"


def test_enums_tolerate_values_the_docs_do_not_list() -> None:
    known = from_wire({"ID": 1, "TYPE_ID": 3}, models.StageHistoryItem, "m")
    assert known.type_id is enums.StageHistoryEntryType.FINALIZATION
    assert from_wire({"ID": 1, "TYPE_ID": "2"}, models.StageHistoryItem, "m").type_id == 2
    new = from_wire({"ID": 1, "TYPE_ID": 9}, models.StageHistoryItem, "m")
    assert new.type_id == 9 and not isinstance(new.type_id, enum.Enum)


def test_datetimes_keep_their_offset() -> None:
    item = from_wire({"ID": 1, "CREATED_TIME": "2024-03-01T10:00:00+03:00"}, models.StageHistoryItem, "m")
    assert item.created_time == datetime.datetime(2024, 3, 1, 7, 0, tzinfo=datetime.UTC)


def test_decode_errors_name_the_wire_path_not_the_python_name() -> None:
    page = {"items": [{"ID": 1, "OWNER_ID": 5}, {"ID": 2, "OWNER_ID": "five"}]}
    with pytest.raises(ResponseDecodeError) as caught:
        from_wire(page, models.StageHistoryPage, "crm.stagehistory.list")
    message = str(caught.value)
    assert "crm.stagehistory.list" in message and "result.items[1].OWNER_ID" in message
    assert "owner_id" not in message


def test_request_models_drop_unset_send_null_and_flags_as_y_n() -> None:
    fields = models.StatusAddFields(entity_id="SOURCE", status_id="FAIR", name="Fair", semantics=None)
    assert to_wire(fields) == {"ENTITY_ID": "SOURCE", "STATUS_ID": "FAIR", "NAME": "Fair", "SEMANTICS": None}
    assert to_wire(models.StatusDeleteParams(forced=True)) == {"FORCED": "Y"}
    assert to_wire(models.StatusDeleteParams()) == {}
    assert to_wire({"fields": fields, "id": UNSET}) == {"fields": to_wire(fields)}


def test_enum_members_go_out_as_their_values() -> None:
    assert to_wire({"type": enums.CommunicationType.PHONE}) == {"type": "PHONE"}


# --- every generated response model: random wire data structures, and survives a round trip -----------

RESPONSE_MODELS = sorted(
    (cls for cls in vars(models).values() if attrs.has(cls) and "additional_properties" in attrs.fields_dict(cls)),
    key=lambda c: c.__name__,
)


def _wire_value(tp: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Wire data for a Python annotation, in the forms real portals send."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, __import__("types").UnionType):
        return st.one_of([_wire_value(a, depth) for a in args])
    if tp is type(None):
        return st.none()
    if tp is int:
        return st.integers(-(10**6), 10**6).flatmap(lambda n: st.sampled_from([n, str(n)]))
    if tp is float:
        return st.floats(-1e6, 1e6, allow_nan=False)
    if tp is bool:
        return st.sampled_from([True, False, "Y", "N"])
    if tp is str:
        return st.text(max_size=8)
    if tp is datetime.datetime:
        return st.datetimes(timezones=st.just(datetime.UTC)).map(lambda d: d.isoformat())
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from([m.value for m in tp])
    if origin is list:
        return st.lists(_wire_value(args[0], depth + 1), max_size=3)
    if origin is dict:
        return st.dictionaries(st.text(min_size=1, max_size=5), _wire_value(args[1], depth + 1), max_size=3)
    if attrs.has(tp):
        return _model_wire(tp, depth + 1)
    return st.one_of(st.none(), st.integers(), st.text(max_size=5))


def _model_wire(cls: type, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    hints = typing.get_type_hints(cls)
    fields = {
        a.metadata["wire"]: _wire_value(hints[a.name], depth)
        for a in attrs.fields(cls)
        if "wire" in a.metadata and depth < 3
    }
    required = {a.metadata["wire"] for a in attrs.fields(cls) if "wire" in a.metadata and a.default is attrs.NOTHING}
    return st.fixed_dictionaries(
        {k: v for k, v in fields.items() if k in required},
        optional={k: v for k, v in fields.items() if k not in required},
    )


@pytest.mark.parametrize("cls", RESPONSE_MODELS, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_response_model_decodes_what_portals_send_and_round_trips(cls: type, data: st.DataObject) -> None:
    wire = data.draw(_model_wire(cls))
    decoded = from_wire(wire, cls, "m")
    assert from_wire(to_wire(decoded), cls, "m") == decoded


# --- the fast converter (inlined per-model functions) agrees with cattrs' detailed one on anything ------

_JUNK = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=3),
    st.booleans(),
    st.floats(allow_nan=False),
    st.just([]),
    st.just({}),
    st.sampled_from(["Y", "N", "1", "0", "P", "2024-01-01T00:00:00+00:00", " 5"]),
)


def _outcome(conv: Any, wire: Any, cls: type) -> tuple[str, Any]:
    try:
        return ("ok", conv.structure(wire, cls))
    except Exception:  # noqa: BLE001 - only "did it fail" matters here
        return ("error", None)


@pytest.mark.parametrize("cls", RESPONSE_MODELS, ids=lambda c: c.__name__)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_fast_and_detailed_converters_agree_even_on_junk(cls: type, data: st.DataObject) -> None:
    from b24crm.runtime.converter import CONVERTER, _detailed

    wire: Any = data.draw(_model_wire(cls))
    if wire and data.draw(st.booleans()):
        wire[data.draw(st.sampled_from(sorted(wire)))] = data.draw(_JUNK)
    if data.draw(st.booleans()):
        wire["UF_CRM_X"] = data.draw(_JUNK)
    if data.draw(st.integers(0, 9)) == 0:
        wire = data.draw(st.sampled_from([[], {}, None, 5, "x"]))
    assert _outcome(CONVERTER, wire, cls) == _outcome(_detailed(), wire, cls)
