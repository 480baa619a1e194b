"""The engine both clients share: construction, the attempt loop as a sans-IO flow, portal moves, logging.

``ClientCore`` holds what a client *is* (auth, limiter, operating tracker, retry policy, redaction, logger,
the spec's registry) and decides what a call does:

    wait for the operating budget → wait for a bucket slot → refresh a known-expired token → POST →
    302? re-send to the new host once → parse the envelope → retry / refresh once / raise typed error.

That loop is :meth:`ClientCore._call_flow`, a generator of ``runtime.effects`` (Send, Sleep, Blocking,
Refresh). ``client.BaseClient`` drives it with blocking calls on urllib3, ``aio.AsyncBaseClient`` with awaits
on aiohttp; neither makes a decision of its own. ``prepare`` / ``decode_result`` / ``decode_page`` are the
invokers' shared halves (encode and validate before sending, decode after).
"""

from __future__ import annotations

import functools
import json
import logging
import urllib.parse
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, Self, TypedDict, TypeVar, Unpack

from b24crm.runtime import envelope
from b24crm.runtime.auth import DEFAULT_TOKEN_URL, Auth, OAuthAuth, Tokens, WebhookAuth, normalize_portal
from b24crm.runtime.clock import SYSTEM_CLOCK, Clock
from b24crm.runtime.converter import from_wire
from b24crm.runtime.effects import Blocking, Flow, Refresh, Send, Sleep
from b24crm.runtime.envelope import RawResponse
from b24crm.runtime.errors import (
    APIError,
    RequestValidationError,
    ResponseDecodeError,
    ResponseTooLarge,
    TransportError,
    error_from_wire,
)
from b24crm.runtime.pageplan import dig
from b24crm.runtime.paging import Page, PagingOptions
from b24crm.runtime.ratelimit import InMemoryLimiterStore, OperatingTracker, RateLimiter, RatePlan
from b24crm.runtime.redact import LOG_REDACTOR, Redactor, guard_logger
from b24crm.runtime.retry import RetryPolicy
from b24crm.runtime.sender import Call
from b24crm.runtime.spec import ErrorRow, MethodSpec, Pagination, Registry
from b24crm.runtime.stores import (
    DEFAULT_WAIT,
    LimiterStoreSetting,
    StorePolicy,
    TokenStoreSetting,
    resolve_limiter_store,
    resolve_token_store,
)
from b24crm.runtime.transport import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_RESPONSE_BYTES,
    HttpResponse,
    TooLarge,
    TransportFailure,
    TransportSettings,
    check_scheme,
)
from b24crm.runtime.types import Decoded, RequestOptions, T
from b24crm.runtime.validation import encode_params, validate, yn_flags

__all__ = ["ClientCore", "ClientOptions", "RawListOptions", "CoreSender", "decode_page", "decode_result", "prepare"]

