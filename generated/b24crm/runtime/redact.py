"""Keeps webhook codes, tokens and client secrets out of every string b24crm produces.

Secrets reach text in many ways: a URL inside a urllib3 exception, an ``auth`` key in a logged body, a
user's pasted webhook URL in a ``ValueError``. Instead of trusting each call site, every log line, error
message and repr goes through one ``Redactor``, which knows the client's exact secret values (and keeps the
old ones after a token refresh) and also masks the well-known shapes by pattern.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
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


class LogRedactor(logging.Filter):
    """Masks secrets in every record of the loggers it guards, before any handler sees the record.

    urllib3 writes the request line (``"POST /rest/1/<code>/crm.status.list.json" 200``) at DEBUG and the URL
    in WARNING lines such as ``Failed to parse headers (url=...)``, each on its own module's logger; a
    failure may carry a traceback. The message, its traceback and stack are rewritten with the patterns and
    with the exact values of every live client's ``Redactor``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._redactors: weakref.WeakSet[Redactor] = weakref.WeakSet()

    def register(self, redactor: Redactor) -> None:
        """Also mask this client's exact secret values (held weakly: a closed client's redactor goes)."""
        self._redactors.add(redactor)

    def clean(self, text: str) -> str:
        text = redact(text)
        for redactor in list(self._redactors):
            text = redactor(text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is its author's problem; never break logging
            return True
        clean = self.clean(text)
        if clean != text:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[1] is not None:
            # Handlers format exc_text when it is set; without exc_info nothing re-renders the raw traceback.
            trace = record.exc_text or _FORMATTER.formatException(record.exc_info)
            clean_trace = self.clean(trace)
            if clean_trace != trace:
                record.exc_text, record.exc_info = clean_trace, None
        elif record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)
        return True


_FORMATTER = logging.Formatter()
#: The one filter; ``guard_logger`` puts it on a logger (idempotent).
LOG_REDACTOR = LogRedactor()


def guard_logger(logger: logging.Logger) -> None:
    """Redact every record logged on ``logger`` itself (filters do not apply to records of child loggers,
    so each module's logger is guarded by name)."""
    if LOG_REDACTOR not in logger.filters:
        logger.addFilter(LOG_REDACTOR)


guard_logger(logging.getLogger("b24crm"))  # the runtime's own logger, whatever client (if any) exists


def redact(text: str) -> str:
    """Pattern-only redaction, for text produced before any client exists (e.g. URL parsing)."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def excerpt(text: str, limit: int = 120) -> str:
    """A short single-line excerpt of a body for error messages."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
