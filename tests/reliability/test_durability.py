"""Durable emulator state: ``python -m b24crm emulator --state FILE`` killed with SIGKILL in the middle of a
write storm, restarted on the same file: every acknowledged write is there, nothing is half-written."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from b24crm import Client
from b24crm.runtime.errors import B24Error

from .conftest import client_options

WRITERS = 6
KILL_AFTER_ACKS = 400


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """The emulator CLI in a subprocess."""

    def __init__(self, state: Path, port: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "b24crm", "emulator", "--state", str(state), "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        banner = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            banner.append(line)
            if line.startswith("webhook URL:"):
                break
        match = re.search(r"webhook URL:\s+(\S+)", "".join(banner))
        assert match, f"no webhook URL in {banner!r}; stderr: {self.proc.stderr.read() if self.proc.stderr else ''}"
        self.webhook = match.group(1)

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


@pytest.mark.heavy
def test_sigkill_mid_storm_loses_no_acknowledged_write(tmp_path: Path, servers: list[Server]) -> None:
    state = tmp_path / "portal.sqlite"
    port = _free_port()
    first = Server(state, port)
    servers.append(first)
    lock = threading.Lock()
    acked: dict[str, int] = {}
    attempted: set[str] = set()
    failures: list[str] = []
    enough = threading.Event()

    def writer(worker: int) -> None:
        client = Client.from_webhook(first.webhook, **client_options(timeout=(2.0, 5.0), max_attempts=1))
        try:
            for i in range(100_000):
                code = f"DUR{worker}_{i:05d}"
                with lock:
                    attempted.add(code)
                try:
                    new_id = client.crm.status.add(fields={"ENTITY_ID": "SOURCE", "STATUS_ID": code, "NAME": code})
                except B24Error as exc:
                    with lock:
                        failures.append(f"{type(exc).__name__}: {exc}")
                    return  # the server is gone
                with lock:
                    acked[code] = new_id
                    if len(acked) >= KILL_AFTER_ACKS:
                        enough.set()
        finally:
            client.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    assert enough.wait(120), f"only {len(acked)} writes acknowledged; failures: {failures[:3]}"
    first.kill()  # mid-storm: every writer has a request in flight or about to be
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert len(failures) == WRITERS, "each writer must have stopped on the kill, not before"
    killed_at = dict(acked)

    # The file itself is a consistent SQLite database.
    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    second = Server(state, port)
    servers.append(second)
    assert second.webhook == first.webhook, "the webhook code must survive a restart"
    client = Client.from_webhook(second.webhook, **client_options())
    rows = {r.status_id: r for r in client.crm.status.list(filter={"ENTITY_ID": "SOURCE"})}
    stored = {code: row for code, row in rows.items() if code.startswith("DUR")}
    # Every acknowledged write is present, under the acknowledged ID, whole.
    missing = sorted(set(killed_at) - set(stored))
    assert not missing, f"{len(missing)} acknowledged write(s) lost, e.g. {missing[:5]}"
    for code, new_id in killed_at.items():
        row = stored[code]
        assert row.id == new_id and row.name == code and row.sort == 10 and row.system is False, row
    # Nothing half-written or invented: at most the few writes in flight at the kill appear unacknowledged,
    # and they are complete rows too.
    extra = set(stored) - set(killed_at)
    assert extra <= attempted and len(extra) <= WRITERS, extra
    for code in extra:
        assert stored[code].name == code and stored[code].id is not None
    assert len({row.id for row in stored.values()}) == len(stored)
    # The restarted portal keeps counting: a new write gets a fresh ID, and it is durable too.
    new_id = client.crm.status.add(fields={"ENTITY_ID": "SOURCE", "STATUS_ID": "AFTER", "NAME": "after restart"})
    assert new_id > max(row.id for row in stored.values())
    client.close()
