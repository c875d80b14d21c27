"""PostgreSQL-specific behaviour of PostgresStore, beyond the shared contract:
URLs, schemas and prefixes, migrations (an old schema reaches the one a new
database gets), the server's clock, fencing in as few statements as a
commit allows, concurrency, LISTEN/NOTIFY, the indexes on a large table,
and surviving lost connections.

Every test runs against a real server (tests/pg.py), in scratch schemas; the
stores read the test's clock unless a test is about the server's. Nothing
sleeps to wait for something: waits poll a condition with a deadline.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import psycopg
import pytest

import zart.clock
from tests.pg import postgres_url_or_skip, scratch_schema
from tests.stores.scenario import (
    LEASE,
    T0,
    ManualClock,
    at,
    claim_all,
    claim_one,
    eventually,
    fan_out,
    in_thread,
    step_write,
)
from zart import records as r
from zart.errors import (
    ExecutionNotFound,
    LeaseLost,
    SchemaNewer,
    SchemaOutdated,
    StoreError,
    WriteRejected,
)
from zart.records import Commit, NewExecution, RecordWrite, SetState
from zart.stores import serverclock, sqlfiles
from zart.stores.connect import connect
from zart.stores.postgres import FINAL, PACKAGE, PostgresStore
from zart.stores.postgres.commit import _arrays
from zart.stores.postgres.connection import render, split_url, stale

pytestmark = pytest.mark.postgres
PG_Q = sqlfiles.queries(PACKAGE)
MIGRATIONS = sqlfiles.migrations(PACKAGE)
LATEST = sqlfiles.latest_version(PACKAGE)


@pytest.fixture
def url() -> str:
    return postgres_url_or_skip()


@pytest.fixture
def schema(url: str) -> Iterator[str]:
    with scratch_schema(url) as name:
        yield name


@pytest.fixture
def app_name() -> str:
    return f"zart-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def store(url: str, schema: str, app_name: str, clock: ManualClock) -> Iterator[PostgresStore]:
    s = PostgresStore(url, schema=schema, application_name=app_name, clock=clock)
    s.migrate()
    try:
        yield s
    finally:
        s.close()


def admin(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True)


def with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


def statements_sent(store: PostgresStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the statements ``store`` runs from now on, in order."""
    sent: list[str] = []
    run = store._exec

    def noting(conn: Any, name: str, params: dict[str, Any]) -> Any:
        sent.append(name)
        return run(conn, name, params)

    monkeypatch.setattr(store, "_exec", noting)
    return sent


# -- URLs ---------------------------------------------------------------------
def test_from_url_takes_schema_and_prefix_from_the_query() -> None:
    url = "postgresql://u:secret@db.example:5433/app?schema=zart&sslmode=disable&prefix=z_"
    s = PostgresStore.from_url(url)
    assert (s.url, s.schema, s.prefix) == (url, "zart", "z_")
    base, own = split_url(url)
    assert base == "postgresql://u:secret@db.example:5433/app?sslmode=disable"
    assert own == {"schema": "zart", "prefix": "z_"}
    assert PostgresStore.from_url(url, schema="other", prefix="o_").schema == "other"
    plain = PostgresStore.from_url("postgresql://u@h/app")
    assert (plain.schema, plain.prefix) == (None, "")
    assert isinstance(connect("postgres://u@h/app?schema=s"), PostgresStore)


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("postgresql:///app", "postgresql:///app"),  # the local socket: no host
        ("postgresql:///app?host=h&user=u&schema=s", "postgresql:///app?host=h&user=u"),
        ("postgresql://?host=h&dbname=app&prefix=p_", "postgresql://?host=h&dbname=app"),
        ("host=h dbname=app options='-c x=y'", "host=h dbname=app options='-c x=y'"),
    ],
)
def test_urls_without_a_host_keep_their_form(url: str, base: str) -> None:
    assert split_url(url)[0] == base


def test_from_url_keeps_libpq_options_with_spaces() -> None:
    url, own = split_url("postgresql://u@h/db?schema=s&options=-c%20synchronous_commit%3Doff")
    assert own == {"schema": "s"}
    assert url.endswith("?options=-c%20synchronous_commit%3Doff")


def test_channels_differ_by_schema_and_prefix() -> None:
    a = PostgresStore("postgresql://u@h/d", schema="s1")
    b = PostgresStore("postgresql://u@h/d", schema="s2")
    c = PostgresStore("postgresql://u@h/d", schema="s1", prefix="x_")
    assert len({a.channel, b.channel, c.channel}) == 3


def test_a_prefix_longer_than_identifiers_allow_is_refused() -> None:
    with pytest.raises(StoreError, match="too long"):
        PostgresStore("postgresql://u@h/d", prefix="p" * 31)


# -- schemas, prefixes ------------------------------------------------------------
def test_prefixes_and_schemas_isolate_stores(url: str, schema: str, clock: ManualClock) -> None:
    a = PostgresStore(url, schema=schema, prefix="a_", clock=clock)
    b = PostgresStore(url, schema=schema, prefix="b_", clock=clock)
    with scratch_schema(url) as elsewhere:
        c = PostgresStore(url, schema=elsewhere, prefix="a_", clock=clock)
        try:
            for s in (a, b, c):
                s.migrate()
            a.create(NewExecution(id="e1", task_name="t"))
            for s in (b, c):
                with pytest.raises(ExecutionNotFound):
                    s.get("e1")
                assert s.claim(worker="w", tasks=None, lease=LEASE, limit=5) == []
            b.create(NewExecution(id="e1", task_name="other"))
            assert a.get("e1").task_name == "t" and b.get("e1").task_name == "other"
            with admin(url) as conn:
                tables = {
                    row[0]
                    for row in conn.execute(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                        [schema],
                    )
                }
            assert {"a_executions", "b_executions", "a_records", "b_events"} <= tables
            assert {"a_messages", "b_workers", "a_schema_version"} <= tables
        finally:
            for s in (a, b, c):
                s.close()


# -- migrations ---------------------------------------------------------------------
def _shape(conn: psycopg.Connection[Any], schema: str) -> dict[str, list[Any]]:
    """A schema's columns (in order), constraints, indexes and table options,
    its own name replaced so that two schemas compare."""
    columns = conn.execute(
        """SELECT table_name, column_name, data_type, is_nullable,
                  replace(column_default, %(s)s, 'S'), is_identity, identity_generation
           FROM information_schema.columns WHERE table_schema = %(s)s
           ORDER BY table_name, ordinal_position""",
        {"s": schema},
    ).fetchall()
    constraints = conn.execute(
        """SELECT t.relname, c.conname, pg_get_constraintdef(c.oid)
           FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
           JOIN pg_namespace n ON n.oid = c.connamespace
           WHERE n.nspname = %(s)s ORDER BY 1, 2""",
        {"s": schema},
    ).fetchall()
    indexes = conn.execute(
        """SELECT tablename, indexname, replace(indexdef, %(s)s, 'S') FROM pg_indexes
           WHERE schemaname = %(s)s ORDER BY 1, 2""",
        {"s": schema},
    ).fetchall()
    options = conn.execute(
        """SELECT c.relname, c.reloptions FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = %(s)s AND c.relkind = 'r' ORDER BY 1""",
        {"s": schema},
    ).fetchall()
    return {"columns": columns, "constraints": constraints, "indexes": indexes, "options": options}


@contextlib.contextmanager
def _schema_at_version(url: str, schema: str, version: int) -> Iterator[Any]:
    """``schema`` built by migrations 0001..``version`` only, as an older
    zart left it; an admin connection to it."""
    with admin(url) as conn:
        conn.execute(render(PG_Q["create_schema"], schema, ""))
        conn.execute(render(PG_Q["version_table"], schema, ""))
        for number, text in MIGRATIONS[:version]:
            conn.execute(render(text, schema, ""))
            conn.execute(render(PG_Q["record_version"], schema, ""), {"version": number})
        yield conn


def _versions(url: str, schema: str) -> list[int]:
    with admin(url) as conn:
        found = conn.execute(render("SELECT version FROM {schema_version} ORDER BY 1", schema, ""))
        return [v for (v,) in found]


