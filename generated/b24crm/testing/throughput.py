"""Measure the emulator's own throughput (simple calls per second over keep-alive connections).

For ``make bench`` and for anyone checking that the emulator never limits a benchmark (issue 6 asks for at
least 3,000 simple calls/s on loopback). Uses raw ``http.client`` so client overhead stays small.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse

from b24crm.testing.emulator import Emulator

__all__ = ["measure"]


def measure(
    emulator: Emulator, *, calls: int = 5000, connections: int = 1, method: str = "crm.settings.mode.get"
) -> float:
    """Run ``calls`` JSON POSTs per connection on ``connections`` threads; return calls per second."""
    url = urllib.parse.urlsplit(emulator.webhook_url)
    path = url.path + method
    errors: list[BaseException] = []

    def worker() -> None:
        connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80)
        try:
            for _ in range(calls):
                connection.request("POST", path, b"{}", {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"{method} answered HTTP {response.status}")
        except BaseException as error:  # noqa: BLE001 - reported to the caller below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return calls * connections / elapsed


if __name__ == "__main__":  # pragma: no cover
    with Emulator(seed="empty") as emu:
        for n in (1, 2, 4):
            print(f"{n} connection(s): {measure(emu, connections=n):,.0f} calls/s")
