"""Small shared types: the UNSET sentinel and per-call options."""

from __future__ import annotations

import enum
from typing import Final, Literal

import attrs


class Unset(enum.Enum):
    """Marks a request parameter or field that was not given, as distinct from ``None`` (sent as null).

    Only request-side signatures use it; response models use ``None`` for "absent or null".
    """

    UNSET = "UNSET"

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET


@attrs.frozen
class RequestOptions:
    """Per-call overrides of the client's settings."""

    #: Seconds: one number for both connect and read, or ``(connect, read)``.
    timeout: float | tuple[float, float] | None = None
    #: Attempts in total for this call (1 = no retry).
    max_attempts: int | None = None
    #: Seconds one HTTP request of this call may take, from sending to the last byte of the answer (each
    #: attempt and the re-send after a portal move or token refresh has its own); None: the client's.
    deadline: float | None = None
