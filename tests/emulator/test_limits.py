"""Leaky bucket (503 QUERY_LIMIT_EXCEEDED) and operating time (429 OPERATION_TIME_LIMIT).

docs/protocol.md#rate-limit, #operating-limit.
"""

from __future__ import annotations

import pytest

from b24crm.testing import Emulator
from tests.emulator.conftest import Portal


def test_standard_plan_bucket() -> None:
    with Emulator(seed="empty", plan="standard") as emu:
        portal = Portal(emu)
        statuses = [portal.call("crm.settings.mode.get").status for _ in range(55)]
        assert statuses[:51] == [200] * 51  # the counter must *exceed* 50 before a request is blocked
        assert 503 in statuses[51:]
        reply = portal.call("crm.settings.mode.get")
        assert reply.json == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
        assert emu.stats()["rate_limited"] >= 2


def test_request_after_the_counter_exceeds_x_is_the_first_refused() -> None:
    """limits.md: "Once the counter value exceeds the threshold value X, each subsequent incoming request is
    blocked" — from empty, X + 1 requests pass and the X + 2nd gets 503 (a drain of 0.001/s is negligible)."""
    with Emulator(seed="empty", plan="50/0.001") as emu:
        portal = Portal(emu)
        statuses = [portal.call("crm.settings.mode.get").status for _ in range(53)]
        assert statuses == [200] * 51 + [503, 503]
        assert emu.stats()["rate_limited"] == 2


def test_custom_plan_drains_and_batch_counts_once() -> None:
    with Emulator(seed="empty", plan="3/5") as emu:
        portal = Portal(emu)
        assert portal.call("batch", {"cmd": {f"c{i}": "crm.settings.mode.get" for i in range(40)}}).status == 200
        assert [portal.call("crm.enum.fields").status for _ in range(4)] == [200, 200, 200, 503]
        import time

        time.sleep(0.5)  # 5/s drains 2.5 slots
        assert portal.call("crm.enum.fields").status == 200


def test_bad_plan() -> None:
    with pytest.raises(ValueError, match="unknown plan"):
        Emulator(plan="gold")


def test_operating_time_limit_per_method() -> None:
    with Emulator(seed="empty", operating_limit=10, costs={"crm.status.list": 4}) as emu:
        portal = Portal(emu)
        times = [portal.ok("crm.status.list")["time"] for _ in range(3)]
        assert [round(t["operating"]) for t in times] == [4, 8, 12]
        assert times[-1]["operating_reset_at"] > times[-1]["start"]
        blocked = portal.call("crm.status.list")
        assert (blocked.status, blocked.json) == (
            429,
            {"error": "OPERATION_TIME_LIMIT", "error_description": "Method is blocked due to operation time limit."},
        )
        assert portal.call("crm.status.fields").status == 200  # other methods are unaffected
        result = portal.ok("batch", {"cmd": {"a": "crm.status.list", "b": "crm.status.fields"}})["result"]
        assert result["result_error"]["a"]["error"] == "OPERATION_TIME_LIMIT" and "b" in result["result"]
        oauth = portal.raw.request("GET", f"/rest/crm.status.list?auth={emu.oauth.access_token}")
        assert oauth.status == 200  # keyed per app or webhook
        assert emu.stats()["operation_time_limited"] == 2


def test_set_cost_at_runtime(emu: Emulator) -> None:
    portal = Portal(emu)
    emu.set_cost("crm.enum.fields", 0.5)
    assert portal.ok("crm.enum.fields")["time"]["operating"] >= 0.5
