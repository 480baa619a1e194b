"""``batch``: up to 50 commands per HTTP request, with references between them and per-command results.

Each ``enqueue`` validates the command at once (nothing is sent until ``execute``) and returns a
``BatchHandle``. ``handle.ref("ID")`` is a placeholder that becomes ``$result[<key>][ID]`` wherever it sits in a
later command's params. ``execute`` chunks above 50 commands; a reference that would cross a chunk boundary
is refused before anything is sent, because the server would silently substitute garbage. Afterwards every
handle holds either its typed ``.result`` or its typed ``.error``: one failed command never discards the
others. Command keys always start with a letter (``c0001_crm_status_add``): purely numeric keys make PHP
answer a list instead of a map.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from b24crm.runtime import limits
from b24crm.runtime.converter import from_wire, to_wire
from b24crm.runtime.errors import (
    B24Error,
    BatchCommandSkipped,
    BatchError,
    Problem,
    RequestValidationError,
    ResponseDecodeError,
    error_from_wire,
)
from b24crm.runtime.paging import Page, dig
from b24crm.runtime.phpquery import encode_query
from b24crm.runtime.spec import MethodSpec
from b24crm.runtime.types import RequestOptions
from b24crm.runtime.validation import validate

if TYPE_CHECKING:
    from b24crm.runtime.client import BaseClient

T = TypeVar("T")

#: Status used to map a command's error: commands carry none, and a lone call would have got 400.
COMMAND_ERROR_STATUS = 400

_PATH_TOKEN = re.compile(r"\[([^\]]*)\]|([^.\[\]]+)")


def parse_ref_path(path: str) -> tuple[str, ...]:
    """``"ID"``, ``"items.0.ID"``, ``"[0][ID]"``, ``"items[0].ID"`` → ``("items", "0", "ID")``."""
    tokens = tuple(a or b for a, b in _PATH_TOKEN.findall(path))
    if path.strip() and not tokens:
        raise ValueError(f"not a result path: {path!r}")
    return tokens


class BatchRef:
    """A reference to (part of) an earlier command's result; rendered as ``$result[key][a][b]``."""

    __slots__ = ("handle", "path")

    def __init__(self, handle: BatchHandle[Any], path: tuple[str, ...]) -> None:
        self.handle = handle
        self.path = path

    def __str__(self) -> str:
        return "$result[" + self.handle.key + "]" + "".join(f"[{p}]" for p in self.path)

    def __repr__(self) -> str:
        return f"BatchRef({self})"


_PENDING = object()


