"""The intermediate representation: every decision the templates print, made once, in Python.

All collections are sorted tuples so rendering order never depends on dict or set order. Values the
templates print — type expressions, defaults, pagination — are structured: each renders itself (``str()``)
and lists the imports it needs, so no template or import list ever parses Python text. Type expressions
come in two spellings: ``*_expr`` as written inside ``models.py`` (bare model names) and ``*_qexpr`` as
written elsewhere (``models.Status``, ``enums.CrmMode``).
"""

from __future__ import annotations

import keyword
from collections.abc import Iterable

import attrs


@attrs.frozen(order=True)
class Import:
    """``import module`` (``name`` None) or ``from module import name``."""

    module: str
    name: str | None = None


@attrs.frozen
class TypeExpr:
    """A Python annotation as a tree: a name, a generic (``list[X]``) or a union (``X | None``)."""

    text: str = ""
    args: tuple[TypeExpr, ...] = ()
    union: tuple[TypeExpr, ...] = ()
    needs: frozenset[Import] = frozenset()

    def __str__(self) -> str:
        if self.union:
            return " | ".join(str(m) for m in self.union)
        if self.args:
            return f"{self.text}[{', '.join(str(a) for a in self.args)}]"
        return self.text

    def imports(self) -> frozenset[Import]:
        """Every import this annotation needs, its arguments' and members' included."""
        found = set(self.needs)
        for sub in (*self.args, *self.union):
            found |= sub.imports()
        return frozenset(found)

    @property
    def members(self) -> tuple[TypeExpr, ...]:
        return self.union or (self,)

    @property
    def nullable(self) -> bool:
        return any(m == NONE for m in self.members)

    @property
    def is_any(self) -> bool:
        return self == ANY

    def or_(self, *others: TypeExpr) -> TypeExpr:
        """``self | others``, flattened, without repeats, ``None`` kept last."""
        members: list[TypeExpr] = []
        for t in (self, *others):
            for m in t.members:
                if m not in members:
                    members.append(m)
        if NONE in members:
            members.remove(NONE)
            members.append(NONE)
        return members[0] if len(members) == 1 else TypeExpr(union=tuple(members))


def named(text: str, *needs: Import) -> TypeExpr:
    return TypeExpr(text=text, needs=frozenset(needs))


def generic(base: TypeExpr, *args: TypeExpr) -> TypeExpr:
    return TypeExpr(text=base.text, args=tuple(args), needs=base.needs)


NONE = named("None")
ANY = named("Any", Import("typing", "Any"))


@attrs.frozen
class Expr:
    """A Python expression the templates print as is (a default, a literal), with the imports it needs."""

    text: str
    needs: frozenset[Import] = frozenset()

    def __str__(self) -> str:
        return self.text

    def imports(self) -> frozenset[Import]:
        return self.needs


@attrs.frozen
class PaginationDef:
    """``x-b24-pagination`` as the registry prints it: ``Pagination(page_size=50, ...)``."""

    page_size: int
    items_path: tuple[str, ...]
    id_field: str
    order_param: str
    filter_param: str
    start_param: str
    count_free: bool

    def __str__(self) -> str:
        fields = ", ".join(f"{a.name}={getattr(self, a.name)!r}" for a in attrs.fields(PaginationDef))
        return f"Pagination({fields})"

    def imports(self) -> frozenset[Import]:
        return frozenset({Import("b24crm.runtime.spec", "Pagination")})


def all_imports(values: Iterable[TypeExpr | Expr | PaginationDef | None]) -> frozenset[Import]:
    found: set[Import] = set()
    for value in values:
        if value is not None:
            found |= value.imports()
    return frozenset(found)


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
    type_expr: TypeExpr
    #: The default, or None for a required field.
    default_expr: Expr | None
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
    #: A request model's TypedDict twin, rendered right after it.
    twin: ParamDict | None = None
    #: Base classes (response models: the runtime's ``WireRecord``, so bulk reads can decode field by field).
    bases: tuple[Expr, ...] = ()

    def class_line(self) -> str:
        """``class Deal(WireRecord):`` (or ``class StatusAddFields:``)."""
        return f"class {self.name}({', '.join(map(str, self.bases))}):" if self.bases else f"class {self.name}:"


@attrs.frozen
class DictField:
    wire_name: str
    #: The value as the wire wants it in a plain mapping (``Literal["Y", "N"]`` for a Y/N flag).
    type_expr: TypeExpr
    required: bool