USER_AGENT = "b24crm (python)"
_HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "Accept": "application/json",
    "User-Agent": USER_AGENT,
}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: The one redirect status the portal documents for an address change (docs/protocol.md#portal-moves).
_PORTAL_MOVE = 302
_EMPTY_REGISTRY = Registry(methods={}, system_errors=(), kinds={})


class RawListOptions(PagingOptions, total=False):
    """Keywords of ``client.iter_all(method, params, ...)`` (any list method, records as plain dicts)."""

    #: Where a method outside the spec keeps its records (``("items",)`` for D7-style methods).
    items_path: Sequence[str] | None
    #: The cursor field of a method outside the spec (``"ID"``; ``"id"`` for D7-style methods).
    id_field: str | None
    request_options: RequestOptions | None


class ClientOptions(TypedDict, total=False):
    """Keyword options of ``from_webhook`` / ``from_oauth``."""

    timeout: float | tuple[float, float]
    max_attempts: int
    rate_limit: RatePlan
    allow_insecure: bool
    ca_certs: str | None
    on_portal_moved: Callable[[str, str], None] | None
    #: Connections kept per host (default: 10 for ``Client``, sized for threads; 100 for ``AsyncClient``).
    pool_maxsize: int | None
    #: Seconds one HTTP request may take, from sending to the last byte of the answer (default 120.0,
    #: ``transport.DEFAULT_DEADLINE``); ``timeout`` bounds each socket operation. Per call: RequestOptions.
    deadline: float
    #: Bytes of a response body read at most, counted after inflating (default 64 MiB); more: ResponseTooLarge.
    max_response_bytes: int
    logger: logging.Logger | None
    operating_limit: float
    #: ``Client``: a ``transport.Transport``; ``AsyncClient``: an ``aio_transport.AsyncTransport``.
    transport: Any
    clock: Clock | None
    limiter_store: LimiterStoreSetting
    on_store_unavailable: StorePolicy
    store_wait: float
    retry_policy: RetryPolicy | None


def _timeout(value: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(value, tuple):
        return float(value[0]), float(value[1])
    return float(value), float(value)


TransportT = TypeVar("TransportT")
SenderT = TypeVar("SenderT")
InvokerT = TypeVar("InvokerT")


class ClientCore(Generic[TransportT, SenderT, InvokerT]):
    """What ``Client`` and ``AsyncClient`` share: everything but sending, sleeping and locking.

    Generic in the driver's pieces (``BaseClient``: urllib3 transport, ``ClientSender``, ``Invoker``;
    ``AsyncBaseClient``: their async twins), so the core builds them and both drivers see their own types.
    """

    _transport: TransportT
    _sender: SenderT
    _invoker: InvokerT

    #: Set by the generated subclass; a bare client knows no methods (``call`` still works).
    _registry: ClassVar[Registry] = _EMPTY_REGISTRY
    #: The driver's pieces (``BaseClient``: urllib3, ``AsyncBaseClient``: aiohttp): the transport built unless
    #: ``transport=`` is passed (its ``POOL_MAXSIZE`` the default pool), the seam's sender and the namespaces'
    #: invoker.
    _transport_class: ClassVar[type[Any]]
    _sender_class: ClassVar[type[Any]]
    _invoker_class: ClassVar[type[Any]]

    def __init__(
        self,
        auth: Auth,
        *,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 4,
        rate_limit: RatePlan = "standard",
        allow_insecure: bool = False,
        ca_certs: str | None = None,
        on_portal_moved: Callable[[str, str], None] | None = None,
        pool_maxsize: int | None = None,
        deadline: float = DEFAULT_DEADLINE,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        logger: logging.Logger | None = None,
        operating_limit: float | None = None,
        transport: Any = None,
        clock: Clock | None = None,
        limiter_store: LimiterStoreSetting = None,
        on_store_unavailable: StorePolicy = "local",
        store_wait: float = DEFAULT_WAIT,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self._auth = auth
        self._allow_insecure = allow_insecure
        self._redact = Redactor(getattr(auth, "secrets", ()))
        self._log = logger or logging.getLogger("b24crm")
        # Every record on the client's logger (and urllib3's) is redacted with this client's secrets too.
        guard_logger(self._log)
        LOG_REDACTOR.register(self._redact)
        if isinstance(auth, OAuthAuth):
            auth.redactor = self._redact
            auth.logger = self._log
            check_scheme(auth.token_url, allow_insecure=allow_insecure)
        check_scheme(auth.origin, allow_insecure=allow_insecure)
        self._timeout = _timeout(timeout)
        if not deadline > 0:
            raise ValueError(f"deadline must be > 0 seconds, got {deadline!r}")
        self._deadline = float(deadline)
        self._clock = clock or SYSTEM_CLOCK
        self._retry = retry_policy or RetryPolicy(max_attempts=max_attempts)
        self._on_portal_moved = on_portal_moved
        settings: TransportSettings = {
            "ca_certs": ca_certs,
            "redactor": self._redact,
            "deadline": self._deadline,
            "max_response_bytes": max_response_bytes,
        }
        self._transport = transport or self._transport_class(
            pool_maxsize=pool_maxsize or self._transport_class.POOL_MAXSIZE, **settings
        )
        self._sender = self._sender_class(self)
        self._invoker = self._invoker_class(self._sender)
        self._driver_ready()
        # A shared store (limiter_store="redis://…") makes every worker on this portal draw from one bucket.
        store = resolve_limiter_store(
            limiter_store, on_unavailable=on_store_unavailable, wait=store_wait, logger=self._log
        )
        host = urllib.parse.urlsplit(auth.origin).hostname or auth.origin
        self._limiter = RateLimiter(rate_limit, key=host, store=store, clock=self._clock, logger=self._log)
        tracker_kwargs: dict[str, Any] = {} if operating_limit is None else {"limit": operating_limit}
        self._operating = OperatingTracker(
            key=f"{host}:{auth.limit_key}",  # the portal counts operating time per app or webhook
            store=store,
            clock=self._clock,
            enabled=rate_limit not in (None, "off"),
            logger=self._log,
            **tracker_kwargs,
        )
        #: Store calls are in-process arithmetic (the async driver calls them on the loop, not in a thread).
        self._store_local = isinstance(store, InMemoryLimiterStore)

    def _driver_ready(self) -> None:
        """Called once the transport, sender and invoker exist (the driver's own set-up)."""

    # --- construction -----------------------------------------------------------------------------------

    @classmethod
    def from_webhook(cls, url: str, **options: Unpack[ClientOptions]) -> Self:
        """A client for an inbound webhook URL (``https://portal/rest/<user>/<code>/``)."""
        return cls(WebhookAuth.parse(url), **options)

    @classmethod
    def from_oauth(
        cls,
        portal: str,
        *,
        client_id: str,
        client_secret: str,
        access_token: str,
        refresh_token: str,
        expires_at: float | None = None,
        on_tokens: Callable[[Tokens], None] | None = None,
        token_url: str = DEFAULT_TOKEN_URL,
        token_store: TokenStoreSetting = None,
        **options: Unpack[ClientOptions],
    ) -> Self:
        """A client for an OAuth app; tokens are refreshed automatically and handed to ``on_tokens``.

        ``token_store`` shares the tokens with other processes so that one of them refreshes per expiry:
        ``"redis://…"``, a file path (or ``"file://…"``) for the processes of one host, or a ``TokenStore``.
        """
        host = urllib.parse.urlsplit(normalize_portal(portal)).hostname or portal
        store = resolve_token_store(
            token_store,
            key=f"{host}:{client_id}",
            wait=options.get("store_wait", DEFAULT_WAIT),
            logger=options.get("logger") or logging.getLogger("b24crm"),
        )
        auth = OAuthAuth(
            portal,
            client_id=client_id,
            client_secret=client_secret,
            access_token=access_token,
            refresh_token=refresh_token,
            expires_at=expires_at,
            on_tokens=on_tokens,
            token_url=token_url,
            token_store=store,
        )
        return cls(auth, **options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(portal={self._auth.origin!r}, auth={self._auth.kind!r})"

    __str__ = __repr__

    @property
    def portal(self) -> str:
        """The portal's origin (changes after a portal move)."""
        return self._auth.origin

    # --- what a call sends ------------------------------------------------------------------------------

    def _raw_call(
        self, method: str, params: Mapping[str, Any] | None, options: RequestOptions | None, *, stacklevel: int
    ) -> Call:
        """``client.call(method, params)``: validated against the spec when it has the method; otherwise sent
        as given and treated as a write that may not repeat."""
        spec = self._registry.find(method)
        if spec is None:
            return Call(method, encode_params(method, dict(params or {})), options, idempotent=False)
        return Call(spec.name, prepare(spec, params or {}, stacklevel=stacklevel + 1), options, spec=spec)

    def _raw_listing(self, method: str, options: RawListOptions) -> tuple[MethodSpec, PagingOptions]:
        """``client.iter_all(method, **options)``: the method's paging and the bulk read's own keywords."""
        spec = self._list_spec(method, options.get("items_path"), options.get("id_field"))
        paging = PagingOptions(
            limit=options.get("limit"), progress=options.get("progress"), after_id=options.get("after_id")
        )
        return spec, paging

    def _list_spec(self, method: str, items_path: Sequence[str] | None, id_field: str | None) -> MethodSpec:
        """The paging of ``client.iter_all(method)``: the spec's, or for any other method (``crm.quote.list``,
        ``crm.activity.list`` …) the classic list methods': the records are ``result`` itself, ``ID`` is the
        cursor, ``filter`` / ``order`` / ``start`` the parameters; ``items_path=("items",)`` and
        ``id_field="id"`` for a D7-style method (docs/protocol.md#count-free-paging). Such a method is read,
        so a failed page is repeated like any idempotent call."""
        spec = self._registry.find(method)
        if spec is not None and spec.pagination is None:
            raise ValueError(f"{spec.name} does not page (it is not a list method of the spec)")
        if spec is not None:
            if items_path is not None or id_field is not None:
                raise ValueError(f"{spec.name} pages as the spec says: items_path and id_field are for other methods")
            return spec
        paging = Pagination(
            page_size=50,
            items_path=tuple(items_path or ()),
            id_field=id_field or "ID",
            order_param="order",
            filter_param="filter",
            start_param="start",
            count_free=True,
        )
        return MethodSpec(
            name=method,
            idempotent=True,
            batchable=True,
            deprecated=False,
            scope="",
            request_schema=None,
            pagination=paging,
            errors=(),
        )

    # --- the attempt loop -------------------------------------------------------------------------------

    def _error_for(self, method: str, rows: Sequence[ErrorRow]) -> Callable[[object, object, int], APIError]:
        def make(code: object, description: object, status: int) -> APIError:
            return error_from_wire(
                method,
                code,
                description,
                status,
                method_rows=rows,
                system_rows=self._registry.system_errors,
                kinds=self._registry.kinds,
            )

        return make

    def _settings(self, options: RequestOptions | None) -> tuple[tuple[float, float], float, int]:
        """(timeout, deadline, attempt budget) of one call: the client's, or what ``options`` says."""
        timeout = self._timeout if options is None or options.timeout is None else _timeout(options.timeout)
        deadline = self._deadline if options is None or options.deadline is None else float(options.deadline)
        budget = self._retry.max_attempts if options is None or options.max_attempts is None else options.max_attempts
        if budget < 1:
            raise ValueError(f"max_attempts must be >= 1, got {budget}")
        if not deadline > 0:
            raise ValueError(f"deadline must be > 0 seconds, got {deadline!r}")
        return timeout, deadline, budget

    def _store(self, fn: Callable[[], Any]) -> Blocking:
        return Blocking(fn, local=self._store_local)

    def _wait_turn(self, method: str, budget_methods: Sequence[str]) -> Flow[None]:
        """Wait for the operating budget of every method the request runs, then for a bucket slot."""
        for name in (method, *budget_methods):
            wait: float = yield self._store(functools.partial(self._operating.wait_time, name))
            if wait > 0:
                self._log.info(
                    "b24crm: %s: operating-time budget nearly spent, waiting %.1fs for its reset", name, wait
                )
                yield Sleep(wait)
        slot: float = yield self._store(self._limiter.reserve)
        if slot > 0:
            self._log.debug("b24crm: rate limiter: waiting %.2fs for a request slot", slot)
            yield Sleep(slot)

    def _call_flow(self, call: Call) -> Flow[RawResponse]:
        """One call with the full policy, as a flow (see the module docstring); returns the parsed envelope."""
        method = call.method
        timeout, deadline, budget = self._settings(call.options)
        make_error = self._error_for(method, call.error_rows)
        attempt = 0
        refreshed = moved = False
        while True:
            attempt += 1
            yield from self._wait_turn(method, call.budget_methods)
            auth = self._auth
            if isinstance(auth, OAuthAuth):
                stale = auth.expired_generation(self._clock.time())
                if stale is not None:
                    yield Refresh(stale, timeout, budget)
            body, generation = auth.body(call.params)
            payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            started = self._clock.monotonic()
            status: int | str = "-"
            try:
                resp: HttpResponse = yield Send(auth.url(method), payload, _HEADERS, timeout, deadline)
                status = resp.status
                if resp.status in _REDIRECTS:
                    if moved:
                        raise TransportError(method, "the portal redirected again after a move", may_have_run=False)
                    self._follow_move(method, resp)
                    moved = True
                    attempt -= 1  # not a failed attempt: the old host did not run it
                    continue
                result = envelope.parse(method, resp.status, resp.body, make_error, self._redact)
            except TransportFailure as exc:
                failure: Exception = exc
                status = type(exc).__name__
            except APIError as exc:
                if exc.kind.retry == "refresh" and isinstance(auth, OAuthAuth) and not refreshed:
                    self._log_request(method, status, started, attempt, budget)
                    yield Refresh(generation, timeout, budget)
                    refreshed = True
                    attempt -= 1  # the re-send after a refresh is not a retry
                    continue
                if exc.kind.retry == "backoff":
                    yield self._store(self._limiter.saturate)
                elif exc.kind.retry == "reset":
                    yield self._store(functools.partial(self._operating.blocked, method))
                failure = exc
            except ResponseDecodeError as exc:
                failure = exc
            else:
                self._log_request(method, status, started, attempt, budget)
                yield self._store(functools.partial(self._operating.record, method, result.time))
                return result
            self._log_request(method, status, started, attempt, budget)
            delay = self._after_failure(method, failure, call.safe_to_repeat, attempt, budget)
            yield Sleep(delay)

    def _after_failure(self, method: str, failure: Exception, idempotent: bool, attempt: int, budget: int) -> float:
        """The retry decision after a failed attempt: the delay before the next, or the typed error raised."""
        decision = self._retry.decide(failure, idempotent=idempotent, attempt=attempt, max_attempts=budget)
        if not decision.retry:
            if isinstance(failure, TooLarge):
                raise ResponseTooLarge(method, str(failure), failure.status, limit=failure.limit) from None
            if isinstance(failure, TransportFailure):
                raise TransportError(
                    method, f"{failure} ({decision.reason})", may_have_run=failure.may_have_run
                ) from None
            raise failure
        self._log.info(
            "b24crm: retrying %s in %.2fs after %s (attempt %d/%d failed: %s)",
            method,
            decision.delay,
            decision.reason,
            attempt,
            budget,
            self._redact(str(failure)),
        )
        return decision.delay

    def _refresh_flow(self, effect: Refresh) -> Flow[bool]:
        """The OAuth refresh a ``Refresh`` effect asks for (once per generation), retried like any call."""
        auth = self._auth
        if not isinstance(auth, OAuthAuth):
            raise TypeError("only an OAuth client refreshes tokens")
        return auth.refresh_flow(
            effect.generation, timeout=effect.timeout, clock=self._clock, retry=self._retry, max_attempts=effect.budget
        )

    def _log_request(self, method: str, status: int | str, started: float, attempt: int, budget: int) -> None:
        if self._log.isEnabledFor(logging.DEBUG):
            self._log.debug(
                "b24crm: POST %s -> %s in %.3fs (attempt %d/%d)",
                method,
                status,
                self._clock.monotonic() - started,
                attempt,
                budget,
            )

    def _follow_move(self, method: str, resp: HttpResponse) -> None:
        """Follow a portal move as docs/protocol.md#portal-moves describes it: a 302 whose ``Location`` names
        another host. Anything else is refused as a TransportError that did not run: another 30x (not a
        documented move), a Location with userinfo (``https://portal@evil.example`` is evil.example), and
        https -> http (the secret would travel in clear, whatever ``allow_insecure`` says)."""

        def refuse(why: str) -> TransportError:
            return TransportError(method, f"HTTP {resp.status} redirect not followed: {why}", may_have_run=False)

        if resp.status != _PORTAL_MOVE:
            raise refuse("only a 302 is a portal move (docs/protocol.md#portal-moves)")
        parts = urllib.parse.urlsplit(resp.headers.get("location", ""))
        try:
            host, _ = parts.hostname, parts.port
        except ValueError:
            host = None
        if not parts.scheme or not host:
            raise refuse("no absolute Location")
        if "@" in parts.netloc:  # never shown: userinfo may be credentials
            raise refuse(f"the Location to {host!r} carries userinfo (user@host)")
        old = self._auth.origin
        old_parts = urllib.parse.urlsplit(old)
        if old_parts.scheme == "https" and parts.scheme != "https":
            raise refuse(f"a move from https to plain http ({parts.scheme}://{host}) would send secrets in clear")
        new = f"{parts.scheme}://{parts.netloc}"
        if parts.netloc.lower() == old_parts.netloc.lower():
            raise refuse("the Location is the same host")
        try:
            check_scheme(new, allow_insecure=self._allow_insecure)
        except ValueError as exc:  # user input at construction; here it is the portal's answer
            message = f"the portal moved to {new}, not followed: {exc}"
            raise TransportError(method, message, may_have_run=False) from None
        self._auth.move(new)
        self._log.warning("b24crm: the portal moved from %s to %s; calls now go to the new address", old, new)
        if self._on_portal_moved is not None:
            self._on_portal_moved(old, new)


class CoreSender:
    """Both clients' side of the seam (``sender.SenderBase``); ``ClientSender`` and ``AsyncClientSender`` add
    ``send``."""

    __slots__ = ("_core",)

    def __init__(self, core: ClientCore[Any, Any, Any]) -> None:
        self._core = core

    @property
    def system_errors(self) -> Sequence[ErrorRow]:
        return self._core._registry.system_errors

    def find(self, method: str) -> MethodSpec | None:
        return self._core._registry.find(method)

    def spent(self, method: str, time: Mapping[str, Any] | None) -> None:
        self._core._operating.record(method, time)


def prepare(method: MethodSpec, params: Mapping[str, Any], *, stacklevel: int = 3) -> dict[str, Any]:
    """Params → wire data (``validation.encode_params``), checked against the spec.

    Raises RequestValidationError listing every problem: values with no wire form and schema breaks.
    """
    wire = yn_flags(method.request_schema, encode_params(method.name, params))
    problems = validate(method.request_schema, wire)
    if problems:
        raise RequestValidationError(method.name, problems)
    if method.deprecated:
        warnings.warn(f"{method.name} is deprecated by Bitrix24", DeprecationWarning, stacklevel=stacklevel + 1)
    return wire


def decode_result(method: MethodSpec, raw: RawResponse, result: Decoded[T]) -> T:
    """A call's ``result`` decoded into ``result.type``."""
    decoded: T = from_wire(raw.result, result.type, method.name)
    return decoded


def decode_page(method: MethodSpec, raw: RawResponse, item: Decoded[T]) -> Page[T]:
    """One page of a list method (``items`` taken from ``pagination.items_path``)."""
    path = method.pagination.items_path if method.pagination is not None else ()
    items: list[T] = from_wire(dig(raw.result, path), list[item.type], method.name)  # type: ignore[name-defined]
    return Page(items=items, next=raw.next, total=raw.total, time=raw.time)
