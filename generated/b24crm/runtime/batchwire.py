"""``batch`` on the wire, sans-IO: commands in, per-command outcomes out, nothing sent from here.

Everything in this module is pure (no sockets, no sleeps, no client): the sync ``BaseBatch`` and the
paging driver use it today and the asyncio client will use it unchanged.

* :func:`encode_command` — one ``cmd`` value, ``method?<PHP query>``.
* :func:`lone_reason` — why a command cannot travel inside a batch *faithfully*: the server ``parse_str``'s
  each command and keeps only ``limits.MAX_INPUT_VARS`` variables (the rest are dropped without a word),
  and it substitutes ``$result[...]`` (also ``$next``, ``$total``, ``$time``, ``$error``) in every value
  and key, so text a user wrote would be replaced by another command's result. Such a command is sent on
  its own as a JSON request instead (JSON bodies have neither problem; docs/protocol.md#batch-references).
* :func:`chunks` — commands in groups of ``limits.BATCH_MAX_COMMANDS``, a lone command in a group by itself.
* :func:`parse_batch_result` and :func:`command_error` — the answer's five maps, and the one mapping of a
  failed command's error body to a typed error (paging and batch both use it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

from b24crm.runtime import limits
from b24crm.runtime.errors import APIError, ResponseDecodeError, error_from_wire
from b24crm.runtime.phpquery import count_vars, encode_query
from b24crm.runtime.spec import ErrorRow

__all__ = [
    "BatchResponse",
    "chunks",
    "command_error",
    "encode_command",
    "lone_reason",
    "parse_batch_result",
    "substituted_text",
]

#: What the server substitutes inside a command (docs/protocol.md#batch: ``\$(result|next|total|time|error)...``).
#: Matched case-insensitively: sending a harmless ``$RESULT`` alone costs one request, a miss costs data.
_SUBSTITUTED = re.compile(r"\$(result|next|total|time|error)", re.IGNORECASE)


def encode_command(method: str, params: Mapping[str, Any]) -> str:
    """``method?<PHP query>`` as one ``cmd`` value (``params`` with references already rendered as text)."""
    query = encode_query(params) if params else ""
    return f"{method}?{query}" if query else method


def substituted_text(value: Any, path: str = "") -> str | None:
    """The wire path of the first string (value or key) in ``value`` that the server would substitute."""
    if isinstance(value, str):
        return path if _SUBSTITUTED.search(value) else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _SUBSTITUTED.search(key):
                return sub
            found = substituted_text(item, sub)
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = substituted_text(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def lone_reason(user_params: Mapping[str, Any], rendered: Mapping[str, Any]) -> str | None:
    """Why this command must not be a batch command, or None when it travels intact.

    ``user_params``: the wire params with the caller's own values only (references not yet rendered, so
    their intended ``$result`` text is not mistaken for the user's); ``rendered``: what would be encoded.
    """
    where = substituted_text(user_params)
    if where is not None:
        return f"{where} holds text the server would substitute inside a batch ($result[...] and the like)"
    variables = count_vars(rendered)
    if variables > limits.MAX_INPUT_VARS:
        return (
            f"its query holds {variables} variables; the server keeps only the first {limits.MAX_INPUT_VARS} "
            "of a batch command"
        )
    return None


def chunks(lone: Sequence[bool], size: int = limits.BATCH_MAX_COMMANDS) -> list[list[int]]:
    """Command indexes in sending order: groups of at most ``size``; a command marked ``lone`` alone."""
    out: list[list[int]] = []
    current: list[int] = []
    for i, alone in enumerate(lone):
        if alone:
            if current:
                out.append(current)
                current = []
            out.append([i])
            continue
        current.append(i)
        if len(current) == size:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


# --- the answer --------------------------------------------------------------------------------------------


@attrs.frozen
class BatchResponse:
    """The five maps of a batch answer, each normalised to a dict (the server sends ``[]`` when empty)."""

    result: Mapping[str, Any]
    error: Mapping[str, Any]
    total: Mapping[str, Any]
    next: Mapping[str, Any]
    time: Mapping[str, Any]

    def time_of(self, key: str) -> Mapping[str, Any] | None:
        time = self.time.get(key)
        return time if isinstance(time, Mapping) else None

    def int_of(self, space: Mapping[str, Any], key: str) -> int | None:
        return _int(space.get(key))


def _as_map(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):  # [] for empty; a list if keys were 0..n-1 (never ours)
        return {str(i): v for i, v in enumerate(value)}
    return {}


def parse_batch_result(method: str, result: Any) -> BatchResponse:
    """Normalise ``{"result", "result_error", "result_total", "result_next", "result_time"}``."""
    if isinstance(result, list) and not result:
        result = {}
    if not isinstance(result, Mapping):
        raise ResponseDecodeError(method, f"batch result is {type(result).__name__}, expected an object")
    return BatchResponse(
        result=_as_map(result.get("result")),
        error=_as_map(result.get("result_error")),
        total=_as_map(result.get("result_total")),
        next=_as_map(result.get("result_next")),
        time=_as_map(result.get("result_time")),
    )


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def command_error(
    method: str, body: Any, *, method_rows: Sequence[ErrorRow], system_rows: Sequence[ErrorRow]
) -> APIError:
    """The typed error for one failed batch command's ``result_error`` entry (the only such mapping)."""
    if not isinstance(body, Mapping):
        body = {"error": "", "error_description": str(body)}
    return error_from_wire(
        method,
        body.get("error"),
        body.get("error_description"),
        http_status=None,  # a command carries no status: its documented row gives status and kind
        method_rows=method_rows,
        system_rows=system_rows,
    )


def keys(prefix: str, count: int) -> Iterator[str]:
    """``p00``, ``p01``, ...: command keys that start with a letter (numeric keys make PHP answer a list)."""
    for i in range(count):
        yield f"{prefix}{i:02d}"
