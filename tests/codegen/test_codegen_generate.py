"""The real spec's package: fresh, reproducible, extensible without touching codegen/, lint- and type-clean."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from codegen.__main__ import generate, main, package_version
from codegen.render import differences, hand_written_files, rendered_files, write

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "openapi.yaml"
GENERATED = ROOT / "generated" / "b24crm"
EXTEND = Path(__file__).resolve().parent / "fixtures" / "extend" / "quote.yaml"
KITCHEN_SINK = Path(__file__).resolve().parent / "fixtures" / "kitchen_sink" / "openapi.yaml"
_CACHES = ("__pycache__", ".mypy_cache", ".ruff_cache")


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (caches aside): relative path -> bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part in _CACHES or part.endswith(".pyc") for part in p.relative_to(folder).parts)
    }


def run(args: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


# ---- freshness and determinism -------------------------------------------------------------------------


def package_copy(out: Path) -> Path:
    """The hand-written part of generated/b24crm copied to ``out``, ready for rendered modules."""
    for rel, data in hand_written_files(GENERATED).items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    return out


def test_generated_package_is_exactly_what_the_spec_gives(tmp_path: Path) -> None:
    out = tmp_path / "b24crm"
    assert main(["--spec", str(SPEC), "--out", str(out)]) == 0
    fresh = tree(out)
    committed = {rel: (GENERATED / rel).read_bytes() for rel in rendered_files(GENERATED)}
    assert sorted(fresh) == sorted(committed), (
        f"missing from generated/: {sorted(set(fresh) - set(committed))}; "
        f"stale in generated/: {sorted(set(committed) - set(fresh))} — run `make generate`"
    )
    changed = sorted(rel for rel in fresh if fresh[rel] != committed[rel])
    assert not changed, f"generated/ differs from the spec in {changed} — run `make generate`"


def test_check_mode_agrees(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "b24crm"
    assert main(["--out", str(out)]) == 0
    assert main(["--check", "--out", str(out)]) == 0
    header = (out / "enums.py").read_text(encoding="utf-8").splitlines()[0]
    (out / "models.py").write_text(f"{header}\n# edited by hand\n", encoding="utf-8")
    (out / "extra.py").write_text(f"{header}\n", encoding="utf-8")
    (out / "helpers.py").write_text("# hand-written, beside the rendered modules\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["--check", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "changed: models.py" in err
    assert "stale: extra.py" in err
    assert "helpers.py" not in err  # hand-written files are not the generator's business
    (out / "errors.py").write_text("# hand-written at a rendered path\n", encoding="utf-8")
    assert main(["--check", "--out", str(out)]) == 1
    assert "conflict: errors.py is hand-written" in capsys.readouterr().err
    assert main(["--out", str(out)]) == 1  # and generating refuses to overwrite it
    assert (out / "errors.py").read_text(encoding="utf-8") == "# hand-written at a rendered path\n"


def test_generating_twice_gives_the_same_bytes() -> None:
    version = package_version()
    assert generate(SPEC, version) == generate(SPEC, version)


def test_regenerating_changes_nothing_and_removes_stale_files(tmp_path: Path) -> None:
    files = generate(SPEC, package_version())
    out = tmp_path / "b24crm"
    write(files, out)
    first = tree(out)
    assert first == files
    assert write(files, out) == []
    assert tree(out) == first
    header = files["enums.py"].split(b"\n", 1)[0] + b"\n"
    (out / "stale.py").write_bytes(header + b"x = 1\n")
    (out / "old" / "deep").mkdir(parents=True)
    (out / "old" / "deep" / "gone.py").write_bytes(header)
    (out / "kept.py").write_bytes(b"# hand-written: never removed\n")
    assert sorted(write(files, out)) == ["stale: old/deep/gone.py", "stale: stale.py"]
    (out / "kept.py").unlink()
    assert tree(out) == first
    assert not (out / "old").exists()
    assert differences(files, out) == []


def test_generated_files_carry_the_spec_hash_header() -> None:
    files = generate(SPEC, package_version())
    init = files["__init__.py"].decode()
    for name in ("__init__.py", "_client.py", "_registry.py", "namespaces/__init__.py", "models.py", "errors.py"):
        first = files[name].decode().splitlines()[0]
        assert first.startswith("# Generated by b24crm codegen from spec sha256="), name
        assert first.split("sha256=")[1][:16] in init
    assert all(b"\r\n" not in data for data in files.values())


# ---- the extend path ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def extended_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """spec/ + fixtures/extend/quote.yaml, generated by `python -m codegen` into a temporary folder."""
    base = tmp_path_factory.mktemp("extend")
    spec = base / "spec"
    shutil.copytree(ROOT / "spec", spec)
    shutil.copy(EXTEND, spec / "quote.yaml")
    root = (spec / "openapi.yaml").read_text(encoding="utf-8")
    assert "\npaths:\n" in root
    ref = "  /crm.quote.list:\n    $ref: 'quote.yaml#/paths/~1crm.quote.list'\n"
    (spec / "openapi.yaml").write_text(root.replace("\npaths:\n", "\npaths:\n" + ref, 1), encoding="utf-8")
    out = package_copy(base / "site" / "b24crm")
    result = run([sys.executable, "-m", "codegen", "--spec", str(spec / "openapi.yaml"), "--out", str(out)])
    assert result.returncode == 0, result.stderr
    return out.parent


CHECK_EXTENDED = """
import inspect, sys
import b24crm
from b24crm import _registry, models, namespaces
from b24crm.runtime.types import UNSET

