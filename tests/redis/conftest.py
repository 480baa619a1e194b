"""Fixtures of the shared-store suite: a real redis-server per session, flushed before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from redisproc import RedisProcess


@pytest.fixture(scope="session")
def redis_process() -> Iterator[RedisProcess]:
    server = RedisProcess().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_process: RedisProcess) -> Iterator[str]:
    """The server's URL, with an empty database (restarted first if an earlier test killed it)."""
    try:
        redis.Redis.from_url(redis_process.url).flushall()
    except redis.ConnectionError:
        redis_process.start()
    yield redis_process.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()
