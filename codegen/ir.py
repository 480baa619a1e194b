"""The intermediate representation: every decision the templates print, made once, in Python.

All collections are sorted tuples so rendering order never depends on dict or set order. Type
expressions come in two spellings: ``*_expr`` as written inside ``models.py`` (bare model names) and
``*_qexpr`` as written elsewhere (``models.Status``, ``enums.CrmMode``).
"""

from __future__ import annotations

import attrs


@attrs.frozen
class EnumMember:
    name: str
    value_expr: str


@attrs.frozen
class EnumDef:
    name: str
    base: str  # "str" or "int"
    doc_lines: tuple[str, ...]
    members: tuple[EnumMember, ...]


@attrs.frozen
class Field:
    py_name: str
    wire_name: str
    type_expr: str
    #: Python source of the default, or None for a required field.
    default_expr: str | None
    metadata_expr: str
    doc: str


@attrs.frozen
class Model:
    name: str
    doc_lines: tuple[str, ...]
    fields: tuple[Field, ...]
    #: Response models keep unknown keys in ``additional_properties``.
    keeps_unknown: bool
    source: str


@attrs.frozen
class ErrorKind:
    """One row of ``x-b24-error-kinds``: what an error of this kind means for a caller."""

    name: str
    base: str
    may_have_run: bool
    retry: str
    meaning_expr: str


@attrs.frozen
class ErrorClass:
    """One documented error row: its class carries everything the wire, the runtime and the emulator need."""

    name: str
    base: str
    kind: str
    code_expr: str
    message_expr: str
    status: int
    meaning_expr: str
    doc_lines: tuple[str, ...]


@attrs.frozen
class Param:
    py_name: str
    wire_name: str
    type_qexpr: str
    #: Inside a batch any parameter may also be a reference to an earlier command's result.
    batch_type_qexpr: str
    default_expr: str | None
    doc: str


@attrs.frozen
class Method:
    wire_name: str
    const_name: str
    py_name: str
    namespace: tuple[str, ...]
    summary: str
    summary_expr: str
    doc_lines: tuple[str, ...]
    source_url: str
    deprecated: bool
    idempotent: bool
    batchable: bool
    scope: str
    params: tuple[Param, ...]
    #: Params of iter_all: the list params minus the start parameter.
    iter_params: tuple[Param, ...]
    result_qexpr: str
    #: The record type of a paginated method, else None.
    item_qexpr: str | None
    request_schema_expr: str
    pagination_expr: str
    #: Class names of the method's documented error rows, in matching order.
    errors: tuple[str, ...]


@attrs.frozen
class Child:
    attr: str
    class_name: str
    batch_class_name: str


@attrs.frozen
class Namespace:
    path: tuple[str, ...]
    class_name: str
    batch_class_name: str
    doc: str
    children: tuple[Child, ...]
    methods: tuple[Method, ...]


@attrs.frozen
class Package:
    spec_sha256: str
    title: str
    version: str
    enums: tuple[EnumDef, ...]
    models: tuple[Model, ...]
    kinds: tuple[ErrorKind, ...]
    errors: tuple[ErrorClass, ...]
    #: Class names of the system error rows, in matching order.
    system_errors: tuple[str, ...]
    methods: tuple[Method, ...]
    namespaces: tuple[Namespace, ...]
    roots: tuple[Child, ...]
