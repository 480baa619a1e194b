"""Wire <-> Python conversion: every quirk of what Bitrix24 really sends is handled here, once.

Generated models carry their wire names in field metadata (``{"wire": "STATUS_ID"}``); this module is the
only code that reads it. Quirks accepted on the way in (docs/protocol.md#json-quirks): numbers as strings (``"733"``),
``"Y"``/``"N"`` flags, ``[]`` for an empty object, enum values the docs do not list, and unknown keys
(portals add ``UF_*`` fields), which are kept in ``additional_properties`` rather than dropped.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import enum
import linecache
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import ClassValidationError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, make_mapping_structure_fn, override

from b24crm.runtime.errors import ResponseDecodeError
from b24crm.runtime.record import READERS, WireRecord
from b24crm.runtime.types import UNSET, Unset

T = TypeVar("T")

#: Field metadata keys written by the generator.
WIRE = "wire"
WIRE_TYPE = "wire_type"
ADDITIONAL = "additional"

_NONE = type(None)


def _int(value: Any, _: Any = None) -> int:
    if type(value) is int:  # the common case first: one type check per field of every record
        return value
    if isinstance(value, bool):
        raise TypeError(f"expected an integer, got boolean {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"expected an integer, got {value!r}")


def _float(value: Any, _: Any = None) -> float:
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got boolean {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a number, got {value!r}")


def _str(value: Any, _: Any = None) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string, got {value!r}")


_TRUE = {"Y", "y", "1", "true", "True"}
_FALSE = {"N", "n", "0", "false", "False", ""}


_FLAGS = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}


def _bool(value: Any, _: Any = None) -> bool:
    # cattrs' default is bool(value), which turns "N" into True: never that.
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
    raise ValueError(f"expected a Y/N flag or boolean, got {value!r}")


def _datetime(value: Any, _: Any = None) -> _dt.datetime:
    if isinstance(value, _dt.datetime):
        return value
    if isinstance(value, str):
        return _dt.datetime.fromisoformat(value)
    raise ValueError(f"expected an ISO-8601 date-time, got {value!r}")


def _any(value: Any, _: Any = None) -> Any:
    return value


def _is_open_enum(tp: Any) -> bool:
    """``SomeEnum | str`` (or ``| int``), optionally with ``| None``: an enum tolerant of new values."""
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return False
    args = typing.get_args(tp)
    enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
    rest = [a for a in args if a not in enums]
    return len(enums) == 1 and bool(rest) and all(a in (str, int, _NONE) for a in rest)


def _open_enum_hook(tp: Any) -> Callable[[Any, Any], Any]:
    args = typing.get_args(tp)
    enum_cls: type[enum.Enum] = next(a for a in args if isinstance(a, type) and issubclass(a, enum.Enum))
    nullable = _NONE in args
    int_valued = all(isinstance(m.value, int) for m in enum_cls)
    # A dict lookup instead of ``enum_cls(value)`` (EnumType.__call__ is slow); keyed by value *and* type so
    # that True never finds the member valued 1.
    members = {(type(m.value), m.value): m for m in enum_cls}

    def hook(value: Any, _: Any) -> Any:
        member = members.get((type(value), value)) if type(value) in (str, int) else None
        if member is not None:
            return member
        if value is None:
            if nullable:
                return None
            raise ValueError(f"expected a {enum_cls.__name__} value, got null")
        try:
            return enum_cls(value)
        except (ValueError, TypeError):
            pass
        if int_valued and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            try:
                return enum_cls(int(value))
            except ValueError:
                return int(value)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return value  # a value the docs do not list: kept as sent
        raise ValueError(f"expected a {enum_cls.__name__} value, got {value!r}")

    return hook


def _is_optional(tp: Any) -> bool:
    """``X | None`` with one other type (open enums, which also take ``str``/``int``, have their own hook)."""
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return False
    args = typing.get_args(tp)
    return len(args) == 2 and _NONE in args


def _is_mapping(tp: Any) -> bool:
    return typing.get_origin(tp) in (Mapping, dict, typing.Mapping)


def _wire_names(cls: type) -> dict[str, str]:
    return {a.name: a.metadata.get(WIRE, a.name) for a in attrs.fields(cls) if not a.metadata.get(ADDITIONAL)}


def _additional_field(cls: type) -> str | None:
    return next((a.name for a in attrs.fields(cls) if a.metadata.get(ADDITIONAL)), None)


def _yn(value: Any) -> Any:
    return ("Y" if value else "N") if isinstance(value, bool) else value


# --- fast model structuring ---------------------------------------------------------------------------------
# cattrs' generated structure functions call one hook per field (through ``Optional`` and enum wrappers), collect a
# kwargs dict and go through the attrs ``__init__``. Response decoding is the client's hot loop, so the fast converter
# builds its own function per model instead: the common wire shape of each field (an ``int`` that already is one, a
# ``str``, a known enum value, an ISO string) is checked inline and anything else is handed to the very hook cattrs
# would have used, so the accepted inputs and the results are the same. Slots are filled through their descriptors
# (generated models have no validators, converters or init hooks; any class that does falls back to cattrs).
# Errors need no care here: from_wire re-runs the detailed (cattrs) converter to name the failing wire path.

_MISSING: Any = object()
_SIMPLE_HOOKS: dict[type, Callable[[Any, Any], Any]] = {int: _int, str: _str, float: _float, bool: _bool}


def _as_mapping(value: Any, cls: type) -> Mapping[str, Any]:
    if isinstance(value, list) and not value:
        return {}  # an empty object arrives as []
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object for {cls.__name__}, got {type(value).__name__}")
    return value


@attrs.frozen
class _FieldCode:
    """How one field is read from a wire record: source lines that leave the field's value in ``v``."""

    name: str
    lines: tuple[str, ...]


