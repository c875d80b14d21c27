"""The zart pytest plugin: the ``zart_env`` fixture (a fresh ``TestEnv``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .testing import TestEnv


@pytest.fixture
def zart_env() -> Iterator[TestEnv]:
    """An in-memory zart engine on a virtual clock, closed after the test."""
    env = TestEnv()
    try:
        yield env
    finally:
        env.close()
