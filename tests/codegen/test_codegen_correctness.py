"""The generator is correct by construction: component identity, reserved names, unknown keys, one error table."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codegen.build import build, wrap
from codegen.load import load
from codegen.render import hand_written_files
from codegen.validate import validate
from tests.codegen.conftest import BuildFragment, spec_error_text

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "openapi.yaml"
GENERATED = ROOT / "generated" / "b24crm"


def run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=600)


def package_from(spec_root: Path, site: Path) -> Path:
    """The hand-written part of generated/b24crm plus the modules ``spec_root`` renders, in ``site/b24crm``."""
    out = site / "b24crm"
    for rel, data in hand_written_files(GENERATED).items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    result = run([sys.executable, "-m", "codegen", "--spec", str(spec_root), "--out", str(out)], cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return site


# ---- named components keep their identity ------------------------------------------------------------------


def test_every_model_docstring_is_its_own_schemas_description() -> None:
    spec = load(SPEC)
    validate(spec)
    package = build(spec)
    components: dict[str, Any] = {}
    for data in spec.raw_files.values():
        for schema in ((data or {}).get("components") or {}).get("schemas", {}).values():
            if isinstance(schema, dict) and "properties" in schema:
                components[schema["title"]] = schema
    checked = 0
    for model in package.models:
        if model.name not in components:
            continue  # an inline schema: no component to compare with
        own = components[model.name].get("description", model.name)
        assert model.doc_lines[: len(wrap(own))] == wrap(own), model.name
        checked += 1
    assert checked >= 20  # most models are named components


def test_a_ref_with_its_own_description_documents_the_field_not_the_model(
    op: Callable[..., dict[str, Any]], build_fragment: BuildFragment
) -> None:
    shared = {
        "type": "object",
        "title": "Shared",
        "description": "What a Shared is.",
        "properties": {"ID": {"type": "integer"}},
    }
    result = {
        "type": "object",
        "title": "Holder",
        "properties": {
            "first": {"$ref": "#/components/schemas/Shared", "description": "The first use."},
            "second": {"$ref": "#/components/schemas/Shared", "description": "The second use."},
        },
    }
    pkg = build_fragment([op("crm.thing.get", result=result)], schemas={"Shared": shared})
    models = {m.name: m for m in pkg.models}
    assert models["Shared"].doc_lines[0] == "What a Shared is."
    docs = {f.wire_name: f.doc for f in models["Holder"].fields}
    assert docs == {"first": "The first use.", "second": "The second use."}


# ---- reserved names ------------------------------------------------------------------------------------------

RESERVED_PARAMS = {
    name: {"type": "integer", "description": f"a parameter named {name}"}
    for name in ("limit", "progress", "afterId", "request_options", "class", "self", "from")
}
RESERVED_FIELDS = {
    name: {"type": "integer"} for name in ("ID", "additional_properties", "class", "limit", "self", "import")
}


def _reserved_spec(spec_folder: Callable[..., Path], op: Callable[..., dict[str, Any]], root: str) -> Path:
    row = {"type": "object", "title": "Odd", "properties": RESERVED_FIELDS}
    paged_result = {"type": "array", "items": {"$ref": "#/components/schemas/Odd"}}
    params = {
        **RESERVED_PARAMS,
        "order": {"type": "object"},
        "filter": {"type": "object"},
        "start": {"type": "integer"},
    }
    pagination = {
        "page_size": 50,
        "items_path": [],
        "id_field": "ID",
        "order_param": "order",
        "filter_param": "filter",
        "start_param": "start",
        "count_free": True,
    }
    return spec_folder(
        [op(f"{root}.odd.list", params=params, result=paged_result, **{"x-b24-pagination": pagination})],
        schemas={"Odd": row},
    )


def test_reserved_names_are_renamed_and_the_package_imports_and_type_checks(
    tmp_path: Path, spec_folder: Callable[..., Path], op: Callable[..., dict[str, Any]]
) -> None:
    site = package_from(_reserved_spec(spec_folder, op, "crm"), tmp_path / "site")
    use = tmp_path / "use_odd.py"
    use.write_text(
        textwrap.dedent(
            """
            from collections.abc import Iterator

            from b24crm import Client, models


            def read(client: Client) -> Iterator[models.Odd]:
                page = client.crm.odd.list(limit_=1, progress_=2, after_id_=3, request_options_=4, class_=5)
                row: models.Odd = page.items[0]
                values: list[int | None] = [row.class_, row.additional_properties_, row.limit, row.self_, row.import_]
                del values
                return client.crm.odd.iter_all(limit_=1, self_=6, from_=7, limit=10, after_id=5)
            """
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(site), "MYPYPATH": str(site)}
    imported = run(
        [sys.executable, "-c", "import b24crm, b24crm.namespaces, b24crm.models; print('ok')"], cwd=site, env=env
    )
    assert imported.returncode == 0 and imported.stdout.strip() == "ok", imported.stderr
    checked = run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", os.devnull,
         "--config-file", os.devnull, "--follow-imports=silent", str(use)],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("root", ["portal", "call", "batch", "iter_all"])
def test_a_root_namespace_named_like_a_client_attribute_is_rejected_with_its_location(
    spec_folder: Callable[..., Path], op: Callable[..., dict[str, Any]], root: str
) -> None:
    text = spec_error_text(_reserved_spec(spec_folder, op, root))
    assert f"the root namespace {root!r} would shadow a Client attribute" in text
    assert f"group.yaml#/paths/~1{root}.odd.list/post" in text  # where to fix it


# ---- unknown keys ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "mutate", "message"),
    [
        ("a schema", lambda o: o["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
         ["result"].update({"maxlength": 3}), "unknown key 'maxlength' in a schema"),
        ("an operation", lambda o: o.update({"operationID": "x"}), "unknown key 'operationID' in an operation"),
        ("an error row", lambda o: o.update({"x-b24-errors": [{
            "name": "OddError", "kind": "not_found", "status": 400, "code": "", "message": "m", "mesage": "typo",
        }]}), "unknown key 'mesage' in an error row"),
        ("pagination", lambda o: o.update({"x-b24-pagination": {"page_size": 50, "pagesize": 50}}),
         "unknown key 'pagesize' in x-b24-pagination"),
    ],
)  # fmt: skip
def test_unknown_keys_anywhere_are_rejected(
    spec_folder: Callable[..., Path],
    op: Callable[..., dict[str, Any]],
    where: str,
    mutate: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    operation = op("crm.thing.get")
    mutate(operation)
    text = spec_error_text(spec_folder([operation]))
    assert message in text, (where, text)
    assert "crm.thing.get" in text  # the location names the operation


def test_a_yaml_flow_mapping_accident_is_caught(tmp_path: Path, spec_folder: Callable[..., Path], op: Any) -> None:
    """``{type: string, description: a, b}`` parses into a cut-off description plus a junk key ``b``."""
    root = spec_folder([op("crm.thing.get")])
    common = root.parent / "common.yaml"
    common.write_text(
        common.read_text(encoding="utf-8").replace(
            "properties:\n", "properties:\n        note: {type: string, description: Seconds, rounded}\n", 1
        ),
        encoding="utf-8",
    )
    assert "unknown key 'rounded' in a schema" in spec_error_text(root)


# ---- one error table: runtime and emulator follow a changed row --------------------------------------------


CHANGED_ROW = """
import b24crm
from b24crm import errors
from b24crm.runtime.retry import RetryPolicy
from b24crm.testing import Emulator

