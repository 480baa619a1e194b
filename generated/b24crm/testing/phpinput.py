"""PHP's ``max_input_vars`` cap on the emulator's form and query input (default 1,000, php.ini).

Why here and not in ``runtime/phpquery.py``: the cap is server behaviour, not encoding — a client must
never drop its own keys. PHP does not fail a request over it: it logs the warning "Input variables
exceeded 1000" and carries on with what it kept, so the emulator does the same, silently. Cutting the
text *before* ``decode_query`` also keeps a 500,000-key body cheap to answer.

Two counting rules, both from ``main/php_variables.c``:

* ``$_GET``, ``parse_str()`` (a raw body of another media type, batch command queries) and, unverified,
  ``multipart/form-data`` fields: ``php_default_treat_data`` splits on ``&`` with ``strtok`` (empty pieces
  are skipped and not counted) and stops *before* registering variable 1,001: the first 1,000 stay.
* ``application/x-www-form-urlencoded`` ``$_POST``: ``add_post_vars`` registers a piece and only then
  counts it (empty pieces count too), so variable 1,001 is still kept — PHP's long-standing off-by-one.

A variable is one ``name=value`` piece: ``fields[PHONE][0][VALUE]=1`` counts once.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from b24crm.runtime.phpquery import decode_query

__all__ = ["MAX_INPUT_VARS", "cap_form_post", "cap_treat_data", "parse_form_post", "parse_str"]

#: php.ini ``max_input_vars`` default.
MAX_INPUT_VARS = 1000

_PIECE = re.compile(r"[^&]+")


def cap_treat_data(text: str, limit: int = MAX_INPUT_VARS) -> str:
    """``text`` cut to the variables ``php_default_treat_data`` keeps (the first ``limit`` non-empty pieces)."""
    if text.count("&") < limit:
        return text  # fewer than limit + 1 pieces: nothing to cut
    return "&".join(m.group(0) for m in itertools.islice(_PIECE.finditer(text), limit))


def cap_form_post(text: str, limit: int = MAX_INPUT_VARS) -> str:
    """``text`` cut to the variables ``add_post_vars`` keeps (the first ``limit + 1`` pieces, empty ones included)."""
    pieces = text.split("&", limit + 1)
    return text if len(pieces) <= limit + 1 else "&".join(pieces[: limit + 1])


def parse_str(text: str) -> dict[str, Any]:
    """PHP ``parse_str`` / ``$_GET`` with the ``max_input_vars`` cap."""
    return decode_query(cap_treat_data(text))


def parse_form_post(text: str) -> dict[str, Any]:
    """An ``application/x-www-form-urlencoded`` ``$_POST`` with the ``max_input_vars`` cap."""
    return decode_query(cap_form_post(text))