@attrs.frozen
class _ModelCode:
    """A model's per-field decoding code and the names it refers to; the eager function and the lazy reader
    are both compiled from it, so a field decodes the same way in either."""

    cls: type
    fields: tuple[_FieldCode, ...]
    ns: dict[str, Any]

    def compile(self, kind: str, lines: list[str], entry: str) -> Any:
        source = "\n".join(lines) + "\n"
        filename = f"<b24crm {kind} {self.cls.__module__}.{self.cls.__qualname__}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # readable tracebacks
        exec(compile(source, filename, "exec"), self.ns)  # our own source, built from the model's fields
        return self.ns[entry]


def _model_code(conv: cattrs.Converter, cls: type) -> _ModelCode | None:
    """The per-field code of ``cls``, or None when the class needs the general cattrs path."""
    try:
        attrs.resolve_types(cls)
    except Exception:  # noqa: BLE001 - unresolvable annotations: let cattrs deal with (and report) them
        return None
    fields = attrs.fields(cls)
    slots = set(getattr(cls, "__slots__", ())) - {"__weakref__"}
    if (
        "__slots__" not in cls.__dict__
        or slots != {a.name for a in fields}  # every slot is a field: no hidden state __init__ would set
        or hasattr(cls, "__attrs_pre_init__")
        or hasattr(cls, "__attrs_post_init__")
    ):
        return None
    for a in fields:
        if a.validator is not None or a.converter is not None or not a.init:
            return None
        if isinstance(a.default, attrs.Factory) and a.default.takes_self:  # type: ignore[arg-type]
            return None
    extra = _additional_field(cls)
    if extra is not None and not isinstance(attrs.fields_dict(cls)[extra].default, attrs.Factory):  # type: ignore[arg-type]
        return None
    known = frozenset(_wire_names(cls).values())
    ns: dict[str, Any] = {
        "_cls": cls,
        "_new": object.__new__,
        "_dict": dict,
        "_as_mapping": _as_mapping,
        "_MISSING": _MISSING,
        "_known": known,
        "_fromiso": _dt.datetime.fromisoformat,
        "_strtype": str,
        "_inttype": int,
        "_flags": _FLAGS,
    }

    def lazy_hook(name: str, tp: Any) -> Callable[[Any, Any], Any]:
        # Resolved on first use (self-referencing models), then bound in the function's globals for good.
        def first(value: Any, t: Any) -> Any:
            hook = conv.get_structure_hook(tp)
            ns[name] = hook
            return hook(value, t)

        return first

    out: list[_FieldCode] = []
    for i, a in enumerate(fields):
        ns[f"_s{i}"] = getattr(cls, a.name).__set__  # the slot's member descriptor
        if a.name == extra:
            ns[f"_f{i}"] = a.default.factory
            code = [f"v = _f{i}() if _known.issuperset(d) else {{k: x for k, x in d.items() if k not in _known}}"]
            out.append(_FieldCode(a.name, tuple(code)))
            continue
        wire = a.metadata.get(WIRE, a.name)
        tp = a.type
        args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
        nullable = _NONE in args
        rest = [x for x in args if x is not _NONE]
        ns[f"_t{i}"] = tp
        body: list[str]  # converts v (never the missing marker) in place
        if _is_open_enum(tp):
            ns[f"_h{i}"] = conv.get_structure_hook(tp)
            enum_cls = next(x for x in rest if isinstance(x, type) and issubclass(x, enum.Enum))
            value_types = {type(m.value) for m in enum_cls}
            if len(value_types) == 1 and value_types <= {str, int}:
                # keyed by value, guarded by the exact type, so True never finds the member valued 1
                ns[f"_e{i}"] = {m.value: m for m in enum_cls}
                ns[f"_k{i}"] = value_types.pop()
                body = [
                    f"m = _e{i}.get(v) if v.__class__ is _k{i} else None",
                    f"v = _h{i}(v, _t{i}) if m is None else m",
                ]
            else:
                body = [f"v = _h{i}(v, _t{i})"]
            if nullable:
                body = ["if v is not None:"] + ["    " + line for line in body]
        elif len(rest) == 1 and rest[0] in _SIMPLE_HOOKS and conv.get_structure_hook(rest[0]) is _SIMPLE_HOOKS[rest[0]]:
            ns[f"_h{i}"] = conv.get_structure_hook(tp)
            ns[f"_c{i}"] = rest[0]
            guard = f"v.__class__ is not _c{i}" + (" and v is not None" if nullable else "")
            convert = [f"v = _h{i}(v, _t{i})"]
            if rest[0] is int:  # "733", as the older APIs send every number: what _int gives, inline
                fast = ["if v.__class__ is _strtype and v.isascii() and v.isdecimal():", "    v = _inttype(v)"]
                convert = [*fast, "else:", *_indent(convert, 4)]
            elif rest[0] is bool:  # "Y"/"N": what _bool gives, inline
                fast = ["if v.__class__ is _strtype and v in _flags:", "    v = _flags[v]"]
                convert = [*fast, "else:", *_indent(convert, 4)]
            body = [f"if {guard}:", *_indent(convert, 4)]
        elif len(rest) == 1 and rest[0] is _dt.datetime and conv.get_structure_hook(_dt.datetime) is _datetime:
            ns[f"_h{i}"] = conv.get_structure_hook(tp)
            body = ["if v.__class__ is str:", "    v = _fromiso(v)"]
            body += ["elif v is not None:" if nullable else "else:", f"    v = _h{i}(v, _t{i})"]
        elif tp is Any and conv.get_structure_hook(Any) is _any:
            body = []
        else:
            nullable = False  # the hook decides what None means
            ns[f"_h{i}"] = lazy_hook(f"_h{i}", tp)
            body = [f"v = _h{i}(v, _t{i})"]
        if a.default is attrs.NOTHING:
            code = [f"v = d[{wire!r}]", *body]
        elif a.default is None and nullable:
            code = [f"v = d.get({wire!r})", *body]  # missing and null are both the default, None
        else:
            if isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]
                ns[f"_f{i}"] = a.default.factory
                default = f"_f{i}()"
            else:
                ns[f"_d{i}"] = a.default
                default = f"_d{i}"
            code = [f"v = d.get({wire!r}, _MISSING)", "if v is _MISSING:", f"    v = {default}"]
            if body:
                code += ["else:"] + ["    " + line for line in body]
        out.append(_FieldCode(a.name, tuple(code)))
    return _ModelCode(cls, tuple(out), ns)


