"""Suite-wide settings. Tests never write into the repository: what tools keep between runs goes elsewhere."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis.configuration import set_hypothesis_home_dir

#: Hypothesis keeps the failing examples it replays on the next run (and its caches) here, not in ./.hypothesis.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "b24crm-hypothesis")
