"""Who the client is: a webhook (secret in the URL path) or an OAuth app (token in the body, refreshed).

OAuth refresh is the part peers get wrong (a refresh per thread, or none at all). Here every thread that
meets an expired token calls ``refresh(seen_generation)``; the first one refreshes under a lock and bumps the
generation, the others find the generation moved on and simply re-send with the new token. Secrets are
registered with the client's ``Redactor`` the moment they are known, and never printed by ``repr``.

A refresh that fails for a transient reason (connection refused or reset, timeout, a 5xx, a body that is not
JSON) is repeated, still under the lock, with the client's backoff policy up to its attempt budget. An OAuth
error answer (``invalid_grant``, ``invalid_client`` … with a 4xx) is final: repeating cannot help, so it is
raised at once as ``AuthError`` saying what to do.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from b24crm.runtime import forksafe
from b24crm.runtime.clock import SYSTEM_CLOCK, Clock
from b24crm.runtime.effects import Blocking, Enter, Flow, Send, Sleep, drive, performer
from b24crm.runtime.envelope import decode_json
from b24crm.runtime.errors import (
    APIError,
    AuthError,
    ResponseDecodeError,
    StoreUnavailableError,
    TransportError,
    error_from_wire,
)
from b24crm.runtime.redact import MASK, Redactor, redact
from b24crm.runtime.retry import RetryPolicy
from b24crm.runtime.transport import HttpResponse, MaybeSent, Transport, TransportFailure

if TYPE_CHECKING:
    from b24crm.runtime.tokens import TokenStore

DEFAULT_TOKEN_URL = "https://oauth.bitrix.info/oauth/token/"
#: Refresh this long before a known expiry, so a call does not race the token's last second.
EXPIRY_SKEW_SECONDS = 60.0

_log = logging.getLogger("b24crm")

_REFRESH_METHOD = "oauth.token.refresh"


class _TransientRefreshFailure(Exception):
    """A refresh attempt that may succeed when repeated; ``error`` is what to raise once the budget is spent."""

    def __init__(self, error: Exception, *, may_have_run: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.may_have_run = may_have_run


class Auth(Protocol):
    """What the client needs from a credential."""

    @property
    def origin(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def limit_key(self) -> str:
        """Who the portal counts operating time for (an app or a webhook), safe to store: never a secret."""
        ...

    def url(self, method: str) -> str:
        """The endpoint of ``method``."""
        ...

    def body(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
        """The JSON body to send (with credentials if they travel in it) and the token generation used."""
        ...

    def move(self, origin: str) -> None:
        """The portal answered 302 to a new host: use that one from now on."""
        ...


def _origin_of(parts: urllib.parse.SplitResult) -> str:
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


class WebhookAuth:
    """An inbound webhook: ``https://portal/rest/<user>/<code>/``; the code is the secret."""

    kind = "webhook"

    def __init__(self, origin: str, user: str, code: str, *, path_prefix: str = "") -> None:
        self._origin = origin.rstrip("/")
        self._prefix = path_prefix.strip("/")
        self.user = user
        self._code = code
        self._base = self._make_base()

    def _make_base(self) -> str:
        prefix = f"/{self._prefix}" if self._prefix else ""
        user = urllib.parse.quote(self.user, safe="")
        code = urllib.parse.quote(self._code, safe="")
        return f"{self._origin}{prefix}/rest/{user}/{code}/"

    @classmethod
    def parse(cls, url: str) -> WebhookAuth:
        """Accept the forms users paste: with or without a trailing slash, even with a method on the end."""
        text = url.strip()
        parts = urllib.parse.urlsplit(text)
        segments = [s for s in parts.path.split("/") if s]
        # Never echo the path in an error: a mistyped URL still holds the secret code.
        shown = f"{parts.scheme}://{parts.hostname}/…" if parts.hostname else "<unparseable>"
        if parts.scheme not in ("http", "https") or not parts.hostname or "rest" not in segments:
            raise ValueError(f"not a webhook URL (expected https://<portal>/rest/<user>/<code>/): {shown}")
        at = segments.index("rest")
        tail = segments[at + 1 :]
        if len(tail) == 3 and "." in tail[2]:  # ".../rest/1/abc/profile.json": drop the method
            tail = tail[:2]
        if len(tail) != 2:
            raise ValueError(f"webhook URL must end in /rest/<user>/<code>/: {shown}")
        user, code = (urllib.parse.unquote(s) for s in tail)
        return cls(_origin_of(parts), user, code, path_prefix="/".join(segments[:at]))

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._code, urllib.parse.quote(self._code, safe=""))

    @property
    def limit_key(self) -> str:
        # The portal keys operating time on the webhook code; a shared store gets a digest of it instead.
        return f"webhook:{self.user}:{hashlib.sha256(self._code.encode()).hexdigest()[:16]}"

    def url(self, method: str) -> str:
        return f"{self._base}{method}.json"

    def body(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
        return dict(params), 0

    def move(self, origin: str) -> None:
        self._origin = origin.rstrip("/")
        self._base = self._make_base()

    def __repr__(self) -> str:
        return f"WebhookAuth(origin={self._origin!r}, user={self.user!r}, code={MASK!r})"


@attrs.frozen(repr=False)
class Tokens:
    """An OAuth token pair as handed to ``on_tokens``; persist both, the refresh token rotates."""

    access_token: str
    refresh_token: str
    #: Unix time the access token expires, when known.
    expires_at: float | None = None
    #: The whole token response (``member_id``, ``scope``, ``server_endpoint`` …).
    raw: Mapping[str, Any] = attrs.field(factory=dict)

    def __repr__(self) -> str:
        return f"Tokens(access_token={MASK!r}, refresh_token={MASK!r}, expires_at={self.expires_at!r})"

    __str__ = __repr__


def _newer(stored: Tokens, current: Tokens) -> bool:
    """Whether the stored pair replaces ours: another pair, unless ours is known to expire later (a pair
    the user passed in after re-authorizing the app is newer than what the store still holds)."""
    if stored.refresh_token == current.refresh_token:
        return False
    if stored.expires_at is None or current.expires_at is None:
        return True
    return stored.expires_at >= current.expires_at


def _expired(tokens: Tokens, now: float) -> bool:
    return tokens.expires_at is not None and now >= tokens.expires_at - EXPIRY_SKEW_SECONDS


def normalize_portal(portal: str) -> str:
    """``x.bitrix24.com``, ``https://x.bitrix24.com/`` or ``https://x.bitrix24.com/rest/`` → origin."""
    text = portal.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urllib.parse.urlsplit(text)
    if not parts.hostname:
        raise ValueError(f"not a portal address: {redact(portal)[:60]!r}")
    path = parts.path.rstrip("/")
    if path.endswith("/rest"):
        path = path[: -len("/rest")]
    return _origin_of(parts) + path


class OAuthAuth:
    """An OAuth 2 app: the access token goes in the ``auth`` body parameter and is refreshed once per expiry."""

    kind = "oauth"

    def __init__(
        self,
        portal: str,
        *,
        client_id: str,
        client_secret: str,
        access_token: str,
        refresh_token: str,
        expires_at: float | None = None,
        on_tokens: Callable[[Tokens], None] | None = None,
        token_url: str = DEFAULT_TOKEN_URL,
        token_store: TokenStore | None = None,
    ) -> None:
        self._origin = normalize_portal(portal)
        self.client_id = client_id
        self._client_secret = client_secret
        self._token_url = token_url
        self._on_tokens = on_tokens
        self._lock = threading.Lock()
        # (tokens, generation) replaced as one tuple so readers never see a token with the wrong generation.
        self._state: tuple[Tokens, int] = (Tokens(access_token, refresh_token, expires_at), 0)
        self.redactor: Redactor | None = None
        #: Where refresh log lines go; the client sets its ``logger=``.
        self.logger: logging.Logger = _log
        self.refreshes = 0
        #: Shared with other processes (see ``runtime.tokens``); None: the tokens live in this process only.
        self.token_store = token_store
        #: Pairs taken from the token store because another process had refreshed them.
        self.adopted = 0
        forksafe.register(self)

    def after_fork_in_child(self) -> None:
        """A fresh refresh lock: a parent thread may have been refreshing at the fork (see ``forksafe``)."""
        self._lock = threading.Lock()

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def limit_key(self) -> str:
        return f"oauth:{self.client_id}"

    @property
    def token_url(self) -> str:
        return self._token_url

    @property
    def tokens(self) -> Tokens:
        return self._state[0]

    @property
    def generation(self) -> int:
        return self._state[1]

    @property
    def secrets(self) -> tuple[str, ...]:
        tokens = self._state[0]
        return (self._client_secret, tokens.access_token, tokens.refresh_token)

    def url(self, method: str) -> str:
        return f"{self._origin}/rest/{method}.json"

    def body(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
        tokens, generation = self._state
        out = dict(params)
        out["auth"] = tokens.access_token
        return out, generation

    def move(self, origin: str) -> None:
        self._origin = origin.rstrip("/")

    def expired(self, now: float) -> bool:
        """True when the access token's known expiry is (nearly) reached."""
        return self.expired_generation(now) is not None

    def expired_generation(self, now: float) -> int | None:
        """The generation of the current tokens if they are (nearly) expired, else None.

        Read from one snapshot, so a thread that sees an expired token and then refreshes passes the
        generation it actually saw; if another thread refreshed meanwhile, ``refresh`` does nothing.
        """
        tokens, generation = self._state
        if tokens.expires_at is not None and now >= tokens.expires_at - EXPIRY_SKEW_SECONDS:
            return generation
        return None

    def refresh(
        self,
        seen_generation: int,
        transport: Transport,
        *,
        timeout: tuple[float, float],
        clock: Clock = SYSTEM_CLOCK,
        retry: RetryPolicy | None = None,
        max_attempts: int | None = None,
    ) -> bool:
        """Refresh unless another thread already did since ``seen_generation``; True if the tokens changed.

        The sync driver of :meth:`refresh_flow` (blocking HTTP on ``transport``, ``clock.sleep``).
        """
        flow = self.refresh_flow(seen_generation, timeout=timeout, clock=clock, retry=retry, max_attempts=max_attempts)
        return drive(flow, performer(transport, clock))

    def refresh_flow(
        self,
        seen_generation: int,
        *,
        timeout: tuple[float, float],
        clock: Clock = SYSTEM_CLOCK,
        retry: RetryPolicy | None = None,
        max_attempts: int | None = None,
    ) -> Flow[bool]:
        """The refresh as a sans-IO flow (``runtime.effects``): both clients drive this one.

        Transient failures of the token endpoint are repeated with ``retry``'s backoff, at most
        ``max_attempts`` attempts in all (default: the policy's budget; without a policy, one attempt).

        With a ``token_store`` the refresh is also coordinated across processes: under the store's lock
        the stored pair is reloaded first; if another process already refreshed it, that pair is adopted
        (no request, no ``on_tokens``); otherwise this process refreshes and saves the new pair. If the
        token server still answers ``invalid_grant`` (another process refreshed without our lock — its
        lock had expired), the store is reloaded and a newer pair there is adopted: the caller's re-send
        is the one retry. The store's lock is held (``effects.Enter``) until the flow ends and released by its driver,
        in the thread that took it, whether the flow returns, raises or is abandoned (a cancelled task).
        """
        with self._lock:
            if self._state[1] != seen_generation:
                return False  # someone refreshed while we waited for the lock: use their tokens
            store = self.token_store
            if store is None:
                tokens = yield from self._from_server(timeout, clock, retry, max_attempts)
                self._install(tokens, refreshed=True)
                return True
            yield Enter(store.lock())  # held until the flow ends, released by the driver that took it
            current = self._state[0]
            stored: Tokens | None = yield Blocking(store.load)
            if stored is not None and _newer(stored, current):
                self._install(stored, refreshed=False)
                if not _expired(stored, clock.time()):
                    return True
                current = stored  # the stored pair is expired too: refresh it, still under the lock
            expected = None if stored is None else stored.refresh_token
            try:
                tokens = yield from self._from_server(timeout, clock, retry, max_attempts)
            except AuthError as exc:
                reloaded: Tokens | None = yield Blocking(functools.partial(self._reload_after, exc, store))
                if reloaded is None or reloaded.refresh_token == current.refresh_token:
                    raise
                self.logger.warning("b24crm: OAuth refresh token already used by another process; reloaded")
                self._install(reloaded, refreshed=False)
                return True
            # The token server has rotated the pair: from here on it must be installed whatever the store
            # says, or this process (and on_tokens) would lose the only valid refresh token.
            try:
                saved = yield Blocking(functools.partial(store.compare_and_save, expected, tokens))
            except StoreUnavailableError as exc:
                self.logger.warning(
                    "b24crm: the new OAuth tokens could not be saved to the token store (%s); they are kept "
                    "in this process and handed to on_tokens",
                    exc,
                )
                saved = True
            if not saved:
                self.logger.warning(
                    "b24crm: the token store changed during this refresh (a lock expired?); keeping the new "
                    "tokens in this process, the stored pair is another process's"
                )
            self._install(tokens, refreshed=True)
            return True

    @staticmethod
    def _reload_after(error: AuthError, store: TokenStore) -> Tokens | None:
        """After ``invalid_grant``: the stored pair, in case another process refreshed without our lock."""
        if error.code.lower() != "invalid_grant":
            return None
        try:
            return store.load()
        except StoreUnavailableError:
            return None  # the token server's answer is the error worth reporting

    def _from_server(
        self,
        timeout: tuple[float, float],
        clock: Clock,
        retry: RetryPolicy | None,
        max_attempts: int | None,
    ) -> Flow[Tokens]:
        """Ask the token server for a new pair, repeating transient failures (the caller holds the lock)."""
        log = self.logger
        policy = retry or RetryPolicy(max_attempts=1)
        budget = max(1, policy.max_attempts if max_attempts is None else max_attempts)
        attempt = 0
        maybe_used = False  # an earlier attempt may have reached the server and rotated the refresh token
        while True:
            attempt += 1
            try:
                tokens = yield from self._request_tokens(timeout, clock, maybe_used=maybe_used)
                break
            except _TransientRefreshFailure as failure:
                maybe_used = maybe_used or failure.may_have_run
                if attempt >= budget:
                    raise failure.error from None
                delay = policy.backoff(attempt)
                log.warning(
                    "b24crm: OAuth token refresh failed (attempt %d/%d: %s); retrying in %.2fs",
                    attempt,
                    budget,
                    self._scrub(str(failure.error)),
                    delay,
                )
                yield Sleep(delay)
        return tokens

    def _install(self, tokens: Tokens, *, refreshed: bool) -> None:
        """Use ``tokens`` from now on; ``refreshed``: this process got them from the token server (so it
        counts the refresh and calls ``on_tokens``), not from the token store."""
        log = self.logger
        self._state = (tokens, self._state[1] + 1)
        if self.redactor is not None:
            self.redactor.add(tokens.access_token, tokens.refresh_token)
        if not refreshed:
            self.adopted += 1
            log.info("b24crm: OAuth tokens refreshed by another process taken from the token store")
            return
        self.refreshes += 1
        log.info("b24crm: OAuth access token refreshed (generation %d)", self._state[1])
        if self._on_tokens is not None:
            try:
                self._on_tokens(tokens)
            except Exception as exc:  # noqa: BLE001 - the refresh succeeded; do not fail the call over storage
                # No traceback: its frames and the exception's text (a failed INSERT, say) hold the tokens.
                log.error(
                    "b24crm: on_tokens callback failed (%s: %s); the new tokens are only in memory",
                    type(exc).__name__,
                    self._scrub(str(exc)),
                )

    def _scrub(self, text: str) -> str:
        return (self.redactor or Redactor(self.secrets))(text)

    def _request_tokens(self, timeout: tuple[float, float], clock: Clock, *, maybe_used: bool = False) -> Flow[Tokens]:
        """One attempt. Raises ``_TransientRefreshFailure`` when repeating may help, the final error otherwise."""
        method = _REFRESH_METHOD
        form = urllib.parse.urlencode(
            {
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "client_secret": self._client_secret,
                "refresh_token": self._state[0].refresh_token,
            }
        ).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        scrub = self._scrub
        try:
            resp: HttpResponse = yield Send(self._token_url, form, headers, timeout)
        except TransportFailure as exc:
            note = (
                " The refresh token may have been used up; re-authorize if the next refresh fails."
                if exc.may_have_run
                else ""
            )
            error = TransportError(method, scrub(str(exc)) + "." + note, may_have_run=exc.may_have_run)
            if exc.transient:
                raise _TransientRefreshFailure(error, may_have_run=isinstance(exc, MaybeSent)) from None
            raise error from None
        try:  # parsed like every body (envelope.decode_json): hostile numbers and nesting are decode errors too
            data = decode_json(method, resp.status, resp.body, scrub)
        except ResponseDecodeError as decode_error:
            # A proxy's HTML error page or a body cut short: the token server may answer properly next time.
            raise _TransientRefreshFailure(decode_error, may_have_run=True) from None
        if not isinstance(data, Mapping) or "error" in data or not data.get("access_token"):
            data = data if isinstance(data, Mapping) else {}
            code = str(data.get("error") or "invalid_grant")
            description = scrub(str(data.get("error_description") or "the token server returned no access_token"))
            status = resp.status if resp.status >= 400 else 401
            err: APIError = error_from_wire(method, code, description, status)
            if err.kind.retry in ("backoff", "reset", "idempotent"):  # the token server's own trouble
                failed = AuthError(method, code, f"the token server failed ({description})", status, kind=err.kind)
                raise _TransientRefreshFailure(failed, may_have_run=True)
            # The spec's row (invalid_grant, invalid_client …) says what it means and what to do.
            description = f"OAuth token refresh failed ({description})"
            if maybe_used and code.lower() == "invalid_grant":
                description += "; an earlier attempt may have used up the refresh token"
            if isinstance(err, AuthError):
                err = type(err)(method, err.code, description, err.http_status)
            else:
                err = AuthError(method, err.code, description, err.http_status)
            raise err
        access = str(data["access_token"])
        refresh_token = str(data.get("refresh_token") or self._state[0].refresh_token)
        expires_at: float | None = None
        if data.get("expires") is not None:
            expires_at = float(data["expires"])
        elif data.get("expires_in") is not None:
            expires_at = clock.time() + float(data["expires_in"])
        if expires_at is not None and expires_at <= clock.time() + EXPIRY_SKEW_SECONDS:
            # Clock skew: trusting it would refresh before every call. Fall back to refreshing on 401.
            self.logger.warning("b24crm: the new OAuth token looks already expired (clock skew?); ignoring its expiry")
            expires_at = None
        return Tokens(access, refresh_token, expires_at, dict(data))

    def __repr__(self) -> str:
        return f"OAuthAuth(origin={self._origin!r}, client_id={self.client_id!r}, tokens={MASK!r})"