def _indent(lines: Iterable[str], depth: int) -> list[str]:
    return [" " * depth + line for line in lines]


def _fast_model_structure(conv: cattrs.Converter, cls: type) -> Callable[[Any, Any], Any] | None:
    """A structure function specialised to ``cls``, or None when the class needs the general cattrs path."""
    code = _model_code(conv, cls)
    if code is None:
        return None
    lines = [
        "def structure(d, _):",
        "    if d.__class__ is not _dict:",  # decoded JSON is always a dict: the checks are the slow path
        "        d = _as_mapping(d, _cls)",
        "    o = _new(_cls)",
    ]
    lines += _fill_lines(code)
    lines.append("    return o")
    fn: Callable[[Any, Any], Any] = code.compile("structure", lines, "structure")
    return fn


def _fill_lines(code: _ModelCode) -> list[str]:
    """The body that decodes every field of ``d`` into the slots of ``o``."""
    lines: list[str] = []
    for i, f in enumerate(code.fields):
        lines += [*_indent(f.lines, 4), f"    _s{i}(o, v)"]
    return lines


# --- records decoded field by field (b24crm/runtime/record.py) ----------------------------------------------
#: Fields a lazily handed-out record decodes one at a time (about 1 µs each, most of it Python's attribute
#: miss); the next field read decodes all the rest at once, at about the cost of decoding the record eagerly.
#: Two: an export that reads a record's ID and one more field pays two small decodes; one that reads more pays
#: one full decode and these two on top (BENCHMARKS.md section 8 measures both ways).
LAZY_FIELDS = 2

