"""The error hierarchy. Generated per-row classes (``b24crm.errors``) subclass the grouping bases here.

Catch ``B24Error`` for everything, a grouping base (``RateLimited``, ``NotFound`` …) for a kind of failure,
or a generated class for one documented error row. Messages never contain webhook codes or tokens.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import ClassVar

import attrs

from b24crm.runtime.spec import ErrorKind

#: The kind of an error nothing documents, by its HTTP status: the fallback of ``error_from_wire``.
_STATUS_KINDS = ((401, "auth"), (403, "access_denied"), (404, "not_found"), (408, "throttled"), (429, "throttled"))
#: Answers to a call that no row documents and no status explains (an error body on a 200).
_UNKNOWN = ErrorKind("unknown", "APIError", may_have_run=False, retry="never", meaning="")


class B24Error(Exception):
    """Root of every error b24crm raises."""


class APIError(B24Error):
    """The portal answered with an error body (``{"error": …, "error_description": …}``).

    What the error means for a caller — whether the call may have run, whether and how it is repeated —
    is its ``kind``: a row of the spec's ``x-b24-error-kinds`` table, set on every generated class and
    chosen by HTTP status for errors no row documents. The same code means the same wherever it arrives,
    in a plain call or inside a batch.
    """

    #: What the spec row says the wire carries; set on generated subclasses.
    wire_code: ClassVar[str] = ""
    wire_message: ClassVar[str] = ""
    wire_status: ClassVar[int] = 0
    meaning: ClassVar[str] = ""
    kind: ErrorKind = _UNKNOWN
    #: The kind a grouping base stands for when it is built directly, without a documented row.
    _base_kind: ClassVar[str] = ""

    def __init__(
        self, method: str, code: str, description: str, http_status: int, *, kind: ErrorKind | None = None
    ) -> None:
        self.method = method
        self.code = code
        self.description = description
        self.http_status = http_status
        if kind is not None:
            self.kind = kind
        elif self.kind is _UNKNOWN:  # a grouping base built directly: the base, else the status, says what
            kinds = _registry_tables()[1]
            name = self._base_kind
            if name == "transient" and http_status < 500:
                name = "failed"
            self.kind = kinds[name] if name else status_kind(http_status, kinds)
        super().__init__(self._text())

    def _text(self) -> str:
        label = self.code or "error"
        text = f"{self.method}: {label} (HTTP {self.http_status})"
        if self.description and self.description != self.code:
            text += f": {self.description}"
        if self.meaning:
            text += f" — {self.meaning}"
        return text

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.method, self.code, self.description, self.http_status, self.kind))

    @property
    def may_have_run(self) -> bool:
        """Whether the portal may have applied the call before answering with this error."""
        return self.kind.may_have_run

    @property
    def retry_any_method(self) -> bool:
        """The portal refused before running the call for a passing reason: any method may be repeated."""
        return self.kind.retry in ("backoff", "reset")

    @property
    def retry_if_idempotent(self) -> bool:
        """A server-side failure that repeating an idempotent call may get past."""
        return self.kind.retry == "idempotent"


def _rebuild(cls: type[APIError], method: str, code: str, description: str, status: int, kind: ErrorKind) -> APIError:
    return cls(method, code, description, status, kind=kind)


class RateLimited(APIError):
    """The portal refused the call because of a request-rate or operating-time limit."""

    _base_kind = "throttled"


class AuthError(APIError):
    """Authentication failed: bad webhook code, missing, expired or invalid token."""

    _base_kind = "auth"


class AccessDenied(APIError):
    """Authenticated, but not allowed: scope, plan or CRM permissions."""

    _base_kind = "access_denied"


class Blocked(AccessDenied):
    """The portal refuses the application or the REST API as a whole until someone acts on it."""

    _base_kind = "blocked"


class NotFound(APIError):
    """The method or the addressed record does not exist."""

    _base_kind = "not_found"


class InvalidParams(APIError):
    """The portal rejected the parameters."""

    _base_kind = "invalid_params"


class ServerError(APIError):
    """The portal failed while handling the call (5xx, ERROR_CORE) or reports that it could not do it."""

    _base_kind = "transient"


#: The grouping bases by name, as ``x-b24-error-kinds`` names them.
BASES: Mapping[str, type[APIError]] = {
    cls.__name__: cls
    for cls in (APIError, RateLimited, AuthError, AccessDenied, Blocked, NotFound, InvalidParams, ServerError)
}


@attrs.frozen
class Problem:
    """One reason a request is invalid, named by its wire path (``fields.STATUS_ID``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<params>'}: {self.message}"


class RequestValidationError(B24Error, ValueError):
    """Parameters break the spec; nothing was sent. ``problems`` lists every one of them."""

    def __init__(self, method: str, problems: Sequence[Problem]) -> None:
        self.method = method
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{method}: {len(self.problems)} invalid parameter(s), nothing was sent:\n{lines}")


class ResponseDecodeError(B24Error):
    """The response could not be read: not JSON, truncated, or not the shape the spec declares."""

    def __init__(self, method: str, message: str, http_status: int | None = None, excerpt: str = "") -> None:
        self.method = method
        self.http_status = http_status
        self.excerpt = excerpt
        text = f"{method}: {message}"
        if http_status is not None:
            text += f" (HTTP {http_status})"
        if excerpt:
            text += f"; body starts: {excerpt!r}"
        super().__init__(text)

    @property
    def may_have_run(self) -> bool:
        """True unless the answer was a 4xx page: a proxy's HTML 5xx or a 2xx body cut short (or one of the
        wrong shape) may follow a write the portal applied, so a write must be checked before repeating it."""
        status = self.http_status
        return status is None or status >= 500 or 200 <= status < 300


class ResponseTooLarge(ResponseDecodeError):
    """The body passed the client's ``max_response_bytes`` (counted after inflating a compressed body), so it
    was not read to the end.

    A ResponseDecodeError rather than a TransportError: the exchange worked and the portal answered (after a
    2xx it ran the call, ``may_have_run`` says so), but the answer cannot be used, like a body that is not
    JSON. Unlike a truncated body it is never retried: the same call brings the same answer.
    """

    def __init__(self, method: str, message: str, http_status: int | None = None, *, limit: int = 0) -> None:
        super().__init__(method, message, http_status)
        self.limit = limit
        self._message = message

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_too_large, (self.method, self._message, self.http_status, self.limit))


