"""A pytest plugin: the ``b24_emulator`` fixture (registered by the package's ``pytest11`` entry point).

``def test_x(b24_emulator): client = b24_emulator.client()`` — one emulator per test session, reset to the
seed before each test (fast). Mark a test ``@pytest.mark.b24_emulator(plan="standard", seed="empty")`` to
get a dedicated emulator with those options instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from b24crm.testing.emulator import Emulator

__all__ = ["b24_emulator", "b24_emulator_session"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "b24_emulator(**options): run this test against a dedicated Emulator(**options)")


@pytest.fixture(scope="session")
def b24_emulator_session() -> Iterator[Emulator]:
    """A demo-seeded emulator shared by the whole session."""
    with Emulator(seed="demo") as emulator:
        yield emulator


@pytest.fixture
def b24_emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A freshly reset emulator (shared), or a dedicated one when the test carries the marker."""
    marker = request.node.get_closest_marker("b24_emulator")
    if marker is not None:
        with Emulator(**marker.kwargs) as emulator:
            yield emulator
        return
    shared: Emulator = request.getfixturevalue("b24_emulator_session")
    shared.reset()
    yield shared
