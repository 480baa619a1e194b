"""The emulator in its own process (``python -m b24crm emulator``), so a client's CPU is measured alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from types import TracebackType
from typing import Any

from b24crm.testing.server import CONTROL_TOKEN_HEADER


class EmulatorProcess:
    """``with EmulatorProcess(stage_history=N, plan="2/2") as emu: emu.webhook_url, emu.stats(), emu.reset()``;
    ``deals=N`` serves synthetic deals 1..N (the deal export)."""

    def __init__(self, *, seed: str = "empty", stage_history: int = 0, plan: str = "unlimited", deals: int = 0) -> None:
        self.args = [
            sys.executable,
            "-m",
            "b24crm",
            "emulator",
            "--seed",
            seed,
            "--stage-history",
            str(stage_history),
            "--deals",
            str(deals),
            "--plan",
            plan,
            "--port",
            "0",
        ]
        self.plan = plan
        self.webhook_url = ""
        self.base_url = ""
        #: ``/_emulator/*`` needs the control token the emulator prints at start (``control token:`` line).
        self.control_token = ""
        self._proc: subprocess.Popen[str] | None = None
        # stderr goes to a file: a pipe nobody reads would block the server once full.
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the process; closed in stop()

    def start(self) -> EmulatorProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env, start_new_session=True
        )
        assert self._proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            if not line:
                break
            if line.startswith("webhook URL:"):
                self.webhook_url = line.split(":", 1)[1].strip()
                self.base_url = self.webhook_url.split("/rest/", 1)[0]
            elif line.startswith("control token:"):
                self.control_token = line.split(":", 1)[1].split()[0]
            if self.webhook_url and self.control_token:
                return self
        self._stderr.seek(0)
        err = self._stderr.read()
        self.stop()
        raise RuntimeError(f"the emulator did not start: {err[-2000:]}")

    def _control(self, name: str, method: str = "GET") -> Any:
        request = urllib.request.Request(
            f"{self.base_url}/_emulator/{name}",
            data=b"{}" if method == "POST" else None,
            headers={CONTROL_TOKEN_HEADER: self.control_token},
        )
        request.method = method
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        """Requests in total and by method, rate-limit rejections, batch sub-calls, counted pages."""
        result: dict[str, Any] = self._control("stats")
        return result

    def wait_idle(self, quiet: float = 0.6, timeout: float = 600) -> None:
        """Wait until the counters stop moving for ``quiet`` seconds: a client that gave up (or was killed) may
        leave requests running, and they must not be billed to the next run."""
        deadline = time.monotonic() + timeout
        last: tuple[int, ...] = ()
        still_since = time.monotonic()
        while time.monotonic() < deadline:
            stats = self.stats()
            now = (stats["requests"], stats["batch_subcalls"], stats["counted_pages"], stats["errors"])
            if now != last:
                last, still_since = now, time.monotonic()
            elif time.monotonic() - still_since >= quiet:
                return
            time.sleep(0.1)

    def reset(self) -> None:
        """Back to the seed: state, stats, bucket and operating meter."""
        self._control("reset", "POST")

    def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
