"""Portal state: tables of rows in memory, optionally mirrored to SQLite (stdlib) so it survives restarts.

Why this shape: handlers read plain dicts (fast, simple), every write goes through :class:`Store` so the
SQLite mirror sees it, and the server calls :meth:`Store.commit` before it sends the response — so every
acknowledged write is durable (issue 6, "State"). Reads never touch SQLite after start-up.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

__all__ = ["StateFileInUseError", "Store"]


class StateFileInUseError(RuntimeError):
    """Another emulator holds this ``--state`` file: two writers would each acknowledge writes the other
    overwrites, so the second start is refused instead."""

    def __init__(self, path: Path, lock_path: Path, holder: str) -> None:
        by = f" by process {holder}" if holder else ""
        super().__init__(f"state file {path} is in use{by} (lock {lock_path}): stop that emulator or use another file")
        self.path = path
        self.lock_path = lock_path


def _lock(path: Path) -> int:
    """Take an exclusive ``flock`` on ``<state>.lock`` beside the state file, without waiting.

    Why a separate lock file: SQLite's own locks last one transaction, not an emulator's life. The lock is
    per open file, so a second emulator in the same process is refused too; it goes away with the process,
    so a crashed emulator never leaves the file locked. The lock file itself stays (deleting it would let
    two processes lock two different files of the same name).
    """
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip()
        os.close(fd)
        raise StateFileInUseError(path, lock_path, holder) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode("ascii"))
    return fd


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rows (tbl TEXT NOT NULL, id INTEGER NOT NULL, data TEXT NOT NULL,"
    " PRIMARY KEY (tbl, id))",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


class Store:
    """Row tables (``status``, ``lead``, ``contact``, ``company``, ``volatile``, ``history``) plus metadata."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.lock = threading.RLock()
        self._tables: dict[str, dict[int, dict[str, Any]]] = {}
        #: The highest ID ever put per table, so :meth:`insert` is O(1) (100,000 imported deals).
        self._top: dict[str, int] = {}
        self._meta: dict[str, Any] = {}
        self._db: sqlite3.Connection | None = None
        self._dirty = False
        self._lock_fd: int | None = None
        if path is not None:
            self._lock_fd = _lock(Path(path).absolute())
            try:
                self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level="DEFERRED")
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                for statement in _SCHEMA:
                    self._db.execute(statement)
                self._db.commit()
                self._load()
            except BaseException:  # an unreadable file: give the lock back before failing
                if self._db is not None:
                    self._db.close()
                    self._db = None
                os.close(self._lock_fd)
                self._lock_fd = None
                raise

    @property
    def persistent(self) -> bool:
        """Whether writes go to a SQLite file."""
        return self._db is not None

    def _load(self) -> None:
        assert self._db is not None
        for tbl, row_id, data in self._db.execute("SELECT tbl, id, data FROM rows"):
            self._tables.setdefault(tbl, {})[int(row_id)] = json.loads(data)
            self._top[tbl] = max(self._top.get(tbl, 0), int(row_id))
        for key, value in self._db.execute("SELECT key, value FROM meta"):
            self._meta[key] = json.loads(value)

    # -- rows -------------------------------------------------------------------------------------------
    def rows(self, table: str) -> dict[int, dict[str, Any]]:
        """All rows of ``table`` by ID (the live mapping: treat as read-only)."""
        return self._tables.setdefault(table, {})

    def get(self, table: str, row_id: int) -> dict[str, Any] | None:
        """One row or None."""
        return self._tables.get(table, {}).get(row_id)

    def top_id(self, table: str) -> int:
        """The highest ID ever put in ``table`` (0 for none): with the row count, a cheap change stamp."""
        return self._top.get(table, 0)

    def insert(self, table: str, row: dict[str, Any]) -> int:
        """Store ``row`` under the next ID of ``table`` (sets ``row["ID"]``) and return the ID."""
        seq: dict[str, int] = self._meta.get("seq", {})
        row_id = max(seq.get(table, 0), self._top.get(table, 0)) + 1
        seq[table] = row_id
        self.meta_set("seq", seq)
        row["ID"] = row_id
        self.put(table, row_id, row)
        return row_id

    def put(self, table: str, row_id: int, row: dict[str, Any]) -> None:
        """Create or replace one row."""
        self.rows(table)[row_id] = row
        if row_id > self._top.get(table, 0):
            self._top[table] = row_id
        if self._db is not None:
            self._db.execute(
                "INSERT OR REPLACE INTO rows (tbl, id, data) VALUES (?, ?, ?)", (table, row_id, json.dumps(row))
            )
            self._dirty = True

    def delete(self, table: str, row_id: int) -> None:
        """Remove one row (no error when absent)."""
        self.rows(table).pop(row_id, None)
        if self._db is not None:
            self._db.execute("DELETE FROM rows WHERE tbl = ? AND id = ?", (table, row_id))
            self._dirty = True

    # -- metadata ---------------------------------------------------------------------------------------
    def meta_get(self, key: str, default: Any = None) -> Any:
        """A metadata value (deep-copied so callers cannot mutate state behind the store's back)."""
        return copy.deepcopy(self._meta.get(key, default))

    def meta_peek(self, key: str) -> Any:
        """The live metadata value, not a copy: for hot read paths that cache on its identity (every
        :meth:`meta_set` stores a new object). Never mutate it."""
        return self._meta.get(key)

    def meta_set(self, key: str, value: Any) -> None:
        """Set a metadata value."""
        self._meta[key] = copy.deepcopy(value)
        if self._db is not None:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))
            self._dirty = True

    # -- lifecycle --------------------------------------------------------------------------------------
    def commit(self) -> None:
        """Make every write so far durable; called before a response is sent."""
        if self._db is not None and self._dirty:
            self._db.commit()
            self._dirty = False

    def clear(self) -> None:
        """Drop everything (used by reset before re-seeding)."""
        self._tables.clear()
        self._top.clear()
        self._meta.clear()
        if self._db is not None:
            self._db.execute("DELETE FROM rows")
            self._db.execute("DELETE FROM meta")
            self._dirty = True

    def close(self) -> None:
        """Commit and close the SQLite file, if any, then release its lock."""
        if self._db is not None:
            self.commit()
            self._db.close()
            self._db = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None
