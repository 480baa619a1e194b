"""The CRM list filter, for both APIs: ``[!][+]<op>FIELD`` keys, nested groups, ``logic: OR``.

Operators (docs: crm.item.list, crm.deal.list; docs/protocol.md#crm-filters): ``=`` or none (equal; a list
means IN), ``!``/``!=`` (not equal / NOT IN), ``>``, ``>=``, ``<``, ``<=``, ``@`` (IN), ``!@`` (NOT IN), ``%``
(substring), ``=%``/``%=`` (LIKE with ``%``/``_`` in the value), ``!%``/``!=%``/``!%=`` (NOT LIKE), ``><``
(between), ``+`` (classic: "or the field is empty"). A numeric key holds a nested group, whose ``logic`` /
``LOGIC`` key (``AND`` or ``OR``) joins its conditions.

Semantics, the same for every field type (the property test's plain-Python reference states them again):
a value is compared in the field's type (numbers as numbers, ``Y``/``N``/``1``/``0`` as booleans, dates by
instant, text case-insensitively as MySQL's collation does); an empty filter value (``""``/null) means "the
field is empty"; no ordering or LIKE condition matches an empty field; a negation is the plain complement;
a multiple field (a list, or PHONE/EMAIL/... values) matches when any of its values does.

The dialects differ only at the edges: classic keys are UPPER_CASE names and unknown fields are dropped
silently; crm.item keys are camelCase, and an unknown field or a value of the wrong type is an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import attrs

from b24crm.testing.crm.fields import Field, parse_time
from b24crm.testing.methods.common import php_intval

__all__ = ["Bounds", "FilterError", "Predicate", "compile_filter", "row_value"]

Row = dict[str, Any]
Predicate = Callable[[Row], bool]
_OPS = ("><", ">=", "<=", "=%", "%=", ">", "<", "@", "%", "=")
_LIST_OPS = {"", "=", "@", "><"}
_INT = re.compile(r"^\s*-?\d+\s*$")
_TRUE = {"Y", "y", "1", "true", "True"}
_FALSE = {"N", "n", "0", "false", "False"}


class FilterError(ValueError):
    """``reason`` is ``field`` (not allowed) or ``value`` (invalid value); ``name`` the bare field name."""

    def __init__(self, reason: str, name: str) -> None:
        super().__init__(f"{reason}: {name}")
        self.reason = reason
        self.name = name


@attrs.define
class Bounds:
    """The ID range implied by top-level AND conditions; ``id_only`` when those are all there is."""

    lo: int = -(2**62)
    hi: int = 2**62
    id_only: bool = True


def _typed(field: Field, raw: Any, strict: bool) -> Any:
    """A filter or row value in the field's comparable type (None = empty)."""
    if raw is None or raw == "":
        return None
    kind = field.kind
    if kind == "int":
        if isinstance(raw, bool):
            return int(raw)
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str) and _INT.match(raw):
            return int(raw)
        if strict:
            raise FilterError("value", field.camel)
        return php_intval(raw)
    if kind == "float":
        try:
            return float(raw)
        except (TypeError, ValueError):
            if strict:
                raise FilterError("value", field.camel) from None
            return 0.0
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw)
        if text in _TRUE:
            return True
        if text in _FALSE or not strict:
            return False
        raise FilterError("value", field.camel)
    if kind in ("date", "datetime"):
        ts = parse_time(raw)
        if ts is None and strict:
            raise FilterError("value", field.camel)
        return ts
    if isinstance(raw, (dict, list)):
        if strict:
            raise FilterError("value", field.camel)
        return None
    if isinstance(raw, bool):
        return "1" if raw else ""
    if field.dynamic:
        return _loose(raw)
    return str(raw).casefold()


def _loose(raw: Any) -> Any:
    """A user field or open-family value (no declared type): a number when it reads as one, else text."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    text = str(raw)
    try:
        return float(text)
    except ValueError:
        return text.casefold()


def row_value(field: Field, row: Row) -> list[Any]:
    """The field's comparable values in ``row`` (a scalar field gives one, maybe None)."""
    raw = row.get(field.upper)
    if field.kind == "multifield":
        return [str(m.get("VALUE", "")).casefold() for m in raw or []]
    if isinstance(raw, list):
        return [_typed(field, v, False) for v in raw]
    if field.kind in ("date", "datetime"):
        return [parse_time(raw)]
    if field.kind == "str":
        if raw is None or raw == "":
            return [None]
        return [_loose(raw) if field.dynamic else str(raw).casefold()]
    if field.kind == "bool" and isinstance(raw, bool):
        return [raw]
    return [_typed(field, raw, False)]


def _like(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern.casefold()]
    return re.compile("^" + "".join(parts) + "$", re.DOTALL)


