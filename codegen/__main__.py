"""``python -m codegen [--spec spec/openapi.yaml] [--out generated/b24crm] [--check]``."""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from codegen.build import build
from codegen.diagnostics import SpecError
from codegen.load import SpecLoadError, load
from codegen.render import RenderConflict, differences, render, write
from codegen.validate import validate

ROOT = Path(__file__).resolve().parent.parent


def package_version(pyproject: Path = ROOT / "pyproject.toml") -> str:
    return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])


def generate(spec_path: Path, version: str) -> dict[str, bytes]:
    """Load, validate, build the IR and render: the whole pipeline, minus writing."""
    spec = load(spec_path)
    validate(spec)
    return render(build(spec), version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen", description="Generate generated/b24crm from spec/.")
    parser.add_argument("--spec", type=Path, default=ROOT / "spec" / "openapi.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "generated" / "b24crm")
    parser.add_argument("--check", action="store_true", help="fail if --out differs from what would be generated")
    args = parser.parse_args(argv)
    try:
        files = generate(args.spec, package_version())
    except (SpecError, SpecLoadError) as exc:
        print(f"codegen: {exc}", file=sys.stderr)
        return 2
    if args.check:
        diff = differences(files, args.out)
        if diff:
            print(f"codegen: {args.out} is stale ({len(diff)} file(s)); run `make generate`:", file=sys.stderr)
            for line in diff:
                print(f"  {line}", file=sys.stderr)
            return 1
        print(f"codegen: {args.out} is fresh ({len(files)} files)")
        return 0
    try:
        changes = write(files, args.out)
    except RenderConflict as exc:
        print(f"codegen: refusing to overwrite hand-written files: {exc}", file=sys.stderr)
        return 1
    print(f"codegen: {len(files)} files in {args.out}, {len(changes)} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
