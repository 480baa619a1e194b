"""Built-in method handlers, one module per method group; :data:`BUILTIN` maps lowercase names to them."""

from __future__ import annotations

from b24crm.testing.api import Handler
from b24crm.testing.methods import duplicate, enums, stagehistory, status

__all__ = ["BUILTIN"]

BUILTIN: dict[str, Handler] = {
    **status.HANDLERS,
    **stagehistory.HANDLERS,
    **duplicate.HANDLERS,
    **enums.HANDLERS,
}
