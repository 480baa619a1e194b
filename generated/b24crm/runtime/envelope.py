"""The response envelope: ``{"result", "next", "total", "time"}`` or ``{"error", "error_description"}``.

Bitrix24 does not keep errors and statuses in step: a handler can return an error body with HTTP 200, the
error code may be empty (the text is in the description), and proxies in front of a portal answer with HTML.
This module turns any of that into either an ``Envelope`` or a typed exception; nothing else parses bodies.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from b24crm.runtime.errors import APIError, ResponseDecodeError
from b24crm.runtime.redact import excerpt

try:  # the ``fast`` extra (b24crm[fast]): orjson parses a large page in about a quarter of json's time
    import orjson as _orjson  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the install
    _orjson = None  # type: ignore[assignment,unused-ignore]

#: Which parser reads response bodies: "orjson" when the ``fast`` extra is installed, else "json".
JSON_PARSER = "json" if _orjson is None else "orjson"

#: Builds the typed error for ``(code, description, http_status)``; supplied by the client (it knows the rows).
ErrorFactory = Callable[[object, object, int], APIError]


@attrs.frozen
class RawResponse:
    """A successful answer, as ``client.call_raw`` returns it.

    ``time`` is the raw timing block (``start``, ``duration``, ``operating``, ``operating_reset_at`` …).
    """

    result: Any
    next: int | None
    total: int | None
    time: Mapping[str, Any] | None
    http_status: int


Envelope = RawResponse


def _int_or_none(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class _HostileNumber(ValueError):
    """A number no portal writes: ``NaN``/``Infinity`` (not JSON) or one that overflows a float (``1e400``)."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 -> inf; int(inf) later raises OverflowError
        raise _HostileNumber(f"response holds a number out of range ({text[:40]})")
    return value


def _no_constant(text: str) -> Any:
    raise _HostileNumber(f"response holds {text}, which is not JSON")


def decode_json(method: str, status: int, body: bytes, redact: Callable[[str], str]) -> Any:
    """Parse a body, or raise ResponseDecodeError with the status and a short, redacted excerpt.

    Parseable but hostile bodies are refused here, in the one place bodies are parsed, so nothing after it
    meets them: non-finite numbers (``"next": 1e400`` would overflow ``int()`` in paging and in a batch's
    ``result_total``) and nesting too deep for the parser (100,000 ``[`` raise RecursionError). With orjson
    installed it parses first; whatever it refuses (non-finite numbers, depth over 1,024, lone surrogates) is
    parsed again by json, so the result or the error is the same with or without the extra.
    """
    if _orjson is not None:
        try:
            # The values json gives: PHP writes no integer beyond 64 bits (PHP_INT_MAX; larger numbers become
            # floats in json_encode), and those are the only numbers the two parsers read differently.
            return _orjson.loads(body)
        except _orjson.JSONDecodeError:
            pass  # hostile or broken: json below names the problem exactly as without the extra
    try:
        return json.loads(body, parse_float=_finite_float, parse_constant=_no_constant)
    except _HostileNumber as exc:
        raise ResponseDecodeError(method, str(exc), status, redact(excerpt(_text(body)))) from None
    except RecursionError:
        raise ResponseDecodeError(method, "response is nested too deeply to parse", status) from None
    except (ValueError, UnicodeDecodeError):
        text = body.decode("utf-8", errors="replace")
        what = "response is empty" if not text.strip() else "response is not JSON (an HTML page or truncated body?)"
        raise ResponseDecodeError(method, what, status, redact(excerpt(text))) from None


def _text(body: bytes) -> str:
    return body[:4096].decode("utf-8", errors="replace")


def parse(method: str, status: int, body: bytes, make_error: ErrorFactory, redact: Callable[[str], str]) -> Envelope:
    """Turn one HTTP answer into an Envelope, or raise the typed error it carries."""
    data = decode_json(method, status, body, redact)
    if not isinstance(data, Mapping):
        raise ResponseDecodeError(
            method,
            f"expected a JSON object, got {type(data).__name__}",
            status,
            redact(excerpt(body.decode("utf-8", "replace"))),
        )
    if "error" in data:  # an error even with HTTP 200 (handlers may return one as their result)
        raise make_error(data.get("error"), redact(str(data.get("error_description") or "")), status)
    if not 200 <= status < 300:
        raise make_error("", f"HTTP {status} without an error body", status)
    if "result" not in data:
        raise ResponseDecodeError(
            method, "response has no 'result' key", status, redact(excerpt(json.dumps(data)[:200]))
        )
    time = data.get("time")
    return Envelope(
        result=data["result"],
        next=_int_or_none(data.get("next")),
        total=_int_or_none(data.get("total")),
        time=time if isinstance(time, Mapping) else None,
        http_status=status,
    )
