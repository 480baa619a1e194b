"""Parameter helpers that mirror how the server's two handler families read their input.

Classic CRM proxies accept several spellings of a top-level param (``filter``/``FILTER``/``Filter``/
``arFilter``, ``ID``/``id``: docs/protocol.md#encodings) and answer errors with ``error: ""``. D7 controllers bind
typed action arguments and answer with a code (``"0"`` when the error has none: docs/protocol.md#errors).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from b24crm.testing.api import BitrixError

__all__ = ["classic_error", "d7_error", "d7_int", "php_intval", "php_truthy", "resolve_id", "resolve_param"]


def resolve_param(params: Mapping[str, Any], name: str) -> Any:
    """``CCrmRestHelper::resolveArrayParam``: as given, UPPER, lower, Capitalized, then ``ar``+Capitalized."""
    cap = name[:1].upper() + name[1:].lower()
    for key in (name, name.upper(), name.lower(), cap, "ar" + cap):
        if key in params:
            return params[key]
    return None


def resolve_id(params: Mapping[str, Any]) -> int:
    """``resolveEntityID``: ``ID`` or ``id``, as PHP ``intval``; 0 when absent or not numeric."""
    raw = params.get("ID", params.get("id"))
    return php_intval(raw)


def php_intval(value: Any) -> int:
    """PHP ``intval``: leading integer of a string, 0 for anything unparsable, arrays 0/1."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        sign = 1
        if text[:1] in "+-" and text:
            sign = -1 if text[0] == "-" else 1
            text = text[1:]
        digits = ""
        for char in text:
            if not char.isdigit():
                break
            digits += char
        return sign * int(digits) if digits else 0
    if isinstance(value, (list, dict)):
        return 1 if value else 0
    return 0


def php_truthy(value: Any) -> bool:
    """PHP truthiness: ``"0"`` and ``""`` are false, ``"false"`` is true (docs/protocol.md#encodings)."""
    if isinstance(value, str):
        return value not in ("", "0")
    return bool(value)


def classic_error(message: str) -> BitrixError:
    """A classic CRM proxy error: ``{"error": "", "error_description": message}``, HTTP 400."""
    return BitrixError("", message, 400)


def d7_error(message: str, code: str = "0") -> BitrixError:
    """A D7 controller error (code ``"0"`` when the server's Error carries none)."""
    return BitrixError(code, message, 400)


def d7_int(params: Mapping[str, Any], name: str, *, required: bool = True, default: int | None = None) -> int | None:
    """Bind an ``int $name`` action argument the way the D7 binder does."""
    if name not in params or params[name] is None:
        if required:
            raise d7_error(f"Could not find value for parameter {{{name}}}")
        return default
    raw = params[name]
    if isinstance(raw, (bool, list, dict)):
        raise d7_error(f"Invalid value {{{raw}}} to match with parameter {{{name}}}. Should be value of type int.")
    if isinstance(raw, int):
        return raw
    text = str(raw).strip()
    try:
        return int(float(text)) if text and text.lstrip("+-").replace(".", "", 1).isdigit() else int(text)
    except ValueError:
        raise d7_error(
            f"Invalid value {{{raw}}} to match with parameter {{{name}}}. Should be value of type int."
        ) from None