assert errors.StatusNotFoundError.kind.name == "transient"
with Emulator(seed="demo") as emu:
    client = emu.client(rate_limit="off", retry_policy=RetryPolicy(max_attempts=3, base_delay=0.0))
    before = emu.stats()["requests"]
    try:
        client.crm.status.get(id=987654)
    except errors.StatusNotFoundError as exc:
        print(exc.description)
        print(exc.may_have_run, isinstance(exc, errors.ServerError))
    print(emu.stats()["requests"] - before)
"""


def test_a_changed_error_row_changes_the_runtime_and_the_emulator(tmp_path: Path) -> None:
    spec = tmp_path / "spec"
    shutil.copytree(ROOT / "spec", spec)
    status = spec / "status.yaml"
    text = status.read_text(encoding="utf-8")
    row = "        - name: StatusNotFoundError\n          kind: not_found\n"
    assert text.count(row) >= 1
    text = text.replace(row, row.replace("not_found", "transient")).replace(
        "message: Status is not found.", "message: Status is gone (changed row)."
    )
    status.write_text(text, encoding="utf-8")
    site = package_from(spec / "openapi.yaml", tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = run([sys.executable, "-c", CHANGED_ROW], cwd=site, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    description, flags, requests = result.stdout.strip().splitlines()
    assert description == "Status is gone (changed row)."  # the emulator answers with the row's text
    assert flags == "True True"  # kind transient: may have run, a ServerError now
    assert requests == "3"  # crm.status.get is idempotent: a transient error is repeated up to the budget


# ---- the kitchen sink's whole package type-checks ------------------------------------------------------------


def test_kitchen_sink_package_passes_mypy_strict(tmp_path: Path) -> None:
    """Every extension and wire type at once: the rendered modules, with the runtime beside them."""
    kitchen = Path(__file__).resolve().parent / "fixtures" / "kitchen_sink" / "openapi.yaml"
    site = package_from(kitchen, tmp_path / "site")
    result = run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", os.devnull,
         "--config-file", os.devnull, "-p", "b24crm"],
        cwd=site,
        env={**os.environ, "MYPYPATH": str(site)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


# ---- mapping parameters are TypedDicts: dict literals are checked ---------------------------------------------

DICT_LITERALS = """
from b24crm import Client


def use(client: Client) -> None:
    client.crm.status.add(fields={"ENTITY_ID": "SOURCE", "STATUS_ID": "FAIR", "NAME": "Trade fair", "SORT": 10})
    client.crm.status.add(fields={"ENTITY_ID": "SOURCE", "STATUS_ID": "FAIR", "NAME": "x", "SROT": 10})
    client.crm.status.add(fields={"ENTITY_ID": "SOURCE", "STATUS_ID": "FAIR", "NAME": "x", "SORT": "10"})
    client.crm.status.add(fields={"ENTITY_ID": "SOURCE", "NAME": "x"})
    client.crm.deal.add(fields={"TITLE": "x", "UF_CRM_1": 5})
    client.crm.item.add(entity_type_id=2, fields={"title": "x", "ufCrm1_1": 5})
"""


def test_dict_literals_for_request_objects_are_type_checked(tmp_path: Path) -> None:
    """A closed schema's TypedDict twin catches a misspelt key, a wrong type and a missing required key; an
    open one (user fields) accepts keys it does not list."""
    use = tmp_path / "use_dicts.py"
    use.write_text(DICT_LITERALS, encoding="utf-8")
    result = run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", os.devnull,
         "--config-file", os.devnull, "--follow-imports=silent", str(use)],
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(ROOT / "generated")},
    )  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if ": error:" in line]
    errors = sorted(int(line.split(":")[1]) for line in lines)
    assert errors == [7, 8, 9], result.stdout  # SROT, "10", no STATUS_ID; lines 6, 10, 11 are fine
