"""The handler contract shared by built-in methods and ``emu.register(...)`` user methods.

A handler is ``handler(params, ctx) -> result``: ``params`` is the merged request (query + body, auth and
``start`` removed, PHP arrays normalized), ``ctx`` says who calls and gives access to the portal state. It
returns the ``result`` value, or :class:`Result` to add ``next``/``total``, and raises :class:`BitrixError`
for a Bitrix error body. Keeping one contract means batch, faults, limits and stats treat user methods
exactly like built-in ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from b24crm import errors

if TYPE_CHECKING:
    from b24crm.testing.state import Store

__all__ = ["AuthInfo", "BitrixError", "CallContext", "Handler", "Result"]


class BitrixError(Exception):
    """Raise from a handler to answer ``{"error": code, "error_description": description, **extra}``.

    ``code`` is often ``""`` (classic CRM proxies) or ``"0"`` (D7 errors without a code): docs/protocol.md#errors.
    """

    def __init__(self, code: str, description: str, status: int = 400, extra: Mapping[str, Any] | None = None):
        super().__init__(f"{code or '<empty>'}: {description}")
        self.code = code
        self.description = description
        self.status = status
        self.extra = dict(extra or {})

    @classmethod
    def documented(cls, name: str, /, extra: Mapping[str, Any] | None = None, **fill: object) -> BitrixError:
        """The error of a documented row, ``b24crm.errors.<name>``: code, text and status come from the spec.

        ``fill`` puts values into the row's placeholders (``{type}`` or ``<field>`` in its message), so the
        emulator never retypes a message the spec holds and a corrected row changes both sides at once.
        """
        row = getattr(errors, name, None)
        if not (isinstance(row, type) and issubclass(row, errors.APIError)) or not row.wire_status:
            raise LookupError(f"b24crm.errors has no documented error row {name!r}")
        text = row.wire_message
        for key, value in fill.items():
            text = text.replace("{" + key + "}", str(value)).replace("<" + key + ">", str(value))
        return cls(row.wire_code, text, row.wire_status, extra)

    def body(self) -> dict[str, Any]:
        """The error body as the server sends it (no ``time`` key)."""
        return {"error": self.code, "error_description": self.description, **self.extra}


@attrs.frozen
class Result:
    """A handler result with the list-method extras ``next`` and ``total`` (omitted when None)."""

    value: Any
    next: int | None = None
    total: int | None = None
    #: False when ``total`` is sent without a COUNT having run (classic ``start=-1`` answers ``total: 0``),
    #: so the ``counted_pages`` statistic counts only real counts.
    counted: bool = True


@attrs.frozen
class AuthInfo:
    """Who is calling: a webhook (``kind="webhook"``) or an OAuth app (``kind="oauth"``)."""

    kind: str
    user_id: int
    #: The webhook code or OAuth client_id: the operating-time limiter keys on it (docs/protocol.md#operating-limit).
    key: str
    scopes: frozenset[str]


@attrs.define
class CallContext:
    """Per-call information for a handler."""

    method: str
    auth: AuthInfo
    store: Store
    #: ``start`` as the REST server read it (``intval``), or None when absent.
    start: int | None
    #: True inside a ``batch`` command.
    in_batch: bool = False


Handler = Callable[[dict[str, Any], CallContext], Any]
