"""A pytest plugin: the ``b24_emulator`` fixture (registered by the package's ``pytest11`` entry point).

``def test_x(b24_emulator): client = b24_emulator.client()`` — an emulator shared by the session, reset to
its seed before each test (fast). Two ways to choose what it holds:

* override the ``b24_emulator_options`` fixture in a ``conftest.py`` (``return {"seed": "demo",
  "stage_history": 1000}``): every test below that folder shares one emulator started with those options;
  folders asking for the same options share the same one;
* mark a test ``@pytest.mark.b24_emulator(plan="standard", seed="empty")`` to get a dedicated emulator,
  started for that test alone and stopped after it.

For asyncio tests (with pytest-asyncio installed): ``async def test_x(b24_async_client):`` gets a
``b24crm.AsyncClient`` on that emulator, opened on the test's loop and closed after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from b24crm.testing.emulator import Emulator

if TYPE_CHECKING:
    from b24crm._client import AsyncClient

__all__ = [
    "EmulatorPool",
    "b24_async_client",
    "b24_emulator",
    "b24_emulator_options",
    "b24_emulator_pool",
    "b24_emulator_session",
]

#: What ``b24_emulator`` holds unless a conftest says otherwise.
DEFAULT_OPTIONS: dict[str, Any] = {"seed": "demo"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "b24_emulator(**options): run this test against a dedicated Emulator(**options)")


class EmulatorPool:
    """Emulators started on first use, one per distinct set of options, stopped at the end of the session.

    Session-scoped fixtures cannot take per-folder options (pytest would reuse the first one built), so the
    pool is the session's state and the options are a plain per-test fixture.
    """

    def __init__(self) -> None:
        self._running: dict[str, Emulator] = {}

    def get(self, **options: Any) -> Emulator:
        key = repr(sorted(options.items()))
        if key not in self._running:
            self._running[key] = Emulator(**options).start()
        return self._running[key]

    def close(self) -> None:
        while self._running:
            _key, emulator = self._running.popitem()
            emulator.stop()


@pytest.fixture(scope="session")
def b24_emulator_pool() -> Iterator[EmulatorPool]:
    pool = EmulatorPool()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def b24_emulator_options() -> dict[str, Any]:
    """The options of the shared emulator: override this fixture in a conftest to change them."""
    return dict(DEFAULT_OPTIONS)


@pytest.fixture(scope="session")
def b24_emulator_session(b24_emulator_pool: EmulatorPool) -> Emulator:
    """The demo-seeded emulator of the pool (not reset: use ``b24_emulator`` in tests)."""
    return b24_emulator_pool.get(**DEFAULT_OPTIONS)


@pytest.fixture
def b24_emulator(
    request: pytest.FixtureRequest, b24_emulator_options: dict[str, Any], b24_emulator_pool: EmulatorPool
) -> Iterator[Emulator]:
    """A freshly reset shared emulator, or a dedicated one when the test carries the marker."""
    marker = request.node.get_closest_marker("b24_emulator")
    if marker is not None:
        with Emulator(**marker.kwargs) as emulator:
            yield emulator
        return
    shared = b24_emulator_pool.get(**b24_emulator_options)
    shared.reset()
    yield shared


try:  # the async fixture needs pytest-asyncio (the test extra); without it the plugin offers the sync ones
    import pytest_asyncio
except ImportError:  # pragma: no cover - installed wherever b24crm's own tests run
    pass
else:

    @pytest_asyncio.fixture
    async def b24_async_client(b24_emulator: Emulator) -> AsyncIterator[AsyncClient]:
        """An ``AsyncClient`` on ``b24_emulator`` (webhook auth, limiter matched to the plan), closed after."""
        async with b24_emulator.async_client() as client:
            yield client
