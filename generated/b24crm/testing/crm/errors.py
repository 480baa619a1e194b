"""Error bodies from the spec's documented rows (``b24crm._registry``), so the emulator and the SDK's typed
errors cannot drift apart: a handler names the method, the wire code and a word of the message, and gets
the row's exact message (placeholders such as ``<field>`` filled) and HTTP status.

The fallback text is used only while a method's rows are not in the spec yet (or the registry is absent,
as in a stripped install); it is what the docs' table says, so the body is right either way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from b24crm.runtime.errors import APIError
from b24crm.testing.api import BitrixError

__all__ = ["documented"]

_PLACEHOLDER = re.compile(r"<([A-Za-z_]+)>|\{([A-Za-z_]+)\}|`([A-Za-z_]+)`")


def documented(
    method: str,
    code: str | None,
    contains: str,
    fallback: str,
    *,
    fill: Mapping[str, str] | None = None,
    status: int = 400,
    fallback_code: str = "",
) -> BitrixError:
    """The documented error of ``method`` with wire ``code`` (None: any code, the row's is used) whose
    message contains ``contains``."""
    message, http, wire_code = fallback, status, fallback_code if code is None else code
    for row in _rows(method):
        if (code is None or row.wire_code == code) and contains.lower() in row.wire_message.lower():
            message, http, wire_code = row.wire_message, row.wire_status or status, row.wire_code
            break
    values = dict(fill or {})

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        return values.get(name, match.group(0))

    return BitrixError(wire_code, _PLACEHOLDER.sub(replace, message), http)


def _rows(method: str) -> tuple[type[APIError], ...]:
    try:
        from b24crm._registry import REGISTRY
    except ImportError:  # pragma: no cover - the registry ships with the package
        return ()
    spec = REGISTRY.find(method)
    return tuple(spec.errors) if spec is not None else ()