def _positive(op: str, field: Field, raw: Any, strict: bool) -> Callable[[Any], bool]:
    """A test on one comparable value for a non-negated operator."""
    if isinstance(raw, dict):
        raw = list(raw.values())
    if isinstance(raw, list) and op not in _LIST_OPS:
        if strict:
            raise FilterError("value", field.camel)
        raw = raw[0] if raw else None
    if op == "><":
        if not isinstance(raw, list) or len(raw) != 2:
            if strict:
                raise FilterError("value", field.camel)
            return lambda v: True  # a classic proxy drops a condition it cannot read
        lo, hi = (_typed(field, v, strict) for v in raw)
        return lambda v: v is not None and lo is not None and hi is not None and lo <= v <= hi
    if op in ("%", "=%", "%="):
        text = "" if raw is None else str(raw)
        # `%` takes the value literally (the server adds the wildcards); `=%`/`%=` take a LIKE pattern.
        regex = re.compile(".*" + re.escape(text.casefold()) + ".*", re.DOTALL) if op == "%" else _like(text)
        return lambda v: v is not None and bool(regex.match(v if isinstance(v, str) else str(v).casefold()))
    if op in ("", "=", "@"):
        values = raw if isinstance(raw, list) else [raw]
        wanted = {_typed(field, v, strict) for v in values}
        if None in wanted:
            wanted.discard(None)
            return lambda v: v is None or v in wanted
        return lambda v: v is not None and v in wanted
    target = _typed(field, raw, strict)
    if target is None:
        return lambda v: False
    compare: dict[str, Callable[[Any], bool]] = {
        ">": lambda v: v > target,
        ">=": lambda v: v >= target,
        "<": lambda v: v < target,
        "<=": lambda v: v <= target,
    }
    check = compare[op]
    return lambda v: v is not None and _safe(check, v)


def _safe(check: Callable[[Any], bool], value: Any) -> bool:
    try:
        return check(value)
    except TypeError:
        return False


def _split(key: str) -> tuple[bool, bool, str, str]:
    """(negate, or_empty, operator, field name) of a filter key."""
    negate = key.startswith("!")
    rest = key[1:] if negate else key
    or_empty = rest.startswith("+")
    rest = rest[1:] if or_empty else rest
    for op in _OPS:
        if rest.startswith(op):
            return negate, or_empty, op, rest[len(op) :]
    return negate, or_empty, "", rest


def _condition(field: Field, negate: bool, or_empty: bool, op: str, raw: Any, strict: bool) -> Predicate:
    test = _positive(op, field, raw, strict)

    def matches(row: Row) -> bool:
        values = row_value(field, row)
        if not values:
            values = [None]
        hit = any(test(v) for v in values)
        if or_empty and not hit:
            hit = all(v is None for v in values)
        return not hit if negate else hit

    return matches


def _narrow(bounds: Bounds, negate: bool, or_empty: bool, op: str, raw: Any) -> None:
    if negate or or_empty:
        bounds.id_only = False
        return
    if isinstance(raw, dict):
        raw = list(raw.values())
    try:
        if isinstance(raw, list):
            numbers = [int(v) for v in raw]
            if (op in ("", "=", "@") and numbers) or (op == "><" and len(numbers) == 2):
                bounds.lo, bounds.hi = max(bounds.lo, min(numbers)), min(bounds.hi, max(numbers))
            bounds.id_only = bounds.id_only and op == "><"
            return
        value = int(raw)
    except (TypeError, ValueError):
        bounds.id_only = False
        return
    if op == ">":
        bounds.lo = max(bounds.lo, value + 1)
    elif op == ">=":
        bounds.lo = max(bounds.lo, value)
    elif op == "<":
        bounds.hi = min(bounds.hi, value - 1)
    elif op == "<=":
        bounds.hi = min(bounds.hi, value)
    elif op in ("", "=", "@"):
        bounds.lo, bounds.hi = max(bounds.lo, value), min(bounds.hi, value)
    else:
        bounds.id_only = False


def compile_filter(
    flt: Any, resolve: Callable[[str], Field | None], *, strict: bool, bounds: Bounds | None = None
) -> Predicate:
    """A predicate over stored rows; ``bounds`` (top level only) receives the ID range of AND conditions.

    ``resolve`` maps a key's field name to its Field (None = unknown: an error when ``strict``, else the
    condition is dropped). Raises :class:`FilterError` for what the server rejects.
    """
    if isinstance(flt, list):
        flt = {str(i): v for i, v in enumerate(flt)}
    if not isinstance(flt, dict):
        return lambda row: True
    logic = str(flt.get("logic", flt.get("LOGIC", "AND"))).upper()
    parts: list[Predicate] = []
    for key, raw in flt.items():
        key = str(key)
        if key in ("logic", "LOGIC"):
            continue
        if key.isdigit() and isinstance(raw, (dict, list)):
            parts.append(compile_filter(raw, resolve, strict=strict))
            if bounds is not None:
                bounds.id_only = False
            continue
        negate, or_empty, op, name = _split(key)
        field = resolve(name)
        if field is None:
            if strict:
                raise FilterError("field", name)
            continue
        parts.append(_condition(field, negate, or_empty, op, raw, strict))
        if bounds is not None:
            if field.upper == "ID" and logic == "AND":
                _narrow(bounds, negate, or_empty, op, raw)
            else:
                bounds.id_only = False
    if logic == "OR":
        if bounds is not None and parts:
            bounds.lo, bounds.hi, bounds.id_only = Bounds().lo, Bounds().hi, False
        return (lambda row: any(p(row) for p in parts)) if parts else (lambda row: True)
    if not parts:
        return lambda row: True
    if len(parts) == 1:
        return parts[0]
    return lambda row: all(p(row) for p in parts)
