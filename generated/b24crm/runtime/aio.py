"""The asyncio client: ``engine.ClientCore`` driven with awaits on aiohttp (the ``b24crm[async]`` extra).

Nothing here decides anything. The attempt loop (limits, refresh, portal moves, retries, error mapping), the
OAuth refresh, the paging plans, batch encoding and settling, validation and decoding are the sync client's
code; this module only performs their effects (``runtime.effects``) without blocking the loop:

* ``Send`` → ``await`` the :class:`~b24crm.runtime.aio_transport.AsyncTransport` (aiohttp);
* ``Sleep`` → ``asyncio.sleep`` (the limiter's wait never blocks other tasks);
* ``Blocking`` → called in line when the limiter store is in-process arithmetic, else in the flow's own
  worker thread (a Redis round trip or a file lock never stalls the loop);
* ``Enter`` → a token store's lock taken in that thread and released there when the flow ends, however it ends;
* ``Refresh`` → one refresh task per client that every task meeting the stale token awaits (``shield``-ed: a
  cancelled waiter neither cancels the refresh nor holds its lock; the refresh task's own flow releases the
  lock in its ``with`` blocks whatever happens, and ``aclose()`` cancels it).

A task cancelled mid-request closes its response (the connection is dropped, not handed back half-read) and
its flow (no retry is scheduled, so a write is never sent twice); see tests/runtime/test_aio_cancel.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self, Unpack

from b24crm.runtime.aio_transport import AiohttpTransport, AsyncTransport
from b24crm.runtime.batch import BatchCore, BatchOutcome
from b24crm.runtime.effects import Blocking, Effect, Enter, Failed, Flow, Refresh, Send, Sleep, Stepper
from b24crm.runtime.engine import ClientCore, CoreSender, RawListOptions, decode_page, decode_result, prepare
from b24crm.runtime.envelope import RawResponse
from b24crm.runtime.errors import B24Error
from b24crm.runtime.paging import Page, PageReader, PagingOptions
from b24crm.runtime.sender import AsyncSender, Call
from b24crm.runtime.spec import MethodSpec
from b24crm.runtime.types import Decoded, RequestOptions, T

__all__ = ["AsyncBaseBatch", "AsyncBaseClient", "AsyncClientSender", "AsyncInvoker", "aiter_all"]

_RECORDS: Decoded[dict[str, Any]] = Decoded(dict[str, Any])


class _Worker:
    """One flow's thread for store calls that may block (Redis, a file lock): started on the first, used for
    all of them, so a lock is taken, used (a reentrant file lock) and released by the same thread."""

    __slots__ = ("_pool",)

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    async def call(self, fn: Callable[[], T]) -> T:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="b24crm-store")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    async def finish(self, release: Callable[[], None]) -> None:
        """Run ``release`` in the thread (shielded: a second cancel cannot leave a lock held), then stop it."""
        pool = self._pool
        if pool is None:
            return
        try:
            await asyncio.shield(asyncio.get_running_loop().run_in_executor(pool, release))
        finally:
            pool.shutdown(wait=False)


def _retrieve(task: asyncio.Task[Any]) -> None:
    """A refresh every waiter gave up on still has its outcome read (no "exception never retrieved")."""
    if not task.cancelled():
        task.exception()


class AsyncBaseClient(ClientCore[AsyncTransport, "AsyncClientSender", "AsyncInvoker"]):
    """Base of the generated ``AsyncClient``. Use it from one event loop; share it between that loop's tasks."""

    _transport_class = AiohttpTransport

    def _driver_ready(self) -> None:
        self._refreshing: asyncio.Task[None] | None = None

    async def aclose(self) -> None:
        """Release pooled connections (and stop a refresh nobody waits for any more)."""
        task, self._refreshing = self._refreshing, None
        if task is not None and not task.done():
            task.cancel()  # its flow is closed: the refresh lock is released before this returns
            await asyncio.wait([task])
        await self._transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # --- the raw escape hatch ---------------------------------------------------------------------------

    async def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, request_options: RequestOptions | None = None
    ) -> Any:
        """Call any method and return its decoded ``result`` (JSON data, not models)."""
        raw = await self._execute(self._raw_call(method, params, request_options, stacklevel=2))
        return raw.result

    async def call_raw(
        self, method: str, params: Mapping[str, Any] | None = None, *, request_options: RequestOptions | None = None
    ) -> RawResponse:
        """Call any method and return the whole envelope: ``result``, ``next``, ``total``, ``time``, status."""
        return await self._execute(self._raw_call(method, params, request_options, stacklevel=2))

    def iter_all(
        self, method: str, params: Mapping[str, Any] | None = None, **options: Unpack[RawListOptions]
    ) -> AsyncIterator[dict[str, Any]]:
        """``async for record in client.iter_all(method, ...)``: as ``Client.iter_all``."""
        spec, paging = self._raw_listing(method, options)
        return self._invoker.iter_all(spec, params or {}, _RECORDS, options=options.get("request_options"), **paging)

    # --- the driver -------------------------------------------------------------------------------------

    async def _execute(self, call: Call) -> RawResponse:
        """Send one call with the full policy: the engine's flow, driven with awaits."""
        result: RawResponse = await self._run(self._call_flow(call))
        return result

    async def _run(self, flow: Flow[Any]) -> Any:
        steps = Stepper(flow)
        worker = _Worker()
        try:
            while (effect := steps.next()) is not None:
                steps.feed(await self._perform(effect, worker))
        finally:
            steps.close()  # cancelled: the flow's with-blocks and finally clauses run; nothing is retried
            await worker.finish(steps.release)  # a store lock it holds is released by the thread that took it
        return steps.result

    async def _perform(self, effect: Effect, worker: _Worker) -> Any:
        """One effect without blocking the loop; a failure comes back as ``Failed`` for the flow to judge."""
        try:
            if isinstance(effect, Send):
                return await self._transport.send(effect)
            if isinstance(effect, Sleep):
                return await asyncio.sleep(effect.seconds)
            if isinstance(effect, Blocking):
                return effect.fn() if effect.local else await worker.call(effect.fn)
            if isinstance(effect, Enter):
                return await worker.call(effect.context.__enter__)
            return await self._refresh(effect)
        except Exception as exc:  # noqa: BLE001 - thrown into the flow, which decides; CancelledError passes
            return Failed(exc)

    async def _refresh(self, effect: Refresh) -> None:
        """Coalesce: the first task meeting a stale token starts the refresh, the others await the same one."""
        task = self._refreshing
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._run(self._refresh_flow(effect)))
            task.add_done_callback(_retrieve)
            self._refreshing = task
        await asyncio.shield(task)