assert b24crm.__file__.startswith(sys.argv[1]), b24crm.__file__
spec = _registry.REGISTRY.methods["crm.quote.list"]
assert spec.pagination is not None
assert spec.pagination.items_path == () and spec.pagination.id_field == "ID" and spec.pagination.count_free
assert "crm.status.add" in _registry.REGISTRY.methods  # the documented methods are all still there

assert inspect.signature(namespaces.CrmApi.quote.fget).return_annotation in ("CrmQuoteApi", namespaces.CrmQuoteApi)
list_params = list(inspect.signature(namespaces.CrmQuoteApi.list).parameters)
assert list_params == ["self", "select", "filter", "order", "start", "request_options"], list_params
iter_params = list(inspect.signature(namespaces.CrmQuoteApi.iter_all).parameters)
expected = ["self", "select", "filter", "order", "limit", "progress", "after_id", "request_options"]
assert iter_params == expected, iter_params

calls = []

class FakeInvoker:
    def invoke_page(self, method, params, item, options):
        calls.append(("page", method.name, params, item.type))
        return "a page"

    def iter_all(self, method, params, item, *, limit, progress, after_id, options):
        calls.append(("iter", method.name, params, item.type, limit, after_id))
        return iter(())

api = namespaces.CrmApi(FakeInvoker()).quote
assert api.list(filter={">ID": 5}, select=["ID", "TITLE"], start=-1) == "a page"
assert list(api.iter_all(order={"ID": "ASC"}, limit=10, after_id=7)) == []
sent = {"select": ["ID", "TITLE"], "filter": {">ID": 5}, "order": UNSET, "start": -1}
assert calls[0] == ("page", "crm.quote.list", sent, models.Quote), calls[0]
sent = {"select": UNSET, "filter": UNSET, "order": {"ID": "ASC"}}
assert calls[1] == ("iter", "crm.quote.list", sent, models.Quote, 10, 7), calls[1]

fields = {f.name: f.metadata.get("wire") for f in models.Quote.__attrs_attrs__}
assert fields["id"] == "ID" and fields["status_id"] == "STATUS_ID" and fields["date_create"] == "DATE_CREATE", fields
assert "additional_properties" in fields
from b24crm import errors
assert issubclass(errors.QuoteAccessDeniedError, errors.AccessDenied)
print("ok")
"""

USE_EXTENDED = """
from collections.abc import Iterator

from b24crm import Client, Page, models


def newest(client: Client) -> tuple[Page[models.Quote], list[int]]:
    page: Page[models.Quote] = client.crm.quote.list(filter={">ID": 5}, select=["ID", "TITLE"], start=-1)
    quotes: Iterator[models.Quote] = client.crm.quote.iter_all(order={"ID": "DESC"}, limit=10)
    ids: list[int] = [quote.id for quote in quotes]
    title: str | None = page.items[0].title
    del title
    client.crm.quote.list(start="0")  # type: ignore[arg-type]
    client.crm.quote.list(bogus=1)  # type: ignore[call-arg]
    return page, ids
"""


def test_extend_path_gives_a_typed_method_without_touching_codegen(extended_package: Path) -> None:
    models_py = (extended_package / "b24crm" / "models.py").read_text(encoding="utf-8")
    assert models_py.count("class Quote(WireRecord):") == 1
    env = {**os.environ, "PYTHONPATH": str(extended_package)}
    result = run([sys.executable, "-c", CHECK_EXTENDED, str(extended_package)], cwd=extended_package, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok"


def test_extend_path_is_typed_for_mypy(extended_package: Path, tmp_path: Path) -> None:
    """mypy --strict accepts real use of client.crm.quote and rejects wrong arguments (--warn-unused-ignores)."""
    use = tmp_path / "use_quotes.py"
    use.write_text(textwrap.dedent(USE_EXTENDED), encoding="utf-8")
    env = {**os.environ, "MYPYPATH": str(extended_package)}
    result = run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--follow-imports=silent",
            "--no-incremental",
            "--config-file",
            os.devnull,
            "--cache-dir",
            os.devnull,
            str(use),
        ],
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_tree_does_not_know_crm_quote_list() -> None:
    """The extension lives only in the temporary copy: spec/ and generated/ do not describe crm.quote.list."""
    assert "crm.quote.list" not in (GENERATED / "_registry.py").read_text(encoding="utf-8")


# ---- lint and types of the real package ---------------------------------------------------------------------


def test_generated_package_passes_ruff() -> None:
    result = run([sys.executable, "-m", "ruff", "check", "--no-cache", "generated/b24crm"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_package_passes_mypy_strict() -> None:
    result = run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", os.devnull, "generated/b24crm"]
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_kitchen_sink_output_passes_ruff(tmp_path: Path) -> None:
    """The fixture's generated modules are lint-clean too, under the repo's ruff rules."""
    files = generate(KITCHEN_SINK, "0.0.0")
    out = tmp_path / "b24crm"
    write(files, out)
    # pyproject's per-file-ignores name generated/b24crm/...: the same two data modules, here.
    ignores = 'lint.per-file-ignores = {"_registry.py" = ["E501"], "errors.py" = ["E501"]}'
    result = run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--config",
            str(ROOT / "pyproject.toml"),
            "--config",
            ignores,
            ".",
        ],
        cwd=out,
    )
    assert result.returncode == 0, result.stdout + result.stderr
