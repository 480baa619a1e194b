"""Checks wire parameters against a method's request schema before anything is sent.

A deliberately small JSON Schema (2020-12) subset — the keywords spec/README.md allows — so the runtime
needs no jsonschema dependency. Every problem is collected and named by its wire path
(``fields.STATUS_ID``), so one RequestValidationError can list them all. The emulator uses the same
function, so the client and the emulator never disagree about what the spec allows.

:func:`encode_params` runs first: the one encoder of request values (JSON body and batch commands alike),
turning Python values into wire data and refusing what has no wire form (NaN, bytes, naive datetimes, ...).
The whole module is sans-IO: pure functions over data.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any

import attrs

from b24crm.runtime.converter import CONVERTER
from b24crm.runtime.errors import Problem, RequestValidationError
from b24crm.runtime.limits import MAX_INPUT_NESTING
from b24crm.runtime.types import UNSET

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (Mapping,),
    "null": (type(None),),
}


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _type_ok(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _JSON_TYPES[name])


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def yn_flags(schema: Mapping[str, Any] | None, wire: dict[str, Any]) -> dict[str, Any]:
    """Top-level ``bool`` arguments of Y/N parameters as ``"Y"``/``"N"`` (in place; returns ``wire``).

    Why: a generated signature types an ``x-b24-wire-type: yn-bool`` parameter (``use_original_uf_names``) as
    ``bool``; models convert their own flags, but named arguments reach the wire as given, and the schema
    (``enum: [Y, N]``) refuses ``True``. Nested mappings are the caller's wire data (their TypedDict twins say
    ``"Y"``/``"N"``) and are left alone.
    """
    properties = (schema or {}).get("properties") or {}
    for key, value in wire.items():
        if isinstance(value, bool) and set(properties.get(key, {}).get("enum") or ()) == {"Y", "N"}:
            wire[key] = "Y" if value else "N"
    return wire


def validate(schema: Mapping[str, Any] | None, value: Any) -> list[Problem]:
    """Every way ``value`` breaks ``schema``; empty when it conforms."""
    if schema is None:
        return []
    return list(_check(schema, value, ""))


def _check(schema: Mapping[str, Any], value: Any, path: str) -> Iterator[Problem]:
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_type_ok(value, n) for n in names):
            yield Problem(path, f"expected {' or '.join(names)}, got {_describe(value)}")
            return
    if "const" in schema and value != schema["const"]:
        yield Problem(path, f"must be {schema['const']!r}, got {value!r}")
    if "enum" in schema and not any(_same(value, v) for v in schema["enum"]):
        allowed = ", ".join(repr(v) for v in schema["enum"])
        yield Problem(path, f"must be one of {allowed}; got {value!r}")
    if isinstance(value, str):
        yield from _check_string(schema, value, path)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            yield Problem(path, f"must be >= {schema['minimum']}, got {value}")
        if "maximum" in schema and value > schema["maximum"]:
            yield Problem(path, f"must be <= {schema['maximum']}, got {value}")
    elif isinstance(value, (list, tuple)):
        yield from _check_array(schema, value, path)
    elif isinstance(value, Mapping):
        yield from _check_object(schema, value, path)
    for sub in schema.get("allOf", ()):
        yield from _check(sub, value, path)
    if "if" in schema:
        branch = "then" if not any(True for _ in _check(schema["if"], value, path)) else "else"
        if branch in schema:
            yield from _check(schema[branch], value, path)


def _same(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _check_string(schema: Mapping[str, Any], value: str, path: str) -> Iterator[Problem]:
    if "minLength" in schema and len(value) < schema["minLength"]:
        yield Problem(path, f"must be at least {schema['minLength']} characters, got {len(value)}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        yield Problem(path, f"must be at most {schema['maxLength']} characters, got {len(value)}")
    if "pattern" in schema and not _regex(schema["pattern"]).search(value):
        yield Problem(path, f"must match {schema['pattern']}, got {value!r}")


def _check_array(schema: Mapping[str, Any], value: list[Any] | tuple[Any, ...], path: str) -> Iterator[Problem]:
    if "minItems" in schema and len(value) < schema["minItems"]:
        yield Problem(path, f"must have at least {schema['minItems']} item(s), got {len(value)}")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        yield Problem(path, f"must have at most {schema['maxItems']} item(s), got {len(value)}")
    if schema.get("uniqueItems"):
        seen: list[Any] = []
        for item in value:
            if item in seen:
                yield Problem(path, f"items must be unique; {item!r} repeats")
                break
            seen.append(item)
    items = schema.get("items")
    if isinstance(items, Mapping):
        for i, item in enumerate(value):
            yield from _check(items, item, _join(path, i))


def _check_object(schema: Mapping[str, Any], value: Mapping[Any, Any], path: str) -> Iterator[Problem]:
    props: Mapping[str, Any] = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in value:
            yield Problem(_join(path, name), "is required")
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        sub = props.get(key)
        if sub is not None:
            yield from _check(sub, item, _join(path, str(key)))
        elif extra is False:
            known = ", ".join(sorted(props)) or "none"
            yield Problem(_join(path, str(key)), f"is not a known parameter (known: {known})")
        elif isinstance(extra, Mapping):
            yield from _check(extra, item, _join(path, str(key)))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        yield Problem(path, f"must have at least {schema['minProperties']} key(s)")
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        yield Problem(path, f"must have at most {schema['maxProperties']} key(s)")


def coerce_strings(schema: Mapping[str, Any] | None, value: Any) -> Any:
    """Read strings as the JSON types ``schema`` expects (``"5"`` -> ``5`` where an integer is declared).

    Form bodies, batch command query strings and command-line ``KEY=VALUE`` pairs carry strings only; this
    gives them the types a JSON body would have, so they validate the same way. Unparsable strings are
    left as they are for ``validate`` to report.
    """
    if schema is None:
        return value
    if isinstance(value, Mapping):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        fallback = extra if isinstance(extra, Mapping) else None
        return {k: coerce_strings(props.get(k, fallback), v) for k, v in value.items()}
    if isinstance(value, list):
        items = schema.get("items")
        return [coerce_strings(items if isinstance(items, Mapping) else None, v) for v in value]
    if not isinstance(value, str):
        return value
    types = schema.get("type", [])
    names = [types] if isinstance(types, str) else list(types)
    if "string" in names:
        return value
    if "integer" in names and value.strip().lstrip("-").isdigit():
        return int(value)
    if "number" in names:
        try:
            return float(value)
        except ValueError:
            return value
    if "boolean" in names and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return value


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


# --- Python values -> wire data ------------------------------------------------------------------------------

#: Deeper nesting than this is refused before anything is sent. A JSON body alone would be read to 512 levels
#: (``json_decode``'s depth), but a batch command is decoded with PHP's ``max_input_nesting_level`` and silently
#: loses a deeper variable, and a value must reach the portal the same way on either path. 64 levels also keep
#: the encoder (two frames per list level) far from Python's recursion limit however deep the caller's stack.
MAX_DEPTH = MAX_INPUT_NESTING


def encode_params(method: str, params: Any, *, keep: tuple[type, ...] = ()) -> dict[str, Any]:
    """User parameters -> JSON-ready wire data, or RequestValidationError naming every value without a wire form.

    The one encoder of request values: the JSON body and batch commands both go through it, so a value
    reaches the portal the same way on either path. What it does with each kind of value:

    * ``str``, ``int``, ``bool``, ``None``: as they are; a ``float`` only when finite (``NaN`` and the
      infinities are not JSON: a PHP portal would drop the whole body, filters included);
    * models (attrs classes) through the converter, ``Enum`` as its value, ``UNSET`` keys dropped;
    * ``list``, ``tuple``, ``range`` and other sequences as lists; ``set``/``frozenset`` as a sorted list
      (refused when its items do not sort);
    * ``datetime`` with a time zone and ``date`` as ISO 8601 (``2024-03-01T07:00:00+03:00``); a naive
      ``datetime`` is refused, since the portal would read it in its own time zone;
    * ``Decimal`` as a plain decimal string (``"12.50"``), refused when not finite;
    * ``bytes`` and anything else are refused: the portal would receive their ``repr``.

    ``keep`` lists types passed through untouched (batch references, rendered later).
    """
    problems: list[Problem] = []
    wire = _encode(params, "", problems, keep, 0)
    if problems:
        raise RequestValidationError(method, problems)
    if not isinstance(wire, dict):
        raise RequestValidationError(method, [Problem("", "params must be a mapping")])
    return wire


def _encode(value: Any, path: str, problems: list[Problem], keep: tuple[type, ...], depth: int) -> Any:
    if value is None or isinstance(value, (str, bool)) or (keep and isinstance(value, keep)):
        return value
    if depth > MAX_DEPTH:
        problems.append(Problem(path, f"is nested deeper than {MAX_DEPTH} levels"))
        return None
    if isinstance(value, enum.Enum):
        return _encode(value.value, path, problems, keep, depth + 1)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            problems.append(Problem(path, f"{value!r} has no JSON form; send a finite number or null"))
            return None
        return float(value)
    if attrs.has(type(value)):
        return _encode(CONVERTER.unstructure(value), path, problems, keep, depth + 1)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if item is UNSET:
                continue
            name = _key(key)
            if name is None:
                problems.append(Problem(_join(path, str(key)), f"key {_describe(key)} is not a string or integer"))
                continue
            out[name] = _encode(item, _join(path, name), problems, keep, depth + 1)
        return out
    if isinstance(value, (set, frozenset)):
        try:
            ordered = sorted(value)
        except TypeError:
            problems.append(Problem(path, f"a set of {_describe(value)} has no order to send it in; pass a list"))
            return None
        return [_encode(v, _join(path, i), problems, keep, depth + 1) for i, v in enumerate(ordered)]
    if isinstance(value, (bytes, bytearray, memoryview)):
        problems.append(Problem(path, "bytes have no wire form; send text (a file as [name, base64 text])"))
        return None
    if isinstance(value, Sequence):
        return [_encode(v, _join(path, i), problems, keep, depth + 1) for i, v in enumerate(value)]
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            problems.append(Problem(path, f"naive datetime {value.isoformat()}: give it a tzinfo"))
            return None
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            problems.append(Problem(path, f"Decimal {value} has no JSON form; send a finite number or null"))
            return None
        return format(value, "f")
    problems.append(Problem(path, f"{_describe(value)} has no wire form; convert it to text, a number or a list"))
    return None


def _key(key: Any) -> str | None:
    if isinstance(key, enum.Enum):
        key = key.value
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    return None