def _rebuild_too_large(method: str, message: str, http_status: int | None, limit: int) -> ResponseTooLarge:
    return ResponseTooLarge(method, message, http_status, limit=limit)


class TransportError(B24Error):
    """The call did not complete at the HTTP level (connect failure, timeout, reset, bad TLS).

    ``may_have_run`` is True when the request may have reached the portal: a non-idempotent write may
    have been applied, so it was not retried and the caller must check before repeating it.
    """

    def __init__(self, method: str, message: str, *, may_have_run: bool) -> None:
        self.method = method
        self.may_have_run = may_have_run
        suffix = " The request may have been executed by the portal." if may_have_run else ""
        super().__init__(f"{method}: {message}.{suffix}")


class StoreUnavailableError(B24Error):
    """A shared store (the Redis limiter or token store, a token file's lock) could not be used in time.

    Raised before the call runs, so ``may_have_run`` is always False and any call may be repeated once
    the store is back. Which store failures raise it and which fall back is the client's
    ``on_store_unavailable`` option (README, "Running several workers").
    """

    may_have_run = False

    def __init__(self, store: str, message: str) -> None:
        self.store = store
        super().__init__(f"{store}: {message}; the call did not run")


class BatchError(B24Error):
    """A batch cannot be sent as built (a reference across chunks, a method not allowed in batch)."""


class BatchCommandSkipped(B24Error):
    """A batch command did not run: ``halt=True`` stopped the batch at an earlier failure."""

    def __init__(self, method: str, key: str) -> None:
        self.method = method
        self.key = key
        super().__init__(f"{method}: batch command {key!r} was not executed (halted at an earlier failure)")


# --- mapping a wire error to a class -------------------------------------------------------------------


def status_kind(status: int, kinds: Mapping[str, ErrorKind]) -> ErrorKind:
    """The kind of an error no row documents, from its HTTP status (5xx: transient; other 4xx: invalid)."""
    for code, name in _STATUS_KINDS:
        if status == code:
            return kinds[name]
    if status >= 500:
        return kinds["transient"]
    if 400 <= status < 500:
        return kinds["invalid_params"]
    return _UNKNOWN


def _norm(text: str) -> str:
    return " ".join(text.split()).rstrip(".!").casefold()


