"""PHP query-string encoding: ``http_build_query`` and ``parse_str``, the way the Bitrix24 server reads them.

Why it exists: a ``batch`` command is a string ``method?query`` that the server runs through ``parse_str``
(docs/protocol.md#batch), and form/query requests are decoded the same way (docs/protocol.md#encodings). The runtime
builds those strings
with :func:`encode_query`; the emulator decodes every form body, query string and batch command with
:func:`decode_query`, so both sides agree on one grammar:

* maps become ``fields[TITLE]=x``; lists become ``select[0]=ID``; ``a[]=1&a[]=2`` appends;
* keys are percent-encoded per segment (``filter[%3E%3DID]=5``), values with ``+`` for spaces (PHP
  ``urlencode``);
* ``True``/``False`` become ``1``/``0`` and ``None`` an empty string (what b24pysdk sends; form encoding
  carries strings only); an empty list or map becomes ``key[]=`` (b24pysdk; some legacy methods need it);
* decoding follows PHP arrays: an array whose keys are exactly ``0..n-1`` in order is a list, any other
  array a ``dict`` with string keys (PHP turns ``"5"`` into the integer key 5; JSON would give ``"5"``, so
  string keys keep both encodings identical).

:func:`count_vars` says how many input variables a query holds, so no batch command goes out over PHP's
``max_input_vars`` (docs/protocol.md#input-variable-cap). The whole module is sans-IO: pure functions.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from b24crm.runtime.limits import MAX_INPUT_NESTING

__all__ = ["count_vars", "decode_query", "encode_query", "php_array"]

_CANONICAL_INT = re.compile(r"^(0|-?[1-9][0-9]{0,18})$")
#: PHP's ``max_input_nesting_level``: a variable nested deeper is dropped.
_MAX_NESTING = MAX_INPUT_NESTING
_INT_MAX = 2**63 - 1


def encode_query(params: Mapping[str, Any]) -> str:
    """Encode ``params`` as PHP's ``http_build_query`` would (with b24pysdk's choices for bool/None/empty)."""
    return "&".join(f"{key}={value}" for key, value in _pairs(params, None))


def count_vars(params: Mapping[str, Any]) -> int:
    """How many input variables ``encode_query(params)`` holds (each ``name=value`` piece is one).

    PHP keeps only the first ``max_input_vars`` of them (``limits.MAX_INPUT_VARS``) and silently drops the
    rest, so whoever builds a query string the server will ``parse_str`` checks this first.
    """
    return _count(params)


def _count(value: Mapping[Any, Any] | list[Any] | tuple[Any, ...]) -> int:
    total = 0
    for item in value.values() if isinstance(value, Mapping) else value:
        if isinstance(item, (Mapping, list, tuple)) and len(item) > 0:
            total += _count(item)
        else:
            total += 1  # a scalar, or an empty array sent as ``key[]=``
    return total


def _pairs(value: Mapping[Any, Any] | list[Any] | tuple[Any, ...], prefix: str | None) -> Iterator[tuple[str, str]]:
    items = value.items() if isinstance(value, Mapping) else enumerate(value)
    for raw_key, item in items:
        segment = _quote(_scalar(raw_key))
        key = segment if prefix is None else f"{prefix}[{segment}]"
        if isinstance(item, (Mapping, list, tuple)):
            if len(item) == 0:
                yield f"{key}[]", ""
            else:
                yield from _pairs(item, key)
        else:
            yield key, _quote(_scalar(item))


@functools.lru_cache(maxsize=4096)
def _quote(text: str) -> str:
    # Cached: a bulk read encodes the same keys and values (select[0]=*, order[ID]=ASC) in every command.
    return quote_plus(text, safe="")


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def decode_query(text: str) -> dict[str, Any]:
    """Decode a query string as PHP's ``parse_str`` would; arrays keyed ``0..n-1`` come back as lists."""
    root: dict[str | int, Any] = {}
    next_free: dict[int, int] = {}  # id(array) -> PHP's nNextFreeElement, so ``a[]=`` appends in O(1)
    for piece in text.split("&"):
        if not piece:
            continue
        name, sep, raw_value = piece.partition("=")
        key = unquote_plus(name)
        value = unquote_plus(raw_value) if sep else ""
        path = _split_key(key)
        if path is None:
            continue
        _assign(root, path, value, next_free)
    result = php_array(root)
    return result if isinstance(result, dict) else {str(i): v for i, v in enumerate(result)}


def _split_key(key: str) -> list[str | None] | None:
    """``a[b][]`` -> ``["a", "b", None]`` (None = append). PHP rules for the base name included."""
    key = key.lstrip(" ")
    bracket = key.find("[")
    if bracket <= 0:
        if bracket == 0 or not key:
            return None
        return [_mangle_base(key)]
    base = key[:bracket]
    rest = key[bracket:]
    segments: list[str | None] = []
    pos = 0
    while pos < len(rest) and rest[pos] == "[":
        close = rest.find("]", pos)
        if close < 0:
            if not segments:
                # PHP: an unmatched "[" in the first segment is part of the (mangled) name.
                return [_mangle_base(base + "_" + rest[pos + 1 :])]
            break
        inner = rest[pos + 1 : close]
        segments.append(inner if inner != "" else None)
        if len(segments) > _MAX_NESTING:
            return None
        pos = close + 1
    return [_mangle_base(base), *segments]


def _mangle_base(name: str) -> str:
    return name.replace(".", "_").replace(" ", "_")


def _php_key(segment: str) -> str | int:
    if _CANONICAL_INT.fullmatch(segment):
        number = int(segment)
        if -_INT_MAX - 1 <= number <= _INT_MAX:
            return number
    return segment


def _assign(node: dict[str | int, Any], path: list[str | None], value: str, next_free: dict[int, int]) -> None:
    for depth, segment in enumerate(path):
        key: str | int = next_free.get(id(node), 0) if segment is None else _php_key(segment)
        if isinstance(key, int) and key >= next_free.get(id(node), 0):
            next_free[id(node)] = key + 1
        if depth == len(path) - 1:
            node[key] = value
            return
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child


def php_array(value: Any) -> Any:
    """Normalize decoded data to what a PHP array means in JSON: keys ``0..n-1`` in order -> list.

    Applied to parsed query strings and to JSON bodies alike, so ``{"0": "a", "1": "b"}`` and ``["a", "b"]``
    reach a handler the same way, as they reach PHP code the same way; an empty map is an empty list.
    """
    if isinstance(value, dict):
        converted = {k: php_array(v) for k, v in value.items()}
        if all(_is_index(k, i) for i, k in enumerate(converted)):
            return list(converted.values())
        return {str(k): v for k, v in converted.items()}
    if isinstance(value, list):
        return [php_array(v) for v in value]
    return value


def _is_index(key: object, position: int) -> bool:
    if isinstance(key, bool):
        return False
    if isinstance(key, int):
        return key == position
    return isinstance(key, str) and key == str(position)
