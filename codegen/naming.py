"""Wire name -> Python name: the one function every generated identifier goes through."""

from __future__ import annotations

import keyword
import re

_BOUNDARY_1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_BOUNDARY_2 = re.compile(r"([a-z0-9])([A-Z])")
_NON_IDENT = re.compile(r"[^0-9a-zA-Z_]+")

#: Parameter names a generated method already uses itself: ``self``, the per-call options and the keyword
#: arguments of ``iter_all()``. A wire parameter spelled so gets a trailing underscore (``limit_``).
PARAMETER_RESERVED = frozenset(keyword.kwlist) | {"self", "cls", "request_options", "limit", "progress", "after_id"}
#: Attribute names a generated model already has (``additional_properties`` keeps unknown keys).
FIELD_RESERVED = frozenset(keyword.kwlist) | {"self", "cls", "additional_properties"}
#: Method and namespace names: only Python keywords are renamed (a namespace named like a Client attribute
#: is rejected by the validator instead, since renaming it would break the naming rule users rely on).
NAME_RESERVED = frozenset(keyword.kwlist)


def snake(wire: str, reserved: frozenset[str] = PARAMETER_RESERVED) -> str:
    """``entityTypeId`` -> ``entity_type_id``, ``STATUS_ID`` -> ``status_id``, ``volatileType`` -> ``volatile_type``.

    The only renaming b24crm does: camelCase and UPPER_CASE become snake_case. A result in ``reserved`` (a
    Python keyword, or a name the generated code uses itself: see the ``*_RESERVED`` sets) gets a trailing
    underscore, so ``class`` becomes ``class_`` and a parameter ``limit`` becomes ``limit_``.
    """
    text = _NON_IDENT.sub("_", wire)
    text = _BOUNDARY_1.sub(r"\1_\2", text)
    text = _BOUNDARY_2.sub(r"\1_\2", text)
    name = re.sub(r"_+", "_", text).strip("_").lower()
    if not name or name[0].isdigit():
        name = f"f_{name}"
    return f"{name}_" if name in reserved else name


def pascal(wire: str) -> str:
    """``crm.status.entity`` -> ``CrmStatusEntity`` (namespace class names)."""
    return "".join(
        part[:1].upper() + part[1:] for part in re.split(r"[._]", snake(wire, NAME_RESERVED).rstrip("_")) if part
    )


def constant(wire: str) -> str:
    """``crm.status.add`` -> ``CRM_STATUS_ADD`` (module constants)."""
    return snake(wire, NAME_RESERVED).rstrip("_").upper()
