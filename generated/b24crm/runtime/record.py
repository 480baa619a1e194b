"""The base of every response model: records a bulk read hands out decode each field when it is first read.

A bulk read yields every record of a list (100,000 deals of 46 fields), and most exports read a few fields of
each. Decoding every field up front (``"733"`` to 733, ``"Y"`` to True, ISO strings to datetimes) cost more
than the request and the JSON parse together, so ``iter_all`` keeps each record's parsed JSON object on the
model instead and converts a field the first time it is read; the value then sits in the model's slot, read at
the speed of any attribute. After a few fields the rest are decoded at once, so reading every field costs one
full decode, not one small decode per field (``b24crm.runtime.converter`` builds both from the same per-field
code, so a field decodes the same either way); and once most records of a page were read in full, the rest of
that bulk read is decoded at once, page by page.

Nothing else changes: the model is the same class (``type(deal) is Deal``), frozen, equal to an eagerly decoded
one with the same values, and ``repr``, ``==``, ``hash``, ``attrs.evolve``, pickling and copying read every
field. A field that does not match the spec raises ``ResponseDecodeError`` naming the method, the record and
the wire field when it is read. Models built by hand or decoded by a single call hold every field from the
start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

__all__ = ["WireRecord"]

#: ``read(record, wire, name)`` per model class, registered by ``b24crm.runtime.converter`` when it first hands
#: out records of that class lazily.
READERS: dict[type, Callable[[Any, dict[str, Any], str], Any]] = {}


class WireRecord:
    """Base class of response models (no fields of its own; two hidden slots while fields are undecoded)."""

    # _b24_wire: the record's parsed JSON object; _b24_read: what its page shares (the method, for errors), then
    # [that, the names of the fields decoded one by one].
    __slots__ = ("_b24_read", "_b24_wire")

    if not TYPE_CHECKING:  # type checkers must keep seeing only the declared fields: a misspelt one is an error

        def __getattr__(self, name: str) -> Any:
            # Reached only when normal lookup fails: for a record handed out undecoded, a field not read yet.
            try:
                wire = object.__getattribute__(self, "_b24_wire")
            except AttributeError:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}") from None
            return READERS[type(self)](self, wire, name)
