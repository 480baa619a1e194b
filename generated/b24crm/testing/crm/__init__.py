"""The emulated CRM core: one store of objects (leads, deals, contacts, companies, quotes, smart invoices,
smart processes) served through the per-entity API (``crm.deal.*`` ...) and ``crm.item.*``, plus funnels
(``crm.category.*``) and smart-process types (``crm.type.*``). :data:`HANDLERS` is what the portal serves;
object families found in the spec's registry are added by :mod:`families`.
"""

from __future__ import annotations

from b24crm.testing.api import Handler
from b24crm.testing.crm import categories, items, types
from b24crm.testing.crm.families import core_handlers, family_handlers

__all__ = ["HANDLERS"]


def _handlers() -> dict[str, Handler]:
    served: dict[str, Handler] = {**core_handlers(), **items.HANDLERS, **categories.HANDLERS, **types.HANDLERS}
    try:
        from b24crm._registry import REGISTRY
    except ImportError:  # pragma: no cover - the registry ships with the package
        return served
    from b24crm.testing.methods import duplicate, enums, stagehistory, status

    hand_written = {**status.HANDLERS, **stagehistory.HANDLERS, **duplicate.HANDLERS, **enums.HANDLERS, **served}
    return {**served, **family_handlers(REGISTRY.methods.values(), hand_written)}


HANDLERS: dict[str, Handler] = _handlers()