_LAZY: dict[type, bool] = {}  # model class -> whether records of it are handed out undecoded
_SET_WIRE = WireRecord._b24_wire.__set__  # type: ignore[attr-defined]
_SET_READ = WireRecord._b24_read.__set__  # type: ignore[attr-defined]
_DEL_WIRE = WireRecord._b24_wire.__delete__  # type: ignore[attr-defined]
_GET_READ = WireRecord._b24_read.__get__  # type: ignore[attr-defined]


def _lazy_reader(conv: cattrs.Converter, cls: type) -> bool:
    """Register ``cls``'s field-by-field reader in record.READERS; False when the class cannot be read so."""
    if not issubclass(cls, WireRecord):
        return False
    code = _model_code(conv, cls)
    if code is None:
        return False
    lines: list[str] = []
    readers: dict[str, Callable[[Any, dict[str, Any]], Any]] = {}
    for i, f in enumerate(code.fields):
        lines += [f"def read_{i}(o, d):", *_indent(f.lines, 4), f"    _s{i}(o, v)", "    return v", ""]
    # The rest at once: every field, as the eager function decodes them (read() then puts back the values
    # already handed out, so an object a caller holds stays the one in the model).
    lines += ["def fill(o, d):", *_fill_lines(code)]
    fill: Callable[[Any, dict[str, Any]], None] = code.compile("reader", lines, "fill")
    for i, f in enumerate(code.fields):
        readers[f.name] = code.ns[f"read_{i}"]

    def read(record: Any, wire: dict[str, Any], name: str) -> Any:
        reader = readers.get(name)
        if reader is None:
            raise AttributeError(f"{cls.__name__!r} object has no attribute {name!r}")
        held: list[Any] | _Page = _GET_READ(record)
        if isinstance(held, _Page):  # the first field read: until now the slot held only the page
            done: list[Any] = [held]
            _SET_READ(record, done)
        else:
            done = held
        full = len(done) > LAZY_FIELDS
        try:
            if not full:
                value = reader(record, wire)
                done.append(name)
                return value
            kept = [(read_name, getattr(record, read_name)) for read_name in done[1:]]
            fill(record, wire)
        except Exception:  # noqa: BLE001 - never an AttributeError (getattr would take it for "no such field")
            raise _record_error(done[0].method, wire, cls) from None
        done[0].filled += 1
        for read_name, value in kept:
            object.__setattr__(record, read_name, value)  # the slot, past the frozen model's __setattr__
        with contextlib.suppress(AttributeError):  # another thread may have filled it at the same moment
            _DEL_WIRE(record)  # every slot is filled: the parsed object is no longer needed
        return object.__getattribute__(record, name)

    READERS[cls] = read
    return True


def _record_error(method: str, wire: Mapping[str, Any], cls: type) -> ResponseDecodeError:
    record_id = wire.get("ID", wire.get("id"))
    where = f"record ID={record_id!r}" if record_id is not None else "a record"
    problems = [p.removeprefix("result.") for p in _problems(wire, cls)]
    return ResponseDecodeError(method, f"{where} does not match the spec: " + "; ".join(problems[:5]))


class _Page:
    """What the records of one page share while undecoded: the method (for error messages) and how many of
    them were decoded in full (``RecordDecoder`` reads it)."""

    __slots__ = ("filled", "method", "size")

    def __init__(self, method: str, size: int) -> None:
        self.method = method
        self.size = size
        self.filled = 0


def _can_be_lazy(cls: Any) -> bool:
    lazy = _LAZY.get(cls)
    if lazy is None:
        lazy = _LAZY[cls] = isinstance(cls, type) and attrs.has(cls) and _lazy_reader(CONVERTER, cls)
    return lazy


