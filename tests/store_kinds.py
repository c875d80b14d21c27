"""Opening each kind of store for a test: memory, a real SQLite file, a real
PostgreSQL server in a scratch schema, and a real MySQL/MariaDB server in a
scratch database (with CI=true an unreachable server fails the run instead
of skipping it)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.mysql import mysql_url_or_skip, scratch_database
from tests.pg import postgres_url_or_skip, scratch_schema
from zart.stores.memory import MemoryStore

STORE_KINDS = ["memory", "sqlite", "postgres", "mysql"]
Clock = Callable[[], datetime]


@contextlib.contextmanager
def open_store(kind: str, tmp_path: Path, clock: Clock | None = None) -> Iterator[Any]:
    """A migrated store of ``kind``, closed (and its schema dropped) after.
    ``clock``: the store's clock (default: its own)."""
    options: dict[str, Any] = {} if clock is None else {"clock": clock}
    if kind == "memory":
        yield MemoryStore(**options)
        return
    if kind == "sqlite":
        from zart.stores.sqlite import SqliteStore

        s: Any = SqliteStore(str(tmp_path / "zart.db"), **options)
        s.migrate()
        try:
            yield s
        finally:
            s.close()
        return
    if kind == "mysql":
        from zart.stores.mysql import MySQLStore

        with scratch_database(mysql_url_or_skip()) as url:
            s = MySQLStore(url, **options)
            s.migrate()
            try:
                yield s
            finally:
                s.close()
        return
    from zart.stores.postgres import PostgresStore

    url = postgres_url_or_skip()
    with scratch_schema(url) as schema:
        s = PostgresStore(url, schema=schema, **options)
        s.migrate()
        try:
            yield s
        finally:
            s.close()
