"""``batch``: up to 50 commands per HTTP request, with references between them and per-command results.

Each ``enqueue`` encodes and validates the command at once (nothing is sent until ``execute``) and returns a
``BatchHandle``. ``handle.ref("ID")`` is a placeholder that becomes ``$result[<key>][ID]`` wherever it sits in a
later command's params. ``execute`` sends the commands in requests of at most 50; a reference that would cross
requests is refused before anything is sent, because the server would silently substitute garbage. A command
that would not reach the server as written inside a batch (user text holding ``$result[...]``, which the
server would substitute; more variables than PHP's ``max_input_vars`` keeps) is sent on its own as a plain
JSON call, in its place in the order (``batchwire.lone_reason``).

Afterwards every handle is in a definite state — ``ok`` (a typed ``.result``), ``error`` (a typed ``.error``),
or ``not_sent`` — and ``handle.may_have_run`` says whether the portal may have run it. One failed command never
discards the others. ``execute()`` returns a :class:`BatchOutcome` (the handles, plus one :class:`ChunkReport`
per request saying whether it ran); when a request fails as a whole (timeout, 5xx after retries), the
handles of that request carry its error, later requests are not sent (their handles: ``not_sent``,
``BatchCommandNotSent``, safe to send again), ``batch.outcome`` is set, and the error is raised.

Sans-IO parts: command encoding, the substitution and variable checks, chunking and answer decoding live in
:mod:`b24crm.runtime.batchwire`; enqueueing, reference checks and ``_Run`` (which request comes next, what an
answer or a failure means for each handle) are pure too. The only I/O is the loop in ``execute`` that sends each
step through the :class:`~b24crm.runtime.sender.Sender`; ``aio.AsyncBaseBatch`` is the same loop with ``await``.
Both share ``BatchCore`` (enqueueing, references, chunking, settling); the batch namespaces are the same
classes for both clients, since enqueueing does no I/O.
Command keys always start with a letter (``c0001_crm_status_add``): purely numeric keys make PHP answer a list
instead of a map.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import attrs

from b24crm.runtime.batchwire import (
    BatchResponse,
    chunks,
    command_error,
    encode_command,
    lone_reason,
    parse_batch_result,
)
from b24crm.runtime.converter import from_wire
from b24crm.runtime.envelope import RawResponse
from b24crm.runtime.errors import (
    APIError,
    B24Error,
    BatchCommandSkipped,
    BatchError,
    RequestValidationError,
    ResponseDecodeError,
)
from b24crm.runtime.pageplan import dig
from b24crm.runtime.paging import Page
from b24crm.runtime.sender import Call, Sender, SenderBase
from b24crm.runtime.spec import MethodSpec
from b24crm.runtime.types import Decoded, RequestOptions
from b24crm.runtime.validation import encode_params, validate, yn_flags

if TYPE_CHECKING:
    from b24crm.runtime.client import BaseClient

__all__ = [
    "BaseBatch",
    "BatchCore",
    "BatchCommandNotSent",
    "BatchHandle",
    "BatchInvoker",
    "BatchOutcome",
    "BatchRef",
    "BatchResponse",
    "ChunkReport",
    "encode_command",
    "parse_batch_result",
    "parse_ref_path",
]

T = TypeVar("T")

_PATH_TOKEN = re.compile(r"\[([^\]]*)\]|([^.\[\]]+)")

HandleState = Literal["pending", "ok", "error", "not_sent"]


def parse_ref_path(path: str) -> tuple[str, ...]:
    """``"ID"``, ``"items.0.ID"``, ``"[0][ID]"``, ``"items[0].ID"`` → ``("items", "0", "ID")``."""
    tokens = tuple(a or b for a, b in _PATH_TOKEN.findall(path))
    if path.strip() and not tokens:
        raise ValueError(f"not a result path: {path!r}")
    return tokens


class BatchCommandNotSent(BatchCommandSkipped):
    """A batch command was never sent: an earlier request of the same batch failed as a whole.

    The portal did not run it (``may_have_run`` is False), so sending it again is safe.
    """

    may_have_run = False

    def __init__(self, method: str, key: str, cause: BaseException) -> None:
        super().__init__(method, key)
        self.args = (f"{method}: batch command {key!r} was not sent: an earlier request of the batch failed ({cause})",)


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
    """One enqueued command. After ``execute``: ``.state``, then ``.result`` (typed) or ``.error`` (typed)."""

    def __init__(
        self,
        batch: BatchCore,
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
    def state(self) -> HandleState:
        """``pending`` before ``execute``; then ``ok``, ``error`` (it failed or its request did), ``not_sent``."""
        if self.ok:
            return "ok"
        if self._error is None:
            return "pending"
        return "not_sent" if isinstance(self._error, BatchCommandSkipped) else "error"

    @property
    def may_have_run(self) -> bool:
        """Whether the portal may have run this command: True once it ran; for an error, the error's own
        answer (a command error the portal returned, a request that failed on the way); False when it was
        never sent or a halt skipped it (sending it again is safe)."""
        if self.ok:
            return True
        if self._error is None or isinstance(self._error, BatchCommandSkipped):
            return False
        return bool(getattr(self._error, "may_have_run", True))

    @property
    def error(self) -> B24Error | None:
        """The typed error (an APIError subclass, TransportError, ResponseDecodeError, BatchCommandSkipped)."""
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
        state = self.state if self.state != "error" else f"error={type(self._error).__name__}"
        return f"BatchHandle({self.key!r}, {state})"


@attrs.frozen
class ChunkReport:
    """One request of an executed batch: which commands it carried and whether it ran.

    ``state``: ``ran`` (the portal answered; each command holds its result or its error), ``failed`` (the
    request failed as a whole: ``error``; ``may_have_run`` says whether the portal may have run its
    commands), ``not_sent`` (an earlier request failed, or ``halt`` stopped the batch). ``lone``: a single
    command sent as a plain call instead of a ``batch`` request (see the module docstring).
    """

    index: int
    keys: tuple[str, ...]
    state: Literal["ran", "failed", "not_sent"]
    lone: bool = False
    error: B24Error | None = None
    may_have_run: bool = True


class BatchOutcome(list[BatchHandle[Any]]):
    """What ``execute()`` returns: the handles in order (it is the list of them, as before) and ``chunks``, one
    :class:`ChunkReport` per request saying whether it ran."""

    def __init__(self, handles: Sequence[BatchHandle[Any]], chunks: Sequence[ChunkReport]) -> None:
        super().__init__(handles)
        self.chunks: tuple[ChunkReport, ...] = tuple(chunks)

    @property
    def complete(self) -> bool:
        """Every request ran (commands may still hold their own errors)."""
        return all(c.state == "ran" for c in self.chunks)

    @property
    def not_sent(self) -> tuple[BatchHandle[Any], ...]:
        """Handles whose commands never reached the portal: safe to enqueue again in a new batch."""
        return tuple(h for h in self if h.state == "not_sent")


# --- references ----------------------------------------------------------------------------------------------


def _render_refs(value: Any) -> Any:
    if isinstance(value, BatchRef):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _render_refs(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_render_refs(v) for v in value]
    return value


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


# --- the batch -----------------------------------------------------------------------------------------------


class BatchInvoker:
    """What generated batch namespaces call: ``enqueue`` returns a handle instead of sending."""

    def __init__(self, batch: BatchCore) -> None:
        self._batch = batch

    def enqueue(self, method: MethodSpec, params: Mapping[str, Any], result: Decoded[T]) -> BatchHandle[T]:
        """Validate now, send on ``execute()``; the handle's result is decoded into ``result.type``."""
        handle: BatchHandle[T] = self._batch._add(method.name, method, params, result.type, page=False)
        return handle

    def enqueue_page(self, method: MethodSpec, params: Mapping[str, Any], item: Decoded[T]) -> BatchHandle[Page[T]]:
        """A list method's page as a batch command; the handle's result is a ``Page[item]``, the type the
        same call outside a batch returns (records from ``pagination.items_path``, ``next``/``total``/``time``)."""
        handle: BatchHandle[Page[T]] = self._batch._add(method.name, method, params, item.type, page=True)
        return handle


