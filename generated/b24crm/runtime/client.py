"""The client: one place where auth, limits, retries, portal moves, logging and error mapping meet.

Generated code never talks HTTP. It calls ``Invoker.invoke`` with a ``MethodSpec`` and wire-named params;
the invoker validates them against the spec, and ``BaseClient._execute`` runs the attempt loop:

    wait for the operating budget → wait for a bucket slot → refresh a known-expired token → POST →
    302? re-send to the new host once → parse the envelope → retry / refresh once / raise typed error.

``client.call(name, params)`` uses the same loop for any method, in the spec or not.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Self, TypedDict, Unpack

from b24crm.runtime import envelope
from b24crm.runtime.auth import DEFAULT_TOKEN_URL, Auth, OAuthAuth, Tokens, WebhookAuth, normalize_portal
from b24crm.runtime.clock import SYSTEM_CLOCK, Clock
from b24crm.runtime.converter import from_wire
from b24crm.runtime.envelope import RawResponse
from b24crm.runtime.errors import (
    APIError,
    RequestValidationError,
    ResponseDecodeError,
    ResponseTooLarge,
    TransportError,
    error_from_wire,
)
from b24crm.runtime.paging import Page, dig, iter_all
from b24crm.runtime.ratelimit import OperatingTracker, RateLimiter, RatePlan
from b24crm.runtime.redact import LOG_REDACTOR, Redactor, guard_logger
from b24crm.runtime.retry import RetryPolicy
from b24crm.runtime.sender import Call, Sender
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
    Transport,
    TransportFailure,
    Urllib3Transport,
    check_scheme,
)
from b24crm.runtime.types import Decoded, RequestOptions, T
from b24crm.runtime.validation import encode_params, validate

__all__ = ["BaseClient", "ClientOptions", "Invoker", "RawResponse"]

USER_AGENT = "b24crm (python; urllib3)"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: The one redirect status the portal documents for an address change (docs/protocol.md#portal-moves).
_PORTAL_MOVE = 302
_EMPTY_REGISTRY = Registry(methods={}, system_errors=(), kinds={})
#: ``client.iter_all(method, ...)`` yields the records as the wire has them.
_RECORDS: Decoded[dict[str, Any]] = Decoded(dict[str, Any])


class ClientOptions(TypedDict, total=False):
    """Keyword options of ``from_webhook`` / ``from_oauth``."""

    timeout: float | tuple[float, float]
    max_attempts: int
    rate_limit: RatePlan
    allow_insecure: bool
    ca_certs: str | None
    on_portal_moved: Callable[[str, str], None] | None
    pool_maxsize: int
    #: Seconds one HTTP request may take, from sending to the last byte of the answer (default 120.0,
    #: ``transport.DEFAULT_DEADLINE``); ``timeout`` bounds each socket operation. Per call: RequestOptions.
    deadline: float
    #: Bytes of a response body read at most, counted after inflating (default 64 MiB); more: ResponseTooLarge.
    max_response_bytes: int
    logger: logging.Logger | None
    operating_limit: float
    transport: Transport | None
    clock: Clock | None
    limiter_store: LimiterStoreSetting
    on_store_unavailable: StorePolicy
    store_wait: float
    retry_policy: RetryPolicy | None


def _timeout(value: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(value, tuple):
        return float(value[0]), float(value[1])
    return float(value), float(value)


class BaseClient:
    """Base of the generated ``Client``. Thread-safe: share one client between threads."""

    #: Set by the generated subclass; a bare BaseClient knows no methods (``call`` still works).
    _registry: ClassVar[Registry] = _EMPTY_REGISTRY

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
        pool_maxsize: int = 10,
        deadline: float = DEFAULT_DEADLINE,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        logger: logging.Logger | None = None,
        operating_limit: float | None = None,
        transport: Transport | None = None,
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
        self._transport: Transport = transport or Urllib3Transport(
            pool_maxsize=pool_maxsize,
            ca_certs=ca_certs,
            redactor=self._redact,
            deadline=self._deadline,
            max_response_bytes=max_response_bytes,
        )
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
        self._sender = ClientSender(self)
        self._invoker = Invoker(self._sender)

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

    def close(self) -> None:
        """Release pooled connections."""
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(portal={self._auth.origin!r}, auth={self._auth.kind!r})"

    __str__ = __repr__

    @property
    def portal(self) -> str:
        """The portal's origin (changes after a portal move)."""
        return self._auth.origin

    # --- the raw escape hatch ---------------------------------------------------------------------------

    def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, request_options: RequestOptions | None = None
    ) -> Any:
        """Call any method and return its decoded ``result`` (JSON data, not models)."""
        return self._call_raw(method, params, request_options).result

    def call_raw(
        self, method: str, params: Mapping[str, Any] | None = None, *, request_options: RequestOptions | None = None
    ) -> RawResponse:
        """Call any method and return the whole envelope: ``result``, ``next``, ``total``, ``time``, status."""
        return self._call_raw(method, params, request_options)

    def iter_all(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        items_path: Sequence[str] | None = None,
        id_field: str | None = None,
        limit: int | None = None,
        progress: Callable[[int], None] | None = None,
        after_id: int | None = None,
        request_options: RequestOptions | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every record of any list method, as plain dicts, count-free wherever the method pages by ID.

        A method the spec describes pages as its ``x-b24-pagination`` says (the generated ``iter_all`` gives the
        same records as typed models). Any other (``crm.quote.list``, ``crm.activity.list`` …) is read like the
        classic list methods: the records are ``result`` itself, ``ID`` is the cursor, ``filter`` / ``order`` /
        ``start`` the parameters; pass ``items_path=("items",)`` and ``id_field="id"`` for a D7-style method
        that wraps its records (docs/protocol.md#count-free-paging). Such a method is read, so a failed page is
        repeated like any idempotent call.
        """
        spec = self._registry.find(method)
        if spec is not None and spec.pagination is None:
            raise ValueError(f"{spec.name} does not page (it is not a list method of the spec)")
        if spec is None:
            paging = Pagination(
                page_size=50,
                items_path=tuple(items_path or ()),
                id_field=id_field or "ID",
                order_param="order",
                filter_param="filter",
                start_param="start",
                count_free=True,
            )
            spec = MethodSpec(
                name=method,
                idempotent=True,
                batchable=True,
                deprecated=False,
                scope="",
                request_schema=None,
                pagination=paging,
                errors=(),
            )
        elif items_path is not None or id_field is not None:
            raise ValueError(f"{spec.name} pages as the spec says: items_path and id_field are for other methods")
        return self._invoker.iter_all(
            spec, params or {}, _RECORDS, limit=limit, progress=progress, after_id=after_id, options=request_options
        )

    def _call_raw(self, method: str, params: Mapping[str, Any] | None, options: RequestOptions | None) -> RawResponse:
        spec = self._registry.find(method)
        if spec is None:  # unknown to the spec: sent as given, treated as a write that may not repeat
            wire = encode_params(method, dict(params or {}))
            return self._execute(method, wire, idempotent=False, rows=(), options=options)
        # prepare ← _call_raw ← call/call_raw ← the user's line
        wire = self._invoker.prepare(spec, params or {}, stacklevel=3)
        return self._execute(spec.name, wire, idempotent=spec.idempotent, rows=spec.errors, options=options)

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

    def _execute(
        self,
        method: str,
        params: Mapping[str, Any],
        *,
        idempotent: bool,
        rows: Sequence[ErrorRow],
        options: RequestOptions | None,
        budget_methods: Sequence[str] = (),
    ) -> RawResponse:
        """Send one call with the full policy; ``budget_methods``: batch commands' methods to wait for."""
        timeout = self._timeout if options is None or options.timeout is None else _timeout(options.timeout)
        deadline = self._deadline if options is None or options.deadline is None else float(options.deadline)
        budget = self._retry.max_attempts if options is None or options.max_attempts is None else options.max_attempts
        if budget < 1:
            raise ValueError(f"max_attempts must be >= 1, got {budget}")
        if not deadline > 0:
            raise ValueError(f"deadline must be > 0 seconds, got {deadline!r}")
        make_error = self._error_for(method, rows)
        attempt = 0
        refreshed = moved = False
        while True:
            attempt += 1
            for name in (method, *budget_methods):
                self._operating.before(name)
            self._limiter.acquire()
            auth = self._auth
            if isinstance(auth, OAuthAuth):
                stale = auth.expired_generation(self._clock.time())
                if stale is not None:
                    self._refresh(auth, stale, timeout, budget)
            body, generation = auth.body(params)
            payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            started = self._clock.monotonic()
            status: int | str = "-"
            try:
                resp = self._transport.request(
                    "POST",
                    auth.url(method),
                    body=payload,
                    headers={
                        "Content-Type": "application/json; charset=utf-8",
                        "Accept": "application/json",
                        "User-Agent": USER_AGENT,
                    },
                    timeout=timeout,
                    deadline=deadline,
                )
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
                    self._refresh(auth, generation, timeout, budget)
                    refreshed = True
                    attempt -= 1  # the re-send after a refresh is not a retry
                    continue
                if exc.kind.retry == "backoff":
                    self._limiter.saturate()
                elif exc.kind.retry == "reset":
                    self._operating.blocked(method)
                failure = exc
            except ResponseDecodeError as exc:
                failure = exc
            else:
                self._log_request(method, status, started, attempt, budget)
                self._operating.record(method, result.time)
                return result
            self._log_request(method, status, started, attempt, budget)
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
            self._clock.sleep(decision.delay)

    def _refresh(self, auth: OAuthAuth, generation: int, timeout: tuple[float, float], budget: int) -> None:
        """Refresh the OAuth tokens (once across threads), retrying a failing token endpoint like any call."""
        auth.refresh(
            generation, self._transport, timeout=timeout, clock=self._clock, retry=self._retry, max_attempts=budget
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


class ClientSender:
    """The client's side of the seam (``sender.Sender``): what paging and batch may ask of the engine."""

    __slots__ = ("_client",)

    def __init__(self, client: BaseClient) -> None:
        self._client = client

    @property
    def system_errors(self) -> Sequence[ErrorRow]:
        return self._client._registry.system_errors

    def find(self, method: str) -> MethodSpec | None:
        return self._client._registry.find(method)

    def send(self, call: Call) -> RawResponse:
        return self._client._execute(
            call.method,
            call.params,
            idempotent=call.safe_to_repeat,
            rows=call.error_rows,
            options=call.options,
            budget_methods=call.budget_methods,
        )

    def spent(self, method: str, time: Mapping[str, Any] | None) -> None:
        self._client._operating.record(method, time)


def sender_of(client: BaseClient) -> Sender:
    """The engine behind ``client`` (what ``BaseBatch`` is built on)."""
    return client._sender


class Invoker:
    """What generated namespaces call: encode and validate → send through the ``Sender`` → decode."""

    def __init__(self, sender: Sender) -> None:
        self._sender = sender

    def prepare(self, method: MethodSpec, params: Mapping[str, Any], *, stacklevel: int = 3) -> dict[str, Any]:
        """Params → wire data (``validation.encode_params``), checked against the spec.

        Raises RequestValidationError listing every problem: values with no wire form and schema breaks.
        """
        wire = encode_params(method.name, params)
        problems = validate(method.request_schema, wire)
        if problems:
            raise RequestValidationError(method.name, problems)
        if method.deprecated:
            warnings.warn(f"{method.name} is deprecated by Bitrix24", DeprecationWarning, stacklevel=stacklevel + 1)
        return wire

    def _send(self, method: MethodSpec, wire: Mapping[str, Any], options: RequestOptions | None) -> RawResponse:
        return self._sender.send(Call(method.name, wire, options, spec=method))

    def invoke(
        self, method: MethodSpec, params: Mapping[str, Any], result: Decoded[T], options: RequestOptions | None
    ) -> T:
        """One call; its ``result`` decoded into ``result.type``."""
        wire = self.prepare(method, params, stacklevel=3)
        raw = self._send(method, wire, options)
        decoded: T = from_wire(raw.result, result.type, method.name)
        return decoded

    def invoke_page(
        self, method: MethodSpec, params: Mapping[str, Any], item: Decoded[T], options: RequestOptions | None
    ) -> Page[T]:
        """One page of a list method (``items`` taken from ``pagination.items_path``)."""
        wire = self.prepare(method, params, stacklevel=3)
        raw = self._send(method, wire, options)
        path = method.pagination.items_path if method.pagination is not None else ()
        items: list[T] = from_wire(dig(raw.result, path), list[item.type], method.name)  # type: ignore[name-defined]
        return Page(items=items, next=raw.next, total=raw.total, time=raw.time)

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
        wire = self.prepare(method, params, stacklevel=3)
        records: Iterator[T] = iter_all(
            self._sender, method, wire, item.type, limit=limit, progress=progress, after_id=after_id, options=options
        )
        return records
