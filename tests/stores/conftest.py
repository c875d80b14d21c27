"""Store fixtures: one contract suite runs against every store.

SQLite runs on a real file; PostgreSQL on a real server (ZART_TEST_POSTGRES_URL,
default postgresql://postgres@127.0.0.1:5432/test), each test in a schema of
its own. With CI=true a missing PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.store_kinds import STORE_KINDS, open_store


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    with open_store(request.param, tmp_path) as s:
        yield s