def _sender_of(client: BaseClient | Sender) -> Sender:
    from b24crm.runtime.client import BaseClient, sender_of

    return sender_of(client) if isinstance(client, BaseClient) else client


class BatchCore:
    """What both clients' batches share: collect commands, chunk them in requests of 50, fill the handles.
    Everything but sending (``BaseBatch.execute``, ``AsyncBaseBatch.execute``)."""

    def __init__(self, sender: SenderBase, halt: bool = False) -> None:
        self._sender: SenderBase = sender
        self.halt = halt
        self._handles: list[BatchHandle[Any]] = []
        self._wire: list[dict[str, Any]] = []
        self._lone: list[str | None] = []
        self._executed = False
        self._invoker = BatchInvoker(self)
        #: Set by ``execute()``: which requests ran (also when it raised).
        self.outcome: BatchOutcome | None = None

    def __len__(self) -> int:
        return len(self._handles)

    @property
    def handles(self) -> tuple[BatchHandle[Any], ...]:
        return tuple(self._handles)

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> BatchHandle[Any]:
        """Enqueue any method by name (the raw escape hatch); its result stays plain JSON data."""
        spec = self._sender.find(method)
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
        wire = encode_params(name, params, keep=(BatchRef,))
        if spec is not None:
            yn_flags(spec.request_schema, wire)
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
        reason = lone_reason(wire, _render_refs(wire))
        if reason is not None and refs:
            raise BatchError(
                f"{name}: cannot be a batch command ({reason}), and it cannot run on its own either because "
                f"{refs[0][0]} refers to another command's result. Pass the value itself. Nothing was sent."
            )
        handle: BatchHandle[Any] = BatchHandle(self, len(self._handles), name, spec, result_type, page=page)
        self._handles.append(handle)
        self._wire.append(wire)
        self._lone.append(reason)
        return handle

    def _chunks(self) -> list[list[int]]:
        groups = chunks([r is not None for r in self._lone])
        group_of = {i: n for n, group in enumerate(groups) for i in group}
        for group in groups:
            for i in group:
                for path, ref in _refs(self._wire[i]):
                    target = ref.handle.index
                    if target >= i:
                        raise BatchError(
                            f"{self._handles[i].key}: {path} refers to {ref.handle.key}, which does not run before it"
                        )
                    if self._lone[target] is not None:
                        raise BatchError(
                            f"{self._handles[i].key}: {path} refers to {ref.handle.key}, which runs on its own "
                            f"outside the batch ({self._lone[target]}); the server cannot resolve a reference to "
                            "it. Pass the value itself. Nothing was sent."
                        )
                    if group_of[target] != group_of[i]:
                        raise BatchError(
                            f"{self._handles[i].key}: {path} refers to {ref.handle.key}, which falls in an earlier "
                            f"chunk (batch request of up to 50 commands); the server cannot resolve references "
                            "across batch requests. Keep dependent commands within one group of 50 (or run them in "
                            "separate batches and pass the value itself). Nothing was sent."
                        )
        return groups

    def _start(self, options: RequestOptions | None) -> _Run:
        if self._executed:
            raise BatchError("this batch was already executed")
        groups = self._chunks()  # refuses bad references before anything is sent
        self._executed = True
        return _Run(self, groups, options)

    def _call_for(self, group: list[int], options: RequestOptions | None) -> Call:
        """The request for one group: a ``batch`` of its commands, or the lone command as a plain call."""
        handles = [self._handles[i] for i in group]
        if self._lone[group[0]] is not None:
            (h,) = handles
            return Call(h.method, self._wire[group[0]], options, spec=h.spec)
        cmd = {
            h.key: encode_command(h.method, _render_refs(self._wire[i])) for h, i in zip(handles, group, strict=True)
        }
        idempotent = all(h.spec is not None and h.spec.idempotent for h in handles)
        methods = tuple(sorted({h.method for h in handles}))
        params = {"halt": 1 if self.halt else 0, "cmd": cmd}
        return Call("batch", params, options, idempotent=idempotent, budget_methods=methods)

    def _receive(self, group: list[int], raw: RawResponse) -> bool:
        """Settle the group's handles from its answer; True if any command failed."""
        handles = [self._handles[i] for i in group]
        if self._lone[group[0]] is not None:
            (h,) = handles
            h.total, h.next, h.time = raw.total, raw.next, raw.time
            return self._decode(h, raw.result)
        parsed = parse_batch_result("batch", raw.result)
        failed = False
        for h in handles:
            failed = self._settle(h, parsed) or failed
        return failed

    def _settle(self, h: BatchHandle[Any], parsed: BatchResponse) -> bool:
        if h.key in parsed.error:
            rows = h.spec.errors if h.spec else ()
            h._fail(
                command_error(h.method, parsed.error[h.key], method_rows=rows, system_rows=self._sender.system_errors)
            )
            return True
        if h.key not in parsed.result:
            h._fail(_skipped(h))
            return True
        h.total = parsed.int_of(parsed.total, h.key)
        h.next = parsed.int_of(parsed.next, h.key)
        h.time = parsed.time_of(h.key)
        self._sender.spent(h.method, h.time)
        return self._decode(h, parsed.result[h.key])

    def _decode(self, h: BatchHandle[Any], value: Any) -> bool:
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