@attrs.frozen
class ParamDict:
    """The TypedDict twin of a request model: the same wire keys, for dict literals (``StatusAddFieldsDict``).

    ``open``: the schema allows keys it does not list (user fields ``UF_*``), so parameters accept any mapping
    beside it; a closed one is the only mapping accepted, so a misspelt key is a type error.
    """

    name: str
    model: str
    fields: tuple[DictField, ...]
    open: bool

    @property
    def class_syntax(self) -> bool:
        """Every wire key is a Python identifier, so the twin is a ``class`` (else ``TypedDict("...", {...})``)."""
        return all(f.wire_name.isidentifier() and not keyword.iskeyword(f.wire_name) for f in self.fields)


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
    type_qexpr: TypeExpr
    #: Inside a batch any parameter may also be a reference to an earlier command's result.
    batch_type_qexpr: TypeExpr
    default_expr: Expr | None
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
    result_qexpr: TypeExpr
    #: The record type of a paginated method, else None.
    item_qexpr: TypeExpr | None
    request_schema_expr: str
    pagination: PaginationDef | None
    #: Class names of the method's documented error rows, in matching order.
    errors: tuple[str, ...]
    #: The module constant holding the typed result token (``Decoded[...]``) the calls pass to the invoker.
    token_name: str
    #: What the token decodes into: the record type of a paginated method, the result type otherwise.
    token_type: TypeExpr


@attrs.frozen
class Flavour:
    """One rendering of the calling surface from the same namespaces: the sync client's or the asyncio client's.

    The templates print these words and never decide them: ``def`` or ``async def``, whether a call is
    awaited, which invoker the classes hold, which iterator ``iter_all`` returns. Batch classes have no
    flavour: enqueueing does no I/O, so both clients' batches share them.
    """

    name: str
    #: Which of a namespace's class names this flavour's classes take (``class_name`` / ``async_class_name``).
    class_attr: str
    def_kw: str
    await_kw: str
    #: The invoker the classes hold (imported under TYPE_CHECKING from ``invoker_module``).
    invoker: str
    invoker_module: str
    #: What ``iter_all`` returns (from ``collections.abc``).
    iterator: str
    #: Said in the class docstrings.
    verb: str


SYNC = Flavour(
    name="sync",
    class_attr="class_name",
    def_kw="def",
    await_kw="",
    invoker="Invoker",
    invoker_module="b24crm.runtime.client",
    iterator="Iterator",
    verb="calls",
)
ASYNC = Flavour(
    name="async",
    class_attr="async_class_name",
    def_kw="async def",
    await_kw="await ",
    invoker="AsyncInvoker",
    invoker_module="b24crm.runtime.aio",
    iterator="AsyncIterator",
    verb="awaitable calls",
)
FLAVOURS = (SYNC, ASYNC)


@attrs.frozen
class Child:
    attr: str
    class_name: str
    async_class_name: str
    batch_class_name: str

    def api(self, flavour: Flavour) -> str:
        """The class name of this namespace in ``flavour``."""
        name: str = getattr(self, flavour.class_attr)
        return name


@attrs.frozen
class Namespace:
    path: tuple[str, ...]
    class_name: str
    async_class_name: str
    batch_class_name: str
    doc: str
    children: tuple[Child, ...]
    methods: tuple[Method, ...]

    def api(self, flavour: Flavour) -> str:
        """The class name of this namespace in ``flavour``."""
        name: str = getattr(self, flavour.class_attr)
        return name


@attrs.frozen
class NamespaceModule:
    """One module of ``b24crm.namespaces``: a top-level group (``crm.status``) with everything below it."""

    #: The module's name inside ``b24crm.namespaces`` (``status``); empty for the package's ``__init__``.
    name: str
    #: The group's wire prefix (``crm.status``), for its docstring.
    wire: str
    namespaces: tuple[Namespace, ...]
    #: Modules whose classes this one's properties return (the ``__init__`` imports every group).
    uses: tuple[NamespaceModuleRef, ...]

    @property
    def methods(self) -> tuple[Method, ...]:
        return tuple(m for ns in self.namespaces for m in ns.methods)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(
            n for ns in self.namespaces for n in (ns.class_name, ns.async_class_name, ns.batch_class_name)
        )


@attrs.frozen
class NamespaceModuleRef:
    name: str
    class_names: tuple[str, ...]


@attrs.frozen
class Package:
    spec_sha256: str
    title: str
    version: str
    enums: tuple[EnumDef, ...]
    models: tuple[Model, ...]
    #: TypedDict twins of the request models, in the models' dependency order.
    param_dicts: tuple[ParamDict, ...]
    kinds: tuple[ErrorKind, ...]
    errors: tuple[ErrorClass, ...]
    #: Class names of the system error rows, in matching order.
    system_errors: tuple[str, ...]
    methods: tuple[Method, ...]
    namespaces: tuple[Namespace, ...]
    roots: tuple[Child, ...]
    #: ``b24crm.namespaces`` as modules: the root (name ``""``) first, then one per top-level group.
    namespace_modules: tuple[NamespaceModule, ...]
    #: The renderings of the calling surface (sync, async); each namespace has a class in each.
    flavours: tuple[Flavour, ...] = FLAVOURS