def test_every_migration_leads_to_the_schema_a_new_database_gets(
    url: str, store: PostgresStore
) -> None:
    assert store.schema is not None
    with admin(url) as conn:
        fresh = _shape(conn, store.schema)
    assert _versions(url, store.schema) == [LATEST]  # schema.sql, at once
    assert any(name == "executions_due" for _, name, _ in fresh["indexes"])
    for start in range(1, LATEST):
        with scratch_schema(url) as old:
            with _schema_at_version(url, old, start):
                pass
            PostgresStore(url, schema=old).migrate()
            assert _versions(url, old) == list(range(1, LATEST + 1))
            with admin(url) as conn:
                assert _shape(conn, old) == fresh, start


_V4_ROWS = """
INSERT INTO {executions} (id, task_name, kind, status, input, attempt, created_at, updated_at,
                          wake_at, waiting_for, seq)
VALUES ('p', 'parent', 'workflow', 'waiting', '{{"n": 2}}', 1, now(), now(), NULL,
        'children', 3);
INSERT INTO {executions} (id, task_name, kind, status, input, output, parent_id, parent_step,
                          awaited, record_status, created_at, updated_at, wake_at)
VALUES ('p:c0', 'child', 'workflow', 'completed', '0', '5', 'p', 'c0', true, 'completed',
        now(), now(), NULL),
       ('p:c1', 'child', 'workflow', 'pending', '1', NULL, 'p', 'c1', true, NULL,
        now(), now(), now());
INSERT INTO {records} (execution_id, name, seq, kind, status, step, error, attempts, child_id,
                       created_at, updated_at)
VALUES ('p', 'c0', 1, 'schedule', 'pending', 'child', NULL, 0, 'p:c0', now(), now()),
       ('p', 'c1', 2, 'schedule', 'pending', 'child', NULL, 0, 'p:c1', now(), now()),
       ('p', 's', 3, 'step', 'failed', 'mod.s', '{{"type": "E", "message": "boom"}}', 3, NULL,
        now(), now());
INSERT INTO {events} (execution_id, name, payload, created_at)
VALUES ('p', 'go', '{{"x": 1}}', now());
"""


def test_a_version_4_schema_with_a_waiting_parent_migrates_and_runs_on(
    url: str, schema: str, clock: ManualClock
) -> None:
    """Version 5 keeps the log per run and knows each execution's root: the
    parent reads the same log and still waits on the same children."""
    with _schema_at_version(url, schema, 4) as conn:
        conn.execute(render(_V4_ROWS, schema, ""))
    s = PostgresStore(url, schema=schema, clock=clock)
    with pytest.raises(SchemaOutdated):
        s.get("p")
    s.migrate()
    try:
        assert _versions(url, schema) == list(range(1, LATEST + 1))
        with scratch_schema(url) as fresh:
            PostgresStore(url, schema=fresh).migrate()
            with admin(url) as conn:
                assert _shape(conn, schema) == _shape(conn, fresh)
        log = s.load("p")
        assert (log.records["c0"].status, log.records["c0"].result) == (r.R_COMPLETED, 5)
        assert log.records["c1"].status == r.R_PENDING
        failed = log.records["s"]
        assert (failed.status, failed.error, failed.attempts, failed.errors) == (
            r.R_FAILED,
            {"type": "E", "message": "boom"},
            3,
            (),
        )
        assert failed.execution_attempt == 1  # written by the parent's attempt then
        assert log.events == {"go": {"x": 1}} and log.last_seq == 3
        parent = s.get("p")
        assert (parent.status, parent.waiting_for, parent.input) == (
            r.WAITING,
            "children",
            {"n": 2},
        )
        assert s.get("p:c1").root_id == "p" and parent.root_id is None
        _the_last_child_wakes_the_parent(s, clock)
    finally:
        s.close()


def _the_last_child_wakes_the_parent(s: PostgresStore, clock: ManualClock) -> None:
    """``p:c1``, the one child of ``p`` still open, finishes: ``p`` wakes."""
    clock.to(5)
    (kid,) = claim_all(s, tasks=["child"])
    assert kid.record.id == "p:c1"
    assert s.commit(kid.lease, Commit(outcome=r.Complete(output=6)))
    parent = s.get("p")
    assert (parent.status, parent.wake_at) == (r.PENDING, at(5))
    log = s.load("p").records
    assert (log["c0"].result, log["c1"].result) == (5, 6)


_V2_FAN_OUT = """
INSERT INTO {executions} (id, task_name, kind, status, created_at, updated_at, waiting_for)
VALUES ('p', 'parent', 'workflow', 'waiting', now(), now(), 'children');
INSERT INTO {executions} (id, task_name, kind, status, parent_id, parent_step, output,
                          created_at, updated_at, wake_at)
VALUES ('p:c0', 'child', 'workflow', 'completed', 'p', 'c0', '5', now(), now(), NULL),
       ('p:c1', 'child', 'workflow', 'pending', 'p', 'c1', NULL, now(), now(), now());
INSERT INTO {records} (execution_id, name, seq, kind, status, result, child_id, awaited,
                       created_at, updated_at)
VALUES ('p', 'c0', 1, 'schedule', 'completed', '5', 'p:c0', true, now(), now()),
       ('p', 'c1', 2, 'schedule', 'pending', NULL, 'p:c1', true, now(), now());
"""


def test_a_parent_waiting_since_version_2_still_waits_on_the_same_children(
    url: str, schema: str, clock: ManualClock
) -> None:
    # Version 2 kept children's outcomes and ``awaited`` in the parent's log,
    # so a child that ended then has no record_status on its own row.
    with _schema_at_version(url, schema, 2) as conn:
        conn.execute(render(_V2_FAN_OUT, schema, ""))
    s = PostgresStore(url, schema=schema, clock=clock)
    s.migrate()
    try:
        log = s.load("p").records
        assert (log["c0"].status, log["c0"].result) == (r.R_COMPLETED, 5)
        assert log["c1"].status == r.R_PENDING
        _the_last_child_wakes_the_parent(s, clock)
    finally:
        s.close()


_V3_DOCUMENTS = """
INSERT INTO {executions} (id, task_name, kind, status, input, state, created_at, updated_at,
                          wake_at)
VALUES ('e', 't', 'workflow', 'pending', %(input)s, %(state)s, now(), now(), now());
INSERT INTO {records} (execution_id, name, seq, kind, status, result, created_at, updated_at)
VALUES ('e', 's', 1, 'step', 'completed', %(result)s, now(), now());
INSERT INTO {events} (execution_id, name, payload, created_at)
VALUES ('e', 'go', %(payload)s, now());
"""


def test_documents_stored_as_jsonb_read_back_unchanged(url: str, schema: str) -> None:
    # Version 4 turned the jsonb columns into json: a document stored before
    # reads back as it did (jsonb's own text of it).
    with _schema_at_version(url, schema, 3) as conn:
        documents = {
            "input": '{"b": [1, 2.5], "aa": null}',
            "state": '{"k": "v"}',
            "result": '{"x": "\\u00e9"}',
            "payload": '[true, {"n": 1}]',
        }
        for statement in _V3_DOCUMENTS.split(";")[:-1]:
            conn.execute(render(statement, schema, ""), documents)
    s = PostgresStore(url, schema=schema)
    s.migrate()
    e = s.get("e")
    assert (e.input, e.state) == ({"b": [1, 2.5], "aa": None}, {"k": "v"})
    log = s.load("e")
    assert log.records["s"].result == {"x": "\u00e9"} and log.events == {"go": [True, {"n": 1}]}
    with admin(url) as conn:
        types = conn.execute(
            "SELECT DISTINCT data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND column_name IN "
            "('input', 'output', 'error', 'state', 'result', 'payload')",
            (schema,),
        ).fetchall()
    assert types == [("json",)]
    s.close()


def test_migrate_twice_is_a_no_op(url: str, store: PostgresStore) -> None:
    assert store.schema is not None
    with admin(url) as conn:
        before = _shape(conn, store.schema)
        store.migrate()
        assert _shape(conn, store.schema) == before
    assert _versions(url, store.schema) == [LATEST]


def _migrate_together(stores: list[PostgresStore]) -> None:
    """Every store's migrate() at once, from threads; none may fail."""
    barrier = threading.Barrier(len(stores))

    def migrate(s: PostgresStore) -> None:
        barrier.wait()
        s.migrate()

    runs = [in_thread(partial(migrate, s)) for s in stores]
    for t, _ in runs:
        t.join(60)
    assert [out.get("error") for _, out in runs] == [None] * len(stores)


