"""Records a bulk read hands out undecoded (b24crm/runtime/record.py): each field decodes when first read.

The promise: a record read field by field, in any order, any number of fields, equals the record decoded at
once; a field that does not decode raises ResponseDecodeError naming the method, the record and the wire field
(never an AttributeError that ``getattr(..., default)`` would swallow); and nothing else about the model
changes (same class, frozen, equality, repr, pickling, copying, evolve).
"""

from __future__ import annotations

import copy
import datetime
import enum
import pickle
import subprocess
import sys
import threading
import types
import typing
from typing import Any, TypeVar

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24crm import models
from b24crm.runtime import converter
from b24crm.runtime.converter import LAZY_FIELDS, RecordDecoder, from_wire, records_from_wire
from b24crm.runtime.errors import ResponseDecodeError
from b24crm.runtime.record import WireRecord

T = TypeVar("T")
MODELS = [models.Deal, models.Contact, models.Company, models.Lead, models.Item, models.StageHistoryItem]
_NONE = type(None)


def _wire_values(tp: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values a portal may send for a field of type ``tp``: the wire's own shapes ("733", "Y", ISO strings)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([_wire_values(a, depth) if a is not _NONE else st.none() for a in typing.get_args(tp)])
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from([m.value for m in tp])
    if tp is int:
        return st.one_of(st.integers(-(10**6), 10**12), st.integers(0, 10**12).map(str), st.just(" 42 "))
    if tp is bool:
        return st.sampled_from(["Y", "N", "1", "0", "", True, False, 0, 1])
    if tp is float:
        return st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(), st.just("12.50"))
    if tp is str:
        return st.one_of(st.text(max_size=6), st.integers(0, 999))
    if tp is datetime.datetime:
        return st.datetimes(timezones=st.just(datetime.UTC)).map(datetime.datetime.isoformat)
    if tp is Any:
        return st.one_of(st.none(), st.integers(), st.text(max_size=4), st.lists(st.integers(), max_size=2))
    if origin is list:
        (inner,) = typing.get_args(tp)
        return st.lists(_wire_values(inner, depth + 1), max_size=2 if depth < 2 else 0)
    if origin is dict:
        return st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    if attrs.has(tp):
        return _wire_records(tp, depth + 1)
    raise AssertionError(f"no wire values for {tp!r}")


