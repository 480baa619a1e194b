"""A batch over 50 commands whose later request fails (issue 14, "Batch bookkeeping").

Every handle ends in a definite state — ``ok``, ``error`` or ``not_sent`` — with ``may_have_run`` right for it,
and ``batch.outcome`` (also ``execute()``'s return value when nothing failed as a whole) says which requests ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from b24crm.runtime.errors import RateLimited, TransportError
from b24crm.runtime.transport import HttpResponse, Urllib3Transport
from b24crm.testing import Emulator


class FaultOnBatch:
    """A real transport that queues an emulator fault just before the ``nth`` ``batch`` request."""

    def __init__(self, emu: Emulator, nth: int, kind: str) -> None:
        self.inner = Urllib3Transport()
        self.emu, self.nth, self.kind = emu, nth, kind
        self.batches = 0

    def request(self, method: str, url: str, **kwargs: Any) -> HttpResponse:
        if url.endswith("/batch.json") or url.endswith("/batch"):
            self.batches += 1
            if self.batches == self.nth:
                self.emu.faults.add(method="batch", kind=self.kind)
        return self.inner.request(method, url, **kwargs)

    def close(self) -> None:
        self.inner.close()


def _fields(i: int) -> Mapping[str, Any]:
    return {"ENTITY_ID": "SOURCE", "STATUS_ID": f"BK_{i:03d}", "NAME": f"Book {i}"}


def _saved(emu: Emulator) -> set[str]:
    with emu.client() as client:
        return {str(s.status_id) for s in client.crm.status.list(filter={"ENTITY_ID": "SOURCE"})}


def test_a_later_request_failing_after_the_portal_ran_it(b24_emulator: Emulator) -> None:
    from b24crm.runtime.batch import BatchCommandNotSent

    transport = FaultOnBatch(b24_emulator, nth=2, kind="reset_after")  # the portal ran it, the answer is lost
    with b24_emulator.client(transport=transport) as client:
        batch = client.batch()
        handles = [batch.crm.status.add(fields=_fields(i)) for i in range(120)]
        with pytest.raises(TransportError) as info:
            batch.execute()
    assert info.value.may_have_run

    ran, failed, unsent = handles[:50], handles[50:100], handles[100:]
    assert all(h.state == "ok" and h.may_have_run and isinstance(h.result, int) for h in ran)
    assert all(h.state == "error" and h.may_have_run and h.error is info.value for h in failed)
    assert all(
        h.state == "not_sent" and not h.may_have_run and isinstance(h.error, BatchCommandNotSent) for h in unsent
    )

    outcome = batch.outcome
    assert outcome is not None and not outcome.complete
    assert [(c.state, c.may_have_run, len(c.keys)) for c in outcome.chunks] == [
        ("ran", True, 50),
        ("failed", True, 50),
        ("not_sent", False, 20),
    ]
    assert outcome.not_sent == tuple(unsent)
    # What the handles say is what happened on the portal.
    saved = _saved(b24_emulator)
    assert {f"BK_{i:03d}" for i in range(100)} <= saved
    assert not {f"BK_{i:03d}" for i in range(100, 120)} & saved

    # The not-sent commands can simply be sent again.
    with b24_emulator.client() as client:
        retry = client.batch()
        again = [retry.crm.status.add(fields=_fields(h.index)) for h in outcome.not_sent]
        assert retry.execute().complete and all(h.ok for h in again)
    assert {f"BK_{i:03d}" for i in range(120)} <= _saved(b24_emulator)


def test_a_later_request_refused_before_running(b24_emulator: Emulator) -> None:
    transport = FaultOnBatch(b24_emulator, nth=2, kind="query_limit")  # the portal refused it unrun
    with b24_emulator.client(transport=transport, max_attempts=1) as client:
        batch = client.batch()
        handles = [batch.crm.status.add(fields=_fields(i)) for i in range(120)]
        with pytest.raises(RateLimited) as info:
            batch.execute()
    assert not info.value.may_have_run
    assert all(h.ok for h in handles[:50])
    assert all(h.state == "error" and not h.may_have_run for h in handles[50:100])
    assert all(h.state == "not_sent" and not h.may_have_run for h in handles[100:])
    assert batch.outcome is not None
    assert [c.state for c in batch.outcome.chunks] == ["ran", "failed", "not_sent"]
    assert not {f"BK_{i:03d}" for i in range(50, 120)} & _saved(b24_emulator)


def test_a_complete_batch_reports_every_request(b24_emulator: Emulator) -> None:
    with b24_emulator.client() as client:
        batch = client.batch()
        handles = [batch.crm.status.add(fields=_fields(i)) for i in range(60)]
        outcome = batch.execute()
    assert outcome == handles and outcome.complete and batch.outcome is outcome
    assert [(c.state, len(c.keys)) for c in outcome.chunks] == [("ran", 50), ("ran", 10)]
    assert all(h.ok and h.may_have_run for h in handles)
