"""The runtime's view of the spec: plain data the generated ``_registry`` module fills in.

The generic runtime (retries, pagination, validation, error mapping) reads these records instead of
knowing any method by name, the way botocore reads its service model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

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


@attrs.frozen
class ErrorRow:
    """One documented error: what the wire carries and the class that represents it."""

    code: str
    message: str
    status: int
    error_class: type[APIError]


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
    errors: tuple[ErrorRow, ...]
    #: The docs' one-line title of the method (for ``b24crm methods`` and messages).
    summary: str = ""


@attrs.frozen
class Registry:
    """All methods of the spec plus the system error table."""

    methods: Mapping[str, MethodSpec]
    system_errors: tuple[ErrorRow, ...]
    _by_lower: Mapping[str, MethodSpec] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_by_lower", {k.lower(): v for k, v in self.methods.items()})

    def find(self, name: str) -> MethodSpec | None:
        """Look a method up the way the server does: case-insensitively."""
        return self._by_lower.get(name.lower())