def _wire_records(cls: type, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    attrs.resolve_types(cls)
    optional = {
        a.metadata["wire"]: _wire_values(a.type, depth)
        for a in attrs.fields(cls)
        if "wire" in a.metadata and a.default is not attrs.NOTHING
    }
    required = {
        a.metadata["wire"]: _wire_values(a.type, depth)
        for a in attrs.fields(cls)
        if "wire" in a.metadata and a.default is attrs.NOTHING
    }
    user_fields = st.dictionaries(st.sampled_from(["UF_CRM_1", "UF_CRM_2", "ufCrm5Extra"]), st.text(max_size=3))
    return st.tuples(st.fixed_dictionaries(required, optional=optional), user_fields).map(lambda p: {**p[1], **p[0]})


def _names(cls: type) -> list[str]:
    return [a.name for a in attrs.fields(cls)]


def _lazy(wire: Any, cls: type[T], method: str = "crm.deal.list") -> T:
    (record,) = records_from_wire([wire], cls, method)
    assert isinstance(record, cls)
    return record


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_record_read_field_by_field_equals_the_record_decoded_at_once(cls: type, data: st.DataObject) -> None:
    wire = data.draw(_wire_records(cls), label="wire")
    order = data.draw(st.permutations(_names(cls)), label="order")
    count = data.draw(st.integers(0, len(order)), label="fields read")
    try:
        eager = from_wire(wire, cls, "m")
    except ResponseDecodeError:  # a value the spec refuses: reading the whole record refuses it too
        with pytest.raises(ResponseDecodeError):
            undecoded: Any = _lazy(wire, cls)
            for name in _names(cls):
                getattr(undecoded, name)
        return
    # The cattrs hooks are the reference: the inline fast paths ("733", "Y") must give exactly what they give.
    assert converter._detailed().structure(wire, cls) == eager
    record: Any = _lazy(wire, cls)
    assert type(record) is cls
    for name in order[:count]:
        assert getattr(record, name) == getattr(eager, name), name
    assert record == eager and repr(record) == repr(eager)


def _deal_wire(i: int = 7, **extra: Any) -> dict[str, Any]:
    return {
        "ID": str(i),
        "TITLE": f"Deal #{i}",
        "CATEGORY_ID": "0",
        "OPENED": "Y",
        "CLOSED": "N",
        "DATE_CREATE": "2024-01-01T10:00:00+03:00",
        "UF_CRM_1700000000": "EXT-7",
        **extra,
    }


def test_the_first_fields_decode_alone_and_one_more_decodes_the_rest() -> None:
    record = _lazy(_deal_wire(), models.Deal)
    wire_of = WireRecord._b24_wire.__get__  # type: ignore[attr-defined]
    read = ["id", "title", "opened"][:LAZY_FIELDS]
    for name in read:
        getattr(record, name)
    unread = [n for n in _names(models.Deal) if n not in read]
    for name in unread:  # nothing else decoded yet: the slots are still empty
        with pytest.raises(AttributeError):
            models.Deal.__dict__[name].__get__(record, models.Deal)
    assert record.closed is False  # one more field: every slot filled, the parsed object let go
    for name in unread:
        models.Deal.__dict__[name].__get__(record, models.Deal)
    with pytest.raises(AttributeError):
        wire_of(record)
    assert record.date_create == datetime.datetime(2024, 1, 1, 7, 0, tzinfo=datetime.UTC)
    assert record.additional_properties == {"UF_CRM_1700000000": "EXT-7"}


def test_values_handed_out_before_the_rest_is_decoded_stay_the_ones_in_the_model() -> None:
    wire = {"ID": "3", "NAME": "Ann", "PHONE": [{"ID": "1", "VALUE": "+1 555", "VALUE_TYPE": "WORK"}]}
    contact = _lazy(wire, models.Contact, "crm.contact.list")
    phones = contact.phone
    assert phones is not None and phones[0].value == "+1 555"
    for name in ["id", "name", "last_name", "email"]:  # past LAZY_FIELDS: the rest decoded at once
        getattr(contact, name)
    assert contact.phone is phones  # not a second, equal list: the caller's object is the model's


def test_a_field_that_does_not_decode_names_method_record_and_wire_field() -> None:
    record = _lazy(_deal_wire(ASSIGNED_BY_ID="nobody"), models.Deal, "crm.deal.list")
    assert record.id == 7  # the other fields still read
    with pytest.raises(ResponseDecodeError) as caught:
        record.assigned_by_id  # noqa: B018 - the read is the test
    message = str(caught.value)
    assert caught.value.method == "crm.deal.list"
    assert "record ID='7'" in message and "ASSIGNED_BY_ID" in message and "nobody" in message
    assert "assigned_by_id" not in message
    # A decode error is never an AttributeError, which getattr with a default or hasattr would swallow.
    with pytest.raises(ResponseDecodeError):
        getattr(record, "assigned_by_id", None)
    with pytest.raises(ResponseDecodeError):
        hasattr(record, "assigned_by_id")


def test_the_bad_field_is_named_when_it_is_decoded_with_the_rest() -> None:
    record = _lazy(_deal_wire(LEAD_ID="x1"), models.Deal)
    for name in ["id", "title", "opened"][:LAZY_FIELDS]:
        getattr(record, name)
    with pytest.raises(ResponseDecodeError, match=r"LEAD_ID"):
        record.closed  # noqa: B018 - decodes the rest, LEAD_ID among them


def test_a_record_that_is_not_an_object_fails_at_once_and_an_empty_list_is_an_empty_object() -> None:
    with pytest.raises(ResponseDecodeError, match=r"crm\.deal\.list: .*a record is str, not an object"):
        records_from_wire([_deal_wire(), "oops"], models.Deal, "crm.deal.list")
    empty = _lazy([], models.Deal)
    assert empty == models.Deal()


def test_the_model_behaves_as_one_decoded_at_once() -> None:
    wire = _deal_wire()
    eager = from_wire(wire, models.Deal, "m")

    def fresh() -> models.Deal:  # a new undecoded record for each check
        return _lazy(dict(wire), models.Deal)

    assert fresh() == eager and eager == fresh()
    assert repr(fresh()) == repr(eager)
    assert pickle.loads(pickle.dumps(fresh())) == eager
    assert copy.copy(fresh()) == eager and copy.deepcopy(fresh()) == eager
    assert attrs.evolve(fresh(), title="x") == attrs.evolve(eager, title="x")
    assert attrs.asdict(fresh()) == attrs.asdict(eager)
    assert converter.to_wire(fresh()) == converter.to_wire(eager)
    record = fresh()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.title = "changed"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="'Deal' object has no attribute 'titel'"):
        record.titel  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(AttributeError, match="'Deal' object has no attribute 'titel'"):
        models.Deal().titel  # type: ignore[attr-defined]  # noqa: B018


