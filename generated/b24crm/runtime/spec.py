"""The runtime's view of the spec: plain data the generated ``_registry`` module fills in.

The generic runtime (retries, pagination, validation, error mapping) reads these records instead of
knowing any method by name, the way botocore reads its service model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import attrs

if TYPE_CHECKING:
    from b24crm.runtime.errors import APIError


@attrs.frozen
class Pagination:
    """How a list method pages (``x-b24-pagination``)."""

    page_size: int
    items_path: tuple[str, ...]
    id_field: str
    order_param: str
    filter_param: str
    start_param: str
    count_free: bool


#: What the runtime does after an error (``x-b24-error-kinds`` in the spec; spec/README.md defines each):
#: ``backoff`` repeat any method after a pause, ``reset`` repeat any method after the operating reset,
#: ``refresh`` renew the OAuth token once and re-send, ``idempotent`` repeat only idempotent methods,
#: ``never`` surface at once.
RetryRule = Literal["backoff", "reset", "refresh", "idempotent", "never"]


#: A documented error row is its generated class: code, message, status and kind are its class attributes.
ErrorRow: TypeAlias = "type[APIError]"


@attrs.frozen
class ErrorKind:
    """What an error of one kind means for a caller: one row of the spec's ``x-b24-error-kinds``."""

    name: str
    #: The runtime's grouping base class name (``RateLimited``, ``NotFound`` …).
    base: str
    #: Whether the portal may have applied the call before answering so.
    may_have_run: bool
    retry: RetryRule
    meaning: str


@attrs.frozen
class MethodSpec:
    """Everything the runtime needs to call one method safely."""

    name: str
    idempotent: bool
    batchable: bool
    deprecated: bool
    scope: str
    #: JSON schema of the wire parameters with every ``$ref`` inlined; None when the method takes none.
    request_schema: Mapping[str, Any] | None
    pagination: Pagination | None
    #: The method's documented error classes (each carries its wire code, message, status and kind).
    errors: tuple[ErrorRow, ...]
    #: The docs' one-line title of the method (for ``b24crm methods`` and messages).
    summary: str = ""


@attrs.frozen
class Registry:
    """All methods of the spec, the system error table and the table of error kinds."""

    methods: Mapping[str, MethodSpec]
    system_errors: tuple[ErrorRow, ...]
    kinds: Mapping[str, ErrorKind]
    _by_lower: Mapping[str, MethodSpec] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_by_lower", {k.lower(): v for k, v in self.methods.items()})

    def find(self, name: str) -> MethodSpec | None:
        """Look a method up the way the server does: case-insensitively."""
        return self._by_lower.get(name.lower())
