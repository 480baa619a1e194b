"""Object families recognised from the spec's registry, so a family added to the spec is emulated unchanged.

The rule (docs/extending.md): a method-name prefix ``P`` is an *object family* when the registry has
``P.add``, ``P.get`` and ``P.list``, and ``P.list`` pages classically (``x-b24-pagination`` with the result
list at the top, ``items_path == ()``). Every verb of ``add/get/list/update/delete/fields`` the registry
has for ``P`` is then served by :func:`~b24crm.testing.crm.classic.classic_handlers` over one store table:

- ``P``'s last segment names a CRM type (``crm.lead``/``deal``/``contact``/``company``/``quote``): the
  family shares that type's objects, so ``crm.quote.add`` makes the item ``crm.item.get(entityTypeId=7)``
  returns;
- otherwise the family gets a table of its own (``family_<P>``) with an open schema: any UPPER_CASE field
  is kept as text, ``ID`` is assigned, filters/order/select/paging work as for deals.

Methods that already have a handler (built-in or hand-written) are never replaced. D7 families
(``items_path`` like ``("items",)``) are left to hand-written handlers such as ``crm.item.*``.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from b24crm.runtime.spec import MethodSpec
from b24crm.testing.api import Handler
from b24crm.testing.crm.classic import classic_handlers
from b24crm.testing.crm.fields import CLASSIC_TYPES, Field, Schema, schema_for
from b24crm.testing.crm.store import register_table

__all__ = ["VERBS", "core_handlers", "family_handlers", "find_families"]

VERBS = ("add", "get", "list", "update", "delete", "fields")
_REQUIRED = ("add", "get", "list")
_CORE = ("crm.lead", "crm.deal", "crm.contact", "crm.company")


def find_families(methods: Iterable[MethodSpec]) -> dict[str, list[str]]:
    """Family prefix -> the verbs the registry has for it (lowercase prefixes)."""
    by_prefix: dict[str, dict[str, MethodSpec]] = {}
    for spec in methods:
        prefix, _, verb = spec.name.lower().rpartition(".")
        if verb in VERBS:
            by_prefix.setdefault(prefix, {})[verb] = spec
    families: dict[str, list[str]] = {}
    for prefix, verbs in sorted(by_prefix.items()):
        listing = verbs.get("list")
        if any(v not in verbs for v in _REQUIRED) or listing is None or listing.pagination is None:
            continue
        if listing.pagination.items_path:
            continue
        families[prefix] = [v for v in VERBS if v in verbs]
    return families


def _schema(prefix: str) -> Schema:
    stem = prefix.rpartition(".")[2]
    if stem in CLASSIC_TYPES:
        return schema_for(CLASSIC_TYPES[stem])
    pseudo = 10**10 + zlib.crc32(prefix.encode())  # beyond every real entityTypeId, stable across runs
    register_table(pseudo, f"family_{prefix}")
    return Schema(pseudo, (Field("ID", "id", "integer", "ID", readonly=True),), open=True)


def family_handlers(methods: Iterable[MethodSpec], served: Iterable[str] = ()) -> dict[str, Handler]:
    """Handlers for every family in ``methods`` whose verbs are not in ``served`` (lowercase names)."""
    taken = {name.lower() for name in served}
    out: dict[str, Handler] = {}
    for prefix, verbs in find_families(methods).items():
        handlers = classic_handlers(prefix, _schema(prefix))
        for verb in verbs:
            name = f"{prefix}.{verb}"
            if name not in taken:
                out[name] = handlers[name]
    return out


def core_handlers() -> dict[str, Handler]:
    """The per-entity API of leads, deals, contacts and companies — served whatever the spec holds yet."""
    out: dict[str, Handler] = {}
    for prefix in _CORE:
        out.update(classic_handlers(prefix, _schema(prefix)))
    return out
