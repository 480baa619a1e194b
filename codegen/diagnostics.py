"""Spec problems are collected as values, with their location, and reported together in one failure."""

from __future__ import annotations

from collections.abc import Iterable

import attrs


@attrs.frozen(order=True)
class Diagnostic:
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class SpecError(Exception):
    """The spec is invalid; ``diagnostics`` lists every problem found, sorted by location."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = tuple(sorted(set(diagnostics)))
        lines = "\n".join(f"  {d}" for d in self.diagnostics)
        super().__init__(f"the spec has {len(self.diagnostics)} problem(s):\n{lines}")
