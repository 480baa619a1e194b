"""Broken specs fail with every problem listed and located: the texts are pinned (fixtures/broken/<case>/)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from codegen.__main__ import main

BROKEN = Path(__file__).resolve().parent / "fixtures" / "broken"
CASES = sorted(p.name for p in BROKEN.iterdir() if (p / "openapi.yaml").is_file())

#: What each fixture must be reported for (a word of the diagnostic), beside the pinned full text.
EXPECTED = {
    "bad_error_row": ["lacks code", "kind 'forbidden'", "PascalCase", "status must be an integer"],
    "bad_wire_type_and_enum": ["stringly-int", "not identifiers", "one name per non-null enum value"],
    "duplicate_title": ["title 'Thing' is also used"],
    "error_name_reused": ["'ThingError' is reused"],
    "missing_title": ["needs a title"],
    "not_openapi": ["not valid OpenAPI", "version", "is a required property"],
    "one_of": ["oneOf is not supported"],
    "pagination_nowhere": ["items_path", "start_param 'offset'", "order_param 'order'", "page_size"],
    "ref_points_nowhere": ["points nowhere"],
    "ref_to_missing_file": ["names a file that does not exist"],
    "request_and_response_model": ["both requests and responses"],
    "two_paged_methods_in_one_namespace": ["iter_all"],
    "unknown_extension": ["unknown extension 'x-b24-retry'"],
}


def test_every_case_has_expectations() -> None:
    assert sorted(EXPECTED) == CASES


@pytest.mark.parametrize("case", CASES)
def test_diagnostics(case: str, error_text: Callable[[Path], str], snapshot: SnapshotAssertion) -> None:
    text = error_text(BROKEN / case / "openapi.yaml")
    for needle in EXPECTED[case]:
        assert needle in text
    # Every problem is located: a spec file and JSON pointer, or the name of what is wrong.
    assert text == snapshot


def test_every_problem_is_listed_with_its_location(error_text: Callable[[Path], str]) -> None:
    text = error_text(BROKEN / "bad_error_row" / "openapi.yaml")
    lines = text.splitlines()
    assert lines[0] == "SpecError: the spec has 4 problem(s):"
    assert all(line.startswith("  thing.yaml#/paths/~1crm.thing.get/post/x-b24-errors/") for line in lines[1:])


def test_the_cli_exits_2_and_prints_the_diagnostics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--spec", str(BROKEN / "unknown_extension" / "openapi.yaml"), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "unknown extension 'x-b24-retry'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written from a broken spec
