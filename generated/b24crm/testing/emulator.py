"""``Emulator``: the portal on loopback, in a background thread, as a context manager.

It starts two listeners sharing one :class:`~b24crm.testing.portal.Portal`: the main address and a second
one that ``moved`` faults redirect to (a portal whose address changed answers 302 to the new host).
"""

from __future__ import annotations

import secrets
import ssl
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from b24crm.runtime.limits import OPERATING_LIMIT_SECONDS
from b24crm.runtime.spec import MethodSpec
from b24crm.testing.api import Handler
from b24crm.testing.crm import funnels
from b24crm.testing.faults import Faults
from b24crm.testing.limiter import parse_plan
from b24crm.testing.portal import DEFAULT_SCOPES, Portal, Webhook
from b24crm.testing.seed import add_entity
from b24crm.testing.server import CONTROL_TOKEN_HEADER, DEFAULT_MAX_BODY_BYTES, EmulatorServer
from b24crm.testing.tls import Certificates, make_certificates, remove_certificates

if TYPE_CHECKING:
    from b24crm._client import AsyncClient, Client
    from b24crm.runtime.engine import ClientCore

#: ``Client`` or ``AsyncClient``: both are built from the same options.
C = TypeVar("C", bound="ClientCore[Any, Any, Any]")

__all__ = ["Emulator", "OAuthCredentials"]


@attrs.frozen
class OAuthCredentials:
    """The emulator's OAuth app and the tokens issued at start."""

    client_id: str
    client_secret: str
    access_token: str
    refresh_token: str
    token_url: str
    expires: int