class BatchHandle(Generic[T]):
    """One enqueued command. After ``execute``: ``.ok``, then ``.result`` (typed) or ``.error`` (typed)."""

    def __init__(
        self,
        batch: BaseBatch,
        index: int,
        method: str,
        spec: MethodSpec | None,
        result_type: Any,
        *,
        page: bool = False,
    ) -> None:
        self._batch = batch
        self.index = index
        self.method = method
        self.spec = spec
        self._result_type = result_type
        self._page = page
        self.key = f"c{index:04d}_" + re.sub(r"[^0-9a-zA-Z]+", "_", method).strip("_").lower()
        self._value: Any = _PENDING
        self._error: B24Error | None = None
        #: ``result_total`` / ``result_next`` / ``result_time`` of this command, when the server sent them.
        self.total: int | None = None
        self.next: int | None = None
        self.time: Mapping[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self._value is not _PENDING or self._error is not None

    @property
    def ok(self) -> bool:
        """True when the command ran and its result decoded."""
        return self._value is not _PENDING and self._error is None

    @property
    def error(self) -> B24Error | None:
        """The command's typed error (an APIError subclass, BatchCommandSkipped, ResponseDecodeError)."""
        return self._error

    @property
    def result(self) -> T:
        """The typed result; raises the command's error if it failed, BatchError if not executed yet."""
        if self._error is not None:
            raise self._error
        if self._value is _PENDING:
            raise BatchError(f"{self.method}: batch command {self.key!r} has not been executed; call execute()")
        value: T = self._value
        return value

    def ref(self, path: str = "") -> BatchRef:
        """A placeholder for this command's result (or a part: ``"ID"``, ``"items.0.ID"``, ``"[0][ID]"``)."""
        return BatchRef(self, parse_ref_path(path))

    def _resolve(self, value: Any) -> None:
        self._value = value

    def _fail(self, error: B24Error) -> None:
        self._error = error

    def __repr__(self) -> str:
        state = "pending" if not self.done else ("ok" if self.ok else f"error={type(self._error).__name__}")
        return f"BatchHandle({self.key!r}, {state})"


# --- encoding ----------------------------------------------------------------------------------------------


def _render_refs(value: Any) -> Any:
    if isinstance(value, BatchRef):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _render_refs(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_render_refs(v) for v in value]
    return value


def encode_command(method: str, params: Mapping[str, Any]) -> str:
    """``method?<PHP query>`` as one ``cmd`` value; BatchRefs become ``$result[...]`` text."""
    rendered = _render_refs(params)
    query = encode_query(rendered) if rendered else ""
    return f"{method}?{query}" if query else method


def _refs(value: Any, path: str = "") -> Iterator[tuple[str, BatchRef]]:
    """Every BatchRef inside wire params, with its wire path in validation's notation."""
    if isinstance(value, BatchRef):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _refs(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _refs(v, f"{path}[{i}]")


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith((r + ".", r + "[")) for r in roots)


# --- parsing -----------------------------------------------------------------------------------------------


@attrs.frozen
class BatchResponse:
    """The five maps of a batch answer, each normalised to a dict (the server sends ``[]`` when empty)."""

    result: Mapping[str, Any]
    error: Mapping[str, Any]
    total: Mapping[str, Any]
    next: Mapping[str, Any]
    time: Mapping[str, Any]


def _as_map(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):  # [] for empty; a list if keys were 0..n-1 (never ours)
        return {str(i): v for i, v in enumerate(value)}
    return {}


def parse_batch_result(method: str, result: Any) -> BatchResponse:
    """Normalise ``{"result", "result_error", "result_total", "result_next", "result_time"}``."""
    if isinstance(result, list) and not result:
        result = {}
    if not isinstance(result, Mapping):
        raise ResponseDecodeError(method, f"batch result is {type(result).__name__}, expected an object")
    return BatchResponse(
        result=_as_map(result.get("result")),
        error=_as_map(result.get("result_error")),
        total=_as_map(result.get("result_total")),
        next=_as_map(result.get("result_next")),
        time=_as_map(result.get("result_time")),
    )


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


# --- the batch -----------------------------------------------------------------------------------------------


class BatchInvoker:
    """What generated batch namespaces call: ``enqueue`` returns a handle instead of sending."""

    def __init__(self, batch: BaseBatch) -> None:
        self._batch = batch

    def enqueue(self, method: MethodSpec, params: Mapping[str, Any], result_type: Any) -> BatchHandle[Any]:
        """Validate now, send on ``execute()``; the handle's result is decoded into ``result_type``."""
        return self._batch._add(method.name, method, params, result_type, page=False)

    def enqueue_page(self, method: MethodSpec, params: Mapping[str, Any], item_type: Any) -> BatchHandle[Page[Any]]:
        """A list method's page as a batch command; the handle's result is a ``Page[item_type]``."""
        return self._batch._add(method.name, method, params, item_type, page=True)


class BaseBatch:
    """Base of the generated ``Batch``: collects commands, sends them in chunks of 50, fills the handles."""

    def __init__(self, client: BaseClient, halt: bool = False) -> None:
        self._client = client
        self.halt = halt
        self._handles: list[BatchHandle[Any]] = []
        self._wire: list[dict[str, Any]] = []
        self._executed = False
        self._invoker = BatchInvoker(self)

    def __len__(self) -> int:
        return len(self._handles)

    def __enter__(self) -> BaseBatch:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None and not self._executed and self._handles:
            self.execute()

    @property
    def handles(self) -> tuple[BatchHandle[Any], ...]:
        return tuple(self._handles)

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> BatchHandle[Any]:
        """Enqueue any method by name (the raw escape hatch); its result stays plain JSON data."""
        spec = self._client._registry.find(method)
        return self._add(spec.name if spec else method, spec, params or {}, Any, page=False)

    def _add(
        self, name: str, spec: MethodSpec | None, params: Mapping[str, Any], result_type: Any, *, page: bool
    ) -> BatchHandle[Any]:
        if self._executed:
            raise BatchError("this batch was already executed; start a new one with client.batch()")
        if spec is not None and not spec.batchable:
            raise BatchError(f"{name} cannot be a batch command")
        if name.lower() == "batch":
            raise BatchError("batch cannot be nested inside batch")
        wire = to_wire(params)
        if not isinstance(wire, dict):
            raise RequestValidationError(name, [Problem("", "params must be a mapping")])
        refs = list(_refs(wire))
        for _, ref in refs:
            if ref.handle._batch is not self:
                raise BatchError(f"{name}: a reference points at a command of another batch ({ref})")
        if spec is not None:
            ref_paths = [p for p, _ in refs]
            problems = [p for p in validate(spec.request_schema, wire) if not _under(p.path, ref_paths)]
            if problems:
                raise RequestValidationError(name, problems)
            if spec.deprecated:
                warnings.warn(f"{name} is deprecated by Bitrix24", DeprecationWarning, stacklevel=4)
        handle: BatchHandle[Any] = BatchHandle(self, len(self._handles), name, spec, result_type, page=page)
        self._handles.append(handle)
        self._wire.append(wire)
        return handle

    def _chunks(self) -> list[list[int]]:
        size = limits.BATCH_MAX_COMMANDS
        chunks = [list(range(i, min(i + size, len(self._handles)))) for i in range(0, len(self._handles), size)]
        for chunk in chunks:
            first = chunk[0]
            for i in chunk:
                for path, ref in _refs(self._wire[i]):
                    target = ref.handle.index
                    if target >= i:
                        raise BatchError(
                            f"{self._handles[i].key}: {path} refers to {ref.handle.key}, which does not run before it"
                        )
                    if target < first:
                        raise BatchError(
                            f"{self._handles[i].key}: {path} refers to {ref.handle.key}, which falls in an earlier "
                            f"chunk of {size} commands; the server cannot resolve references across batch requests. "
                            "Keep dependent commands within one group of 50 (or run them in separate batches and "
                            "pass the value itself). Nothing was sent."
                        )
        return chunks

    def execute(self, *, request_options: RequestOptions | None = None) -> list[BatchHandle[Any]]:
        """Send every command; returns the handles in order. One failing command does not fail the rest."""
        if self._executed:
            raise BatchError("this batch was already executed")
        chunks = self._chunks()  # refuses bad references before anything is sent
        self._executed = True
        halted = False
        for chunk in chunks:
            if halted:
                for i in chunk:
                    self._handles[i]._fail(BatchCommandSkipped(self._handles[i].method, self._handles[i].key))
                continue
            halted = self._run(chunk, request_options) and self.halt
        return list(self._handles)

    def _run(self, chunk: list[int], options: RequestOptions | None) -> bool:
        """Send one chunk; returns True if any command failed."""
        handles = [self._handles[i] for i in chunk]
        cmd = {h.key: encode_command(h.method, self._wire[i]) for h, i in zip(handles, chunk, strict=True)}
        idempotent = all(h.spec is not None and h.spec.idempotent for h in handles)
        methods = sorted({h.method for h in handles})
        raw = self._client._execute(
            "batch",
            {"halt": 1 if self.halt else 0, "cmd": cmd},
            idempotent=idempotent,
            rows=(),
            options=options,
            budget_methods=methods,
        )
        parsed = parse_batch_result("batch", raw.result)
        failed = False
        for h in handles:
            failed = self._settle(h, parsed) or failed
        return failed

    def _settle(self, h: BatchHandle[Any], parsed: BatchResponse) -> bool:
        client = self._client
        if h.key in parsed.error:
            body = parsed.error[h.key]
            body = body if isinstance(body, Mapping) else {"error": "", "error_description": str(body)}
            h._fail(
                error_from_wire(
                    h.method,
                    body.get("error"),
                    body.get("error_description"),
                    COMMAND_ERROR_STATUS,
                    method_rows=h.spec.errors if h.spec else (),
                    system_rows=client._registry.system_errors,
                )
            )
            return True
        if h.key not in parsed.result:
            h._fail(BatchCommandSkipped(h.method, h.key))
            return True
        h.total = _int(parsed.total.get(h.key))
        h.next = _int(parsed.next.get(h.key))
        time = parsed.time.get(h.key)
        h.time = time if isinstance(time, Mapping) else None
        client._operating.record(h.method, h.time)
        value = parsed.result[h.key]
        try:
            if h._page:
                path = h.spec.pagination.items_path if h.spec and h.spec.pagination else ()
                items = from_wire(dig(value, path), list[h._result_type], h.method)  # type: ignore[name-defined]
                h._resolve(Page(items=items, next=h.next, total=h.total, time=h.time))
            else:
                h._resolve(from_wire(value, h._result_type, h.method))
        except ResponseDecodeError as exc:
            h._fail(exc)
            return True
        return False