#: ``{type}`` or ``<field>`` in a documented message: the server puts a value there.
_PLACEHOLDER = re.compile(r"\\\{[A-Za-z_]+\\\}|<[A-Za-z_]+>")


@functools.lru_cache(maxsize=4096)
def _pattern(message: str) -> re.Pattern[str]:
    """A documented message as a pattern: its placeholders match any text."""
    escaped = re.escape(_norm(message))
    return re.compile(_PLACEHOLDER.sub(".+", escaped.replace("\\<", "<").replace("\\>", ">")) + r"\Z")


def _same_text(message: str, wanted: str) -> bool:
    """Whether a wire text (normalised) is the documented ``message``, placeholders filled in."""
    return bool(message) and (_norm(message) == wanted or _pattern(message).match(wanted) is not None)


def _pick(
    rows: Sequence[type[APIError]], code: str, description: str, status: int, *, lenient: bool = False
) -> type[APIError] | None:
    """The best row for this wire error: by code (message when code is empty), then by status to break ties.

    ``lenient``: when several rows share the code and neither text nor status picks one, take the first if
    they all mean the same (one kind), since the meaning is what the caller acts on.
    """
    wanted = _norm(description)
    if code:
        folded = code.casefold()
        candidates = [r for r in rows if r.wire_code and r.wire_code.casefold() == folded]
        if len(candidates) > 1:  # one code, several documented rows (ERROR_CORE …): the text decides, else
            by_text = [r for r in candidates if _same_text(r.wire_message, wanted)]  # the status, else a
            by_status = [r for r in candidates if r.wire_status == status]  # catch-all row without text,
            blank = [r for r in candidates if not r.wire_message]  # else none of them (the status decides)
            same = len({r.kind.name for r in candidates}) == 1
            candidates = by_text or by_status or blank or (candidates[:1] if lenient and same else [])
    else:  # rows documented with code "" or the D7 default "0" are both matched by their message
        candidates = [r for r in rows if r.wire_code in ("", "0") and _same_text(r.wire_message, wanted)]
        if not candidates and wanted:  # "Access denied! <suffix>": the documented text is a prefix
            candidates = [
                r
                for r in rows
                if r.wire_code in ("", "0") and r.wire_message and wanted.startswith(_norm(r.wire_message))
            ]
    if len(candidates) > 1:
        candidates = [r for r in candidates if r.wire_status == status] or candidates
    return candidates[0] if candidates else None


def _registry_tables() -> tuple[Sequence[type[APIError]], Mapping[str, ErrorKind]]:
    from b24crm._registry import REGISTRY  # the spec's tables; imported late, the registry imports us

    return REGISTRY.system_errors, REGISTRY.kinds


def error_from_wire(
    method: str,
    code: object,
    description: object,
    http_status: int | None,
    *,
    method_rows: Sequence[type[APIError]] = (),
    system_rows: Sequence[type[APIError]] | None = None,
    kinds: Mapping[str, ErrorKind] | None = None,
) -> APIError:
    """Build the most specific error for a wire error body.

    Order: the method's documented rows, then the system rows (by code; by message when the code is empty
    or the D7 default ``"0"``), then the HTTP status (see ``status_kind``). Bitrix sends 503 both for the
    rate limit and for real outages, so the code always wins over the status. ``http_status`` is None for a
    batch command's error, which carries no status of its own: a documented row then gives its own status
    and meaning, exactly as outside a batch; an undocumented one is an invalid-parameters error (the
    portal ran the batch and answered the command).
    """
    if system_rows is None or kinds is None:
        default_rows, default_kinds = _registry_tables()
        system_rows = default_rows if system_rows is None else system_rows
        kinds = default_kinds if kinds is None else kinds
    code_text = "" if code is None else str(code)
    desc_text = "" if description is None else str(description)
    lookup = "" if code_text == "0" else code_text
    for rows, lenient in ((method_rows, False), (system_rows, False), (method_rows, True), (system_rows, True)):
        row = _pick(rows, lookup, desc_text, http_status if http_status is not None else 0, lenient=lenient)
        if row is not None:
            status = http_status if http_status is not None else row.wire_status
            return row(method, code_text, desc_text, status)
    status = http_status if http_status is not None else 400
    kind = status_kind(status, kinds)
    return BASES[kind.base](method, code_text, desc_text, status, kind=kind)
