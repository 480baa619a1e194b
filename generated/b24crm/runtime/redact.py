"""Keeps webhook codes, tokens and client secrets out of every string b24crm produces.

Secrets reach text in many ways: a URL inside a urllib3 exception, an ``auth`` key in a logged body, a
user's pasted webhook URL in a ``ValueError``. Instead of trusting each call site, every log line, error
message and repr goes through one ``Redactor``, which knows the client's exact secret values (and keeps the
old ones after a token refresh) and also masks the well-known shapes by pattern.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

from b24crm.runtime import forksafe

MASK = "***"

#: Shapes that carry a secret whatever its value: a webhook path, and auth / token / secret parameters.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(/rest/[^/\s?#]+/)[^/\s?#\"']+"), r"\1" + MASK),
    (
        re.compile(
            r"""((?:["']?)(?:auth|access_token|refresh_token|client_secret)(?:["']?)\s*[=:]\s*["']?)"""
            r"""[^&\s"',}]+""",
            re.IGNORECASE,
        ),
        r"\1" + MASK,
    ),
    (re.compile(r"(Bearer\s+)\S+", re.IGNORECASE), r"\1" + MASK),
)

#: Secrets shorter than this are not replaced verbatim (they would mask ordinary words or numbers).
_MIN_SECRET_LEN = 4


class Redactor:
    """Replaces known secret values and secret-shaped substrings with ``***``; thread-safe."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        self.add(*secrets)
        forksafe.register(self)

    def after_fork_in_child(self) -> None:
        """A fresh lock: another parent thread may have held this one at the fork (see ``forksafe``)."""
        self._lock = threading.Lock()

    def add(self, *secrets: str) -> None:
        """Remember more secret values (old tokens stay: they may still sit in earlier strings)."""
        fresh = [s for s in secrets if s and len(s) >= _MIN_SECRET_LEN]
        if not fresh:
            return
        with self._lock:
            merged = set(self._secrets).union(fresh)
            self._secrets = tuple(sorted(merged, key=len, reverse=True))  # longest first: no partial leaks

    def __call__(self, text: str) -> str:
        return self.redact(text)

    def redact(self, text: str) -> str:
        """``text`` with every known secret and every secret-shaped value masked."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
        return text

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secret(s))"


def redact(text: str) -> str:
    """Pattern-only redaction, for text produced before any client exists (e.g. URL parsing)."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def excerpt(text: str, limit: int = 120) -> str:
    """A short single-line excerpt of a body for error messages."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
