"""Values between the wire and the store: parse what a client sends, render what each API answers.

The store keeps typed Python values (int, float, bool, str, lists, multifield dicts) under canonical names;
the classic API renders them as PHP's classic proxies do (numbers as strings, ``Y``/``N``, money with two
decimals), ``crm.item`` as typed JSON (numbers as numbers, booleans still ``Y``/``N`` as the docs' examples
show). Keeping both renderings here means the naming table in :mod:`fields` is the only other place that
knows how an object looks on the wire.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from b24crm.testing.crm.fields import Field, parse_time
from b24crm.testing.methods.common import php_intval

__all__ = [
    "InvalidValue",
    "Reader",
    "classic_renderer",
    "item_renderer",
    "parse_value",
    "reader",
    "render_classic",
    "render_item",
]

_INT = re.compile(r"^\s*-?\d+\s*$")
_TRUE = {"Y", "y", "1", "true", "TRUE", "True"}
#: Flags the store keeps only when true (see ``store._flags``).
_DERIVED_FLAGS = {"HAS_PHONE": "PHONE", "HAS_EMAIL": "EMAIL", "HAS_IMOL": "IM"}
_FALSE = {"N", "n", "0", "false", "FALSE", "False", ""}


class InvalidValue(ValueError):
    """A value that does not fit its field; ``multiple`` marks a scalar sent to a multiple field."""

    def __init__(self, field: Field, *, multiple: bool = False, got: str = "") -> None:
        super().__init__(field.upper)
        self.field = field
        self.multiple = multiple
        self.got = got


def _php_type(value: Any) -> str:
    """The PHP ``gettype`` word for a scalar (the server's 'got `type` instead' message)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    return "string"


def parse_value(field: Field, raw: Any, *, classic: bool) -> Any:
    """A wire value as stored. Classic proxies coerce like PHP (``intval``, anything but ``Y`` is ``N``);
    crm.item validates and raises :class:`InvalidValue` for what its field converter refuses."""
    if field.multiple and field.kind != "multifield":
        if isinstance(raw, dict):
            raw = list(raw.values())
        if not isinstance(raw, list):
            if raw is None or raw == "":
                return []
            if not classic:
                raise InvalidValue(field, multiple=True, got=_php_type(raw))
            raw = [raw]
        single = _SCALAR[field.kind]
        return [v for v in (single(field, r, classic) for r in raw) if v is not None]
    return _SCALAR[field.kind](field, raw, classic)


def _int(field: Field, raw: Any, classic: bool) -> int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return int(raw)
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and _INT.match(raw):
        return int(raw)
    if classic:
        return php_intval(raw)
    raise InvalidValue(field)


def _float(field: Field, raw: Any, classic: bool) -> float | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    try:
        return float(str(raw).strip())
    except ValueError:
        if classic:
            return 0.0
        raise InvalidValue(field) from None


def _bool(field: Field, raw: Any, classic: bool) -> bool | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        return raw
    text = str(raw)
    if text in _TRUE:
        return True
    if text in _FALSE or classic:
        return False
    raise InvalidValue(field)


def _time(field: Field, raw: Any, classic: bool) -> str | None:
    if raw is None or raw == "" or (classic and parse_time(raw) is None):
        return None  # a classic proxy leaves a date it cannot read empty
    if parse_time(raw) is None:
        raise InvalidValue(field)
    return str(raw)


def _str(field: Field, raw: Any, classic: bool) -> Any:
    if field.dynamic:
        return raw  # user fields keep what was sent (a list for a multiple field, a map for a file)
    if raw is None:
        return None
    if isinstance(raw, (dict, list)):
        if classic:
            return None  # PHP would store "Array"; the emulator leaves the field alone
        raise InvalidValue(field)
    if isinstance(raw, bool):
        return "1" if raw else ""
    return str(raw)


def _file(field: Field, raw: Any, classic: bool) -> Any:
    if raw in (None, "", [], {}):
        return None  # no file
    return raw  # an upload ({"fileData": [name, base64]}) or a stored file's map: kept as sent


def _multifield(field: Field, raw: Any, classic: bool) -> Any:
    return raw  # merged with the stored values by the store (IDs, DELETE), see ObjectStore.update


_SCALAR: dict[str, Callable[[Field, Any, bool], Any]] = {
    "int": _int,
    "float": _float,
    "bool": _bool,
    "date": _time,
    "datetime": _time,
    "str": _str,
    "file": _file,
    "multifield": _multifield,
}


def render_classic(field: Field, value: Any) -> Any:
    """A stored value as classic proxies answer it."""
    return classic_renderer(field)(value)


def render_item(field: Field, value: Any) -> Any:
    """A stored value as crm.item answers it (typed; booleans ``Y``/``N``)."""
    return item_renderer(field)(value)


Renderer = Callable[[Any], Any]
Reader = Callable[[dict[str, Any]], Any]


def reader(field: Field, render: Renderer) -> Reader:
    """The wire value of ``field`` read from a stored row: HAS_PHONE/HAS_EMAIL/HAS_IMOL follow the row's
    multifields (so rows written by any path — seed, mergeBatch — answer them right), the rest is rendered."""
    source = _DERIVED_FLAGS.get(field.upper)
    if source is not None:
        return lambda row: "Y" if row.get(source) else "N"
    upper = field.upper
    return lambda row: render(row.get(upper))


def classic_renderer(field: Field) -> Renderer:
    """The classic rendering of one field, chosen once per page (lists render tens of thousands of values)."""
    empty = "N" if field.upper in _DERIVED_FLAGS else None
    if field.kind == "multifield":
        kind = field.upper

        def multifield(value: Any) -> Any:
            if value is None:
                return None
            return [
                {"ID": str(m["ID"]), "VALUE_TYPE": m.get("VALUE_TYPE", ""), "VALUE": m["VALUE"], "TYPE_ID": kind}
                for m in value
            ]

        return multifield
    scalar = _CLASSIC_SCALAR.get(field.kind, _classic_text)

    def render(value: Any) -> Any:
        if value is None:
            return empty
        if isinstance(value, list):
            return [scalar(v) for v in value]
        return scalar(value)

    return render


def _classic_text(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


_CLASSIC_SCALAR: dict[str, Renderer] = {
    "bool": lambda v: "Y" if v else "N",
    "float": lambda v: f"{float(v):.2f}",
    "int": str,
}


def item_renderer(field: Field) -> Renderer:
    """The crm.item rendering of one field."""
    empty: Any = "N" if field.upper in _DERIVED_FLAGS else ([] if field.multiple else None)
    kind = field.kind

    def render(value: Any) -> Any:
        if value is None:
            return empty
        if kind == "bool":
            return "Y" if value else "N"
        if kind == "int" and isinstance(value, str):
            return php_intval(value)
        if kind == "float" and not isinstance(value, float):
            return float(value)
        return value

    return render
