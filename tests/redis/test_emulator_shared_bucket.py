"""The emulator keeps one leaky bucket per portal: its webhooks and its OAuth app all count into it, so a
many-workers test against it meets the limit a real portal would apply to them together."""

from __future__ import annotations

from typing import Any

from b24crm import Client
from b24crm.errors import QueryLimitExceededError
from b24crm.testing import Emulator

#: So slow a drain that nothing drains during the test: the burst is all there is.
PLAN = "6/0.001"


def _admitted_until_refused(clients: list[Client]) -> int:
    """Send round-robin from ``clients`` until the portal refuses one; how many it admitted."""
    admitted = 0
    while admitted < 100:
        client = clients[admitted % len(clients)]
        try:
            client.crm.enum.ownertype()
        except QueryLimitExceededError:
            return admitted
        admitted += 1
    raise AssertionError("the portal never refused a request")


def test_webhooks_and_the_oauth_app_share_one_bucket() -> None:
    options: dict[str, Any] = {"rate_limit": "off", "max_attempts": 1}
    with Emulator(seed="demo", plan=PLAN) as emu:
        alone = _admitted_until_refused([emu.client(**options)])
    with Emulator(seed="demo", plan=PLAN) as emu:
        second_hook = Client.from_webhook(emu.add_webhook(), **options)
        together = _admitted_until_refused([emu.client(**options), second_hook, emu.client("oauth", **options)])
    assert together == alone  # three credentials, not three buckets
