"""What a user types for ``limiter_store=`` / ``token_store=`` (a URL, a path, an object) → a store object.

Kept apart from the stores themselves so that choosing ``redis://`` is the only thing that imports redis-py.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
from typing import Literal

from b24crm.runtime.ratelimit import InMemoryLimiterStore, LimiterStore
from b24crm.runtime.tokens import FileTokenStore, TokenStore

__all__ = [
    "LimiterStoreSetting",
    "StorePolicy",
    "TokenStoreSetting",
    "check_policy",
    "resolve_limiter_store",
    "resolve_token_store",
]

#: What a shared limiter store does when it does not answer (README, "Running several workers").
StorePolicy = Literal["local", "wait", "error"]
POLICIES: tuple[StorePolicy, ...] = ("local", "wait", "error")
#: How long ``"wait"`` (and a Redis token store, always) keeps retrying an unavailable store.
DEFAULT_WAIT = 5.0

LimiterStoreSetting = LimiterStore | str | None
TokenStoreSetting = TokenStore | str | os.PathLike[str] | None

_REDIS_SCHEMES = ("redis", "rediss", "unix")


def check_policy(policy: str) -> StorePolicy:
    """The policy named by ``policy``, or a ValueError listing the choices."""
    for known in POLICIES:
        if policy == known:
            return known
    raise ValueError(f"on_store_unavailable must be one of {', '.join(POLICIES)}, not {policy!r}")


def _scheme(text: str) -> str:
    return urllib.parse.urlsplit(text).scheme.lower() if "://" in text else ""


def resolve_limiter_store(
    setting: LimiterStoreSetting, *, on_unavailable: str, wait: float, logger: logging.Logger
) -> LimiterStore:
    """None or ``"memory"`` → this process's own store; ``redis://…`` → a shared ``RedisLimiterStore``."""
    policy = check_policy(on_unavailable)
    if setting is None or setting == "memory":
        return InMemoryLimiterStore()
    if not isinstance(setting, str):
        return setting
    if _scheme(setting) in _REDIS_SCHEMES:
        from b24crm.runtime.redis_store import RedisLimiterStore

        return RedisLimiterStore(setting, on_unavailable=policy, wait=wait, logger=logger)
    raise ValueError(
        f"limiter_store must be 'memory', a redis://, rediss:// or unix:// URL, or a LimiterStore, "
        f"not a {_scheme(setting) or 'plain'} string"
    )


def resolve_token_store(
    setting: TokenStoreSetting, *, key: str, wait: float, logger: logging.Logger
) -> TokenStore | None:
    """None → none; ``redis://…`` → ``RedisTokenStore`` under ``key``; ``file://…`` or a path → ``FileTokenStore``."""
    if setting is None:
        return None
    if isinstance(setting, os.PathLike):
        return FileTokenStore(setting)
    if not isinstance(setting, str):
        return setting
    scheme = _scheme(setting)
    if scheme in _REDIS_SCHEMES:
        from b24crm.runtime.redis_store import RedisTokenStore

        return RedisTokenStore(setting, key=key, wait=wait, logger=logger)
    if scheme == "file":
        parts = urllib.parse.urlsplit(setting)
        return FileTokenStore(urllib.parse.unquote(parts.netloc + parts.path))
    if scheme:
        raise ValueError(f"token_store must be a redis:// or file:// URL, a path or a TokenStore, not {scheme}://")
    if not setting.strip():
        raise ValueError("token_store must not be an empty path")
    return FileTokenStore(setting)