class BaseBatch(BatchCore):
    """Base of the generated ``Batch`` (sync client): ``execute()`` sends the requests, blocking."""

    def __init__(self, client: BaseClient | Sender, halt: bool = False) -> None:
        sender = _sender_of(client)
        super().__init__(sender, halt)
        self._send = sender.send

    def __enter__(self) -> BaseBatch:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None and not self._executed and self._handles:
            self.execute()

    def execute(self, *, request_options: RequestOptions | None = None) -> BatchOutcome:
        """Send every command; returns the handles in order with a report per request (see the module doc).

        One failing command does not fail the rest. A request that fails as a whole stops the batch: its
        handles hold the error, later handles are ``not_sent``, ``self.outcome`` is set and the error raised.
        This loop is the only I/O of a batch; ``_Run`` decides and books everything (sans-IO).
        """
        run = self._start(request_options)
        while (step := run.next_step()) is not None:
            run.settle(step, settled(self._send, step.call))
        return run.finish()


def settled(send: Callable[[Call], RawResponse], call: Call) -> RawResponse | B24Error:
    """``send(call)``'s answer, or the typed error it raised (what ``_Run.settle`` takes)."""
    try:
        return send(call)
    except B24Error as exc:
        return exc


@attrs.frozen
class _Step:
    index: int
    group: list[int]
    call: Call


