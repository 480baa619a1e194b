"""The base install has no redis-py: everything but a redis:// store works, and that one says what to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["redis"] = None  # as if b24crm[redis] were not installed
    import b24crm
    from b24crm.runtime import redis_store, stores, tokens  # importable without redis-py
    client = b24crm.Client.from_webhook("https://portal.example/rest/1/code/", limiter_store="memory")
    client.close()
    try:
        b24crm.Client.from_webhook("https://portal.example/rest/1/code/", limiter_store="redis://127.0.0.1:1/0")
    except ImportError as exc:
        print(exc)
    """
)


def test_a_redis_store_without_redis_py_names_the_extra() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "a redis:// store needs redis-py: pip install 'b24crm[redis]'"
