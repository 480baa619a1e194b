"""The error hierarchy. Generated per-row classes (``b24crm.errors``) subclass the grouping bases here.

Catch ``B24Error`` for everything, a grouping base (``RateLimited``, ``NotFound`` …) for a kind of failure,
or a generated class for one documented error row. Messages never contain webhook codes or tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import attrs

if TYPE_CHECKING:
    from b24crm.runtime.spec import ErrorRow

#: The portal rejected the call for the request rate: it did not run, any method may be repeated.
QUERY_LIMIT_EXCEEDED = "QUERY_LIMIT_EXCEEDED"
#: The method's operating-time budget is spent: it did not run; wait for ``operating_reset_at``.
OPERATION_TIME_LIMIT = "OPERATION_TIME_LIMIT"
#: Codes after which an OAuth client refreshes its token once and re-sends.
TOKEN_REFRESH_CODES = frozenset({"expired_token", "invalid_token"})
#: Codes that are never worth repeating, whatever their HTTP status (manual blocks, deleted portal).
_PERMANENT_CODES = frozenset({"OVERLOAD_LIMIT", "PORTAL_DELETED", "METHOD_CONFIRM_DENIED"})


class B24Error(Exception):
    """Root of every error b24crm raises."""


class APIError(B24Error):
    """The portal answered with an error body (``{"error": …, "error_description": …}``)."""

    #: What the spec row says the wire carries; set on generated subclasses.
    wire_code: ClassVar[str] = ""
    wire_message: ClassVar[str] = ""
    wire_status: ClassVar[int] = 0
    meaning: ClassVar[str] = ""
    #: Whether the portal refused before running the call (so any method may be retried).
    rejected_before_running: ClassVar[bool] = False

    def __init__(self, method: str, code: str, description: str, http_status: int) -> None:
        self.method = method
        self.code = code
        self.description = description
        self.http_status = http_status
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
        return (type(self), (self.method, self.code, self.description, self.http_status))

    @property
    def retry_any_method(self) -> bool:
        """The portal refused before running the call for a transient reason: safe to repeat any method."""
        return self.code in (QUERY_LIMIT_EXCEEDED, OPERATION_TIME_LIMIT)

    @property
    def may_have_run(self) -> bool:
        """A 5xx: the portal failed somewhere while handling it, so a write may have been applied."""
        return self.http_status >= 500 and not self.rejected_before_running and not self.retry_any_method

    @property
    def retry_if_idempotent(self) -> bool:
        """A server-side failure that repeating an idempotent call may get past."""
        return self.may_have_run and self.code not in _PERMANENT_CODES


class RateLimited(APIError):
    """The portal refused the call because of a request-rate or operating-time limit."""

    rejected_before_running = True


class AuthError(APIError):
    """Authentication failed: bad webhook code, missing, expired or invalid token."""

    rejected_before_running = True


class AccessDenied(APIError):
    """Authenticated, but not allowed: scope, plan or CRM permissions."""


class NotFound(APIError):
    """The method or the addressed record does not exist."""


class InvalidParams(APIError):
    """The portal rejected the parameters."""


class ServerError(APIError):
    """The portal failed while handling the call (5xx, ERROR_CORE, manual block)."""


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


class BatchError(B24Error):
    """A batch cannot be sent as built (a reference across chunks, a method not allowed in batch)."""


class BatchCommandSkipped(B24Error):
    """A batch command did not run: ``halt=True`` stopped the batch at an earlier failure."""

    def __init__(self, method: str, key: str) -> None:
        self.method = method
        self.key = key
        super().__init__(f"{method}: batch command {key!r} was not executed (halted at an earlier failure)")


# --- mapping a wire error to a class -------------------------------------------------------------------

#: Well-known codes, for when neither the method's nor the system rows name the code.
_CODE_BASES: dict[str, type[APIError]] = {
    QUERY_LIMIT_EXCEEDED: RateLimited,
    OPERATION_TIME_LIMIT: RateLimited,
    "expired_token": AuthError,
    "invalid_token": AuthError,
    "NO_AUTH_FOUND": AuthError,
    "INVALID_CREDENTIALS": AuthError,
    "authorization_error": AuthError,
    "APPLICATION_NOT_FOUND": AuthError,
    "invalid_grant": AuthError,
    "invalid_client": AuthError,
    "insufficient_scope": AccessDenied,
    "user_access_error": AccessDenied,
    "ACCESS_DENIED": AccessDenied,
    "PORTAL_DELETED": AccessDenied,
    "ERROR_METHOD_NOT_FOUND": NotFound,
    "NOT_FOUND": NotFound,
    "ERROR_ARGUMENT": InvalidParams,
    "INVALID_ARG_VALUE": InvalidParams,
    "INVALID_REQUEST": InvalidParams,
    "OVERLOAD_LIMIT": RateLimited,
}


def _status_base(status: int) -> type[APIError]:
    if status == 401:
        return AuthError
    if status == 403:
        return AccessDenied
    if status == 404:
        return NotFound
    if status == 429:
        return RateLimited
    if status >= 500:
        return ServerError
    if 400 <= status < 500:
        return InvalidParams
    return APIError


def _norm(text: str) -> str:
    return " ".join(text.split()).rstrip(".!").casefold()


def _pick(rows: Sequence[ErrorRow], code: str, description: str, status: int) -> ErrorRow | None:
    """The best row for this wire error: by code (message when code is empty), then by status to break ties."""
    wanted = _norm(description)
    if code:
        folded = code.casefold()
        candidates = [r for r in rows if r.code and r.code.casefold() == folded]
        if len(candidates) > 1:  # one code, several documented messages (ERROR_CORE …)
            by_text = [r for r in candidates if _norm(r.message) == wanted]
            candidates = by_text or [r for r in candidates if not r.message] or candidates
    else:  # rows documented with code "" or the D7 default "0" are both matched by their message
        candidates = [r for r in rows if r.code in ("", "0") and r.message and _norm(r.message) == wanted]
        if not candidates and wanted:  # "Access denied! <suffix>": the documented text is a prefix
            candidates = [
                r for r in rows if r.code in ("", "0") and r.message and wanted.startswith(_norm(r.message))
            ]
    if len(candidates) > 1:
        candidates = [r for r in candidates if r.status == status] or candidates
    return candidates[0] if candidates else None


def error_from_wire(
    method: str,
    code: object,
    description: object,
    http_status: int,
    *,
    method_rows: Sequence[ErrorRow] = (),
    system_rows: Sequence[ErrorRow] = (),
) -> APIError:
    """Build the most specific error for a wire error body.

    Order: the method's documented rows, then the system rows (by code; by message when the code is empty
    or the D7 default ``"0"``), then well-known codes, then the HTTP status (401 → AuthError, 403 →
    AccessDenied, 404 → NotFound, 429 → RateLimited, 5xx → ServerError, other 4xx → InvalidParams).
    Bitrix sends 503 both for the rate limit and for real outages, so the code always wins over the status.
    """
    code_text = "" if code is None else str(code)
    desc_text = "" if description is None else str(description)
    lookup = "" if code_text == "0" else code_text
    for rows in (method_rows, system_rows):
        row = _pick(rows, lookup, desc_text, http_status)
        if row is not None:
            return row.error_class(method, code_text, desc_text, http_status)
    base = _CODE_BASES.get(lookup) or _CODE_BASES.get(lookup.upper()) or _status_base(http_status)
    return base(method, code_text, desc_text, http_status)