def test_concurrent_migrate_on_a_fresh_schema(url: str, schema: str) -> None:
    stores = [PostgresStore(url, schema=schema) for _ in range(6)]
    _migrate_together(stores)
    assert _versions(url, schema) == [LATEST]
    stores[0].create(NewExecution(id="e1", task_name="t"))
    assert stores[1].get("e1").status == r.PENDING
    for s in stores:
        s.close()


def test_prefixes_sharing_a_new_schema_migrate_together(url: str, schema: str) -> None:
    # Both would create the schema at once without one lock for it.
    stores = [PostgresStore(url, schema=schema, prefix=f"p{i}_") for i in range(4)]
    _migrate_together(stores)
    for s in stores:
        s.create(NewExecution(id="e1", task_name=s.prefix))
        assert s.get("e1").task_name == s.prefix
        s.close()


def test_migrate_without_a_schema_uses_the_search_path(url: str, schema: str) -> None:
    # No ?schema=: the tables go where search_path says, and every migration
    # must find them there, not in "public".
    with admin(url) as conn:
        conn.execute(render("CREATE SCHEMA {schema}", schema, ""))
    s = PostgresStore(with_query(url, f"options=-csearch_path%3D{schema}"), prefix="sp_")
    s.migrate()
    s.create(NewExecution(id="e1", task_name="t"))
    assert s.get("e1").status == r.PENDING
    s.close()
    with admin(url) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = 'sp_executions'",
            (schema,),
        ).fetchone()
    assert found == (1,)


def test_unmigrated_schema_raises_schema_outdated(url: str, schema: str) -> None:
    s = PostgresStore(url, schema=schema)
    with pytest.raises(SchemaOutdated) as info:
        s.get("x")
    assert (info.value.found, info.value.expected) == (0, LATEST)
    assert "zart migrate" in str(info.value)
    s.migrate()
    with pytest.raises(ExecutionNotFound):
        s.get("x")
    s.close()


