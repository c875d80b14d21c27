"""Store fixtures: one contract suite runs against every store.

SQLite runs on a real file; PostgreSQL on a real server (ZART_TEST_POSTGRES_URL,
default postgresql://postgres@127.0.0.1:5432/test), each test in a schema of
its own. With CI=true a missing PostgreSQL fails the run instead of skipping.
Every store reads the test's clock (``clock``), which stands still until moved.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.store_kinds import STORE_KINDS, open_store
from tests.stores.scenario import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> Iterator[Any]:
    with open_store(request.param, tmp_path, clock) as s:
        yield s