def _hand_out(records: list[Any], cls: type, page: _Page) -> list[Any]:
    new = object.__new__
    out: list[Any] = []
    for d in records:
        if d.__class__ is not dict:
            try:
                d = _as_mapping(d, cls)
            except ValueError:
                raise ResponseDecodeError(
                    page.method, f"response does not match the spec: a record is {type(d).__name__}, not an object"
                ) from None
        o: Any = new(cls)
        _SET_WIRE(o, d)
        _SET_READ(o, page)
        out.append(o)
    return out


class RecordDecoder:
    """The pages of one bulk read as ``cls`` models: handed out undecoded while the caller reads a few fields
    of each record, decoded at once from the page after one where most records were read in full (a caller
    that reads every field then pays one eager decode a record, not the field-by-field reads on top)."""

    def __init__(self, cls: Any, method: str) -> None:
        self._cls = cls
        self._list_type: Any = list[cls]
        self._method = method
        self._lazy = _can_be_lazy(cls)
        self._last: _Page | None = None

    @property
    def lazy(self) -> bool:
        """Whether the next page is handed out undecoded."""
        return self._lazy

    def decode(self, records: list[Any]) -> list[Any]:
        last = self._last
        if self._lazy and last is not None and last.filled * 2 > last.size:
            self._lazy = False  # this caller reads whole records: the rest of the read decodes them at once
        if not self._lazy:
            decoded: list[Any] = from_wire(records, self._list_type, self._method)
            return decoded
        self._last = page = _Page(self._method, len(records))
        return _hand_out(records, self._cls, page)


def records_from_wire(records: list[Any], cls: Any, method: str) -> list[Any]:
    """The records of one list page as ``cls`` models: handed out undecoded (each field decoded when first
    read, b24crm/runtime/record.py) for response models, decoded at once for anything else."""
    return RecordDecoder(cls, method).decode(records)


def _configure(conv: cattrs.Converter) -> cattrs.Converter:
    # Simple types first: model hooks built later pick them up (cattrs resolves hooks at build time).
    conv.register_structure_hook(int, _int)
    conv.register_structure_hook(float, _float)
    conv.register_structure_hook(str, _str)
    conv.register_structure_hook(bool, _bool)
    conv.register_structure_hook(_dt.datetime, _datetime)
    conv.register_structure_hook(Any, _any)
    conv.register_unstructure_hook(_dt.datetime, lambda d: d.isoformat())
    conv.register_unstructure_hook(Unset, lambda _: None)
    conv.register_structure_hook_factory(_is_open_enum, _open_enum_hook)

    def optional_factory(tp: Any) -> Callable[[Any, Any], Any]:
        # cattrs' own Optional handling looks the inner hook up on every call; resolve it once (lazily, so
        # self-referencing models work) — this is on the path of every nullable field of every record.
        inner_type = next(a for a in typing.get_args(tp) if a is not _NONE)
        if inner_type in (int, str):
            plain, convert = inner_type, conv.get_structure_hook(inner_type)

            def simple(value: Any, _: Any) -> Any:
                if type(value) is plain or value is None:  # already the right type: nothing to convert
                    return value
                return convert(value, plain)

            return simple
        inner: Callable[[Any, Any], Any] | None = None

        def hook(value: Any, _: Any) -> Any:
            nonlocal inner
            if value is None:
                return None
            if inner is None:
                inner = conv.get_structure_hook(inner_type)
            return inner(value, inner_type)

        return hook

    conv.register_structure_hook_factory(_is_optional, optional_factory)

    def mapping_factory(tp: Any) -> Callable[[Any, Any], Any]:
        key, val = typing.get_args(tp) or (str, Any)
        if key is str and val is Any:  # a parsed JSON object already is one: its keys are strings

            def as_is(value: Any, _: Any) -> Any:
                if value.__class__ is dict:
                    return value
                return {_str(k): v for k, v in _as_mapping(value, dict).items()}  # [] (PHP's empty array) too

            return as_is
        inner = make_mapping_structure_fn(dict[key, val], conv, key_type=key, val_type=val)  # type: ignore[valid-type]

        def hook(value: Any, _: Any) -> Any:
            if isinstance(value, list) and not value:
                return {}  # PHP encodes an empty array as []
            return inner(value, tp)

        return hook

    conv.register_structure_hook_factory(_is_mapping, mapping_factory)

    def model_structure(cls: type) -> Callable[[Any, Any], Any]:
        if not conv.detailed_validation:  # the detailed converter keeps cattrs' functions: they name the path
            fast = _fast_model_structure(conv, cls)
            if fast is not None:
                return fast
        names = _wire_names(cls)
        extra = _additional_field(cls)
        overrides = {py: override(rename=wire) for py, wire in names.items()}
        if extra is not None:
            overrides[extra] = override(omit=True)
        base: Callable[[Any, Any], Any] = make_dict_structure_fn(cls, conv, **overrides)  # type: ignore[arg-type]
        known = frozenset(names.values())

        def hook(value: Any, _: Any) -> Any:
            if type(value) is not dict:  # decoded JSON is always a dict: the checks below are the slow path
                if isinstance(value, list) and not value:
                    value = {}  # an empty object arrives as []
                if not isinstance(value, Mapping):
                    raise ValueError(f"expected an object for {cls.__name__}, got {type(value).__name__}")
            obj = base(value, cls)
            if extra is not None and not known.issuperset(value):
                leftovers = {k: v for k, v in value.items() if k not in known}
                object.__setattr__(obj, extra, leftovers)  # frozen model: set once, at birth
            return obj

        return hook

    def model_unstructure(cls: type) -> Callable[[Any], Any]:
        names = _wire_names(cls)
        extra = _additional_field(cls)
        plan = [
            (a.name, names[a.name], a.metadata.get(WIRE_TYPE) == "yn-bool")
            for a in attrs.fields(cls)
            if a.name in names
        ]

        def hook(obj: Any) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for py, wire, yn in plan:
                value = getattr(obj, py)
                if value is UNSET:
                    continue  # absent: not sent at all
                out[wire] = _yn(value) if yn else conv.unstructure(value)
            if extra is not None:
                out.update(getattr(obj, extra))
            return out

        return hook

    conv.register_structure_hook_factory(attrs.has, model_structure)
    conv.register_unstructure_hook_factory(attrs.has, model_unstructure)
    conv.register_unstructure_hook_factory(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), lambda _: lambda e: e.value
    )
    return conv


