"""`pip install .` gives a complete package: typed, licensed, versioned, with the CLI, the emulator and only
attrs, cattrs and urllib3 as runtime dependencies."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_is_complete_and_depends_only_on_the_runtime_three(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--quiet", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("b24crm-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(info).decode())
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
        init = archive.read("b24crm/__init__.py").decode()
    for required in (
        "b24crm/py.typed",
        "b24crm/_registry.py",
        "b24crm/runtime/client.py",
        "b24crm/testing/emulator.py",
    ):
        assert required in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert not any("__pycache__" in n for n in names)
    assert metadata["License-Expression"] == "MIT"
    assert f'__version__ = "{metadata["Version"]}"' in init
    runtime = sorted(r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r)
    assert runtime == ["attrs==26.1.0", "cattrs==26.2.1", "urllib3==2.8.0"]
    assert "b24crm = b24crm.cli:main" in entry_points
    assert "b24crm.testing.pytest_plugin" in entry_points
