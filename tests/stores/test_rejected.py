"""A write the database refuses fails the execution with WriteRejected.

The same write would be refused on every retry, so a worker that let its
lease expire would run the execution again and again (a crash loop). Here
the refusals are real, by limits lowered for the test: a PostgreSQL column
narrower than a name (the server's "value too long", a data exception), the
same on MySQL, and SQLite's length limit. (Ids and names past 255 characters, and values zart
does not store, are refused before they reach a store.) Nothing of the
refused write is stored, and what was committed before it stays.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

import zart
from tests.pg import postgres_url
from tests.store_kinds import open_store
from zart.host import Host
from zart.records import Commit, Lease
from zart.stores.memory import MemoryStore
from zart.stores.protocol import Store

KINDS = ["threads", "asyncio"]


@zart.step("ok-{i}")
def ok(i: int) -> int:
    return i


@zart.step("big-{key}")
def big(key: str) -> str:
    return "done"


@zart.step("long-result")
def long_result(size: int) -> str:
    return "x" * size


@zart.durable("refused-name")
def refused_name(key: str) -> Generator[Any, Any, int]:
    first: int = yield ok(1)
    yield big(key)
    return first


@zart.durable("refused-result")
def refused_result(size: int) -> Generator[Any, Any, int]:
    first: int = yield ok(1)
    yield long_result(size)
    return first


REGISTRY = zart.TaskRegistry([refused_name, refused_result])


def config() -> zart.WorkerConfig:
    return zart.WorkerConfig(concurrency=2, poll_interval=0.02)


def until_idle(kind: str, store: Store) -> int:
    if kind == "threads":
        return zart.Worker(store, REGISTRY, config()).run_until_idle()
    return asyncio.run(zart.AsyncWorker(store, REGISTRY, config()).run_until_idle())


def assert_failed_by_refusal(store: Store, eid: str, reason: str) -> None:
    record = store.get(eid)
    assert record.status == "failed", record
    assert record.error is not None
    assert record.error["type"] == "zart.errors.WriteRejected", record.error
    assert reason in record.error["message"], record.error["message"]
    assert record.attempt == 0  # failed at once: not run again after a lease expiry
    names = [rec.name for rec in store.history(eid)]
    assert names == ["ok-1"], names  # what was committed stays; the refused record is not there


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Any]:
    with open_store("postgres", tmp_path) as store:
        yield store


def narrow(store: Any, table: str, column: str, width: int) -> None:
    """Lower a column of ``store``'s schema to ``width`` characters."""
    import psycopg

    from zart.stores.postgres.connection import render

    statement = f"ALTER TABLE {{{table}}} ALTER COLUMN {column} TYPE varchar({width})"
    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        conn.execute(render(statement, store.schema, store.prefix))


@pytest.mark.parametrize("kind", KINDS)
def test_postgres_refusing_a_record_fails_the_execution_once(
    kind: str, postgres: Any, caplog: pytest.LogCaptureFixture
) -> None:
    narrow(postgres, "records", "name", 40)
    eid = zart.Client(postgres, REGISTRY).schedule(refused_name, "k" * 60)
    with caplog.at_level(logging.ERROR, logger="zart"):
        assert until_idle(kind, postgres) == 1
    assert_failed_by_refusal(postgres, eid, "too long")
    failed = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(eid in text and "WriteRejected" in text for text in failed), failed


def test_postgres_refuses_an_execution_id_past_a_limit_with_a_clear_error(
    postgres: Any,
) -> None:
    narrow(postgres, "executions", "id", 40)
    client = zart.Client(postgres, REGISTRY)
    with pytest.raises(zart.WriteRejected, match="refused by") as info:
        client.schedule(refused_name, "k", execution_id="e" * 60)
    assert "lost its connection" not in str(info.value)
    assert client.list() == []


@pytest.fixture
def mysql(tmp_path: Path) -> Iterator[Any]:
    with open_store("mysql", tmp_path) as store:
        yield store


def narrow_mysql(store: Any, table: str, column: str, width: int) -> None:
    """Lower a column of ``store``'s tables to ``width`` characters."""
    from tests.mysql import admin

    with admin(store.url) as conn:
        conn.cursor().execute(
            f"ALTER TABLE `{store.prefix}{table}` MODIFY {column} VARCHAR({width}) NOT NULL"
        )


@pytest.mark.parametrize("kind", KINDS)
def test_mysql_refusing_a_record_fails_the_execution_once(kind: str, mysql: Any) -> None:
    narrow_mysql(mysql, "records", "name", 40)
    eid = zart.Client(mysql, REGISTRY).schedule(refused_name, "k" * 60)
    assert until_idle(kind, mysql) == 1
    assert_failed_by_refusal(mysql, eid, "too long")


def test_mysql_refuses_an_execution_id_past_a_limit_with_a_clear_error(mysql: Any) -> None:
    narrow_mysql(mysql, "executions", "id", 40)
    client = zart.Client(mysql, REGISTRY)
    with pytest.raises(zart.WriteRejected, match="refused by") as info:
        client.schedule(refused_name, "k", execution_id="e" * 60)
    assert "lost its connection" not in str(info.value)
    assert client.list() == []


def test_sqlite_refusing_a_record_fails_the_execution_once(tmp_path: Path) -> None:
    with open_store("sqlite", tmp_path) as store:
        eid = zart.Client(store, REGISTRY).schedule(refused_result, 5_000)
        # The host runs in this thread, on this thread's connection: lower
        # SQLite's length limit there so the long result is really refused.
        store._db.get().setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 2_000)
        assert len(Host(store, REGISTRY).tick()) == 1
        assert_failed_by_refusal(store, eid, "too big")


class RefusingStore(MemoryStore):
    """Refuses any commit that holds a record named ``big-...``, as a
    database would refuse a value past its limits."""

    def commit(self, lease: Lease, commit: Commit) -> bool:
        if any(w.name.startswith("big-") for w in commit.records):
            raise zart.WriteRejected(f"refused {lease.execution_id}")
        return super().commit(lease, commit)


@pytest.mark.parametrize("kind", KINDS)
def test_both_workers_fail_a_refused_execution_and_go_on(kind: str) -> None:
    store = RefusingStore()
    client = zart.Client(store, REGISTRY)
    refused = client.schedule(refused_name, "k")
    fine = client.schedule(refused_result, 3)
    assert until_idle(kind, store) == 2
    assert_failed_by_refusal(store, refused, "refused")
    assert store.get(fine).status == "completed"
