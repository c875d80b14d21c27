"""Opening each kind of store for a test: memory, a real SQLite file, and a
real PostgreSQL server in a scratch schema (with CI=true an unreachable
server fails the run instead of skipping it)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.pg import postgres_url_or_skip, scratch_schema
from zart.memory import MemoryStore

STORE_KINDS = ["memory", "sqlite", "postgres"]


@contextlib.contextmanager
def open_store(kind: str, tmp_path: Path) -> Iterator[Any]:
    """A migrated store of ``kind``, closed (and its schema dropped) after."""
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
