"""The evidence behind the client limiter's headroom (``runtime/ratelimit.py``, ``_usable``).

``python bench/headroom.py``: for each fill level the client's limiter could use on the standard plan
(X = 50, Y = 2), one emulator per run, one ``b24crm.Client`` whose limiter is forced to that fill level, a
burst of calls from a fresh bucket, sequential and from 8 threads sharing the client. It prints the 503s the
emulator sent (``rate_limited``; the client retries them, so every call still succeeds) and the wall time.
The emulator refuses the request *after* the counter exceeds X (testing/limiter.py), i.e. X + 1 fit from
empty; the numbers show which fill levels meet a 503 and what a slot of headroom costs.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

from b24crm.runtime import ratelimit
from b24crm.testing import Emulator

FILLS = (49, 50, 51, 52)


def run(fill: int, calls: int, threads: int) -> tuple[int, float]:
    """(503s the emulator sent, wall seconds) for ``calls`` calls at a forced fill level."""
    with (
        mock.patch.object(ratelimit, "_usable", lambda burst, rate: fill),
        Emulator(seed="empty", plan="standard") as emu,
        emu.client() as client,
    ):
        started = time.monotonic()
        if threads == 1:
            for _ in range(calls):
                client.crm.settings.mode.get()
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda _: client.crm.settings.mode.get(), range(calls)))
        wall = time.monotonic() - started
        return int(emu.stats()["rate_limited"]), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"standard plan (50/2), {args.calls} calls from a fresh bucket, {args.repeat} runs each")
    print("fill | threads | 503s per run | wall s (median)")
    for fill in FILLS:
        for threads in (1, 8):
            results = [run(fill, args.calls, threads) for _ in range(args.repeat)]
            walls = sorted(w for _, w in results)
            print(f"{fill:4} | {threads:7} | {[r for r, _ in results]} | {walls[len(walls) // 2]:.2f}")


if __name__ == "__main__":
    main()
