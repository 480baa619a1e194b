"""The ``b24crm`` command against the emulator: call, export (interrupted and resumed), methods, emulator."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from b24crm import cli
from b24crm.testing import Emulator

RECORDS = 6_000


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(seed="demo", stage_history=RECORDS) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def history_ids(emu: Emulator) -> list[int]:
    """Every deal stage-history ID as the library reads it: the seed's own records and the RECORDS synthetic."""
    client = emu.client()
    try:
        ids = [record.id for record in client.crm.stagehistory.iter_all(entity_type_id=2)]
    finally:
        client.close()
    assert len(ids) >= RECORDS
    return ids


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_call_with_key_value_pairs_prints_the_result_as_json(emu: Emulator) -> None:
    code, out, err = run("--webhook", emu.webhook_url, "call", "crm.status.list", "filter[ENTITY_ID]=SOURCE")
    assert code == 0, err
    rows = json.loads(out)
    assert rows and {row["ENTITY_ID"] for row in rows} == {"SOURCE"}
    assert "CALL" in {row["STATUS_ID"] for row in rows}


def test_call_coerces_values_by_the_spec_and_accepts_json(emu: Emulator) -> None:
    code, out, err = run(
        "--webhook",
        emu.webhook_url,
        "call",
        "crm.status.add",
        "--json",
        json.dumps({"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "CLI_FAIR", "NAME": "Fair"}}),
    )
    assert code == 0, err
    new_id = json.loads(out)
    assert isinstance(new_id, int)
    code, out, err = run("--webhook", emu.webhook_url, "call", "crm.status.get", f"id={new_id}")
    assert code == 0, err
    assert json.loads(out)["STATUS_ID"] == "CLI_FAIR"


def test_webhook_from_the_environment(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cli.ENV_WEBHOOK, emu.webhook_url)
    code, out, _ = run("call", "crm.settings.mode.get")
    assert code == 0
    assert json.loads(out) in (1, 2)


def test_invalid_parameters_are_one_clear_line_and_exit_2(emu: Emulator) -> None:
    before = emu.stats()["requests"]
    code, out, err = run("--webhook", emu.webhook_url, "call", "crm.duplicate.findbycomm", "type=FAX", "values[]=1")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and "RequestValidationError" in err and "type" in err
    assert emu.stats()["requests"] == before  # nothing was sent


def test_portal_errors_exit_1_without_the_webhook_secret(emu: Emulator) -> None:
    code_part = emu.webhook_url.rstrip("/").split("/")[-1]
    code, out, err = run("--webhook", emu.webhook_url, "--debug", "call", "crm.status.get", "id=987654")
    assert code == 1
    assert out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith("b24crm: ") and "Status is not found" in last
    assert code_part not in err


def test_bad_webhook_code_is_an_auth_error_and_not_echoed(emu: Emulator) -> None:
    wrong = emu.webhook_url.replace(emu.webhook_url.rstrip("/").split("/")[-1], "notthecode123")
    code, _, err = run("--webhook", wrong, "call", "crm.settings.mode.get")
    assert code == 1
    assert "notthecode123" not in err
    assert "INVALID_CREDENTIALS" in err or "AuthError" in err or "Credentials" in err


def test_missing_webhook_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cli.ENV_WEBHOOK, raising=False)
    code, _, err = run("call", "crm.settings.mode.get")
    assert code == 2
    assert "B24_WEBHOOK_URL" in err


def test_methods_lists_every_spec_method() -> None:
    from b24crm._registry import REGISTRY

    code, out, _ = run("methods")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert names == sorted(REGISTRY.methods) and len(names) >= 28
    assert "crm.stagehistory.list" in names and "crm.entity.mergeBatch" in names
    paged = [line.split()[0] for line in out.splitlines() if "paginated" in line]
    assert "crm.stagehistory.list" in paged
    assert paged == [name for name in names if REGISTRY.methods[name].pagination is not None]


def test_export_streams_every_record_as_json_lines(emu: Emulator, history_ids: list[int]) -> None:
    before = emu.stats()["requests"]
    code, out, err = run("--webhook", emu.webhook_url, "export", "crm.stagehistory.list", "entityTypeId=2")
    assert code == 0, err
    ids = [json.loads(line)["ID"] for line in out.splitlines()]
    assert ids == history_ids == sorted(set(ids))
    assert emu.stats()["requests"] - before <= -(-len(ids) // 2500) + 1
    assert f"exported {len(ids)} record(s)" in err


class _InterruptingStream(io.StringIO):
    """Stdout that is interrupted (Ctrl-C) after ``lines`` complete lines."""

    def __init__(self, lines: int) -> None:
        super().__init__()
        self.left = lines

    def write(self, text: str) -> int:
        if text.startswith("{"):
            if self.left == 0:
                raise KeyboardInterrupt
            self.left -= 1
        return super().write(text)


def test_export_interrupted_then_resumed_loses_and_repeats_nothing(emu: Emulator, history_ids: list[int]) -> None:
    out, err = _InterruptingStream(2_345), io.StringIO()
    code = cli.main(["--webhook", emu.webhook_url, "export", "crm.stagehistory.list", "entityTypeId=2"], out, err)
    assert code == 130
    first = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(first) == 2_345
    code, rest, err2 = run(
        "--webhook",
        emu.webhook_url,
        "export",
        "crm.stagehistory.list",
        "entityTypeId=2",
        "--after-id",
        str(first[-1]["ID"]),
    )
    assert code == 0, err2
    second = [json.loads(line) for line in rest.splitlines()]
    ids = [r["ID"] for r in first + second]
    assert ids == history_ids


def test_export_refuses_a_method_that_does_not_page(emu: Emulator) -> None:
    code, out, err = run("--webhook", emu.webhook_url, "export", "crm.status.list")
    assert code == 2 and out == ""
    assert "crm.stagehistory.list" in err


def test_emulator_subcommand_serves_a_webhook_other_commands_can_use() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "b24crm", "emulator", "--port", "0", "--seed", "empty"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = None
        for _ in range(40):
            line = proc.stdout.readline()
            match = re.search(r"(http://127\.0\.0\.1:\d+/rest/\d+/\w+/)", line)
            if match:
                url = match.group(1)
                break
        assert url, "the emulator did not print its webhook URL"
        code, out, err = run("--webhook", url, "call", "crm.enum.ownertype")
        assert code == 0, err
        assert {"ID": 2, "NAME": "Deal"}.items() <= next(r for r in json.loads(out) if r["ID"] == 2).items()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---- the command line as a user types it: global options anywhere, a reader that stops early -------------


def run_command(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real ``b24crm`` command in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "b24crm", *argv], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_global_options_after_the_subcommand_and_between_its_parameters(emu: Emulator) -> None:
    env = {k: v for k, v in os.environ.items() if k not in (cli.ENV_WEBHOOK, cli.ENV_LIMITER_STORE)}
    done = run_command(
        "call", "crm.status.list", "--webhook", emu.webhook_url, "filter[ENTITY_ID]=SOURCE", "--debug", env=env
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert rows and {row["ENTITY_ID"] for row in rows} == {"SOURCE"}  # the parameter after --webhook was kept
    assert "POST crm.status.list -> 200" in done.stderr  # --debug after the subcommand logs
    assert emu.webhook_url.rstrip("/").split("/")[-1] not in done.stderr

    done = run_command(
        "export", "crm.stagehistory.list", "--limit", "3", "entityTypeId=2", "--webhook", emu.webhook_url, env=env
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["OWNER_ID"] > 0 for line in done.stdout.splitlines()] == [True] * 3

    done = run_command("methods", "--debug", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == run("methods")[1] and "crm.status.list" in done.stdout


def test_limiter_store_after_the_subcommand_is_read(emu: Emulator) -> None:
    code, out, err = run("call", "crm.settings.mode.get", "--webhook", emu.webhook_url, "--limiter-store", "ftp://x")
    assert code == 2 and out == ""
    assert err.startswith("b24crm: limiter_store must be") and "ftp" in err


def test_an_option_after_the_subcommand_overrides_the_one_before_it(emu: Emulator) -> None:
    wrong = emu.webhook_url.replace(emu.webhook_url.rstrip("/").split("/")[-1], "notthecode123")
    code, out, err = run("--webhook", wrong, "call", "crm.settings.mode.get", "--webhook", emu.webhook_url)
    assert code == 0, err
    assert json.loads(out) in (1, 2)
    code, _, err = run("--webhook", emu.webhook_url, "call", "crm.settings.mode.get", "--webhook", wrong)
    assert code == 1 and "notthecode123" not in err


def test_parameters_keep_their_order_around_options(emu: Emulator) -> None:
    before = emu.stats()["requests"]
    code, out, err = run(
        "call", "crm.status.list", "filter[ENTITY_ID]=STATUS", "--webhook", emu.webhook_url, "filter[ENTITY_ID]=SOURCE"
    )
    assert code == 0, err
    assert {row["ENTITY_ID"] for row in json.loads(out)} == {"SOURCE"}  # the later value wins, as in a query
    assert emu.stats()["requests"] == before + 1


def test_an_unknown_option_after_the_subcommand_is_a_usage_error(
    emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    before = emu.stats()["requests"]
    with pytest.raises(SystemExit) as info:
        cli.main(["call", "crm.status.list", "--webhook", emu.webhook_url, "--wehbook", "x"], io.StringIO())
    assert info.value.code == 2
    assert "unrecognized arguments: --wehbook x" in capsys.readouterr().err
    assert emu.stats()["requests"] == before


def test_global_options_before_the_emulator_subcommand_leave_it_its_own_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--debug", "emulator", "--help"])
    assert info.value.code == 0
    assert "--stage-history" in capsys.readouterr().out


def read_then_close(*argv: str, lines: int) -> tuple[int, list[str], str]:
    """The real command with its stdout read by a reader that takes ``lines`` lines and closes the pipe
    (``b24crm ... | head -n LINES``). ``lines=0`` closes before the command writes anything."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "b24crm", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    got = [proc.stdout.readline() for _ in range(lines)]
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    return proc.returncode, got, err


def test_a_reader_that_stops_early_ends_export_quietly(emu: Emulator) -> None:
    before = emu.stats()["requests"]
    code, got, err = read_then_close(
        "export", "crm.stagehistory.list", "--webhook", emu.webhook_url, "entityTypeId=2", lines=1
    )
    assert err == ""  # no traceback, no "Exception ignored", no summary line
    assert code == cli.EXIT_OUTPUT_CLOSED == 141
    assert json.loads(got[0])["ID"] > 0
    full = -(-RECORDS // 2500)  # requests for the whole export, at least
    assert emu.stats()["requests"] - before < full  # it stopped reading pages when the reader went away


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(("call", "crm.status.list", "--webhook", "{url}", "filter[ENTITY_ID]=SOURCE"), id="call"),
        pytest.param(("export", "crm.stagehistory.list", "--webhook", "{url}", "entityTypeId=2"), id="export"),
        pytest.param(("methods",), id="methods"),
    ],
)
def test_a_closed_output_ends_every_command_quietly(emu: Emulator, argv: tuple[str, ...]) -> None:
    code, _, err = read_then_close(*(word.format(url=emu.webhook_url) for word in argv), lines=0)
    assert err == ""
    assert code == cli.EXIT_OUTPUT_CLOSED