def test_connect_migrates_postgres_only_when_asked(url: str, schema: str) -> None:
    at_url = with_query(url, f"schema={schema}")
    s = connect(at_url)
    try:
        with pytest.raises(SchemaOutdated):
            s.get("x")
    finally:
        s.close()
    with admin(url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchone()
    assert tables == (0,)
    s = connect(at_url, migrate=True)
    try:
        assert isinstance(s, PostgresStore) and s.schema == schema
        with pytest.raises(ExecutionNotFound):
            s.get("x")
    finally:
        s.close()
    assert _versions(url, schema) == [LATEST]


def test_older_and_newer_recorded_versions_are_refused(url: str, store: PostgresStore) -> None:
    assert store.schema is not None
    at_url = with_query(url, f"schema={store.schema}")
    with admin(url) as conn:
        conn.execute(render("DELETE FROM {schema_version}", store.schema, ""))
        with pytest.raises(SchemaOutdated):
            PostgresStore(url, schema=store.schema).get("x")
        record = render(PG_Q["record_version"], store.schema, "")
        conn.execute(record, {"version": LATEST + 1})
    calls: list[Callable[[], Any]] = [
        lambda: PostgresStore(url, schema=store.schema).get("x"),
        lambda: PostgresStore(url, schema=store.schema).migrate(),  # not "migrated"
        lambda: connect(at_url).get("x"),
        lambda: connect(at_url, migrate=True),
    ]
    for call in calls:
        with pytest.raises(SchemaNewer, match="newer than this code") as info:
            call()
        assert (info.value.found, info.value.expected) == (LATEST + 1, LATEST)
        assert "upgrade zart" in str(info.value)


# -- the server's clock -------------------------------------------------------------
def _server_time(url: str) -> datetime:
    with admin(url) as conn:
        (now,) = conn.execute("SELECT clock_timestamp()").fetchone()
    return now  # type: ignore[no-any-return]


class _Ahead(datetime):
    """This machine's clock, 30 s ahead of the server's."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(tz) + timedelta(seconds=30)


def test_the_store_clock_is_the_servers_whatever_this_machines_says(
    url: str, schema: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    s = PostgresStore(url, schema=schema)  # no clock given: the server's
    s.migrate()
    monkeypatch.setattr(zart.clock, "utcnow", lambda: datetime.now(UTC) + timedelta(seconds=30))
    monkeypatch.setattr(serverclock, "datetime", _Ahead)
    short = timedelta(seconds=20)  # shorter than the skew: a local clock would see it pass
    thief = PostgresStore(url, schema=schema)
    try:
        with caplog.at_level(logging.WARNING, logger="zart"):
            assert abs((s.now() - _server_time(url)).total_seconds()) < 1
        assert "off the database server's" in caplog.text
        s.create(NewExecution(id="leased", task_name="t"))
        (held,) = s.claim(worker="w", tasks=None, lease=short, limit=1)
        s.create(NewExecution(id="timer", task_name="t"))
        (timer,) = s.claim(worker="w", tasks=None, lease=short, limit=1)
        wake = s.now() + short
        assert s.commit(timer.lease, Commit(outcome=r.Suspend(wake_at=wake)))
        # A second store, started with this machine's clock ahead: a claim
        # by its own clock would take the live lease and fire the timer.
        assert thief.claim(worker="thief", tasks=None, lease=LEASE, limit=5) == []
        assert abs((thief.now() - _server_time(url)).total_seconds()) < 1
        assert thief.next_wake(None) == min(wake, s.get("leased").wake_at)
        assert s.heartbeat([held.lease], short) == []  # still held
    finally:
        s.close()
        thief.close()


# -- values ---------------------------------------------------------------------
def test_datetimes_round_trip_exactly_as_utc(store: PostgresStore, clock: ManualClock) -> None:
    when = datetime(2031, 2, 3, 4, 5, 6, 789012, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    clock.time = when
    store.create(NewExecution(id="e1", task_name="t"))
    rec = store.get("e1")
    assert rec.created_at == when and rec.created_at.microsecond == 789012
    assert rec.created_at.tzinfo is UTC
    c = claim_one(store)
    sleep = RecordWrite(name="nap", kind=r.K_SLEEP, status=r.R_WAITING, seq=1, wake_at=when)
    store.commit(c.lease, Commit(records=(sleep,)))
    assert store.load("e1").records["nap"].wake_at == when


def test_none_is_sql_null_and_json_null_values_round_trip(url: str, store: PostgresStore) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    writes = (step_write("a"), step_write("b", [None], seq=2), step_write("c", "", seq=3))
    store.commit(c.lease, Commit(records=writes))
    assert [h.result for h in store.history("e1")] == [None, [None], ""]
    assert store.schema is not None
    with admin(url) as conn:
        nulls = conn.execute(
            render("SELECT name FROM {records} WHERE result IS NULL", store.schema, "")
        ).fetchall()
    assert nulls == [("a",)]


def test_a_step_name_holding_nul_is_refused_and_writes_nothing(store: PostgresStore) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    with pytest.raises(WriteRejected, match="NUL"):
        store.commit(c.lease, Commit(records=(step_write("a\0b", 1),)))
    assert store.history("e1") == []
    assert store.commit(c.lease, Commit(records=(step_write("a", 2),)))
    assert [(h.name, h.result) for h in store.history("e1")] == [("a", 2)]


def test_a_connection_not_in_utf8_writes_what_a_utf8_one_reads(
    url: str, schema: str, clock: ManualClock
) -> None:
    latin = PostgresStore(with_query(url, "client_encoding=LATIN1"), schema=schema, clock=clock)
    latin.migrate()
    try:
        latin.create(NewExecution(id="e1", task_name="t"))
        c = claim_one(latin)
        assert latin.commit(c.lease, Commit(records=(step_write("café", "crème"),)))
    finally:
        latin.close()
    utf8 = PostgresStore(url, schema=schema)
    try:
        assert [(h.name, h.result) for h in utf8.history("e1")] == [("café", "crème")]
    finally:
        utf8.close()


# -- fencing, in as few statements as a commit allows ----------------------------------
def test_a_stale_commit_writes_nothing_whatever_it_carries(
    url: str, store: PostgresStore, clock: ManualClock
) -> None:
    c = fan_out(store, clock, 1)  # p, waiting for nothing yet, with one child p:c0
    clock.to(2)
    (kid,) = claim_all(store, tasks=["child"])
    store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0",))))
    store.send("p:c0", "inbox", 1)
    # The child's lease expires and another worker takes it over.
    clock.to(40)
    new_kid = claim_one(store, tasks=["child"])
    (message,) = new_kid.log.messages["inbox"]
    failed = RecordWrite(name="f", kind=r.K_STEP, status=r.R_FAILED, seq=1, error={"type": "E"})
    clock.to(41)
    store.commit(new_kid.lease, Commit(records=(failed,)))
    before = {eid: store.get(eid) for eid in ("p", "p:c0")}
    logs = {eid: store.load(eid) for eid in ("p", "p:c0")}
    assert store.schema is not None
    flags = render(
        "SELECT id, awaited, record_status, token FROM {executions} ORDER BY 1", store.schema, ""
    )
    with admin(url) as conn:
        rows = conn.execute(flags).fetchall()
    extra = NewExecution(id="p:c0:x", task_name="child", parent_id="p:c0", parent_step="x")
    stale_commits = [
        Commit(records=(step_write("s", 1),)),
        Commit(records=(step_write("s", 1),), state=SetState(value={"x": 1})),
        Commit(children=(extra,), outcome=r.Suspend(children=("x",))),
        Commit(rerun_children=("p:c0:gone",)),
        Commit(consumed=(message.id,)),
        Commit(outcome=r.Suspend(wake_at=at(99))),
        Commit(outcome=r.RetryExecution(error={"type": "E"}, wake_at=at(42))),
        Commit(outcome=r.ContinueAsNew(input=2)),
        Commit(outcome=r.Stall(error={"type": "E"})),
        Commit(records=(step_write("s", 1),), outcome=r.Complete(output="stale")),
        Commit(state=SetState(value=1), outcome=r.Fail(error={"type": "E"})),
    ]
    clock.to(42)
    for commit in stale_commits:
        with pytest.raises(LeaseLost):
            store.commit(kid.lease, commit)
    assert {eid: store.get(eid) for eid in ("p", "p:c0")} == before
    assert {eid: store.load(eid) for eid in ("p", "p:c0")} == logs
    with admin(url) as conn:
        assert conn.execute(flags).fetchall() == rows
    with pytest.raises(ExecutionNotFound):
        store.get("p:c0:x")


def test_a_step_commit_is_one_fenced_statement(
    store: PostgresStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    old = claim_one(store)
    clock.to(31)
    new = claim_one(store)
    sent = statements_sent(store, monkeypatch)
    with pytest.raises(LeaseLost):
        store.commit(old.lease, Commit(records=(step_write("a", "stale"),)))
    assert sent == ["commit_record"]  # the fence is in the statement, not before it
    sent.clear()
    assert store.commit(new.lease, Commit(records=(step_write("a", 1),)))
    assert store.commit(new.lease, Commit(records=(step_write("b", 2, seq=2),)))
    assert sent == ["commit_record", "commit_record"]
    assert [(h.name, h.result) for h in store.history("e1")] == [("a", 1), ("b", 2)]
    assert store.get("e1").status == r.RUNNING  # a step commit keeps the lease


def test_finishing_without_a_parent_is_one_fenced_statement(
    store: PostgresStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    old = claim_one(store)
    clock.to(31)
    new = claim_one(store)
    sent = statements_sent(store, monkeypatch)
    done = Commit(
        records=(step_write("a", 1), step_write("b", 2, seq=2)),
        state=SetState(value={"s": 1}),
        outcome=r.Complete(output=3),
    )
    clock.to(32)
    with pytest.raises(LeaseLost):
        store.commit(old.lease, done)
    assert sent == ["commit_end"]
    assert store.get("e1").status == r.RUNNING and store.load("e1").records == {}
    sent.clear()
    clock.to(33)
    assert store.commit(new.lease, done)
    assert sent == ["commit_end"]  # records, state and status together
    rec = store.get("e1")
    assert (rec.status, rec.output, rec.state, rec.wake_at) == (r.COMPLETED, 3, {"s": 1}, None)
    assert [(h.name, h.seq, h.result) for h in store.history("e1")] == [("a", 1, 1), ("b", 2, 2)]


def test_a_childs_finish_wakes_its_parent_only_when_it_is_awaited(
    store: PostgresStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = fan_out(store, clock, 2)
    clock.to(2)
    kids = sorted(claim_all(store, tasks=["child"]), key=lambda k: k.record.id)
    sent = statements_sent(store, monkeypatch)
    assert store.commit(kids[0].lease, Commit(outcome=r.Complete(output=0)))
    assert sent == ["commit_end"]  # its parent does not wait on it (yet): no wake-up
    # The parent's suspend counts that child done, and waits for the other.
    assert store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0", "c1"))))
    assert store.get("p").status == r.WAITING
    sent.clear()
    clock.to(3)
    assert store.commit(kids[1].lease, Commit(outcome=r.Complete(output=1)))
    assert sent == ["commit_end", "wake_parent"]  # the wake-up after the commit
    parent = store.get("p")
    assert (parent.status, parent.wake_at) == (r.PENDING, at(3))


@pytest.mark.parametrize("extra", ["message consumed", "child scheduled"])
def test_a_child_ending_in_a_commit_of_several_parts_wakes_its_parent(
    store: PostgresStore, clock: ManualClock, extra: str
) -> None:
    # A finish that also consumes a message or schedules a child takes the
    # transaction, not the one-statement finish: it must wake its parent too.
    (kid,) = _fan_out_awaited(store, clock, 1)
    if extra == "message consumed":
        store.send("p:c0", "inbox", 1)
        (message,) = store.load("p:c0").messages["inbox"]
        last = Commit(consumed=(message.id,), outcome=r.Complete(output=7))
    else:
        grandchild = NewExecution(
            id="p:c0:g", task_name="g", parent_id="p:c0", parent_step="g", root_id="p"
        )
        last = Commit(children=(grandchild,), outcome=r.Complete(output=7))
    clock.to(4)
    assert store.commit(kid.lease, last)
    assert store.get("p:c0").status == r.COMPLETED
    parent = store.get("p")
    assert (parent.status, parent.wake_at) == (r.PENDING, at(4))
    assert store.load("p").records["c0"].result == 7


# -- claims -------------------------------------------------------------------
def test_claim_under_takes_only_that_tree(store: PostgresStore) -> None:
    trees = [("p", None), ("p:c0", "p"), ("p:c0:g", "p"), ("px", None), ("p%", None)]
    for eid, root in [*trees, ("q:p", "q"), ("p_:x", "p_")]:
        store.create(NewExecution(id=eid, task_name="t", root_id=root))
    got = claim_all(store, under="p")
    assert sorted(c.record.id for c in got) == ["p", "p:c0", "p:c0:g"]


def test_concurrent_claimers_never_get_the_same_row(
    url: str, store: PostgresStore, clock: ManualClock
) -> None:
    for i in range(500):
        store.create(NewExecution(id=f"e{i}", task_name="t"))
    clock.to(1)
    claimers = [PostgresStore(url, schema=store.schema, clock=clock) for _ in range(8)]
    barrier = threading.Barrier(len(claimers))

    def drain(s: PostgresStore) -> list[str]:
        barrier.wait()
        got: list[str] = []
        while batch := s.claim(worker="w", tasks=None, lease=LEASE, limit=7):
            got.extend(c.record.id for c in batch)
        return got

    runs = [in_thread(partial(drain, s)) for s in claimers]
    for t, _ in runs:
        t.join(60)
    got = [eid for _, out in runs for eid in out["value"]]
    assert len(got) == len(set(got)) == 500
    for s in claimers:
        s.close()


def test_a_thousand_children_in_one_commit(store: PostgresStore, clock: ManualClock) -> None:
    c = fan_out(store, clock, 1000)
    hist = store.history("p")
    assert [h.seq for h in hist] == list(range(1, 1001))
    assert [h.name for h in hist[:3]] == ["c0", "c1", "c2"]
    clock.to(2)
    got = claim_all(store, tasks=["child"], limit=2000)
    assert [k.record.id for k in got] == [f"p:c{i}" for i in range(1000)]
    assert {k.record.root_id for k in got} == {"p"}
    assert store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0", "c999"))))


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(_nodes(child))
    return found


def _plan(conn: psycopg.Connection[Any], store: PostgresStore, name: str, params: Any) -> Any:
    """The plan of the store's statement ``name``, never run."""
    with conn.transaction(force_rollback=True):
        (plan,) = conn.execute(b"EXPLAIN (FORMAT JSON) " + store._q[name], params).fetchone()
    return _nodes(plan[0]["Plan"])


def _no_scan_of_executions(nodes: list[dict[str, Any]]) -> bool:
    return not [
        n for n in nodes if n["Node Type"] == "Seq Scan" and n["Relation Name"] == "executions"
    ]


def test_claims_use_the_due_index_on_a_large_table(
    url: str, store: PostgresStore, clock: ManualClock
) -> None:
    # 200,000 executions, 1% of them due: the shape of a long-lived table.
    assert store.schema is not None
    with admin(url) as conn:
        conn.execute(
            render(
                """INSERT INTO {executions} (id, task_name, kind, status, created_at, updated_at,
                                             wake_at)
               SELECT 'x' || g, 't', 'workflow',
                      CASE WHEN g %% 100 = 0 THEN 'pending' ELSE 'completed' END,
                      %(t0)s, %(t0)s,
                      CASE WHEN g %% 100 = 0 THEN %(t0)s + g * interval '1 ms' END
               FROM generate_series(1, 200000) AS g""",
                store.schema,
                "",
            ),
            {"t0": T0},
        )
        conn.execute(render("ANALYZE {executions}", store.schema, ""))
        params = {
            "now": at(3600),
            "until": at(3700),
            "worker": "w",
            "limit": 10,
            "tasks": ["t"],
            "under": None,
            "final": FINAL,
            "channel": store.channel,
        }
        for query in ("claim", "claim_of_tasks"):
            nodes = _plan(conn, store, query, params)
            used = {n.get("Index Name") for n in nodes}
            assert used & {"executions_due", "executions_task_due"}, (query, nodes)
            assert _no_scan_of_executions(nodes), (query, nodes)
        # The periodic look for stranded parents reads only waiting parents.
        nodes = _plan(conn, store, "wake_stranded", params)
        used = {n.get("Index Name") for n in nodes}
        assert used & {"executions_awaiting_children", "executions_status"}, nodes
        assert _no_scan_of_executions(nodes), nodes
    clock.to(3600)
    got = claim_all(store, tasks=["t"], limit=10)
    assert [c.record.id for c in got] == [f"x{g}" for g in range(100, 1100, 100)]


def test_a_childs_finish_and_its_parents_log_use_indexes_on_a_large_table(
    url: str, store: PostgresStore
) -> None:
    # 100 parents with 1,000 children each; the children of q0 are open and
    # awaited, the others finished.
    assert store.schema is not None
    with admin(url) as conn:
        conn.execute(
            render(
                """INSERT INTO {executions} (id, task_name, kind, status, parent_id, parent_step,
                                             root_id, awaited, record_status, created_at,
                                             updated_at, token)
               SELECT 'q' || p || ':c' || c, 'child', 'step',
                      CASE WHEN p = 0 THEN 'running' ELSE 'completed' END,
                      'q' || p, 'c' || c, 'q' || p, true,
                      CASE WHEN p = 0 THEN NULL ELSE 'completed' END, %(t0)s, %(t0)s, 1
               FROM generate_series(0, 99) AS p, generate_series(0, 999) AS c""",
                store.schema,
                "",
            ),
            {"t0": T0},
        )
        conn.execute(
            render(
                """INSERT INTO {records} (execution_id, name, seq, kind, status, child_id,
                                          created_at, updated_at)
               SELECT 'q0', 'c' || c, c + 1, 'schedule', 'pending', 'q0:c' || c, %(t0)s, %(t0)s
               FROM generate_series(0, 999) AS c""",
                store.schema,
                "",
            ),
            {"t0": T0},
        )
        conn.execute(render("ANALYZE {executions}", store.schema, ""))
        conn.execute(render("ANALYZE {records}", store.schema, ""))
        finish = {
            "id": "q0:c5",
            "token": 1,
            "now": at(1),
            "status": r.COMPLETED,
            "record_status": r.R_COMPLETED,
            "output": None,
            "error": None,
            "has_state": False,
            "state": None,
            **_arrays((step_write("s", 1),)),
        }
        plans = {
            "commit_end": finish,
            "load_records": {"ids": ["q0"], "runs": [1]},
            "wake_parent": {"parent": "q0", "now": at(1), "channel": store.channel},
        }
        for name, params in plans.items():
            nodes = _plan(conn, store, name, params)
            assert _no_scan_of_executions(nodes), (name, nodes)
        nodes = _plan(conn, store, "wake_parent", plans["wake_parent"])
        assert "executions_parent" in {n.get("Index Name") for n in nodes}, nodes


# -- children racing their parent ------------------------------------------------------
_FINAL_SQL = "(" + ", ".join(f"'{x}'" for x in sorted(r.FINAL_STATUSES)) + ")"
_AUDIT = f"""
CREATE TABLE {{audit}} (seq bigserial, execution_id text, what text);
CREATE FUNCTION {{audit_woke}}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO {{audit}} (execution_id, what) VALUES (NEW.id, 'woke'); RETURN NULL; END $$;
CREATE TRIGGER audit_woke AFTER UPDATE ON {{executions}} FOR EACH ROW
    WHEN (NEW.status = 'pending' AND OLD.status IN ('waiting', 'running'))
    EXECUTE FUNCTION {{audit_woke}}();
CREATE FUNCTION {{audit_final}}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO {{audit}} (execution_id, what) VALUES (NEW.parent_id, 'final');
RETURN NULL; END $$;
CREATE TRIGGER audit_final AFTER UPDATE ON {{executions}} FOR EACH ROW
    WHEN (NEW.parent_id IS NOT NULL
          AND NEW.status IN {_FINAL_SQL} AND OLD.status NOT IN {_FINAL_SQL})
    EXECUTE FUNCTION {{audit_final}}();
"""


@pytest.fixture
def workers(url: str, store: PostgresStore, clock: ManualClock) -> Iterator[list[PostgresStore]]:
    """Four more stores on the same schema, as other worker processes."""
    others = [PostgresStore(url, schema=store.schema, clock=clock) for _ in range(4)]
    yield others
    for s in others:
        s.close()


@pytest.fixture
def woke_once_after_all(url: str, store: PostgresStore) -> Callable[[str], None]:
    """Triggers that number, in one sequence, each child of a parent turning
    final and each time the parent turns pending (woken, or due at once from
    its suspend). The check they return asserts the parent turned pending
    exactly once, after every child had: a child counted on the way is one
    the waking statement could not have seen final."""
    assert store.schema is not None
    schema = store.schema
    with admin(url) as conn:
        conn.execute(render(_AUDIT, schema, ""))

    def check(parent: str) -> None:
        with admin(url) as conn:
            rows = conn.execute(
                render(
                    "SELECT what, seq FROM {audit} WHERE execution_id = %s ORDER BY seq", schema, ""
                ),
                [parent],
            ).fetchall()
        whats = [what for what, _ in rows]
        assert whats.count("woke") == 1 and whats[-1] == "woke", (parent, whats)

    return check


def _fan_out_awaited(store: PostgresStore, clock: ManualClock, n: int) -> list[r.Claimed]:
    """``p`` schedules ``n`` children and waits for them in one commit; the
    children's claims, in creation order; the clock at 3."""
    fan_out(store, clock, n, wait=True)
    assert store.get("p").status == r.WAITING
    clock.to(2)
    claimed = claim_all(store, tasks=["child"], limit=n)
    clock.to(3)
    return sorted(claimed, key=lambda k: int(k.record.id.rsplit("c", 1)[1]))


def test_last_child_wakes_the_parent_exactly_once_under_concurrency(
    store: PostgresStore,
    clock: ManualClock,
    workers: list[PostgresStore],
    woke_once_after_all: Callable[[str], None],
) -> None:
    # 12 children finish on four other connections while the parent suspends.
    names = tuple(f"c{i}" for i in range(12))
    for round_ in range(5):
        parent = f"p{round_}"
        c = fan_out(store, clock, 12, parent)
        clock.to(2)
        kids = claim_all(store, tasks=["child"], limit=20)
        clock.to(3)
        barrier = threading.Barrier(len(kids) + 1)

        def finish(kid: r.Claimed, i: int, barrier: threading.Barrier = barrier) -> bool:
            barrier.wait()
            done = Commit(outcome=r.Complete(output=i))
            return workers[i % len(workers)].commit(kid.lease, done)

        def suspend(c: r.Claimed = c, barrier: threading.Barrier = barrier) -> bool:
            barrier.wait()
            return store.commit(c.lease, Commit(outcome=r.Suspend(children=names)))

        runs = [in_thread(partial(finish, k, i)) for i, k in enumerate(kids)]
        runs.append(in_thread(suspend))
        for t, _ in runs:
            t.join(60)
        assert [out.get("error") for _, out in runs] == [None] * len(runs)
        # A lost wake-up leaves the parent waiting.
        rec = store.get(parent)
        assert rec.status == r.PENDING and rec.wake_at == at(3), (round_, rec)
        assert {x.status for x in store.history(parent)} == {r.R_COMPLETED}
        woke_once_after_all(parent)


def test_a_large_fan_out_finishing_in_any_order_wakes_the_parent_once(
    store: PostgresStore,
    clock: ManualClock,
    workers: list[PostgresStore],
    woke_once_after_all: Callable[[str], None],
) -> None:
    import random

    kids = _fan_out_awaited(store, clock, 300)
    random.Random(7).shuffle(kids)
    barrier = threading.Barrier(8)

    def run(share: list[r.Claimed], worker: PostgresStore) -> None:
        barrier.wait()
        for kid in share:
            worker.commit(kid.lease, Commit(outcome=r.Complete(output=1)))

    runs = [in_thread(partial(run, kids[i::8], workers[i % len(workers)])) for i in range(8)]
    for t, _ in runs:
        t.join(120)
    assert [out.get("error") for _, out in runs] == [None] * len(runs)
    parent = store.get("p")
    assert (parent.status, parent.wake_at) == (r.PENDING, at(3))
    woke_once_after_all("p")


def test_cancel_races_with_finishing_children(
    url: str, store: PostgresStore, clock: ManualClock
) -> None:
    other = PostgresStore(url, schema=store.schema, clock=clock)
    kids = _fan_out_awaited(store, clock, 10)
    barrier = threading.Barrier(len(kids) + 1)

    def finish(kid: r.Claimed) -> None:
        barrier.wait()
        with contextlib.suppress(LeaseLost):  # losing the race to the cancel is fine
            other.commit(kid.lease, Commit(outcome=r.Complete(output=1)))

    def cancel() -> bool:
        barrier.wait()
        return store.cancel("p")

    runs = [in_thread(partial(finish, k)) for k in kids]
    runs.append(in_thread(cancel))
    for t, _ in runs:
        t.join(60)
    assert [out.get("error") for _, out in runs] == [None] * len(runs)
    assert store.get("p").status == r.CANCELLED
    statuses = {e.id: e.status for e in store.list(parent_id="p", limit=20)}
    assert set(statuses.values()) <= {r.COMPLETED, r.CANCELLED}
    log = store.load("p").records
    for i in range(10):
        expected = r.R_COMPLETED if statuses[f"p:c{i}"] == r.COMPLETED else r.R_CANCELLED
        assert log[f"c{i}"].status == expected
    other.close()


def test_a_child_cancelled_while_its_siblings_finish_still_wakes_the_parent(
    store: PostgresStore,
    clock: ManualClock,
    workers: list[PostgresStore],
    woke_once_after_all: Callable[[str], None],
) -> None:
    # The cancel ends the child's row and, after its commit, checks the
    # parent like a finishing child: whichever of them commits last sees
    # every child final.
    for round_ in range(5):
        parent = f"p{round_}"
        fan_out(store, clock, 8, parent, wait=True)
        clock.to(2)
        kids = claim_all(store, tasks=["child"], limit=20)
        clock.to(3)
        barrier = threading.Barrier(len(kids))

        def act(barrier: threading.Barrier, kid: r.Claimed, i: int) -> bool:
            barrier.wait()
            worker = workers[i % len(workers)]
            if i == 0:
                return worker.cancel(kid.record.id)
            return worker.commit(kid.lease, Commit(outcome=r.Complete(output=i)))

        runs = [in_thread(partial(act, barrier, k, i)) for i, k in enumerate(kids)]
        for t, _ in runs:
            t.join(60)
        assert [out.get("error") for _, out in runs] == [None] * len(runs)
        rec = store.get(parent)
        assert rec.status == r.PENDING and rec.wake_at == at(3), (round_, rec)
        statuses = sorted(x.status for x in store.history(parent))
        assert statuses == [r.R_CANCELLED] + [r.R_COMPLETED] * 7
        woke_once_after_all(parent)


def _blocked_on_lock(url: str, app_name: str) -> int:
    """The server process of the first ``app_name`` connection seen waiting
    on a lock, once there is one."""
    pids: list[int] = []

    def check() -> bool:
        with admin(url) as conn:
            pids[:] = [
                pid
                for (pid,) in conn.execute(
                    """SELECT pid FROM pg_stat_activity
                   WHERE application_name = %s AND wait_event_type = 'Lock'""",
                    [app_name],
                )
            ]
        return bool(pids)

    eventually(check)
    return pids[0]


def _suspend_while_a_child_finishes(
    url: str,
    store: PostgresStore,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    parent: r.Claimed,
    suspend: r.Suspend,
    child: r.Claimed,
) -> None:
    """The parent's suspend runs with its transaction held open on the
    server (its row fenced, its children marked awaited) while ``child``
    completes from another store, a second later: the child must wait on a
    lock, and succeed once the suspend commits."""
    kid_app = f"zart-test-kid-{uuid.uuid4().hex[:8]}"
    kid_store = PostgresStore(url, schema=store.schema, application_name=kid_app, clock=clock)
    finishing: list[tuple[threading.Thread, dict[str, Any]]] = []
    run = store._exec

    def holding(conn: Any, name: str, params: dict[str, Any]) -> Any:
        if name == "set_row" and not finishing:  # halfway through the suspend
            clock.time += timedelta(seconds=1)
            done = Commit(outcome=r.Complete(output=1))
            finishing.append(in_thread(lambda: kid_store.commit(child.lease, done)))
            _blocked_on_lock(url, kid_app)
        return run(conn, name, params)

    with monkeypatch.context() as m:
        m.setattr(store, "_exec", holding)
        store.commit(parent.lease, Commit(outcome=suspend))
    ((t, out),) = finishing
    t.join(30)
    kid_store.close()
    assert out == {"value": True}


@pytest.mark.parametrize("last", [True, False], ids=["last-child", "not-last"])
def test_a_child_finishing_while_its_parent_suspends_waits_and_sees_the_suspend(
    url: str,
    store: PostgresStore,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    last: bool,
) -> None:
    # A child finishing behind its parent's open suspend queues for its own
    # row, which the suspend marked awaited, and must then see the suspend:
    # its wake-up check, after its commit, would otherwise find the parent
    # still running, and the parent, counting this child as open, would
    # never be woken.
    n = 2 if last else 3
    c = fan_out(store, clock, n)
    clock.to(2)
    kids = {k.record.id: k for k in claim_all(store, tasks=["child"])}
    store.commit(kids["p:c0"].lease, Commit(outcome=r.Complete(output=0)))
    clock.to(3)
    suspend = r.Suspend(children=tuple(f"c{i}" for i in range(n)))
    _suspend_while_a_child_finishes(url, store, clock, monkeypatch, c, suspend, kids["p:c1"])
    parent = store.get("p")
    if last:
        assert (parent.status, parent.wake_at) == (r.PENDING, at(4))
    else:
        assert (parent.status, parent.waiting_for) == (r.WAITING, "children")
    assert store.load("p").records["c1"].status == r.R_COMPLETED


def test_a_child_finishing_while_its_parent_suspends_on_it_again_sees_the_suspend(
    url: str, store: PostgresStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parent woke before its child finished (a wait with a deadline
    # here) and waits for it again. The child is marked awaited already;
    # marking it again still locks it, so the child's finish queues behind
    # the open suspend and its check then sees the parent waiting.
    c = fan_out(store, clock, 1)
    clock.to(2)
    assert store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0",), wake_at=at(5))))
    clock.to(3)
    (kid,) = claim_all(store, tasks=["child"])
    clock.to(6)
    (c,) = claim_all(store, tasks=["t"])
    clock.to(7)
    _suspend_while_a_child_finishes(
        url, store, clock, monkeypatch, c, r.Suspend(children=("c0",)), kid
    )
    parent = store.get("p")
    assert (parent.status, parent.wake_at) == (r.PENDING, at(8))


def test_a_wake_up_lost_after_a_childs_commit_is_found_by_wake_stranded(
    store: PostgresStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    kids = _fan_out_awaited(store, clock, 2)
    store.commit(kids[0].lease, Commit(outcome=r.Complete(output=0)))
    # As if the worker died between the last child's commit and its wake-up.
    run = store._exec

    def dying(conn: Any, name: str, params: dict[str, Any]) -> Any:
        return run(conn, "server_time" if name == "wake_parent" else name, params)

    with monkeypatch.context() as m:
        m.setattr(store, "_exec", dying)
        assert store.commit(kids[1].lease, Commit(outcome=r.Complete(output=1)))
    assert store.get("p").status == r.WAITING
    assert claim_all(store, tasks=["t"]) == []
    clock.to(4)
    assert store.wake_stranded() == 1
    assert store.wake_stranded() == 0
    assert [c.record.id for c in claim_all(store, tasks=["t"])] == ["p"]
    log = store.load("p").records
    assert (log["c0"].result, log["c1"].result) == (0, 1)


# -- lost connections -------------------------------------------------------------
def _one_child_awaited(store: PostgresStore, clock: ManualClock) -> r.Claimed:
    """Parent ``p`` suspended on its one child ``p:c0``; the child's claim
    (the clock at 3)."""
    (kid,) = _fan_out_awaited(store, clock, 1)
    return kid


def _holding_record_key(url: str, store: PostgresStore) -> psycopg.Connection[Any]:
    """A connection whose open transaction inserts record "s" of ``p:c0``:
    a commit writing that record waits on its key until the test rolls back."""
    holder = psycopg.connect(url)
    holder.execute(
        render(
            "INSERT INTO {records} (execution_id, name, seq, kind, status, created_at, "
            "updated_at) VALUES ('p:c0', 's', 1, 'step', 'completed', now(), now())",
            store.schema,
            "",
        )
    )
    return holder


def _holding_row(url: str, store: PostgresStore, eid: str) -> psycopg.Connection[Any]:
    """A connection whose open transaction holds ``eid``'s row locked."""
    holder = psycopg.connect(url)
    locking = "SELECT 1 FROM {executions} WHERE id = %s FOR UPDATE"
    holder.execute(render(locking, store.schema, ""), [eid])
    return holder


def _terminate(url: str, pid: int) -> None:
    with admin(url) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", [pid])


def _kill_when_blocked(url: str, app_name: str) -> None:
    """Terminate the ``app_name`` connection once it waits on a lock."""
    _terminate(url, _blocked_on_lock(url, app_name))


def test_a_step_commit_killed_while_it_waits_is_retried_and_writes_once(
    url: str, store: PostgresStore, app_name: str, clock: ManualClock
) -> None:
    kid = _one_child_awaited(store, clock)
    holder = _holding_record_key(url, store)  # the step's insert waits on its key
    t, out = in_thread(lambda: store.commit(kid.lease, Commit(records=(step_write("s", 7),))))
    _kill_when_blocked(url, app_name)
    assert store.history("p:c0") == []  # the killed statement left nothing
    holder.rollback()
    holder.close()
    t.join(30)
    assert out == {"value": True}
    assert [(h.name, h.seq, h.result) for h in store.history("p:c0")] == [("s", 1, 7)]
    assert store.get("p:c0").status == r.RUNNING  # a step commit keeps the lease


def test_connection_killed_mid_commit_writes_nothing_and_the_retry_applies_once(
    url: str, store: PostgresStore, app_name: str, clock: ManualClock
) -> None:
    kid = _one_child_awaited(store, clock)
    # The child's finish, its row locked and written, waits on its record's key.
    holder = _holding_record_key(url, store)
    done = Commit(records=(step_write("s", 7),), outcome=r.Complete(output=7))
    t, out = in_thread(lambda: store.commit(kid.lease, done))
    _kill_when_blocked(url, app_name)  # the child is finishing, in an open statement
    assert store.get("p:c0").status == r.RUNNING  # the killed statement left nothing
    holder.rollback()
    holder.close()
    t.join(30)
    assert out == {"value": True}
    assert store.get("p:c0").status == r.COMPLETED
    assert [(h.name, h.result) for h in store.history("p:c0")] == [("s", 7)]
    parent = store.get("p")
    assert parent.status == r.PENDING and parent.wake_at == at(3)
    assert store.load("p").records["c0"].result == 7


def test_connection_killed_during_the_wake_up_keeps_the_finish_and_the_retry_wakes(
    url: str, store: PostgresStore, app_name: str, clock: ManualClock
) -> None:
    # The child's commit landed; the statement after it, which wakes the
    # parent, lost its connection. The retry finds the lease ended by that
    # very commit, reports it done, and wakes the parent.
    kid = _one_child_awaited(store, clock)
    holder = _holding_row(url, store, "p")  # the wake-up waits for the parent's row
    t, out = in_thread(lambda: store.commit(kid.lease, Commit(outcome=r.Complete(output=7))))
    pid = _blocked_on_lock(url, app_name)
    assert store.get("p:c0").status == r.COMPLETED  # committed before the wake-up began
    assert store.get("p").status == r.WAITING
    _terminate(url, pid)
    holder.rollback()
    holder.close()
    t.join(30)
    assert out == {"value": True}
    parent = store.get("p")
    assert (parent.status, parent.wake_at) == (r.PENDING, at(3))
    assert store.load("p").records["c0"].result == 7


def test_a_commit_retried_after_a_lost_connection_still_fails_a_lost_lease(
    url: str, store: PostgresStore, app_name: str, clock: ManualClock
) -> None:
    # The retry's check accepts only the lease's own ending: a cancel that
    # came in between moved the token, and the commit is refused.
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    holder = _holding_row(url, store, "e1")  # takes the row first, and cancels it
    t, out = in_thread(lambda: store.commit(c.lease, Commit(outcome=r.Complete(output=1))))
    _kill_when_blocked(url, app_name)
    cancelling = "UPDATE {executions} SET status = 'cancelled', token = token + 1 WHERE id = 'e1'"
    holder.execute(render(cancelling, store.schema, ""))
    holder.commit()
    holder.close()
    t.join(30)
    assert isinstance(out.get("error"), LeaseLost)
    assert (store.get("e1").status, store.get("e1").output) == (r.CANCELLED, None)


def test_connection_killed_mid_offer_raises_store_error_and_writes_nothing(
    url: str, store: PostgresStore, app_name: str
) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    holder = _holding_row(url, store, "e1")
    t, out = in_thread(lambda: store.offer_event("e1", "go", {"x": 1}))
    _kill_when_blocked(url, app_name)
    t.join(30)
    holder.rollback()
    holder.close()
    assert isinstance(out.get("error"), StoreError)
    assert "lost its connection" in str(out["error"])
    assert store.load("e1").events == {}
    assert store.offer_event("e1", "go", {"x": 2}) is True


@pytest.mark.parametrize("key", [None, "cart:1"])
def test_a_send_killed_mid_way_is_retried_only_with_a_key(
    url: str, store: PostgresStore, app_name: str, key: str | None
) -> None:
    # A send cannot tell a lost answer from a lost send: with a key the store
    # tries again (and stores the message once); without one it says so.
    store.create(NewExecution(id="e1", task_name="t"))
    holder = _holding_row(url, store, "e1")
    t, out = in_thread(lambda: store.send("e1", "cart", "pen", key))
    _kill_when_blocked(url, app_name)
    holder.rollback()
    holder.close()
    t.join(30)
    sent = store.load("e1").messages.get("cart", [])
    if key is None:
        assert isinstance(out.get("error"), StoreError) and sent == []
    else:
        assert [m.id for m in sent] == [out["value"]]
        assert store.send("e1", "cart", "pen", key) == out["value"]  # and once more: the same


def _kill(url: str, app_name: str) -> int:
    with admin(url) as conn:
        killed = conn.execute(
            """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid()
                 AND application_name = %s""",
            [app_name],
        ).fetchone()
        eventually(
            lambda: (
                conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [app_name]
                ).fetchone()
                == (0,)
            )
        )
    return int(killed[0]) if killed else 0


def _listening(store: PostgresStore) -> None:
    """Until the store listens on a live connection: a dead one is dropped
    by a wait, and the next wait opens another (and returns at once)."""
    deadline = time.monotonic() + 10
    while True:
        store.wait(0)
        conn = store._listener._conn
        if conn is not None and not stale(conn):
            return
        assert time.monotonic() < deadline, "the store never listened again"


def _time_wait(listener: PostgresStore, action: Callable[[], Any], waiters: int = 1) -> float:
    """How long ``waiters`` threads blocked in wait(30) take to return after
    ``action`` runs (the slowest of them)."""
    started = time.monotonic()
    runs = [in_thread(lambda: listener.wait(30)) for _ in range(waiters)]
    action()
    for t, _ in runs:
        t.join(35)
    return time.monotonic() - started


def test_killed_connections_are_replaced(
    url: str, store: PostgresStore, app_name: str, clock: ManualClock
) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    _listening(store)
    assert _kill(url, app_name) >= 2  # the pool's and the listener's
    # create is not retried on a lost connection: this proves the pool hands
    # out a live connection instead of the dead one.
    store.create(NewExecution(id="e2", task_name="t"))
    c = claim_one(store)
    store.commit(c.lease, Commit(records=(step_write("s", 1),)))
    assert store.load("e1").records["s"].result == 1
    assert store.offer_event("e2", "go", None) is True
    _listening(store)
    other = PostgresStore(url, schema=store.schema, clock=clock)
    assert _time_wait(store, lambda: other.create(NewExecution(id="e3", task_name="t"))) < 5
    other.close()


# -- LISTEN / NOTIFY ----------------------------------------------------------------
def test_notify_wakes_wait_promptly(url: str, store: PostgresStore, clock: ManualClock) -> None:
    listener = PostgresStore(url, schema=store.schema, clock=clock)
    listener.wait(0)  # opens the LISTEN connection and returns at once
    started = time.monotonic()
    listener.wait(0.3)  # nothing happened: it waits out its timeout
    assert time.monotonic() - started >= 0.25

    def create() -> None:
        store.create(NewExecution(id="e1", task_name="t"))

    assert _time_wait(listener, create, waiters=3) < 5
    c = claim_one(store)
    store.commit(c.lease, Commit(outcome=r.Suspend(event="go")))
    assert _time_wait(listener, lambda: store.offer_event("e1", "go", 1)) < 5
    c = claim_one(store)
    store.commit(c.lease, Commit(outcome=r.Suspend(topic="inbox")))
    assert _time_wait(listener, lambda: store.send("e1", "inbox", 2)) < 5
    c = claim_one(store)
    assert _time_wait(listener, lambda: store.release(c.lease)) < 5
    listener.close()


def test_other_schemas_do_not_wake_wait(url: str, store: PostgresStore) -> None:
    with scratch_schema(url) as elsewhere:
        other = PostgresStore(url, schema=elsewhere)
        other.migrate()
        store.wait(0)
        other.create(NewExecution(id="e1", task_name="t"))
        started = time.monotonic()
        store.wait(0.3)
        assert time.monotonic() - started >= 0.25
        other.close()


# -- settings and unreachable servers ------------------------------------------------
def test_a_password_in_the_query_is_redacted_too() -> None:
    s = PostgresStore(
        "postgresql://postgres@127.0.0.1:1/test?password=s3cret-pw", connect_timeout=2
    )
    with pytest.raises(StoreError) as info:
        s.get("x")
    assert "127.0.0.1:1/test?password=***" in str(info.value)
    assert "s3cret-pw" not in str(info.value)
    s.close()


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("bogus=1", 'invalid URI query parameter: "bogus"'),
        ("connect_timeout=soon", "connect_timeout must be a number of seconds, got 'soon'"),
        ("connect_timeout=0", "connect_timeout must be positive, got 0.0"),
        ("connect_timeout=1e9", "connect_timeout must be at most 86400 s (a day)"),
        ("max_payload=0", "max_payload must be at least 1, got 0"),
    ],
)
def test_a_bad_url_parameter_raises_store_error_naming_it(query: str, says: str) -> None:
    url = f"postgresql://ann:s3cret@127.0.0.1:1/test?password=s3cret&{query}"
    with pytest.raises(StoreError) as info:
        connect(url)
    message = str(info.value)
    assert message.startswith("bad PostgreSQL URL postgresql://ann:***@127.0.0.1:1/test?")
    assert says in message and "s3cret" not in message


def test_the_urls_connect_timeout_is_used_unless_given(url: str) -> None:
    def timeout(s: PostgresStore) -> str:
        return str(psycopg.conninfo.conninfo_to_dict(s._pool._conninfo)["connect_timeout"])

    assert timeout(PostgresStore(with_query(url, "connect_timeout=3&schema=x"))) == "3"
    assert timeout(PostgresStore(with_query(url, "connect_timeout=3"), connect_timeout=5)) == "5"
    assert timeout(PostgresStore(url)) == "10"
    s = PostgresStore(with_query(url, "connect_timeout=3"))
    s.migrate()  # and it still connects
    s.close()


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"min_size": -1}, "min_size must be at least 0, got -1"),
        ({"max_size": 0}, "max_size must be at least 1, got 0"),
        ({"min_size": 5, "max_size": 2}, "max_size must be at least 5, got 2"),
        ({"max_size": 2.5}, "max_size must be a whole number, got 2.5"),
        ({"pool_timeout": float("nan")}, "pool_timeout must be finite, got nan"),
        ({"pool_timeout": 0}, "pool_timeout must be positive, got 0"),
        ({"connect_timeout": -1}, "connect_timeout must be positive, got -1"),
        ({"connect_timeout": float("inf")}, "connect_timeout must be finite, got inf"),
    ],
)
def test_bad_pool_settings_are_refused_when_the_store_is_made(
    options: dict[str, Any], says: str
) -> None:
    # psycopg_pool would refuse some only in the first operation, in a worker.
    with pytest.raises(ValueError) as info:
        PostgresStore("postgresql://postgres@127.0.0.1:1/test", **options)
    assert str(info.value) == says