class AsyncClientSender(CoreSender):
    """The async client's side of the seam (``sender.AsyncSender``)."""

    __slots__ = ("_execute",)

    def __init__(self, client: AsyncBaseClient) -> None:
        super().__init__(client)
        self._execute = client._execute

    async def send(self, call: Call) -> RawResponse:
        return await self._execute(call)


class AsyncInvoker:
    """What generated ``*AsyncApi`` namespaces call: the sync ``Invoker``'s steps with the send awaited."""

    def __init__(self, sender: AsyncSender) -> None:
        self._sender = sender

    async def invoke(
        self, method: MethodSpec, params: Mapping[str, Any], result: Decoded[T], options: RequestOptions | None
    ) -> T:
        """One call; its ``result`` decoded into ``result.type``."""
        wire = prepare(method, params, stacklevel=3)
        return decode_result(method, await self._sender.send(Call(method.name, wire, options, spec=method)), result)

    async def invoke_page(
        self, method: MethodSpec, params: Mapping[str, Any], item: Decoded[T], options: RequestOptions | None
    ) -> Page[T]:
        """One page of a list method."""
        wire = prepare(method, params, stacklevel=3)
        return decode_page(method, await self._sender.send(Call(method.name, wire, options, spec=method)), item)

    def iter_all(
        self,
        method: MethodSpec,
        params: Mapping[str, Any],
        item: Decoded[T],
        *,
        options: RequestOptions | None = None,
        **paging: Unpack[PagingOptions],
    ) -> AsyncIterator[T]:
        """Every record (``limit``, ``progress``, ``after_id`` as in the sync ``Invoker.iter_all``), lazily;
        validation and the plan's argument checks happen here, before the first ``__anext__``."""
        wire = prepare(method, params, stacklevel=3)
        reader = PageReader(
            self._sender.system_errors, method, wire, item.type, spent=self._sender.spent, options=options, **paging
        )
        return aiter_all(self._sender, reader)


AsyncBaseClient._sender_class = AsyncClientSender
AsyncBaseClient._invoker_class = AsyncInvoker


async def aiter_all(sender: AsyncSender, reader: PageReader) -> AsyncIterator[Any]:
    """The async driver of a bulk read: send the reader's calls, yield its records."""
    while (next_call := reader.next_call()) is not None:
        step, call = next_call
        for record in reader.receive(step, await sender.send(call)):
            yield record


async def _settled(send: Callable[[Call], Any], call: Call) -> RawResponse | B24Error:
    try:
        raw: RawResponse = await send(call)
    except B24Error as exc:
        return exc
    return raw


class AsyncBaseBatch(BatchCore):
    """Base of the generated ``AsyncBatch``: the same namespaces and handles, ``await batch.execute()``."""

    def __init__(self, client: AsyncBaseClient | AsyncSender, halt: bool = False) -> None:
        sender = client._sender if isinstance(client, AsyncBaseClient) else client
        super().__init__(sender, halt)
        self._send = sender.send

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None and not self._executed and self._handles:
            await self.execute()

    async def execute(self, *, request_options: RequestOptions | None = None) -> BatchOutcome:
        """As ``BaseBatch.execute``: the same ``_Run`` decides, each request is awaited."""
        run = self._start(request_options)
        while (step := run.next_step()) is not None:
            run.settle(step, await _settled(self._send, step.call))
        return run.finish()