class _Run:
    """One ``execute()``, sans-IO: which request comes next, and what each answer or failure means for the
    handles and the reports. A driver (sync here, asyncio later) only sends ``step.call``."""

    def __init__(self, batch: BatchCore, groups: list[list[int]], options: RequestOptions | None) -> None:
        self.batch = batch
        self.groups = groups
        self.options = options
        self.reports: list[ChunkReport] = []
        self.stopped: B24Error | None = None
        self.halted = False

    def _names(self, group: list[int]) -> tuple[str, ...]:
        return tuple(self.batch._handles[i].key for i in group)

    def _lone(self, group: list[int]) -> bool:
        return self.batch._lone[group[0]] is not None

    def next_step(self) -> _Step | None:
        while len(self.reports) < len(self.groups):
            n = len(self.reports)
            group = self.groups[n]
            if self.stopped is None and not self.halted:
                return _Step(n, group, self.batch._call_for(group, self.options))
            for i in group:  # an earlier request failed, or halt stopped the batch
                h = self.batch._handles[i]
                h._fail(BatchCommandNotSent(h.method, h.key, self.stopped) if self.stopped else _skipped(h))
            self.reports.append(ChunkReport(n, self._names(group), "not_sent", self._lone(group), self.stopped, False))
        return None

    def settle(self, step: _Step, outcome: RawResponse | B24Error) -> None:
        """Book the answer to ``step`` (or the error its request ended in)."""
        if isinstance(outcome, B24Error):
            self.failed(step, outcome)
        else:
            self.answered(step, outcome)

    def answered(self, step: _Step, raw: RawResponse) -> None:
        failed = self.batch._receive(step.group, raw)
        self.reports.append(ChunkReport(step.index, self._names(step.group), "ran", self._lone(step.group)))
        self.halted = failed and self.batch.halt

    def failed(self, step: _Step, exc: B24Error) -> None:
        lone = self._lone(step.group)
        if lone and isinstance(exc, APIError):  # a lone command's own error: the portal answered it
            self.batch._handles[step.group[0]]._fail(exc)
            self.reports.append(ChunkReport(step.index, self._names(step.group), "ran", lone))
            self.halted = self.batch.halt
            return
        may_have_run = bool(getattr(exc, "may_have_run", True))
        for i in step.group:  # the request failed as a whole
            self.batch._handles[i]._fail(exc)
        self.reports.append(ChunkReport(step.index, self._names(step.group), "failed", lone, exc, may_have_run))
        self.stopped = exc

    def finish(self) -> BatchOutcome:
        self.batch.outcome = BatchOutcome(self.batch._handles, self.reports)
        if self.stopped is not None:
            raise self.stopped
        return self.batch.outcome


def _skipped(h: BatchHandle[Any]) -> BatchCommandSkipped:
    return BatchCommandSkipped(h.method, h.key)
