"""client.schedule(..., connection=conn): the execution is written in the
caller's own transaction on SQLite and PostgreSQL. A commit makes it (and
wakes a waiting worker), a rollback leaves no trace, and a connection of
the wrong kind or to another database is refused with nothing written."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import zart
from tests.pg import postgres_url_or_skip, scratch_schema
from zart.stores.memory import MemoryStore
from zart.stores.postgres import PostgresStore
from zart.stores.sqlite import SqliteStore


@zart.durable("ship")
def ship(order: str):  # type: ignore[no-untyped-def]
    return (yield zart.call("label", lambda: f"label for {order}"))


REGISTRY = zart.TaskRegistry([ship])


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(str(tmp_path / "app.db"))
    store.migrate()
    with sqlite3.connect(tmp_path / "app.db") as conn:
        conn.execute("CREATE TABLE orders (id TEXT PRIMARY KEY)")
    yield store
    store.close()


@pytest.fixture
def pg() -> Iterator[tuple[PostgresStore, str]]:
    url = postgres_url_or_skip()
    with scratch_schema(url) as schema:
        store = PostgresStore(url, schema=schema)
        store.migrate()
        try:
            yield store, url
        finally:
            store.close()


def _woken_after(store: Any, act: Any) -> bool:
    """Whether ``store.wait`` returns soon after ``act()`` (not at its timeout)."""
    done = threading.Event()

    def wait() -> None:
        store.wait(10.0)
        done.set()

    store.wait(0.01)  # the doorbell set up before anything happens
    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.2)
    act()
    woken = done.wait(5.0)
    waiter.join()
    return woken


def test_sqlite_a_commit_makes_it_and_wakes_a_worker(sqlite_store: SqliteStore) -> None:
    client = zart.Client(sqlite_store, REGISTRY)
    conn = sqlite3.connect(sqlite_store.path)
    conn.execute("INSERT INTO orders VALUES ('o-1')")
    eid = client.schedule(ship, "o-1", execution_id="ship-o-1", connection=conn)
    other = zart.Client(SqliteStore(sqlite_store.path), REGISTRY)
    with pytest.raises(zart.ExecutionNotFound):
        other.get(eid)  # not before the caller commits
    assert _woken_after(sqlite_store, conn.commit)
    assert other.get(eid).status == "pending"
    zart.Worker(sqlite_store, REGISTRY).run_until_idle()
    assert client.result(eid) == "label for o-1"
    conn.close()


def test_sqlite_a_rollback_leaves_no_trace(sqlite_store: SqliteStore) -> None:
    client = zart.Client(sqlite_store, REGISTRY)
    conn = sqlite3.connect(sqlite_store.path)
    conn.execute("INSERT INTO orders VALUES ('o-2')")
    client.schedule(ship, "o-2", execution_id="ship-o-2", connection=conn)
    conn.rollback()
    conn.close()
    assert client.list() == [] and client.counts() == {}


def test_sqlite_refuses_another_kind_and_another_file(
    sqlite_store: SqliteStore, tmp_path: Path
) -> None:
    client = zart.Client(sqlite_store, REGISTRY)
    elsewhere = sqlite3.connect(tmp_path / "other.db")
    with pytest.raises(ValueError, match="not to this store's database"):
        client.schedule(ship, "o", connection=elsewhere)
    with pytest.raises(ValueError, match="in-memory database"):
        client.schedule(ship, "o", connection=sqlite3.connect(":memory:"))
    with pytest.raises(TypeError, match=r"must be a sqlite3.Connection .* not builtins.str"):
        client.schedule(ship, "o", connection="app.db")
    assert client.list() == []
    assert elsewhere.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_postgres_a_commit_makes_it_and_a_rollback_leaves_nothing(
    pg: tuple[PostgresStore, str],
) -> None:
    import psycopg

    store, url = pg
    client = zart.Client(store, REGISTRY)
    with psycopg.connect(url) as conn:
        client.schedule(ship, "o-1", execution_id="ship-o-1", connection=conn)
        with pytest.raises(zart.ExecutionNotFound):
            client.get("ship-o-1")  # another connection: not before the commit
        assert _woken_after(store, conn.commit)
    assert client.get("ship-o-1").status == "pending"
    with psycopg.connect(url) as conn:
        client.schedule(ship, "o-2", execution_id="ship-o-2", connection=conn)
        conn.rollback()
    with pytest.raises(zart.ExecutionNotFound):
        client.get("ship-o-2")
    zart.Worker(store, REGISTRY).run_until_idle()
    assert client.result("ship-o-1") == "label for o-1"


def test_postgres_refuses_another_kind_and_another_database(
    pg: tuple[PostgresStore, str], tmp_path: Path
) -> None:
    import psycopg

    store, url = pg
    client = zart.Client(store, REGISTRY)
    with pytest.raises(TypeError, match=r"must be a psycopg .* not sqlite3.Connection"):
        client.schedule(ship, "o", connection=sqlite3.connect(tmp_path / "x.db"))
    other = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with (
        psycopg.connect(other) as conn,
        pytest.raises(ValueError, match=r"connection to database 'postgres'.*missing"),
    ):
        client.schedule(ship, "o", connection=conn)
    assert client.list() == []


def test_the_memory_store_has_no_connection_to_write_through() -> None:
    client = zart.Client(MemoryStore(), REGISTRY)
    with pytest.raises(TypeError, match="memory store has no database"):
        client.schedule(ship, "o", connection=object())
    assert client.list() == []