#: The fast converter used on every response.
CONVERTER: cattrs.Converter = _configure(cattrs.Converter(detailed_validation=False))
_DETAILED: cattrs.Converter | None = None


def _detailed() -> cattrs.Converter:
    global _DETAILED
    if _DETAILED is None:
        _DETAILED = _configure(cattrs.Converter(detailed_validation=True))
    return _DETAILED


def to_wire(value: Any) -> Any:
    """Python value (models, enums, mappings, lists) -> JSON-ready wire value; UNSET keys are dropped."""
    if value is UNSET:
        return None
    if attrs.has(type(value)):
        return CONVERTER.unstructure(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {k: to_wire(v) for k, v in value.items() if v is not UNSET}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    return value


def from_wire(value: Any, tp: Any, method: str) -> Any:
    """Wire value -> the declared Python type; a mismatch raises ResponseDecodeError naming the wire path."""
    try:
        return CONVERTER.structure(value, tp)
    except Exception:  # noqa: BLE001 - re-run with detail to say where
        problems = list(_problems(value, tp))
        raise ResponseDecodeError(method, "response does not match the spec: " + "; ".join(problems[:5])) from None


def _problems(value: Any, tp: Any) -> Iterator[str]:
    try:
        _detailed().structure(value, tp)
    except Exception as exc:  # noqa: BLE001
        yield from _walk(exc, "result")
    else:  # pragma: no cover - the fast and detailed converters agree
        yield "result: could not be decoded"


def _walk(exc: BaseException, path: str) -> Iterator[str]:
    if isinstance(exc, ClassValidationError):
        names = _wire_names(exc.cl) if attrs.has(exc.cl) else {}
        # group_exceptions() -> (with notes, without notes); notes name the failing attribute.
        attr_noted, attr_other = exc.group_exceptions()
        for sub, attr_note in attr_noted:
            yield from _walk(sub, f"{path}.{names.get(attr_note.name, attr_note.name)}")
        for sub in attr_other:
            yield from _walk(sub, path)
    elif isinstance(exc, IterableValidationError):
        item_noted, item_other = exc.group_exceptions()
        for sub, item_note in item_noted:
            yield from _walk(sub, f"{path}[{item_note.index!r}]")
        for sub in item_other:
            yield from _walk(sub, path)
    elif isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _walk(inner, path)
    else:
        yield f"{path}: {exc}"
