"""``python -m b24crm ...`` is the ``b24crm`` command."""

from __future__ import annotations

import sys

from b24crm.cli import main

sys.exit(main())