class Emulator:
    """A local Bitrix24 portal. ``with Emulator(seed="demo") as emu: ...``."""

    def __init__(
        self,
        seed: str = "demo",
        stage_history: int = 0,
        plan: str = "unlimited",
        state: str | None = None,
        tls: bool = False,
        token_ttl: int = 3600,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        operating_limit: float = OPERATING_LIMIT_SECONDS,
        costs: Mapping[str, float] | None = None,
        credentials: Mapping[str, str] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        deals: int = 0,
    ) -> None:
        """``credentials`` chooses secrets instead of random ones (e.g. canaries in leak tests): any of
        ``webhook_code``, ``client_id``, ``client_secret`` (used when the state has none yet) and
        ``access_token``, ``refresh_token`` (the pair issued at start), ``control_token`` (instead of a
        random one per start: what ``/_emulator/*`` requests must carry, see :attr:`control_token`).

        A ``state`` file is locked (``<state>.lock`` beside it) from here until :meth:`stop`: a second
        emulator on the same file raises :class:`~b24crm.testing.state.StateFileInUseError`.

        ``max_body_bytes``: a request body above it gets 413 before it is read (docs/protocol.md#request-size).

        ``deals``: deals 1..N made up on demand (memory flat in N; see :mod:`b24crm.testing.crm.store`)."""
        parse_plan(plan)  # fail early on a bad plan
        if max_body_bytes < 0:
            raise ValueError(f"max_body_bytes must be >= 0, got {max_body_bytes}")
        self.max_body_bytes = max_body_bytes
        self._credentials = dict(credentials or {})
        self.plan = plan
        self.host = host
        self.port = port
        self.tls = tls
        self.portal = Portal(
            seed_kind=seed,
            stage_history=stage_history,
            deals=deals,
            plan=plan,
            state=state,
            token_ttl=token_ttl,
            operating_limit=operating_limit,
            costs=costs,
            credentials=self._credentials,
        )
        #: The generated CA's certificate while a ``tls=True`` emulator runs (None before start and after stop).
        self.ca_file: str | None = None
        self._certs: Certificates | None = None
        self._control_token: str | None = None
        self._servers: list[EmulatorServer] = []
        self._threads: list[threading.Thread] = []
        self._oauth: OAuthCredentials | None = None

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> Emulator:
        """Bind both listeners and serve in daemon threads."""
        if self._servers:
            return self
        context: ssl.SSLContext | None = None
        try:
            if self.tls:
                # The CA key is already gone (tls.py); the leaf key goes once loaded, the folder at stop().
                self._certs = certs = make_certificates(host=self.host)
                try:
                    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                    context.load_cert_chain(certs.cert_file, certs.key_file)
                finally:
                    Path(certs.key_file).unlink(missing_ok=True)
                self.ca_file = certs.ca_file
            self._listen(context)
        except BaseException:  # a failed start leaves no certificate folder behind
            self._remove_certificates()
            raise
        return self

    def _listen(self, context: ssl.SSLContext | None) -> None:
        """Bind the main and the alternate listener with a fresh control token and issue the OAuth pair."""
        token = self._credentials.get("control_token") or secrets.token_urlsafe(24)
        main, alternate = (
            EmulatorServer(
                address, self.portal, ssl_context=context, max_body_bytes=self.max_body_bytes, control_token=token
            )
            for address in ((self.host, self.port), (self.host, 0))
        )
        self._control_token = token
        main.moved_to = alternate.base_url
        self._servers = [main, alternate]
        self._threads = [server.start() for server in self._servers]
        self.portal.oauth.base_url = main.base_url
        self._issue_tokens()

    def _remove_certificates(self) -> None:
        """Delete the TLS folder: temp folders must not pile up, nor keys stay behind, run after run."""
        if self._certs is not None:
            remove_certificates(self._certs)
        self._certs, self.ca_file = None, None

    def _issue_tokens(self) -> None:
        # The chosen pair only once: after a reset the old tokens must not come back.
        tokens = self.portal.oauth.issue(
            self._credentials.pop("access_token", None), self._credentials.pop("refresh_token", None)
        )
        self._oauth = OAuthCredentials(
            client_id=self.portal.oauth.client_id,
            client_secret=self.portal.oauth.client_secret,
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            token_url=f"{self.base_url}/oauth/token/",
            expires=tokens["expires"],
        )

    def stop(self) -> None:
        """Stop serving, close the state file and delete the ``tls=True`` certificates' folder."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers, self._threads = [], []
        self._remove_certificates()
        self.portal.store.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses and credentials ----------------------------------------------------------------------
    def _main(self) -> EmulatorServer:
        if not self._servers:
            raise RuntimeError("the emulator is not running: use it as a context manager or call start()")
        return self._servers[0]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https`` with ``tls=True``)."""
        return self._main().base_url

    @property
    def alternate_base_url(self) -> str:
        """The second listener (same portal) that ``moved`` faults redirect to."""
        return self._servers[1].base_url if len(self._servers) > 1 else self.base_url

    @property
    def webhook_url(self) -> str:
        """``http://127.0.0.1:PORT/rest/1/<code>/``."""
        hook = self.portal.default_webhook
        return f"{self.base_url}/rest/{hook.user_id}/{hook.code}/"

    @property
    def control_token(self) -> str:
        """The token ``/_emulator/*`` HTTP requests must send in the ``X-Emulator-Token`` header (random per
        start): without it a control request gets 401, with another value 403, so a web page or another local
        user cannot reset the portal or queue faults. The Python controls (``emu.reset()``, ``emu.faults``,
        ``emu.stats()``) need none."""
        self._main()
        assert self._control_token is not None
        return self._control_token

    @property
    def control_headers(self) -> dict[str, str]:
        """``{"X-Emulator-Token": <control_token>}``, for HTTP clients of ``/_emulator/*``."""
        return {CONTROL_TOKEN_HEADER: self.control_token}

    @property
    def oauth(self) -> OAuthCredentials:
        """The OAuth app's credentials and the tokens issued at start."""
        self._main()
        assert self._oauth is not None
        return self._oauth

    def add_webhook(self, scopes: tuple[str, ...] | frozenset[str] = tuple(DEFAULT_SCOPES), user_id: int = 1) -> str:
        """Another inbound webhook (e.g. without the ``crm`` scope, for insufficient_scope tests); its URL."""
        code = secrets.token_hex(8)
        self.portal.webhooks[code] = Webhook(user_id, code, frozenset(scopes))
        return f"{self.base_url}/rest/{user_id}/{code}/"

    # -- test controls ----------------------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        """``emu.faults.add(method="crm.status.list", kind="query_limit", times=2)``."""
        return self.portal.faults

    def stats(self) -> dict[str, Any]:
        """Requests in total and by method, rate-limit rejections, batch sub-calls, faults fired."""
        return self.portal.stats()

    def reset(self) -> None:
        """Back to the seed (state, faults, stats, limits) with a fresh OAuth token pair in ``emu.oauth``."""
        self.portal.reset()
        if self._servers:
            self._issue_tokens()

    def expire_tokens(self) -> None:
        """Expire every issued OAuth access token now."""
        self.portal.oauth.expire_all()

    def set_cost(self, method: str, seconds: float) -> None:
        """Simulated operating time per call of ``method`` (``"*"`` = every method)."""
        self.portal.costs[method.lower()] = seconds

    def set_crm_mode(self, mode: int) -> None:
        """1 classic (with leads) or 2 simple; what ``crm.settings.mode.get`` answers."""
        with self.portal.lock:
            self.portal.store.meta_set("crm_mode", int(mode))
            self.portal.store.commit()

    def add_entity(self, entity_type: str | int, fields: dict[str, Any]) -> int:
        """Add a lead, contact or company (with PHONE/EMAIL multifields) for findbycomm and mergeBatch."""
        with self.portal.lock:
            new_id = add_entity(self.portal.store, entity_type, fields)
            self.portal.store.commit()
            return new_id

    def add_deal_category(self, name: str, sort: int = 500) -> int:
        """Create a deal funnel as ``crm.category.add`` does (an administrator's UI action): its
        ``DEAL_STAGE_<id>`` directory gets the default system stages. Returns the new funnel's ID."""
        with self.portal.lock:
            new_id = funnels.add_category(self.portal.store, 2, name, sort, False)
            self.portal.store.commit()
            return new_id

    def register(self, method: str, handler: Handler, *, scope: str | None = "crm", validate: bool = True) -> None:
        """Serve ``method`` with ``handler(params, ctx) -> result`` (see :mod:`b24crm.testing.api`).

        With ``validate`` (default) and the method in the generated registry, requests are first checked
        against its spec request schema and rejected with ``ERROR_ARGUMENT`` (400) — a user method has no
        server behaviour to copy, so the spec is the best description of what it accepts.
        """
        name = method.lower()
        self.portal.handlers[name] = handler
        if scope:
            self.portal.scopes[name] = scope
        else:
            self.portal.scopes.pop(name, None)
        self.portal.schemas.pop(name, None)
        if validate:
            spec = _registry_spec(method)
            if spec is not None and spec.request_schema is not None:
                self.portal.schemas[name] = spec.request_schema

    # -- clients ----------------------------------------------------------------------------------------
    def client(self, auth: str = "webhook", **client_options: Any) -> Client:
        """A ``b24crm.Client`` pointed at this emulator: its limiter matched to the plan, OAuth refreshing
        through the emulator's token endpoint, the generated CA trusted with ``tls=True``."""
        from b24crm._client import Client

        return self._connect(Client, auth, client_options)

    def async_client(self, auth: str = "webhook", **client_options: Any) -> AsyncClient:
        """A ``b24crm.AsyncClient`` (``b24crm[async]``) set up as :meth:`client` sets up the sync one. It may be
        made outside a loop; its connections open on the loop that first uses it (``async with`` closes them)."""
        from b24crm._client import AsyncClient

        return self._connect(AsyncClient, auth, client_options)

    def _connect(self, cls: type[C], auth: str, client_options: dict[str, Any]) -> C:
        client_options.setdefault("rate_limit", parse_plan(self.plan))
        if self.ca_file is not None:
            client_options.setdefault("ca_certs", self.ca_file)
        if auth == "webhook":
            return cls.from_webhook(self.webhook_url, **client_options)
        if auth == "oauth":
            creds = self.oauth
            return cls.from_oauth(
                self.base_url,
                client_id=creds.client_id,
                client_secret=creds.client_secret,
                access_token=creds.access_token,
                refresh_token=creds.refresh_token,
                expires_at=float(creds.expires),
                token_url=creds.token_url,
                **client_options,
            )
        raise ValueError(f"auth must be 'webhook' or 'oauth', not {auth!r}")


def _registry_spec(method: str) -> MethodSpec | None:
    """The method's spec from the generated registry (None when the registry or the method is absent)."""
    try:
        from b24crm._registry import REGISTRY
    except ImportError:
        return None
    return REGISTRY.find(method)
