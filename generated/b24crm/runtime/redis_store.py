"""Limits and OAuth tokens shared through Redis, for many workers (processes, hosts) on one portal.

``RedisLimiterStore`` is a ``LimiterStore`` whose leaky bucket and operating-time state live in Redis. Each
decision is one Lua script run atomically on the server with the server's clock (``TIME``), so workers on
hosts with skewed clocks agree; Redis only answers "go now" or "wait this long", the waiting happens in the
client. Keys expire once they hold nothing worth keeping (a drained bucket, a passed operating window).

``RedisTokenStore`` is a ``TokenStore``: a lock (``SET NX PX``, so a crashed holder's lock times out) and a
compare-and-save of the token pair.

When Redis is unreachable or slow (every command has a short socket timeout) the store follows its
``on_unavailable`` policy, which the client passes from its ``on_store_unavailable`` option:

* ``"local"`` (default): one WARNING, then this process's own bucket, started full so the fall-back never
  sends a burst (each process then sends at most the plan's drain rate); Redis is tried again every
  ``recheck`` seconds and used again once it answers.
* ``"wait"``: retry with backoff for up to ``wait`` seconds, then ``StoreUnavailableError``.
* ``"error"``: ``StoreUnavailableError`` at once.

``StoreUnavailableError`` is raised only where the call has not run. Updates made after the portal answered
(``saturate``, ``set_operating``) never raise — the call's outcome must reach the caller, or a write that
ran would look failed — they go to the local state instead. The token store has no local fall-back (a
refresh outside the shared lock would log out the other workers): it waits up to ``wait`` seconds, then
raises. redis-py is imported only here, when a Redis store is built (``pip install 'b24crm[redis]'``).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from b24crm.runtime import forksafe
from b24crm.runtime.auth import Tokens
from b24crm.runtime.errors import StoreUnavailableError
from b24crm.runtime.limits import OPERATING_WINDOW_SECONDS
from b24crm.runtime.ratelimit import InMemoryLimiterStore, OperatingState
from b24crm.runtime.stores import DEFAULT_WAIT, StorePolicy, check_policy
from b24crm.runtime.tokens import DEFAULT_LOCK_TIMEOUT, tokens_from_json, tokens_to_json

if TYPE_CHECKING:
    import redis

__all__ = ["RedisLimiterStore", "RedisTokenStore", "connect", "redacted_url"]

#: Every key this package writes starts with this (override with ``prefix=``).
DEFAULT_PREFIX = "b24crm:"
#: A Redis command slower than this counts as Redis being unavailable (loopback answers in ~0.1 ms).
DEFAULT_SOCKET_TIMEOUT = 0.5
#: In the "local" fall-back, how often Redis is tried again.
DEFAULT_RECHECK = 1.0

_log = logging.getLogger("b24crm")
_T = TypeVar("_T")

#: One reservation. KEYS[1] the bucket; ARGV burst, rate, start_full (1 after an outage: a bucket Redis
#: lost is assumed full, since the workers kept sending meanwhile). Returns the wait in seconds, as text
#: (Lua numbers become integers in a Redis reply).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'level', 'ts')
local level = tonumber(v[1])
local ts = tonumber(v[2]) or now
if level == nil then
  if ARGV[3] == '1' then level = burst else level = 0 end
end
level = math.max(0, level - math.max(0, now - ts) * rate)
local wait = math.max(0, (level + 1 - burst) / rate)
level = level + 1
redis.call('HSET', KEYS[1], 'level', tostring(level), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(level / rate * 1000) + 1000)
return tostring(wait)
"""

#: The portal said the bucket is full: at least ``burst`` from now on.
_SATURATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'level', 'ts')
local level = tonumber(v[1]) or 0
local ts = tonumber(v[2]) or now
level = math.max(burst, level - math.max(0, now - ts) * rate)
redis.call('HSET', KEYS[1], 'level', tostring(level), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(level / rate * 1000) + 1000)
return 1
"""

#: A method's operating figures. ARGV operating, reset_at, blocked_until ('' = none), window seconds. A
#: block another worker recorded is kept while it lasts (a success reported meanwhile does not lift it).
#: The key lives until the later of reset and block has passed, plus a minute, at most one window more.
_SET_OPERATING = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[4])
local blocked = tonumber(ARGV[3])
local old = tonumber(redis.call('HGET', KEYS[1], 'blocked_until'))
if old ~= nil and old > now and (blocked == nil or old > blocked) then blocked = old end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'operating', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'reset_at', ARGV[2]) end
if blocked ~= nil then redis.call('HSET', KEYS[1], 'blocked_until', tostring(blocked)) end
local horizon = math.max(tonumber(ARGV[2]) or 0, blocked or 0) - now
redis.call('EXPIRE', KEYS[1], math.ceil(math.min(math.max(horizon, 0), window) + 60))
return 1
"""

