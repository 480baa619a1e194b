"""User text holding ``$result[...]`` inside a batch (issue 14, "Values the server would misread").

The server substitutes ``$result[key][path]`` (and ``$next``, ``$total``, ``$time``, ``$error``) in every value
and key of a batch command after ``parse_str``, and the command keys are predictable, so a contact named
``$result[c0000_crm_status_add]`` would be saved as another command's result. b24crm sends such a command on its
own as a plain JSON call (no substitution there), in its place in the order; a command that also holds a
reference (which needs the batch) is refused. The emulator substitutes like the server, shown first.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from b24crm.runtime.errors import BatchError
from b24crm.testing import Emulator

SOURCE = "SOURCE"


def _status(name: str, code: str) -> dict[str, Any]:
    return {"ENTITY_ID": SOURCE, "STATUS_ID": code, "NAME": name}


def _name_of(emu: Emulator, code: str) -> str:
    with emu.client() as client:
        (status,) = [s for s in client.crm.status.list(filter={"ENTITY_ID": SOURCE}) if s.status_id == code]
        return str(status.name)


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"fields": {"NAME": "pay $result[c0000_crm_status_add] now"}}, "fields.NAME"),
        ({"filter": {"TITLE": ["a", "$next[p00]"]}}, "filter.TITLE[1]"),
        ({"fields": {"$total[x]": "1"}}, "fields.$total[x]"),
        ({"fields": {"NAME": "$ERROR[a]"}}, "fields.NAME"),  # case does not protect it
    ],
)
def test_detection_names_the_path(params: dict[str, Any], where: str) -> None:
    from b24crm.runtime.batchwire import lone_reason, substituted_text

    assert substituted_text(params) == where
    assert lone_reason(params, params) is not None


def test_plain_dollars_are_not_flagged() -> None:
    from b24crm.runtime.batchwire import substituted_text

    assert substituted_text({"fields": {"NAME": "$5 off", "X": "$resulting", "Y": 3}}) == "fields.X"  # $result...
    assert substituted_text({"fields": {"NAME": "$5 off", "OPPORTUNITY": "US$ 10"}}) is None


def test_the_emulator_substitutes_user_text_like_the_server(b24_emulator: Emulator) -> None:
    with b24_emulator.client() as client:
        answer = client.call(
            "batch",
            {
                "halt": 1,
                "cmd": {
                    "a": "crm.status.add?fields[ENTITY_ID]=SOURCE&fields[STATUS_ID]=RAW_A&fields[NAME]=first",
                    "b": "crm.status.add?fields[ENTITY_ID]=SOURCE&fields[STATUS_ID]=RAW_B&fields[NAME]=id+$result[a]",
                },
            },
        )
    first_id = answer["result"]["a"]
    assert _name_of(b24_emulator, "RAW_B") == f"id {first_id}"  # the server rewrote what the user wrote


def test_such_a_command_runs_alone_and_arrives_as_written(b24_emulator: Emulator) -> None:
    literal = "id $result[c0000_crm_status_add]"
    with b24_emulator.client() as client:
        batch = client.batch()
        first = batch.crm.status.add(fields=_status("first", "LIT_A"))
        second = batch.crm.status.add(fields=_status(literal, "LIT_B"))
        third = batch.crm.status.add(fields=_status("third", "LIT_C"))
        before = b24_emulator.stats()["by_method"]
        outcome = batch.execute()
    assert first.ok and second.ok and third.ok
    assert _name_of(b24_emulator, "LIT_B") == literal
    assert [(c.keys, c.lone, c.state) for c in outcome.chunks] == [
        ((first.key,), False, "ran"),
        ((second.key,), True, "ran"),
        ((third.key,), False, "ran"),
    ]
    after = b24_emulator.stats()["by_method"]
    assert after.get("batch", 0) - before.get("batch", 0) == 2
    assert after.get("crm.status.add", 0) - before.get("crm.status.add", 0) == 1  # the lone one


def test_with_a_reference_it_is_refused_before_anything_is_sent(b24_emulator: Emulator) -> None:
    with b24_emulator.client() as client:
        batch = client.batch()
        first = batch.crm.status.add(fields=_status("first", "REF_A"))
        with pytest.raises(BatchError, match=r"fields\.NAME holds text the server would substitute"):
            batch.crm.status.add(fields={"ENTITY_ID": SOURCE, "STATUS_ID": first.ref("ID"), "NAME": "$result[x]"})
        alone = batch.crm.status.add(fields=_status("$result[x]", "REF_B"))
        batch.crm.status.get(id=alone.ref())
        before = b24_emulator.stats()["requests"]
        with pytest.raises(BatchError, match="runs on its own outside the batch"):
            batch.execute()
    assert b24_emulator.stats()["requests"] == before  # nothing was sent


@pytest.mark.b24_emulator(seed="empty", stage_history=1000)
def test_a_bulk_read_with_such_a_filter_reads_it_literally(b24_emulator: Emulator) -> None:
    # Inside chained batches the value would become the first record's stage and drop those records.
    flt = {"!STAGE_ID": "$result[p00][items][0][STAGE_ID]"}
    with b24_emulator.client() as client:
        got = [i.id for i in itertools.islice(client.crm.stagehistory.iter_all(entity_type_id=2, filter=flt), 1001)]
    assert got == list(range(1, 1001))
