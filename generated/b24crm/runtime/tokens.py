"""Where an OAuth app's tokens live when several processes use them: the token-store hook.

Bitrix24 rotates the refresh token on every refresh and refuses the old one (``invalid_grant``). Processes
that each refresh on their own therefore de-authorize each other. With a ``TokenStore`` the refresh happens
once per expiry across every process that shares the store: ``OAuthAuth.refresh`` takes the store's lock,
reloads the stored pair, and either adopts a pair another process already refreshed or refreshes itself and
saves the result with ``compare_and_save``. A process that still meets ``invalid_grant`` (its lock expired
while another process refreshed) reloads the store and retries once.

``FileTokenStore`` serves the processes of one host (a JSON file plus an ``flock`` lock; POSIX only);
``b24crm.runtime.redis_store.RedisTokenStore`` serves several hosts. Both implement the same protocol, and
so can a user's own store (a database row, a secrets manager).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from b24crm.runtime import forksafe
from b24crm.runtime.auth import Tokens
from b24crm.runtime.errors import StoreUnavailableError

__all__ = ["FileTokenStore", "TokenStore", "tokens_from_json", "tokens_to_json"]

#: How long a process waits for another one's refresh (the holder's lock) before giving up.
DEFAULT_LOCK_TIMEOUT = 30.0


@runtime_checkable
class TokenStore(Protocol):
    """Shared storage for one app's token pair on one portal.

    ``lock()`` is exclusive across every process using the store and bounded in time (a crashed holder
    cannot block the rest for ever); ``compare_and_save`` is atomic on its own, and may also be called
    while holding ``lock()``.
    """

    def load(self) -> Tokens | None:
        """The stored pair, or None when the store is empty."""
        ...

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold the refresh lock; raises ``StoreUnavailableError`` when it cannot be had in time."""
        ...

    def compare_and_save(self, expected_refresh_token: str | None, tokens: Tokens) -> bool:
        """Save ``tokens`` if the stored refresh token is ``expected_refresh_token`` (None: the store is
        empty); False, saving nothing, when another process changed the store meanwhile."""
        ...


def tokens_to_json(tokens: Tokens) -> str:
    """The stored form: the pair, its expiry and the token server's whole answer."""
    return json.dumps(
        {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": tokens.expires_at,
            "raw": dict(tokens.raw),
        },
        separators=(",", ":"),
    )


def tokens_from_json(text: str | bytes, where: str) -> Tokens:
    """Parse the stored form; a clear error naming ``where`` (never the content: it holds the secrets)."""
    try:
        data: Any = json.loads(text)
        access, refresh = data["access_token"], data["refresh_token"]
        expires = data.get("expires_at")
        raw = data.get("raw") or {}
        if not (isinstance(access, str) and isinstance(refresh, str) and access and refresh):
            raise TypeError("tokens must be non-empty strings")
        if not isinstance(raw, dict):
            raise TypeError("raw must be an object")
        return Tokens(access, refresh, None if expires is None else float(expires), raw)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise StoreUnavailableError(where, f"holds no valid b24crm token pair ({type(exc).__name__})") from None


class FileTokenStore:
    """Tokens in a JSON file (mode 0600), shared by the processes of one host.

    The lock is an ``flock`` on ``<path>.lock``: the kernel releases it when the holder exits or crashes,
    so no stale lock can outlive a process. Writes go to a temporary file that replaces the old one, so a
    reader never sees half a file.
    """

    def __init__(self, path: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_timeout = lock_timeout
        # flock is per open file: a reentrant thread lock plus a depth count lets compare_and_save run both
        # alone and inside lock(), and keeps this process's threads from contending through the kernel.
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        forksafe.register(self)

    def after_fork_in_child(self) -> None:
        """A fresh thread lock, and no claim on a file lock a parent thread held at the fork (the parent
        still holds it through its own descriptor)."""
        if self._fd is not None:
            os.close(self._fd)
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd = None

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    def load(self) -> Tokens | None:
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreUnavailableError(f"token file {self.path}", f"cannot be read ({exc.strerror})") from None
        return tokens_from_json(text, f"token file {self.path}")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        if not self._thread_lock.acquire(timeout=self._lock_timeout):
            raise StoreUnavailableError(f"token file {self.path}", "its lock is held by another thread for too long")
        try:
            if self._depth == 0:
                self._fd = self._take_flock()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    import fcntl

                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                    os.close(self._fd)
                    self._fd = None
        finally:
            self._thread_lock.release()

    def _take_flock(self) -> int:
        try:
            import fcntl  # POSIX; imported here so that importing b24crm works everywhere
        except ImportError:
            raise StoreUnavailableError(f"token file {self.path}", "file locks need a POSIX system") from None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self._lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK) or time.monotonic() >= deadline:
                    os.close(fd)
                    raise StoreUnavailableError(
                        f"token file {self.path}", f"its lock {self._lock_path} was not released in time"
                    ) from None
            time.sleep(0.01)

    def compare_and_save(self, expected_refresh_token: str | None, tokens: Tokens) -> bool:
        with self.lock():
            current = self.load()
            if (current.refresh_token if current is not None else None) != expected_refresh_token:
                return False
            self._write(tokens_to_json(tokens))
            return True

    def _write(self, text: str) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