#: Save the pair if the stored refresh token is ARGV[1] ('' = nothing stored).
_COMPARE_AND_SAVE = """
local current = redis.call('HGET', KEYS[1], 'refresh_token')
if (current or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'refresh_token', ARGV[2], 'json', ARGV[3])
return 1
"""

#: Release the lock only if this holder still owns it (it may have expired and gone to another).
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def redacted_url(url: str) -> str:
    """A Redis URL fit for logs and errors: scheme, host, port and database, never the password."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def connect(url: str, *, socket_timeout: float = DEFAULT_SOCKET_TIMEOUT) -> redis.Redis:
    """A redis-py client for ``url`` with short timeouts and a single reconnect (no built-in backoff: the
    store's policy decides what happens when Redis does not answer)."""
    try:
        import redis as redis_py
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        raise ImportError("a redis:// store needs redis-py: pip install 'b24crm[redis]'") from None
    return redis_py.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 1),
    )


class _RedisBase:
    """The connection, the scripts and the retry loop the two stores share."""

    def __init__(
        self,
        target: str | redis.Redis,
        *,
        prefix: str,
        wait: float,
        socket_timeout: float,
        logger: logging.Logger | None,
    ) -> None:
        self._redis = connect(target, socket_timeout=socket_timeout) if isinstance(target, str) else target
        kwargs = self._redis.connection_pool.connection_kwargs
        self._where = redacted_url(target) if isinstance(target, str) else f"redis {kwargs.get('host', '?')}"
        self._prefix = prefix
        self._wait = wait
        self._log = logger or _log
        import redis as redis_py

        # Any Redis failure (down, slow, loading, a read-only replica, out of memory) follows the policy: none
        # escapes as a raw redis-py exception.
        self._errors: tuple[type[Exception], ...] = (redis_py.RedisError, OSError)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where!r})"

    def _retrying(self, action: Callable[[], _T], what: str) -> _T:
        """Run ``action``; on a connection failure or timeout retry with backoff for up to ``wait`` seconds."""
        deadline = time.monotonic() + self._wait
        delay = 0.05
        while True:
            try:
                return action()
            except self._errors as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreUnavailableError(
                        f"{self._where}", f"{what} failed for {self._wait:.1f}s ({type(exc).__name__})"
                    ) from None
                time.sleep(min(delay, left))
                delay = min(delay * 2, 1.0)


