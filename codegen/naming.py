"""Wire name -> Python name: the one function every generated identifier goes through."""

from __future__ import annotations

import keyword
import re

_BOUNDARY_1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_BOUNDARY_2 = re.compile(r"([a-z0-9])([A-Z])")
_NON_IDENT = re.compile(r"[^0-9a-zA-Z_]+")

#: Names that would shadow something generated code relies on.
_RESERVED = frozenset(keyword.kwlist) | {"self", "cls", "request_options", "additional_properties"}


def snake(wire: str) -> str:
    """``entityTypeId`` -> ``entity_type_id``, ``STATUS_ID`` -> ``status_id``, ``volatileType`` -> ``volatile_type``.

    The only renaming b24crm does: camelCase and UPPER_CASE become snake_case. A result that is a Python
    keyword gets a trailing underscore.
    """
    text = _NON_IDENT.sub("_", wire)
    text = _BOUNDARY_1.sub(r"\1_\2", text)
    text = _BOUNDARY_2.sub(r"\1_\2", text)
    name = re.sub(r"_+", "_", text).strip("_").lower()
    if not name or name[0].isdigit():
        name = f"f_{name}"
    return f"{name}_" if name in _RESERVED else name


def pascal(wire: str) -> str:
    """``crm.status.entity`` -> ``CrmStatusEntity`` (namespace class names)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[._]", snake(wire).rstrip("_")) if part)


def constant(wire: str) -> str:
    """``crm.status.add`` -> ``CRM_STATUS_ADD`` (module constants)."""
    return snake(wire).rstrip("_").upper()
