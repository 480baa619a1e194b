"""The portal core: authentication, dispatch, limits, envelopes and ``batch`` — everything but sockets.

Why separate from the HTTP layer: batch sub-commands, the Python API and the HTTP handler all go through
:meth:`Portal.call`, so every path sees the same scope checks, operating-time accounting and stats.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any

import attrs

from b24crm.runtime.limits import BATCH_MAX_COMMANDS, OPERATING_LIMIT_SECONDS
from b24crm.runtime.validation import coerce_strings, validate
from b24crm.testing.api import AuthInfo, BitrixError, CallContext, Handler, Result
from b24crm.testing.crm import HANDLERS as CRM_HANDLERS
from b24crm.testing.faults import FAULT_BODIES, Faults
from b24crm.testing.limiter import LeakyBucket, OperatingMeter, parse_plan
from b24crm.testing.methods import BUILTIN
from b24crm.testing.methods.common import php_intval, php_truthy
from b24crm.testing.oauth import OAuthApp
from b24crm.testing.phpinput import parse_str
from b24crm.testing.seed import seed
from b24crm.testing.state import Store

__all__ = ["Outcome", "Portal", "Webhook"]

#: Every method of the spec needs the ``crm`` scope; ``batch`` needs none of its own.
DEFAULT_SCOPES = frozenset({"crm", "user", "task", "disk"})
_REFERENCE = re.compile(r"\$(result|next|total|time|error)([^\s]*)")
_SEGMENT = re.compile(r"\[([^\]]*)\]")
_NOT_IN_BATCH = {"batch", "download", "upload"}
#: Every method the portal serves out of the box: the seed methods and the CRM core (crm.deal.*, crm.item.*,
#: crm.category.*, crm.type.*, and object families found in the spec's registry).
SERVED: dict[str, Handler] = {**BUILTIN, **CRM_HANDLERS}


@attrs.frozen
class Webhook:
    """An inbound webhook: ``/rest/<user_id>/<code>/``."""

    user_id: int
    code: str
    scopes: frozenset[str]


@attrs.frozen
class Outcome:
    """What one top-level call produced: the HTTP status and the JSON body."""

    status: int
    body: dict[str, Any]


def php_date(ts: float) -> str:
    """PHP ``date('c')`` in the local time zone."""
    return dt.datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


class Portal:
    """State + handlers + limits of one emulated portal."""

    def __init__(
        self,
        *,
        seed_kind: str = "demo",
        stage_history: int = 0,
        deals: int = 0,
        plan: str = "unlimited",
        state: str | None = None,
        token_ttl: int = 3600,
        operating_limit: float = OPERATING_LIMIT_SECONDS,
        costs: Mapping[str, float] | None = None,
        credentials: Mapping[str, str] | None = None,
    ) -> None:
        self.seed_kind = seed_kind
        self.stage_history = stage_history
        self.deals = deals
        self.store = Store(state)
        self.lock = self.store.lock
        if self.store.meta_get("seed") is None:
            seed(self.store, seed_kind, stage_history, deals)
        creds = self.store.meta_get("credentials")
        if creds is None:
            creds = {
                "webhook_code": secrets.token_hex(8),
                "client_id": "local." + secrets.token_hex(7),
                "client_secret": secrets.token_urlsafe(30),
            }
            creds.update({k: v for k, v in (credentials or {}).items() if k in creds and v})
            self.store.meta_set("credentials", creds)
            self.store.commit()
        self.webhooks: dict[str, Webhook] = {creds["webhook_code"]: Webhook(1, creds["webhook_code"], DEFAULT_SCOPES)}
        self.default_webhook = self.webhooks[creds["webhook_code"]]
        self.oauth = OAuthApp(creds["client_id"], creds["client_secret"], DEFAULT_SCOPES, token_ttl)
        self.handlers: dict[str, Handler] = dict(SERVED)
        self.scopes: dict[str, str] = dict.fromkeys(SERVED, "crm")
        #: Request schemas checked before a handler runs (user methods registered with ``validate=True``).
        self.schemas: dict[str, Mapping[str, Any]] = {}
        self.plan = plan
        self.bucket = LeakyBucket(parse_plan(plan))
        self.meter = OperatingMeter(operating_limit)
        self._initial_costs: dict[str, float] = {k.lower(): v for k, v in (costs or {}).items()}
        self.costs = dict(self._initial_costs)
        self.faults = Faults()
        self._stats_lock = threading.Lock()
        self._reset_stats()

    # -- stats ------------------------------------------------------------------------------------------
    def _reset_stats(self) -> None:
        self._stats: dict[str, Any] = {
            "requests": 0,
            "by_method": {},
            "rate_limited": 0,
            "operation_time_limited": 0,
            "batch_subcalls": 0,
            #: List pages answered with a ``total`` (a COUNT ran): every call or batch command without start=-1.
            "counted_pages": 0,
            "errors": 0,
            #: Requests answered 413 for a body over the cap, before routing (docs/protocol.md#request-size).
            "too_large": 0,
            "oauth_refreshes": 0,
        }

    def count(self, key: str, method: str | None = None) -> None:
        """Bump a counter (``requests`` also counts per method)."""
        with self._stats_lock:
            self._stats[key] += 1
            if method is not None:
                by_method = self._stats["by_method"]
                by_method[method] = by_method.get(method, 0) + 1

    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters, plus faults fired and the bucket level."""
        with self._stats_lock:
            snapshot = {**self._stats, "by_method": dict(self._stats["by_method"])}
        snapshot["faults_fired"] = self.faults.fired
        snapshot["bucket_level"] = round(self.bucket.level, 3)
        return snapshot

    def reset(self) -> None:
        """Back to the seed: state, faults, stats, limiter, operating meter, registered methods and cost
        overrides (credentials are kept), so a shared emulator starts every test the same way."""
        with self.lock:
            creds = self.store.meta_get("credentials")
            self.store.clear()
            seed(self.store, self.seed_kind, self.stage_history, self.deals)
            self.store.meta_set("credentials", creds)
            self.store.commit()
        self.handlers = dict(SERVED)
        self.scopes = dict.fromkeys(SERVED, "crm")
        self.schemas = {}
        self.costs = dict(self._initial_costs)
        self.faults.clear()
        self.faults.fired = 0
        self.bucket.reset()
        self.meter.reset()
        with self._stats_lock:
            self._reset_stats()

    # -- auth -------------------------------------------------------------------------------------------
    def authenticate(self, webhook: tuple[str, str] | None, params: dict[str, Any], bearer: str | None) -> AuthInfo:
        """Webhook path segments, or an OAuth token from the Bearer header / ``auth`` / ``access_token``."""
        token_param = params.pop("auth", None)
        access_param = params.pop("access_token", None)
        if webhook is not None:
            user, code = webhook
            hook = self.webhooks.get(code)
            if hook is None or str(hook.user_id) != user:
                raise BitrixError.documented("InvalidCredentialsError")
            return AuthInfo("webhook", hook.user_id, hook.code, hook.scopes)
        token = bearer or token_param or access_param
        if not token or not isinstance(token, str):
            raise BitrixError.documented("NoAuthFoundError")
        state = self.oauth.check(token)
        if state == "invalid_token":
            raise BitrixError.documented("InvalidTokenError")
        if state == "expired_token":
            raise BitrixError.documented("ExpiredTokenError")
        assert not isinstance(state, str)
        return AuthInfo("oauth", 1, self.oauth.client_id, state.scopes)

    # -- dispatch ---------------------------------------------------------------------------------------
    def find(self, method: str) -> Handler | None:
        """Handlers are keyed in lower case: the router lowercases names (docs/protocol.md#url-forms)."""
        return self.handlers.get(method.lower())

    def call(self, method: str, params: dict[str, Any], auth: AuthInfo, *, in_batch: bool = False) -> Outcome:
        """Run one method (never ``batch``) and wrap its result in the envelope."""
        started = time.time()
        name = method.lower()
        try:
            handler = self.find(name)
            if handler is None:
                raise BitrixError.documented("MethodNotFoundError")
            scope = self.scopes.get(name)
            if scope and scope not in auth.scopes:
                holder = "webhook token" if auth.kind == "webhook" else "access token"
                raise BitrixError(
                    "insufficient_scope", f"The request requires higher privileges than provided by the {holder}", 401
                )
            schema = self.schemas.get(name)
            if schema is not None:
                # The server reads `start` itself (it never reaches the handler), and form/batch values are
                # strings: read them as the schema's types before judging them.
                checked = coerce_strings(schema, {k: v for k, v in params.items() if k != "start"})
                problems = validate(schema, checked)
                if problems:
                    raise BitrixError("ERROR_ARGUMENT", "; ".join(str(p) for p in problems))
            key = (auth.kind, auth.key, name)
            if self.meter.blocked(key, started):
                self.count("operation_time_limited")
                raise BitrixError.documented("OperationTimeLimitError")
            start_raw = params.pop("start", None)
            ctx = CallContext(
                method=name,
                auth=auth,
                store=self.store,
                start=None if start_raw is None else php_intval(start_raw),
                in_batch=in_batch,
            )
            with self.lock:
                # Timed inside the lock: waiting for another request's turn is not this call's run time
                # (a real portal runs requests in parallel workers).
                t0 = time.perf_counter()
                try:
                    value = handler(params, ctx)
                finally:
                    self.store.commit()  # durable before the response is sent
                processing = time.perf_counter() - t0
        except BitrixError as error:
            self.count("errors")
            return Outcome(error.status, error.body())
        cost = processing + self.costs.get(name, self.costs.get("*", 0.0))
        finished = time.time()
        self.meter.record(key, finished, cost)
        body: dict[str, Any] = {}
        if isinstance(value, Result):
            body["result"] = value.value
            if value.next is not None:
                body["next"] = int(value.next)
            if value.total is not None:
                body["total"] = int(value.total)
                if value.counted:
                    self.count("counted_pages")
        else:
            body["result"] = value
        body["time"] = self.time_block(key, started, finished, cost)
        return Outcome(200, body)

    def time_block(
        self, key: tuple[str, str, str], started: float, finished: float, processing: float
    ) -> dict[str, Any]:
        """The ``time`` object: timings plus ``operating`` / ``operating_reset_at`` (cloud-like)."""
        operating, reset_at = self.meter.snapshot(key, finished)
        return {
            "start": started,
            "finish": finished,
            "duration": finished - started,
            "processing": processing,
            "date_start": php_date(started),
            "date_finish": php_date(finished),
            "operating_reset_at": reset_at,
            "operating": operating,
        }

    # -- batch ------------------------------------------------------------------------------------------
    def batch(self, params: dict[str, Any], auth: AuthInfo) -> Outcome:
        """``batch``: sequential commands, ``$result[...]`` references, ``halt``, the 50-command cap."""
        started = time.time()
        upper = {str(k).upper(): v for k, v in params.items()}
        halt = php_truthy(upper.get("HALT"))
        commands = upper.get("CMD")
        pairs: list[tuple[str, Any]] = []
        if isinstance(commands, dict):
            pairs = [(str(k), v) for k, v in commands.items()]
        elif isinstance(commands, list):
            pairs = [(str(i), v) for i, v in enumerate(commands)]
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        totals: dict[str, Any] = {}
        nexts: dict[str, Any] = {}
        times: dict[str, Any] = {}
        spaces = {"result": results, "error": errors, "total": totals, "next": nexts, "time": times}
        position = 0
        for key, command in pairs:
            if not isinstance(command, str):
                continue  # non-string commands are skipped silently
            position += 1
            if position > BATCH_MAX_COMMANDS:
                errors[key] = BitrixError.documented("BatchLengthExceededError").body()
                continue
            method, _, query = command.partition("?")
            method = method.strip().lower()
            if method.endswith(".json"):
                method = method[:-5]
            self.count("batch_subcalls")
            if method in _NOT_IN_BATCH:
                errors[key] = BitrixError.documented("BatchMethodNotAllowedError").body()
                outcome = None
            elif (fault := self.faults.take(method, in_batch=True)) is not None:
                # An injected per-command failure (faults.py): the command does not run.
                self.count("errors")
                errors[key] = dict(FAULT_BODIES[fault.kind][1])
                outcome = None
            else:
                sub_params = _substitute(parse_str(query), spaces)
                sub_params.pop("auth", None)
                sub_params.pop("access_token", None)
                outcome = self.call(method, sub_params, auth, in_batch=True)
                if outcome.status == 200:
                    results[key] = outcome.body["result"]
                    if "total" in outcome.body:
                        totals[key] = outcome.body["total"]
                    if "next" in outcome.body:
                        nexts[key] = outcome.body["next"]
                    times[key] = outcome.body["time"]
                else:
                    errors[key] = outcome.body
            if halt and key in errors:
                break
        finished = time.time()
        with self.lock:
            self.store.commit()
        body = {
            "result": {
                "result": results,
                "result_error": errors,
                "result_total": totals,
                "result_next": nexts,
                "result_time": times,
            },
            "time": self.time_block((auth.kind, auth.key, "batch"), started, finished, finished - started),
        }
        return Outcome(200, body)


