"""``b24crm --limiter-store URL``: the command line's calls count against the shared bucket too."""

from __future__ import annotations

import io

import pytest
import redis

from b24crm import cli
from b24crm.testing import Emulator


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_limiter_store_option_shares_the_bucket(redis_url: str, redis_client: redis.Redis) -> None:
    with Emulator(seed="demo") as emu:
        code, _, err = run("--webhook", emu.webhook_url, "--limiter-store", redis_url, "call", "crm.enum.ownertype")
    assert code == 0, err
    assert redis_client.exists("b24crm:bucket:127.0.0.1")


def test_limiter_store_from_the_environment(
    redis_url: str, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cli.ENV_LIMITER_STORE, redis_url)
    with Emulator(seed="demo") as emu:
        code, _, err = run("--webhook", emu.webhook_url, "call", "crm.enum.ownertype")
    assert code == 0, err
    assert redis_client.exists("b24crm:bucket:127.0.0.1")


def test_a_limiter_store_that_is_not_a_store_url_is_one_usage_line() -> None:
    hook = "http://127.0.0.1:9/rest/1/code/"
    code, out, err = run("--webhook", hook, "--limiter-store", "http://x:pw@h/", "call", "crm.enum.ownertype")
    assert code == cli.EXIT_USAGE
    assert out == ""
    assert err.count("\n") == 1 and "limiter_store must be" in err and "pw" not in err