def test_threads_reading_the_same_records_all_see_the_decoded_values() -> None:
    wires = [_deal_wire(i) for i in range(1, 301)]
    eager = [from_wire(w, models.Deal, "m") for w in wires]
    records = records_from_wire(wires, models.Deal, "m")
    names = _names(models.Deal)
    seen: list[list[Any]] = []
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def reader(offset: int) -> None:
        start.wait()
        try:
            seen.append([[getattr(r, names[(offset + k) % len(names)]) for k in range(len(names))] for r in records])
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=reader, args=(i * 5,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert len(seen) == 8
    assert records == eager


def test_type_checkers_still_refuse_a_misspelt_field(tmp_path: Any) -> None:
    """WireRecord's __getattr__ is hidden from type checkers, so ``deal.titel`` stays a mypy error."""
    snippet = tmp_path / "use.py"
    snippet.write_text("from b24crm.models import Deal\n\ndef f(d: Deal) -> object:\n    return d.titel\n")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(snippet)], capture_output=True, text=True
    )
    assert done.returncode == 1, done.stdout
    assert '"Deal" has no attribute "titel"' in done.stdout


def _slots_filled(record: Any) -> bool:
    """Every field's slot holds a value and no parsed object is kept (as for a model decoded at once)."""
    try:
        WireRecord._b24_wire.__get__(record, type(record))  # type: ignore[attr-defined]
    except AttributeError:
        pass
    else:
        return False
    for name in _names(type(record)):
        try:
            type(record).__dict__[name].__get__(record, type(record))
        except AttributeError:
            return False
    return True


def test_a_bulk_read_whose_caller_reads_whole_records_decodes_the_next_pages_at_once() -> None:
    pages = [[_deal_wire(i) for i in range(start, start + 10)] for start in (1, 11, 21)]
    whole = RecordDecoder(models.Deal, "crm.deal.list")
    first = whole.decode(pages[0])
    assert not any(_slots_filled(r) for r in first)  # handed out undecoded
    for record in first[:6]:  # most of the page read in full
        attrs.asdict(record)
    second = whole.decode(pages[1])
    assert all(_slots_filled(r) for r in second) and not whole.lazy
    assert second == [from_wire(w, models.Deal, "m") for w in pages[1]]
    assert all(_slots_filled(r) for r in whole.decode(pages[2]))  # and stays so for the rest of the read

    few = RecordDecoder(models.Deal, "crm.deal.list")
    for record in few.decode(pages[0]):
        record.id  # noqa: B018 - one field of each record
    for record in few.decode(pages[1])[:5]:  # half the page read in full is not most of it
        attrs.asdict(record)
    assert few.lazy and not any(_slots_filled(r) for r in few.decode(pages[2]))