def _substitute(value: Any, spaces: Mapping[str, Mapping[str, Any]]) -> Any:
    """Replace ``$result[cmd][path]`` (and ``$next``/``$total``/``$time``/``$error``) in values and keys."""
    if isinstance(value, dict):
        return {str(_substitute(k, spaces)): _substitute(v, spaces) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, spaces) for v in value]
    if not isinstance(value, str) or "$" not in value:
        return value
    matches = list(_REFERENCE.finditer(value))
    if not matches:
        return value
    text: Any = value
    for match in matches:
        resolved = _resolve(spaces[match.group(1)], match.group(2))
        if match.group(0) == value:
            return resolved  # a whole-value reference keeps the raw type (int, list, map)
        if isinstance(text, str) and isinstance(resolved, (str, int, float, bool)):
            replacement = ("1" if resolved else "") if isinstance(resolved, bool) else str(resolved)
            text = text.replace(match.group(0), replacement)
    return text


def _resolve(space: Mapping[str, Any], path: str) -> Any:
    """Walk ``[a][b]`` as far as it goes; an unresolvable step yields the deepest value reached.

    docs/protocol.md#batch-references.
    """
    current: Any = space
    for segment in _SEGMENT.findall(path):
        if isinstance(current, Mapping) and segment in current:
            current = current[segment]
        elif isinstance(current, list) and segment.isdigit() and int(segment) < len(current):
            current = current[int(segment)]
        else:
            break
    return current