class RedisLimiterStore(_RedisBase):
    """The ``LimiterStore`` shared by every process (and host) that points at the same Redis."""

    def __init__(
        self,
        target: str | redis.Redis,
        *,
        on_unavailable: StorePolicy = "local",
        wait: float = DEFAULT_WAIT,
        recheck: float = DEFAULT_RECHECK,
        prefix: str = DEFAULT_PREFIX,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__(target, prefix=prefix, wait=wait, socket_timeout=socket_timeout, logger=logger)
        self.policy = check_policy(on_unavailable)
        self._recheck = recheck
        self._reserve = self._redis.register_script(_RESERVE)
        self._saturate = self._redis.register_script(_SATURATE)
        self._set_operating = self._redis.register_script(_SET_OPERATING)
        self._local = InMemoryLimiterStore()
        self._state_lock = threading.Lock()
        #: While Redis is unavailable: when to try it next (monotonic), and the local buckets started full.
        self._down_until: float | None = None
        self._filled: set[str] = set()
        self._lost = False  # Redis failed since the last success: a bucket it lost is assumed full
        #: Decisions taken from the local state because Redis was unavailable (for tests and stats).
        self.fallbacks = 0
        forksafe.register(self)

    def after_fork_in_child(self) -> None:
        """Fresh locks and fall-back state in a forked child (redis-py opens new connections by itself)."""
        self._state_lock = threading.Lock()
        self._local = InMemoryLimiterStore()
        self._filled = set()

    # -- the policy --------------------------------------------------------------------------------------
    def _degraded(self) -> bool:
        with self._state_lock:
            return self._down_until is not None and time.monotonic() < self._down_until

    def _failed(self, exc: BaseException) -> None:
        with self._state_lock:
            first = self._down_until is None
            self._down_until = time.monotonic() + self._recheck
            self._lost = True
        if first:
            self._log.warning(
                "b24crm: limiter store %s unavailable (%s); %s",
                self._where,
                type(exc).__name__,
                {
                    "local": "using this process's own bucket (started full) until it answers",
                    "wait": f"retrying for up to {self._wait:.1f}s per call",
                    "error": "calls fail with StoreUnavailableError",
                }[self.policy],
            )

    def _recovered(self) -> None:
        with self._state_lock:
            was_down = self._down_until is not None
            self._down_until = None
            self._filled.clear()
            self._lost = False
        if was_down:
            self._log.info("b24crm: limiter store %s answers again; limits are shared again", self._where)

    def _decide(self, action: Callable[[], _T], local: Callable[[], _T], what: str) -> _T:
        """A decision taken before sending: Redis, or the policy when Redis does not answer."""
        if self.policy == "local" and self._degraded():
            self.fallbacks += 1
            return local()
        try:
            result = action()
        except self._errors as exc:
            self._failed(exc)
            if self.policy == "error":
                raise StoreUnavailableError(self._where, f"{what} failed ({type(exc).__name__})") from None
            if self.policy == "wait":
                result = self._retrying(action, what)
            else:
                self.fallbacks += 1
                return local()
        self._recovered()
        return result

    def _after_answer(self, action: Callable[[], object], local: Callable[[], object]) -> None:
        """An update after the portal answered: never raises, the local state takes it when Redis cannot."""
        if not self._degraded():
            try:
                action()
                self._recovered()
                return
            except self._errors as exc:
                self._failed(exc)
        local()

    def _key(self, key: str) -> str:
        return self._prefix + key

    # -- LimiterStore --------------------------------------------------------------------------------------
    def reserve(self, key: str, burst: int, rate: float, now: float) -> float:
        """``now`` is ignored for the shared bucket (Redis' clock decides); the local fall-back uses it."""

        def shared() -> float:
            start_full = "1" if self._lost else "0"
            return float(self._reserve(keys=[self._key(key)], args=[burst, repr(float(rate)), start_full]))

        def local() -> float:
            with self._state_lock:
                fill = key not in self._filled
                self._filled.add(key)
            if fill:  # no burst on the way to the fall-back: the other workers may have filled the bucket
                self._local.saturate(key, burst, rate, now)
            return self._local.reserve(key, burst, rate, now)

        return self._decide(shared, local, "reserving a request slot")

    def saturate(self, key: str, burst: int, rate: float, now: float) -> None:
        self._after_answer(
            lambda: self._saturate(keys=[self._key(key)], args=[burst, repr(float(rate))]),
            lambda: self._local.saturate(key, burst, rate, now),
        )

    def get_operating(self, key: str) -> OperatingState | None:
        def shared() -> OperatingState | None:
            values = self._redis.hmget(self._key(key), ["operating", "reset_at", "blocked_until"])
            return _operating_state(values)

        return self._decide(shared, lambda: self._local.get_operating(key), "reading the operating time")

    def set_operating(self, key: str, state: OperatingState) -> None:
        args: list[str] = [
            repr(state.operating),
            "" if state.reset_at is None else repr(state.reset_at),
            "" if state.blocked_until is None else repr(state.blocked_until),
            str(OPERATING_WINDOW_SECONDS),
        ]
        self._after_answer(
            lambda: self._set_operating(keys=[self._key(key)], args=args),
            lambda: self._local.set_operating(key, state),
        )


def _operating_state(values: list[Any]) -> OperatingState | None:
    operating, reset_at, blocked = (None if v is None else float(v) for v in values)
    if operating is None:
        return None
    return OperatingState(operating, reset_at, blocked)


class RedisTokenStore(_RedisBase):
    """One app's token pair on one portal, shared through Redis; ``key`` names them (the client uses
    ``<portal host>:<client_id>``)."""

    def __init__(
        self,
        target: str | redis.Redis,
        *,
        key: str,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        wait: float = DEFAULT_WAIT,
        prefix: str = DEFAULT_PREFIX,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__(target, prefix=prefix, wait=wait, socket_timeout=socket_timeout, logger=logger)
        self._data_key = f"{prefix}tokens:{key}"
        self._lock_key = f"{prefix}tokens-lock:{key}"
        self._lock_timeout = lock_timeout
        self._cas = self._redis.register_script(_COMPARE_AND_SAVE)
        self._unlock = self._redis.register_script(_UNLOCK)

    def load(self) -> Tokens | None:
        raw = self._retrying(lambda: self._redis.hget(self._data_key, "json"), "loading the tokens")
        if raw is None:
            return None
        return tokens_from_json(raw, f"{self._where} key {self._data_key}")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the refresh lock; it expires after ``lock_timeout`` seconds even if this process dies."""
        owner = secrets.token_hex(16)
        ttl_ms = max(1, int(self._lock_timeout * 1000))
        deadline = time.monotonic() + self._lock_timeout + 1.0  # by then any holder's lock has expired
        while True:
            taken = self._retrying(
                lambda: self._redis.set(self._lock_key, owner, nx=True, px=ttl_ms), "taking the token lock"
            )
            if taken:
                break
            if time.monotonic() >= deadline:
                raise StoreUnavailableError(self._where, f"the token lock was not released in {self._lock_timeout}s")
            time.sleep(0.01)
        try:
            yield
        finally:
            with contextlib.suppress(*self._errors):  # it expires on its own
                self._unlock(keys=[self._lock_key], args=[owner])

    def compare_and_save(self, expected_refresh_token: str | None, tokens: Tokens) -> bool:
        args = [expected_refresh_token or "", tokens.refresh_token, tokens_to_json(tokens)]
        saved = self._retrying(lambda: self._cas(keys=[self._data_key], args=args), "saving the tokens")
        return bool(saved)
