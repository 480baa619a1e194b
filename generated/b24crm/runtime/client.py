"""The sync client: ``engine.ClientCore`` driven with blocking calls on urllib3.

Generated code never talks HTTP. It calls ``Invoker.invoke`` with a ``MethodSpec`` and wire-named params;
the invoker validates them against the spec and sends a ``Call`` through ``ClientSender`` to
``BaseClient._execute``, which drives the engine's attempt loop (``ClientCore._call_flow``: limits, refresh,
portal moves, retries, error mapping — all decided there) and performs its effects: POST on urllib3,
``clock.sleep``, store calls in line, and an OAuth refresh under the auth's lock (once across threads).

``client.call(name, params)`` uses the same loop for any method, in the spec or not. The asyncio client
(``runtime.aio``) drives the same engine with awaits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Self, Unpack

from b24crm.runtime.effects import Refresh, drive, performer
from b24crm.runtime.engine import (
    ClientCore,
    ClientOptions,
    CoreSender,
    RawListOptions,
    decode_page,
    decode_result,
    prepare,
)
from b24crm.runtime.envelope import RawResponse
from b24crm.runtime.paging import Page, iter_all
from b24crm.runtime.sender import Call, Sender
from b24crm.runtime.spec import MethodSpec
from b24crm.runtime.transport import Transport, Urllib3Transport
from b24crm.runtime.types import Decoded, RequestOptions, T

__all__ = ["BaseClient", "ClientOptions", "ClientSender", "Invoker", "RawResponse", "sender_of"]

#: ``client.iter_all(method, ...)`` yields the records as the wire has them.
_RECORDS: Decoded[dict[str, Any]] = Decoded(dict[str, Any])


class BaseClient(ClientCore[Transport, "ClientSender", "Invoker"]):
    """Base of the generated ``Client``. Thread-safe: share one client between threads."""

    _transport_class = Urllib3Transport

    def _driver_ready(self) -> None:
        self._perform = performer(self._transport, self._clock, self._refresh)

    def close(self) -> None:
        """Release pooled connections."""
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- the raw escape hatch ---------------------------------------------------------------------------

    def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, request_options: RequestOptions | None = None
    ) -> Any:
        """Call any method and return its decoded ``result`` (JSON data, not models)."""
        return self._execute(self._raw_call(method, params, request_options, stacklevel=2)).result

    def call_raw(
        self, method: str, params: Mapping[str, Any] | None = None, *, request_options: RequestOptions | None = None
    ) -> RawResponse:
        """Call any method and return the whole envelope: ``result``, ``next``, ``total``, ``time``, status."""
        return self._execute(self._raw_call(method, params, request_options, stacklevel=2))

    def iter_all(
        self, method: str, params: Mapping[str, Any] | None = None, **options: Unpack[RawListOptions]
    ) -> Iterator[dict[str, Any]]:
        """Every record of any list method, as plain dicts, count-free wherever the method pages by ID.

        A method the spec describes pages as its ``x-b24-pagination`` says (the generated ``iter_all`` gives the
        same records as typed models); any other is read like the classic list methods (``ClientCore._list_spec``:
        ``items_path``, ``id_field``). ``limit``, ``progress``, ``after_id``: as the generated ``iter_all``.
        """
        spec, paging = self._raw_listing(method, options)
        return self._invoker.iter_all(spec, params or {}, _RECORDS, options=options.get("request_options"), **paging)

    # --- the driver -------------------------------------------------------------------------------------

    def _execute(self, call: Call) -> RawResponse:
        """Send one call with the full policy: the engine's flow, driven with blocking calls."""
        return drive(self._call_flow(call), self._perform)

    def _refresh(self, effect: Refresh) -> None:
        """Refresh the OAuth tokens (once across threads: the auth's lock), retrying a failing token endpoint."""
        drive(self._refresh_flow(effect), self._perform)


class ClientSender(CoreSender):
    """The client's side of the seam (``sender.Sender``): what paging and batch may ask of the engine."""

    __slots__ = ("_execute",)

    def __init__(self, client: BaseClient) -> None:
        super().__init__(client)
        self._execute = client._execute

    def send(self, call: Call) -> RawResponse:
        return self._execute(call)


def sender_of(client: BaseClient) -> Sender:
    """The engine behind ``client`` (what ``BaseBatch`` is built on)."""
    return client._sender


class Invoker:
    """What generated namespaces call: encode and validate → send through the ``Sender`` → decode."""

    def __init__(self, sender: Sender) -> None:
        self._sender = sender

    def prepare(self, method: MethodSpec, params: Mapping[str, Any], *, stacklevel: int = 3) -> dict[str, Any]:
        """Params → wire data, checked against the spec (``engine.prepare``)."""
        return prepare(method, params, stacklevel=stacklevel + 1)

    def invoke(
        self, method: MethodSpec, params: Mapping[str, Any], result: Decoded[T], options: RequestOptions | None
    ) -> T:
        """One call; its ``result`` decoded into ``result.type``."""
        wire = prepare(method, params, stacklevel=3)
        return decode_result(method, self._sender.send(Call(method.name, wire, options, spec=method)), result)

    def invoke_page(
        self, method: MethodSpec, params: Mapping[str, Any], item: Decoded[T], options: RequestOptions | None
    ) -> Page[T]:
        """One page of a list method (``items`` taken from ``pagination.items_path``)."""
        wire = prepare(method, params, stacklevel=3)
        return decode_page(method, self._sender.send(Call(method.name, wire, options, spec=method)), item)

    def iter_all(
        self,
        method: MethodSpec,
        params: Mapping[str, Any],
        item: Decoded[T],
        *,
        limit: int | None = None,
        progress: Callable[[int], None] | None = None,
        after_id: int | None = None,
        options: RequestOptions | None = None,
    ) -> Iterator[T]:
        """Every record, streamed lazily (see ``paging.iter_all``). Validation happens before the first yield."""
        wire = prepare(method, params, stacklevel=3)
        records: Iterator[T] = iter_all(
            self._sender, method, wire, item.type, limit=limit, progress=progress, after_id=after_id, options=options
        )
        return records


BaseClient._sender_class = ClientSender
BaseClient._invoker_class = Invoker
