"""Small shared types: the UNSET sentinel, per-call options and the typed token of a result type."""

from __future__ import annotations

import enum
from typing import Any, Final, Generic, Literal, TypeVar

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

T = TypeVar("T")


class Decoded(Generic[T]):
    """What a call's result decodes into, as a value the type checker follows: ``Decoded[list[Status]]``.

    Generated methods pass one to the invoker, so ``invoke(method, params, Decoded[X](X), …)`` returns an
    ``X`` without a ``cast``; ``type`` is what the converter structures the wire value into (a model, a
    ``list[...]``, a union with an enum).
    """

    __slots__ = ("type",)

    def __init__(self, type_: Any) -> None:
        self.type = type_

    def __repr__(self) -> str:
        return f"Decoded({self.type!r})"


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
