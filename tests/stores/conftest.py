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

from tests.pg import postgres_url_or_skip, scratch_schema
from zart.memory import MemoryStore

STORE_KINDS = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    kind = request.param
    if kind == "memory":
        yield MemoryStore()
        return
    if kind == "sqlite":
        from zart.sqlite import SqliteStore

        s: Any = SqliteStore(str(tmp_path / "zart.db"))
        s.migrate()
        try:
            yield s
        finally:
            s.close()
        return
    from zart.postgres import PostgresStore

    url = postgres_url_or_skip()
    with scratch_schema(url) as schema:
        s = PostgresStore(url, schema=schema)
        s.migrate()
        try:
            yield s
        finally:
            s.close()
