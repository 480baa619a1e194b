"""JSON exactly as the portal's PHP ``json_encode`` writes it (docs/protocol.md#json-quirks).

Why: peers' clients and byte-level tests see the real server's quirks, so the emulator reproduces them:
``< > & ' "`` inside strings as ``\\u003C \\u003E \\u0026 \\u0027 \\u0022`` (JSON_HEX_*), ``/`` as ``\\/``,
Unicode left raw except U+2028/U+2029, and PHP array semantics — an empty map is ``[]`` and a map keyed
``0..n-1`` in order is a list (so a batch with list ``cmd`` answers with a list).
"""

from __future__ import annotations

import json
import re
from typing import Any

from b24crm.runtime.phpquery import php_array

__all__ = ["dumps"]

_ESCAPED_QUOTE = re.compile(r'(?<!\\)((?:\\\\)*)\\"')
_TRANSLATE = str.maketrans(
    {
        "<": "\\u003C",
        ">": "\\u003E",
        "&": "\\u0026",
        "'": "\\u0027",
        "/": "\\/",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)
_SPECIAL = re.compile("[<>&'/\u2028\u2029]")


def dumps(value: Any) -> bytes:
    """Serialize ``value`` the way the portal does and return UTF-8 bytes."""
    text = json.dumps(php_array(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if '\\"' in text:
        text = _ESCAPED_QUOTE.sub(r"\1\\u0022", text)
    if _SPECIAL.search(text):
        # These characters can only occur inside JSON strings, so a plain translation is safe.
        text = text.translate(_TRANSLATE)
    return text.encode("utf-8", "replace")
