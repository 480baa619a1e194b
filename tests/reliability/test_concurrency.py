"""16 threads × 1,000 calls on one OAuth client, across several access-token expiries, with the rate
limiter on and the emulator's plan matched to it: exactly one refresh per expiry, every call accounted for,
no 503 ever, and every write (one call in ten is a ``crm.status.add``) stored once under a unique ID."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from b24crm.runtime.errors import B24Error
from b24crm.testing import Emulator

THREADS = 16
CALLS = 1_000
ADD_EVERY = 10
#: Scaled up from the real 50/2 so 16,000 calls take seconds, and still well below the emulator's
#: throughput, so the limiter really paces the run. Client and emulator use the same numbers.
PLAN = "200/1000"
TOKEN_TTL = 2


class TokenLog:
    """Wraps the emulator's OAuth app: which tokens were issued, and whether each refresh came too early."""

    def __init__(self, emu: Emulator) -> None:
        self.app = emu.portal.oauth
        self.lock = threading.Lock()
        self.newest_expiry = float(emu.oauth.expires)
        self.refreshes: list[tuple[int, bool]] = []  # (HTTP status, the newest token had already expired)
        refresh: Callable[..., tuple[int, dict[str, Any]]] = self.app.refresh

        def logged_refresh(params: Any) -> tuple[int, dict[str, Any]]:
            with self.lock:
                expired = time.time() >= self.newest_expiry
                status, body = refresh(params)
                if status == 200:
                    state = self.app.check(body["access_token"])
                    assert not isinstance(state, str)
                    self.newest_expiry = state.expires
                self.refreshes.append((status, expired))
                return status, body

        self.app.refresh = logged_refresh  # type: ignore[method-assign]


@pytest.mark.heavy
def test_one_client_16_threads_across_token_expiries() -> None:
    with Emulator(seed="demo", plan=PLAN, token_ttl=TOKEN_TTL) as emu:
        log = TokenLog(emu)
        client = emu.client("oauth", pool_maxsize=THREADS)
        assert client._limiter.plan == (200, 1000.0), "the client's limiter must match the emulator's plan"
        start_rows = len(emu.portal.store.rows("status"))
        lock = threading.Lock()
        done = {"reads": 0, "adds": 0}
        acked: dict[str, int] = {}
        errors: list[str] = []
        barrier = threading.Barrier(THREADS)

        def work(worker: int) -> None:
            barrier.wait()
            for i in range(CALLS):
                try:
                    if i % ADD_EVERY == 0:
                        code = f"T{worker:02d}_{i:04d}"
                        new_id = client.crm.status.add(fields={"ENTITY_ID": "SOURCE", "STATUS_ID": code, "NAME": code})
                        with lock:
                            acked[code] = new_id
                            done["adds"] += 1
                    else:
                        client.crm.settings.mode.get()
                        with lock:
                            done["reads"] += 1
                except B24Error as exc:
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        client_refreshes = client._auth.refreshes
        client.close()
        stats = emu.stats()
        rows = dict(emu.portal.store.rows("status"))

    # Every call accounted for: a result each, no error at all.
    assert errors == [], errors[:5]
    adds = THREADS * CALLS // ADD_EVERY
    assert done == {"reads": THREADS * CALLS - adds, "adds": adds}
    # The limiter avoided the portal's limit instead of meeting it.
    assert stats["rate_limited"] == 0, stats
    # Exactly one refresh per expiry: every refresh succeeded, the emulator and the client agree on the count,
    # and after the first (proactive: the client knew the initial token's expiry) each one came only once
    # the newest token had really expired — a second refresh for the same expiry would find a fresh token.
    refreshes = stats["oauth_refreshes"]
    assert all(status == 200 for status, _ in log.refreshes), log.refreshes
    assert refreshes == len(log.refreshes) == client_refreshes
    assert refreshes >= 3, f"the run spanned too few expiries to test anything ({refreshes} refreshes)"
    assert all(expired for _, expired in log.refreshes[1:]), log.refreshes
    # Requests the emulator saw: each call once, plus one 401 re-send at most per thread per expiry.
    sent = stats["by_method"]["crm.settings.mode.get"] + stats["by_method"]["crm.status.add"]
    assert sent == THREADS * CALLS + stats["errors"], stats
    assert stats["errors"] <= THREADS * refreshes
    # No write lost or doubled; unique IDs, each row where its acknowledgement says.
    assert len(acked) == adds and len(set(acked.values())) == adds
    assert len(rows) == start_rows + adds
    for code, new_id in acked.items():
        assert rows[new_id]["STATUS_ID"] == code and rows[new_id]["NAME"] == code