def test_unreachable_server_raises_store_error_with_the_password_redacted() -> None:
    url = "postgresql://postgres:s3cret-pw@127.0.0.1:1/test"
    s = PostgresStore(url, connect_timeout=2)
    started = time.monotonic()
    for call in (lambda: s.get("x"), s.migrate, s.now):
        with pytest.raises(StoreError) as info:
            call()
        message = str(info.value)
        assert "postgresql://postgres:***@127.0.0.1:1/test" in message
        assert "s3cret-pw" not in message
    assert time.monotonic() - started < 10
    s.close()


def test_unknown_database_raises_store_error(url: str) -> None:
    base = url.rsplit("/", 1)[0]
    s = PostgresStore(f"{base}/zart_no_such_database_{uuid.uuid4().hex[:6]}", connect_timeout=2)
    with pytest.raises(StoreError, match="does not exist"):
        s.get("x")


def test_psycopg_cleanup_errors_stay_quiet_and_its_other_warnings_do_not(
    store: PostgresStore, caplog: pytest.LogCaptureFixture
) -> None:
    # One such line per connection in an outage: zart says once that the
    # store failed, so those lines would only bury it.
    driver = logging.getLogger("psycopg")
    with caplog.at_level(logging.WARNING):
        driver.warning("error ignored terminating %r: %s", "<Pipeline [BAD]>", "server closed")
        driver.warning("error ignored in rollback on %s: %s", "<Connection>", "no connection")
        driver.warning("some other warning")
    assert [rec.getMessage() for rec in caplog.records] == ["some other warning"]
    assert logging.getLogger("psycopg.pool").level == logging.ERROR
