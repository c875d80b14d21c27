"""PostgreSQL-specific behaviour of PostgresStore, beyond the shared contract:
URLs, schemas and prefixes, migrations, concurrency, LISTEN/NOTIFY, the claim
index on a large table, and surviving lost connections.

Every test runs against a real server (tests/pg.py), in scratch schemas.
Nothing sleeps to wait for something: waits poll a condition with a deadline.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import attrs
import psycopg
import pytest

from tests.pg import postgres_url_or_skip, scratch_schema
from tests.stores.scenario import LEASE, T0, at, fan_out
from zart import postgres_sql as q
from zart import records as r
from zart.errors import (
    ExecutionNotFound,
    LeaseLost,
    SchemaNewer,
    SchemaOutdated,
    StoreError,
    WriteRejected,
)
from zart.migrations import latest_version, migration_files
from zart.postgres import PostgresStore, split_url
from zart.postgres_sql import CREATE_VERSION_TABLE, RECORD_VERSION, render
from zart.records import Commit, Lease, NewExecution, RecordWrite
from zart.urls import connect

pytestmark = pytest.mark.postgres


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
def store(url: str, schema: str, app_name: str) -> Iterator[PostgresStore]:
    s = PostgresStore(url, schema=schema, application_name=app_name)
    s.migrate()
    try:
        yield s
    finally:
        s.close()


def admin(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True)


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        threading.Event().wait(0.01)  # a poll interval, not a wait for the outcome


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def step(name: str, result: Any = None, seq: int = 1) -> RecordWrite:
    return RecordWrite(name=name, kind=r.K_STEP, status=r.R_COMPLETED, result=result, seq=seq)


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


def test_channels_differ_by_schema_and_prefix() -> None:
    a = PostgresStore("postgresql://u@h/d", schema="s1")
    b = PostgresStore("postgresql://u@h/d", schema="s2")
    c = PostgresStore("postgresql://u@h/d", schema="s1", prefix="x_")
    assert len({a.channel, b.channel, c.channel}) == 3


# -- schemas, prefixes, migrations --------------------------------------------------
def test_prefixes_isolate_stores_in_one_schema(url: str, schema: str) -> None:
    a = PostgresStore(url, schema=schema, prefix="a_")
    b = PostgresStore(url, schema=schema, prefix="b_")
    try:
        a.migrate()
        b.migrate()
        a.create(NewExecution(id="e1", task_name="t"), T0)
        with pytest.raises(ExecutionNotFound):
            b.get("e1")
        assert b.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=5) == []
        b.create(NewExecution(id="e1", task_name="other"), T0)
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
    finally:
        a.close()
        b.close()


def _shape(conn: psycopg.Connection[Any], schema: str) -> dict[str, list[Any]]:
    columns = conn.execute(
        """SELECT table_name, ordinal_position, column_name, data_type, is_nullable,
                  replace(column_default, %(s)s, 'S'), is_identity
           FROM information_schema.columns WHERE table_schema = %(s)s ORDER BY 1, 2""",
        {"s": schema},
    ).fetchall()
    indexes = conn.execute(
        """SELECT indexname, replace(indexdef, %(s)s, 'S') FROM pg_indexes
           WHERE schemaname = %(s)s ORDER BY 1""",
        {"s": schema},
    ).fetchall()
    constraints = conn.execute(
        """SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
           JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = %(s)s ORDER BY 1""",
        {"s": schema},
    ).fetchall()
    return {"columns": columns, "indexes": indexes, "constraints": constraints}


def test_migrated_schema_equals_running_the_files(url: str, store: PostgresStore) -> None:
    assert store.schema is not None
    with scratch_schema(url) as fresh, admin(url) as conn:
        conn.execute(render("CREATE SCHEMA {schema}", fresh, ""))
        conn.execute(render(CREATE_VERSION_TABLE, fresh, ""))
        for version, text in migration_files("postgres"):
            conn.execute(render(text, fresh, ""))
            conn.execute(render(RECORD_VERSION, fresh, ""), {"version": version})
        migrated = _shape(conn, store.schema)
        assert migrated == _shape(conn, fresh)
        assert any(name == "executions_due" for name, _ in migrated["indexes"])


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


@contextlib.contextmanager
def _schema_at_version(url: str, schema: str, version: int) -> Iterator[Any]:
    """``schema`` migrated up to ``version`` only; an admin connection to it."""
    with admin(url) as conn:
        conn.execute(render("CREATE SCHEMA {schema}", schema, ""))
        conn.execute(render(CREATE_VERSION_TABLE, schema, ""))
        for number, text in migration_files("postgres")[:version]:
            conn.execute(render(text, schema, ""))
            conn.execute(render(RECORD_VERSION, schema, ""), {"version": number})
        yield conn


def test_version_3_keeps_a_parent_waiting_under_version_2_on_the_same_children(
    url: str, schema: str
) -> None:
    # Version 2 kept children's outcomes and ``awaited`` in the parent's log;
    # version 3 keeps them in the children's rows.
    with _schema_at_version(url, schema, 2) as conn:
        conn.execute(render(_V2_FAN_OUT, schema, ""))
    s = PostgresStore(url, schema=schema)
    s.migrate()
    log = s.load("p").records
    assert (log["c0"].status, log["c0"].result) == (r.R_COMPLETED, 5)  # read from the record
    assert log["c1"].status == r.R_PENDING
    (kid,) = s.claim(worker="w", tasks=["child"], now=at(1), lease=LEASE, limit=1)
    assert s.commit(kid.lease, Commit(outcome=r.Complete(output=6)), at(2))
    parent = s.get("p")
    assert (parent.status, parent.wake_at) == (r.PENDING, at(2))  # still awaited
    assert s.load("p").records["c1"].result == 6
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


def test_version_4_reads_version_3_documents_unchanged(url: str, schema: str) -> None:
    # Version 4 turns the jsonb columns into json: a document stored before
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
        versions = conn.execute(render("SELECT version FROM {schema_version}", store.schema, ""))
        assert [v for (v,) in versions] == list(range(1, latest_version("postgres") + 1))


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
    with admin(url) as conn:
        versions = conn.execute(render("SELECT version FROM {schema_version}", schema, ""))
        assert [v for (v,) in versions] == list(range(1, latest_version("postgres") + 1))
    stores[0].create(NewExecution(id="e1", task_name="t"), T0)
    assert stores[1].get("e1").status == r.PENDING
    for s in stores:
        s.close()


def test_prefixes_sharing_a_new_schema_migrate_together(url: str, schema: str) -> None:
    # Both would create the schema at once without one lock for it.
    stores = [PostgresStore(url, schema=schema, prefix=f"p{i}_") for i in range(4)]
    _migrate_together(stores)
    for s in stores:
        s.close()


def test_migrate_without_a_schema_uses_the_search_path(url: str, schema: str) -> None:
    # No ?schema=: the tables go where search_path says, and every migration
    # (0003 drops indexes) must find them there, not in "public".
    with admin(url) as conn:
        conn.execute(render("CREATE SCHEMA {schema}", schema, ""))
    joiner = "&" if "?" in url else "?"
    s = PostgresStore(f"{url}{joiner}options=-csearch_path%3D{schema}", prefix="sp_")
    s.migrate()
    s.create(NewExecution(id="e1", task_name="t"), T0)
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
    assert (info.value.found, info.value.expected) == (0, latest_version("postgres"))
    assert "zart migrate" in str(info.value)
    s.migrate()
    with pytest.raises(ExecutionNotFound):
        s.get("x")
    s.close()


def test_older_and_newer_recorded_versions_are_refused(url: str, store: PostgresStore) -> None:
    assert store.schema is not None
    with admin(url) as conn:
        conn.execute(render("DELETE FROM {schema_version}", store.schema, ""))
        with pytest.raises(SchemaOutdated):
            PostgresStore(url, schema=store.schema).get("x")
        conn.execute(render(RECORD_VERSION, store.schema, ""), {"version": 999})
        with pytest.raises(SchemaNewer, match="newer than this code"):
            PostgresStore(url, schema=store.schema).get("x")
        with pytest.raises(SchemaNewer, match="upgrade zart"):
            PostgresStore(url, schema=store.schema).migrate()  # not "migrated"


# -- values ---------------------------------------------------------------------
def test_datetimes_round_trip_exactly_as_utc(store: PostgresStore) -> None:
    when = datetime(2031, 2, 3, 4, 5, 6, 789012, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    store.create(NewExecution(id="e1", task_name="t"), when)
    rec = store.get("e1")
    assert rec.created_at == when and rec.created_at.microsecond == 789012
    assert rec.created_at.tzinfo is UTC
    (c,) = store.claim(worker="w", tasks=None, now=when, lease=LEASE, limit=1)
    sleep = RecordWrite(name="nap", kind=r.K_SLEEP, status=r.R_WAITING, seq=1, wake_at=when)
    store.commit(c.lease, Commit(records=(sleep,)), when)
    assert store.load("e1").records["nap"].wake_at == when


def test_none_is_sql_null_and_json_null_values_round_trip(url: str, store: PostgresStore) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    (c,) = store.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=1)
    store.commit(
        c.lease, Commit(records=(step("a"), step("b", [None], 2), step("c", "", 3))), at(1)
    )
    assert [h.result for h in store.history("e1")] == [None, [None], ""]
    assert store.schema is not None
    with admin(url) as conn:
        nulls = conn.execute(
            render("SELECT name FROM {records} WHERE result IS NULL", store.schema, "")
        ).fetchall()
    assert nulls == [("a",)]


# -- fencing ------------------------------------------------------------------
def test_a_stale_commit_writes_nothing_whatever_it_carries(url: str, store: PostgresStore) -> None:
    c = fan_out(store, 1)  # p, waiting for nothing yet, with one child p:c0
    (kid,) = store.claim(worker="w", tasks=["child"], now=at(2), lease=LEASE, limit=1)
    store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0",))), at(2))
    # Both leases expire and other workers take over.
    new_kid = store.claim(worker="w2", tasks=["child"], now=at(40), lease=LEASE, limit=1)[0]
    store.offer_event("p", "go", None, at(40))
    failed = RecordWrite(name="f", kind=r.K_STEP, status=r.R_FAILED, seq=1, error={"type": "E"})
    store.commit(new_kid.lease, Commit(records=(failed,)), at(41))
    before = {eid: store.get(eid) for eid in ("p", "p:c0")}
    logs = {eid: store.load(eid) for eid in ("p", "p:c0")}
    awaited = render(
        "SELECT id, awaited, record_status FROM {executions} ORDER BY 1", store.schema, ""
    )
    with admin(url) as conn:
        flags = conn.execute(awaited).fetchall()
    extra = NewExecution(id="p:c0:x", task_name="child", parent_id="p:c0", parent_step="x")
    stale = [
        Commit(records=(step("s", 1),), state={"x": 1}),
        Commit(children=(extra,), outcome=r.Suspend(children=("f",))),
        Commit(outcome=r.Suspend(wake_at=at(99))),
        Commit(outcome=r.RetryExecution(error={"type": "E"}, wake_at=at(42))),
        Commit(outcome=r.Complete(output="stale")),
        Commit(outcome=r.Fail(error={"type": "E"})),
    ]
    for commit in stale:
        with pytest.raises(LeaseLost):
            store.commit(kid.lease, commit, at(42))
    assert {eid: store.get(eid) for eid in ("p", "p:c0")} == before
    assert {eid: store.load(eid) for eid in ("p", "p:c0")} == logs
    with admin(url) as conn:
        assert conn.execute(awaited).fetchall() == flags
    with pytest.raises(ExecutionNotFound):
        store.get("p:c0:x")


def test_finishing_without_a_parent_is_one_fenced_statement(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    (old,) = store.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=1)
    assert old.lease.parent_id is None
    (new,) = store.claim(worker="w2", tasks=None, now=at(31), lease=LEASE, limit=1)
    sent: list[str] = []
    run = store._run
    monkeypatch.setattr(
        store, "_run", lambda what, op, **kw: sent.append(what) or run(what, op, **kw)
    )
    done = Commit(
        records=(step("a", 1), step("b", 2, 2)), state={"s": 1}, outcome=r.Complete(output=3)
    )
    with pytest.raises(LeaseLost):
        store.commit(old.lease, done, at(32))
    assert store.get("e1").status == r.RUNNING and store.load("e1").records == {}
    sent.clear()
    assert store.commit(new.lease, done, at(33))
    assert sent == ["commit"]  # one statement: records, state and status together
    rec = store.get("e1")
    assert (rec.status, rec.output, rec.state, rec.wake_at) == (r.COMPLETED, 3, {"s": 1}, None)
    assert [(h.name, h.seq, h.result) for h in store.history("e1")] == [("a", 1, 1), ("b", 2, 2)]


class _Named(dict[str, bytes]):
    """A query table that notes which queries were looked up."""

    def __init__(self, queries: dict[str, bytes]) -> None:
        super().__init__(queries)
        self.used: list[str] = []

    def __getitem__(self, name: str) -> bytes:
        self.used.append(name)
        return super().__getitem__(name)


def test_a_step_commit_is_one_fenced_statement_without_a_state_update(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    (old,) = store.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=1)
    (new,) = store.claim(worker="w2", tasks=None, now=at(31), lease=LEASE, limit=1)
    queries = _Named(store._q)
    monkeypatch.setattr(store, "_q", queries)
    with pytest.raises(LeaseLost):
        store.commit(old.lease, Commit(records=(step("a", 1),)), at(32))
    assert store.commit(new.lease, Commit(records=(step("a", 1),)), at(33))
    assert store.commit(new.lease, Commit(records=(step("b", 2, 2),), state={"s": 1}), at(34))
    assert queries.used == ["COMMIT_STEP", "COMMIT_STEP", "COMMIT_ONE"]
    assert [(h.name, h.result) for h in store.history("e1")] == [("a", 1), ("b", 2)]
    assert store.get("e1").state == {"s": 1}


def test_a_first_write_is_a_plain_insert_and_a_name_already_there_upserts(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    (c,) = store.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=1)
    queries = _Named(store._q)
    monkeypatch.setattr(store, "_q", queries)
    first = attrs.evolve(step("a", 1), first=True)
    assert store.commit(c.lease, Commit(records=(first,)), at(1))
    assert queries.used == ["COMMIT_STEP_FIRST"]
    # The hint was wrong: the insert's unique violation rolls it back, and
    # the upsert writes the record where it stands.
    assert store.commit(c.lease, Commit(records=(attrs.evolve(first, result=2),)), at(2))
    assert queries.used == ["COMMIT_STEP_FIRST", "COMMIT_STEP_FIRST", "COMMIT_STEP"]
    assert [(h.name, h.seq, h.result) for h in store.history("e1")] == [("a", 1, 2)]


# -- the step commit through libpq (zart.postgres_wire) ------------------------------
def _prepared(store: PostgresStore) -> set[str]:
    """The statements prepared on the pool's connection (the tests run one
    thread, and the pool keeps one connection for it)."""
    rows = store._run("test", lambda c: c.execute("SELECT name FROM pg_prepared_statements"))
    return {name for (name,) in rows}


def _writes() -> list[tuple[RecordWrite, datetime]]:
    """Step commits of every shape a record takes, each with its ``now``:
    first writes and overwrites, NULLs, documents with escapes and non-ASCII
    text, times, children; and a ``now`` that is not in UTC."""
    paris = timezone(timedelta(hours=1))
    doc = {"text": 'é "quoted" \\ \n \u0000 ✓', "n": [1, 2.5, None, True]}
    return [
        (attrs.evolve(step("a", 1), first=True), at(1)),
        (attrs.evolve(step("b", None, 2), first=True), at(2)),
        (attrs.evolve(step("c", doc, 3), first=True), at(3)),
        (step("a", "again"), at(4)),  # a name already there: the upsert
        (attrs.evolve(step("c", 5, 3), first=True), at(5)),  # a wrong hint: the twin
        (
            RecordWrite(
                name="retry ✓",
                kind=r.K_STEP,
                status=r.R_RETRYING,
                seq=4,
                step="module.fn",
                error={"kind": "step", "message": "boom é"},
                attempts=2,
                wake_at=at(60),
                first=True,
            ),
            at(6),
        ),
        (
            RecordWrite(name="kid", kind=r.K_SCHEDULE, status=r.R_PENDING, seq=5, child_id="e:k"),
            at(7),
        ),
        (attrs.evolve(step("d", 8, 6), first=True), at(8).astimezone(paris)),
    ]


def _written(store: PostgresStore, eid: str) -> list[tuple[Any, ...]]:
    return [attrs.astuple(h) for h in store.history(eid)]


def test_step_commits_through_libpq_write_what_psycopg_writes(store: PostgresStore) -> None:
    for eid in ("wire", "psycopg"):
        store.create(NewExecution(id=eid, task_name="t"), T0)
    (a,) = store.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=1, under="wire")
    (b,) = store.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=1, under="psycopg")
    for write, now in _writes():
        assert store.commit(a.lease, Commit(records=(write,)), now)
    assert {"zart_commit_step", "zart_commit_step_first"} <= _prepared(store)
    store._wire_on = False
    for write, now in _writes():
        assert store.commit(b.lease, Commit(records=(write,)), now)
    assert _written(store, "wire") == _written(store, "psycopg")
    assert store.history("wire")[0].created_at == at(1)
    assert [h.name for h in store.history("wire")] == ["a", "b", "c", "retry ✓", "kid", "d"]


@pytest.mark.parametrize("wire", [True, False], ids=["libpq", "psycopg"])
def test_a_step_name_holding_nul_is_refused_and_writes_nothing(
    store: PostgresStore, wire: bool
) -> None:
    # libpq reads a text parameter up to its first NUL: sent as it is, the
    # name would be cut short and stored under another name.
    store._wire_on = wire
    store.create(NewExecution(id="e1", task_name="t"), T0)
    (c,) = store.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=1)
    with pytest.raises(WriteRejected, match="NUL"):
        store.commit(c.lease, Commit(records=(attrs.evolve(step("a\0b", 1), first=True),)), at(1))
    assert store.history("e1") == []
    assert store.commit(c.lease, Commit(records=(attrs.evolve(step("a", 2), first=True),)), at(2))
    assert [(h.name, h.result) for h in store.history("e1")] == [("a", 2)]


def test_a_statement_the_server_forgot_falls_back_to_psycopg_for_good(
    store: PostgresStore, caplog: pytest.LogCaptureFixture
) -> None:
    # What a pooler in transaction mode does: the next commit lands on a
    # server session that never saw the PREPARE.
    store.create(NewExecution(id="e1", task_name="t"), T0)
    (c,) = store.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=1)
    assert store.commit(c.lease, Commit(records=(attrs.evolve(step("a", 1), first=True),)), at(1))
    store._run("test", lambda conn: conn.execute("DEALLOCATE ALL"))
    assert store.commit(
        c.lease, Commit(records=(attrs.evolve(step("b", 2, 2), first=True),)), at(2)
    )
    assert "forgot statement zart_commit_step_first" in caplog.text
    assert store._wire_on is False
    assert store.commit(
        c.lease, Commit(records=(attrs.evolve(step("c", 3, 3), first=True),)), at(3)
    )
    assert not any(name.startswith("zart_") for name in _prepared(store))
    assert [(h.name, h.result) for h in store.history("e1")] == [("a", 1), ("b", 2), ("c", 3)]


def test_a_connection_not_in_utf8_commits_steps_through_psycopg(url: str, schema: str) -> None:
    latin = PostgresStore(url + "?client_encoding=LATIN1", schema=schema)
    latin.migrate()
    try:
        latin.create(NewExecution(id="e1", task_name="t"), T0)
        (c,) = latin.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=1)
        write = attrs.evolve(step("café", "crème"), first=True)
        assert latin.commit(c.lease, Commit(records=(write,)), at(1))
        assert not any(name.startswith("zart_") for name in _prepared(latin))
    finally:
        latin.close()
    utf8 = PostgresStore(url, schema=schema)
    try:
        assert [(h.name, h.result) for h in utf8.history("e1")] == [("café", "crème")]
    finally:
        utf8.close()


def test_a_step_commit_killed_on_the_wire_is_retried_and_writes_once(
    url: str, store: PostgresStore, app_name: str
) -> None:
    kid = _one_child_awaited(store)
    # The step's insert waits on its record's key, held by another transaction.
    holder = _holding_record_key(url, store)
    first = attrs.evolve(step("s", 7), first=True)
    t, out = in_thread(lambda: store.commit(kid.lease, Commit(records=(first,)), at(3)))
    _kill_when_blocked(url, app_name)
    assert store.history("p:c0") == []  # the killed transaction left nothing
    holder.rollback()
    holder.close()
    t.join(30)
    assert out == {"value": True}
    assert [(h.name, h.seq, h.result) for h in store.history("p:c0")] == [("s", 1, 7)]
    assert store.get("p:c0").status == r.RUNNING  # a step commit keeps the lease


@pytest.mark.parametrize("parent", [False, True], ids=["alone", "child"])
def test_a_finish_with_one_first_write_inserts_it_and_upserts_a_name_already_there(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch, parent: bool
) -> None:
    # The common finish (the last step and the outcome) takes scalar
    # parameters; its first write falls back to the upsert like a step's.
    if parent:
        c = _one_child_awaited(store)
        eid = "p:c0"
    else:
        store.create(NewExecution(id="e1", task_name="t"), T0)
        (c,) = store.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=1)
        eid = "e1"
    store.commit(c.lease, Commit(records=(step("a", 1),)), at(4))
    queries = _Named(store._q)
    monkeypatch.setattr(store, "_q", queries)
    wrong = Commit(records=(attrs.evolve(step("a", 2), first=True),), outcome=r.Complete(output=9))
    assert store.commit(c.lease, wrong, at(5))
    assert queries.used[:2] == ["COMMIT_FINISH_FIRST", "COMMIT_FINISH_ONE"]
    assert [(h.name, h.seq, h.result) for h in store.history(eid)] == [("a", 1, 2)]
    assert store.get(eid).status == r.COMPLETED and store.get(eid).output == 9
    if parent:
        assert store.load("p").records["c0"].result == 9
        assert store.get("p").status == r.PENDING  # woken once, by this finish


def _one_child_awaited(store: PostgresStore) -> r.Claimed:
    """Parent ``p`` suspended on its one child ``p:c0``; the child's claim."""
    c = fan_out(store, 1)
    store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0",))), at(2))
    (kid,) = store.claim(worker="w", tasks=["child"], now=at(2), lease=LEASE, limit=1)
    return kid


@pytest.mark.parametrize("first", [False, True], ids=["upsert", "first-write"])
def test_a_child_finishing_under_a_lease_without_the_parent_hint_still_wakes_it(
    store: PostgresStore, first: bool
) -> None:
    kid = _one_child_awaited(store)
    assert kid.lease.parent_id == "p"
    blind = Lease(kid.lease.execution_id, kid.lease.token)  # as if the hint were lost
    # A first write lands with the parentless try; the child's finish upserts it.
    last = attrs.evolve(step("s", 7), first=first)
    done = Commit(records=(last,), outcome=r.Complete(output=7))
    assert store.commit(blind, done, at(3))
    assert store.get("p:c0").status == r.COMPLETED
    assert [h.name for h in store.history("p:c0")] == ["s"]
    parent = store.get("p")
    assert parent.status == r.PENDING and parent.wake_at == at(3)
    assert store.load("p").records["c0"].result == 7


# -- claims -------------------------------------------------------------------
def test_claim_under_takes_only_that_tree(store: PostgresStore) -> None:
    for eid in ("p", "p:c0", "p:c0:g", "px", "p;", "q:p", "p%", "p_:x"):
        store.create(NewExecution(id=eid, task_name="t"), T0)
    got = store.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=10, under="p")
    assert sorted(c.record.id for c in got) == ["p", "p:c0", "p:c0:g"]


def test_concurrent_claimers_never_get_the_same_row(url: str, store: PostgresStore) -> None:
    kids = tuple(NewExecution(id=f"e{i}", task_name="t") for i in range(500))
    for kid in kids:
        store.create(kid, T0)
    claimers = [PostgresStore(url, schema=store.schema) for _ in range(8)]
    barrier = threading.Barrier(len(claimers))

    def drain(s: PostgresStore) -> list[str]:
        barrier.wait()
        got: list[str] = []
        while batch := s.claim(worker="w", tasks=None, now=at(1), lease=LEASE, limit=7):
            got.extend(c.record.id for c in batch)
        return got

    runs = [in_thread(partial(drain, s)) for s in claimers]
    for t, _ in runs:
        t.join(60)
    got = [eid for _, out in runs for eid in out["value"]]
    assert len(got) == len(set(got)) == 500
    for s in claimers:
        s.close()


def test_a_thousand_children_in_one_commit(store: PostgresStore) -> None:
    c = fan_out(store, 1000)
    hist = store.history("p")
    assert [h.seq for h in hist] == list(range(1, 1001))
    assert [h.name for h in hist[:3]] == ["c0", "c1", "c2"]
    got = store.claim(worker="w", tasks=["child"], now=at(2), lease=LEASE, limit=2000)
    assert [k.record.id for k in got] == [f"p:c{i}" for i in range(1000)]
    assert store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0", "c999"))), at(3))


def test_claims_use_the_due_index_on_a_large_table(url: str, store: PostgresStore) -> None:
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
        }
        for query in ("CLAIM", "CLAIM_TASKS"):
            (plan,) = conn.execute(b"EXPLAIN (FORMAT JSON) " + store._q[query], params).fetchone()
            nodes = _nodes(plan[0]["Plan"])
            assert any(n.get("Index Name") == "executions_due" for n in nodes), nodes
            # (The empty-log probes may scan the log tables while they are tiny.)
            scans = [n for n in nodes if n["Node Type"] == "Seq Scan"]
            assert not [n for n in scans if n["Relation Name"] == "executions"], nodes
        # The periodic look for stranded parents reads only waiting parents.
        stranded = {"now": at(3600), "channel": store.channel}
        (plan,) = conn.execute(
            b"EXPLAIN (FORMAT JSON) " + store._q["WAKE_STRANDED"], stranded
        ).fetchone()
        nodes = _nodes(plan[0]["Plan"])
        assert any(n.get("Index Name") == "executions_awaiting_children" for n in nodes), nodes
        assert not [
            n
            for n in nodes
            if n.get("Relation Name") == "executions" and n["Node Type"] == "Seq Scan"
        ], nodes
    got = store.claim(worker="w", tasks=["t"], now=at(3600), lease=LEASE, limit=10)
    assert [c.record.id for c in got] == [f"x{g}" for g in range(100, 1100, 100)]


def test_a_childs_finish_and_its_parents_log_use_indexes_on_a_large_table(
    url: str, store: PostgresStore
) -> None:
    # 200 parents with 1,000 children each; the children of q0 are open and
    # awaited, the others finished.
    assert store.schema is not None
    with admin(url) as conn:
        conn.execute(
            render(
                """INSERT INTO {executions} (id, task_name, kind, status, parent_id, parent_step,
                                         awaited, created_at, updated_at, token)
               SELECT 'q' || p || ':c' || c, 'child', 'step',
                      CASE WHEN p = 0 THEN 'running' ELSE 'completed' END,
                      'q' || p, 'c' || c, true, %(t0)s, %(t0)s, 1
               FROM generate_series(0, 199) AS p, generate_series(0, 999) AS c""",
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
        lease = Lease("q0:c5", 1, parent_id="q0")
        done = Commit(records=(attrs.evolve(step("s", 1), first=True),), outcome=r.Complete())
        query, params = q.commit_params(lease, done, at(1), finish=True)
        params.update(q.finish_params(r.Complete()), parent_id="q0")
        plans = {
            query: (store._q[query], params),
            "LOAD_ALL": (store._q["LOAD_ALL"], {"id": "q0"}),
            "WAKE_PARENT_OF": (
                store._q["WAKE_PARENT_OF"],
                {"id": "q0:c5", "now": at(1), "channel": store.channel},
            ),
        }
        for name, (sql_text, args) in plans.items():
            with conn.transaction(force_rollback=True):
                (plan,) = conn.execute(b"EXPLAIN (FORMAT JSON) " + sql_text, args).fetchone()
            nodes = _nodes(plan[0]["Plan"])
            scans = [n for n in nodes if n["Node Type"] == "Seq Scan"]
            assert not [n for n in scans if n["Relation Name"] == "executions"], (name, nodes)
            if name != "LOAD_ALL":
                used = {n.get("Index Name") for n in nodes}
                assert "executions_parent" in used, (name, nodes)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(_nodes(child))
    return found


def _race_children_against_suspend(
    store: PostgresStore, workers: list[PostgresStore], parent: str
) -> None:
    """12 children finish on four other connections while the parent suspends."""
    c = fan_out(store, 12, parent)
    kids = store.claim(worker="w", tasks=["child"], now=at(2), lease=LEASE, limit=20)
    names = tuple(f"c{i}" for i in range(12))
    barrier = threading.Barrier(len(kids) + 1)

    def finish(kid: r.Claimed, i: int) -> None:
        barrier.wait()
        workers[i % len(workers)].commit(kid.lease, Commit(outcome=r.Complete(output=i)), at(3))

    def suspend() -> bool:
        barrier.wait()
        return store.commit(c.lease, Commit(outcome=r.Suspend(children=names)), at(3))

    runs = [in_thread(partial(finish, k, i)) for i, k in enumerate(kids)]
    runs.append(in_thread(suspend))
    for t, _ in runs:
        t.join(60)
    assert [out.get("error") for _, out in runs] == [None] * len(runs)


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


def _fan_out_awaited(store: PostgresStore, n: int, parent: str = "p") -> list[r.Claimed]:
    """``parent`` schedules ``n`` children and waits for them in one commit;
    the children's claims, in creation order."""
    fan_out(store, n, parent, wait=True)
    assert store.get(parent).status == r.WAITING
    claimed = store.claim(worker="w", tasks=["child"], now=at(2), lease=LEASE, limit=n)
    return sorted(claimed, key=lambda k: int(k.record.id.rsplit("c", 1)[1]))


def test_most_children_of_a_large_fan_out_finish_without_a_wake_up_check(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A child that holds a later open sibling leaves the check to it: only
    # the children with no open sibling 64 to 127 places on run it.
    kids = _fan_out_awaited(store, 200)
    queries = _Named(store._q)
    monkeypatch.setattr(store, "_q", queries)
    for i, kid in enumerate(kids):
        assert store.get("p").status == r.WAITING, i
        assert store.commit(kid.lease, Commit(outcome=r.Complete(output=i)), at(3))
    assert queries.used.count("WAKE_PARENT_OF") == 64
    parent = store.get("p")
    assert (parent.status, parent.wake_at) == (r.PENDING, at(3))
    log = store.load("p").records
    assert [log[f"c{i}"].result for i in range(200)] == list(range(200))


def test_a_child_held_open_by_a_finishing_sibling_finishes_after_it_and_wakes_the_parent(
    url: str, store: PostgresStore, app_name: str
) -> None:
    # c0 holds c64 (its sibling 64 places on) and leaves the check to it.
    # c64 finishing meanwhile must wait for c0's commit, or its check would
    # find c0 open and c0, counting on c64's, would skip its own: the parent
    # would wait for a wake-up that never comes.
    kids = _fan_out_awaited(store, 100)
    for kid in kids[1:64] + kids[65:]:
        store.commit(kid.lease, Commit(outcome=r.Complete(output=1)), at(3))
    holder = _holding_record_key(url, store)  # c0's finish, its sibling held, waits here
    other = PostgresStore(url, schema=store.schema, application_name=app_name + "-s")
    try:
        first = Commit(records=(step("s", 7),), outcome=r.Complete(output=0))
        t0, out0 = in_thread(lambda: store.commit(kids[0].lease, first, at(4)))
        _blocked_on_lock(url, app_name)
        last = Commit(outcome=r.Complete(output=64))
        t64, out64 = in_thread(lambda: other.commit(kids[64].lease, last, at(4)))
        _blocked_on_lock(url, app_name + "-s")  # behind c0's hold on its row
    finally:
        holder.rollback()
        holder.close()
    for t in (t0, t64):
        t.join(30)
    other.close()
    assert (out0, out64) == ({"value": True}, {"value": True})
    parent = store.get("p")
    assert (parent.status, parent.wake_at) == (r.PENDING, at(4))


def test_a_large_fan_out_finishing_in_any_order_wakes_the_parent_once(
    store: PostgresStore,
    workers: list[PostgresStore],
    woke_once_after_all: Callable[[str], None],
) -> None:
    import random

    kids = _fan_out_awaited(store, 300)
    random.Random(7).shuffle(kids)
    barrier = threading.Barrier(8)

    def run(share: list[r.Claimed], worker: PostgresStore) -> None:
        barrier.wait()
        for kid in share:
            worker.commit(kid.lease, Commit(outcome=r.Complete(output=1)), at(3))

    runs = [in_thread(partial(run, kids[i::8], workers[i % len(workers)])) for i in range(8)]
    for t, _ in runs:
        t.join(120)
    assert [out.get("error") for _, out in runs] == [None] * len(runs)
    parent = store.get("p")
    assert (parent.status, parent.wake_at) == (r.PENDING, at(3))
    woke_once_after_all("p")


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


def _terminate(url: str, pid: int) -> None:
    with admin(url) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", [pid])


def _kill_when_blocked(url: str, app_name: str) -> None:
    """Terminate the ``app_name`` connection once it waits on a lock."""
    _terminate(url, _blocked_on_lock(url, app_name))


def _finish_behind_open_suspend(
    url: str,
    store: PostgresStore,
    app_name: str,
    parent: tuple[r.Lease, r.Suspend, datetime],
    child: tuple[r.Lease, datetime],
) -> None:
    """The parent's suspend (its lease, outcome and time) runs in a
    transaction left open; the child (its lease and time) completes from
    another store meanwhile, waits on a lock, and succeeds once it commits."""
    lease, suspend, now = parent
    query, params = q.commit_params(lease, Commit(outcome=suspend), now)
    base = {"id": lease.execution_id, "token": lease.token, "now": now, "channel": store.channel}
    kid = PostgresStore(url, schema=store.schema, application_name=app_name + "-kid")
    with psycopg.connect(url) as conn:
        conn.execute(store._q[query], params)
        decided = conn.execute(store._q["SUSPEND"], {**base, **q.suspend_params(suspend)})
        assert decided.fetchone() == (True, 0)  # suspended, counting the child as open
        done = Commit(outcome=r.Complete(output=1))
        t, out = in_thread(lambda: kid.commit(child[0], done, child[1]))
        _blocked_on_lock(url, app_name + "-kid")
        conn.commit()
    t.join(30)
    kid.close()
    assert out == {"value": True}


@pytest.mark.parametrize("last", [True, False], ids=["last-child", "not-last"])
def test_a_child_finishing_while_its_parent_suspends_waits_and_sees_the_suspend(
    url: str, store: PostgresStore, app_name: str, last: bool
) -> None:
    # A child finishing behind its parent's open suspend queues for its own
    # row, which the suspend marked awaited, and must then see the suspend:
    # its wake-up check, run after its commit, would otherwise find the
    # parent still running, and the parent, counting this child as open,
    # would never be woken.
    n = 2 if last else 3
    c = fan_out(store, n)
    kids = {
        k.record.id: k
        for k in store.claim(worker="w", tasks=["child"], now=at(2), lease=LEASE, limit=5)
    }
    store.commit(kids["p:c0"].lease, Commit(outcome=r.Complete(output=0)), at(2))
    suspend = r.Suspend(children=tuple(f"c{i}" for i in range(n)))
    _finish_behind_open_suspend(
        url, store, app_name, (c.lease, suspend, at(3)), (kids["p:c1"].lease, at(4))
    )
    parent = store.get("p")
    if last:
        assert (parent.status, parent.wake_at) == (r.PENDING, at(4))
    else:
        assert (parent.status, parent.waiting_for) == (r.WAITING, "children")
    assert store.load("p").records["c1"].status == r.R_COMPLETED


def test_a_child_finishing_while_its_parent_suspends_on_it_again_sees_the_suspend(
    url: str, store: PostgresStore, app_name: str
) -> None:
    # The parent woke before its child finished (a wait with a deadline
    # here; a wake-up check racing a later suspend does the same) and waits
    # for it again. The child is marked awaited already, so the suspend
    # locks it instead (FOR SHARE): the child's finish queues behind the
    # open suspend and its check then sees the parent waiting.
    c = fan_out(store, 1)
    wait = r.Suspend(children=("c0",), wake_at=at(5))
    assert store.commit(c.lease, Commit(outcome=wait), at(2))
    (kid,) = store.claim(worker="w", tasks=["child"], now=at(3), lease=LEASE, limit=1)
    (c,) = store.claim(worker="w", tasks=["t"], now=at(6), lease=LEASE, limit=1)
    again = r.Suspend(children=("c0",))
    _finish_behind_open_suspend(url, store, app_name, (c.lease, again, at(7)), (kid.lease, at(8)))
    parent = store.get("p")
    assert (parent.status, parent.wake_at) == (r.PENDING, at(8))


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
def workers(url: str, store: PostgresStore) -> Iterator[list[PostgresStore]]:
    """Four more stores on the same schema, as other worker processes."""
    others = [PostgresStore(url, schema=store.schema) for _ in range(4)]
    yield others
    for s in others:
        s.close()


@pytest.fixture
def woke_once_after_all(url: str, store: PostgresStore) -> Callable[[str], None]:
    assert store.schema is not None
    return _audit_wake_ups(url, store.schema)


def _audit_wake_ups(url: str, schema: str) -> Callable[[str], None]:
    """Triggers that number, in one sequence, each child of a parent turning
    final and each time the parent turns pending (woken, or due at once from
    its suspend). The check they return asserts the parent turned pending
    exactly once, after every child had: a child counted on the way is one
    the waking statement could not have seen final."""
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


def test_last_child_wakes_the_parent_exactly_once_under_concurrency(
    store: PostgresStore,
    workers: list[PostgresStore],
    woke_once_after_all: Callable[[str], None],
) -> None:
    for round_ in range(5):
        parent = f"p{round_}"
        _race_children_against_suspend(store, workers, parent)
        # A lost wake-up leaves the parent waiting.
        rec = store.get(parent)
        assert rec.status == r.PENDING and rec.wake_at == at(3), (round_, rec)
        assert {x.status for x in store.history(parent)} == {r.R_COMPLETED}
        woke_once_after_all(parent)


def test_cancel_races_with_finishing_children(url: str, store: PostgresStore) -> None:
    other = PostgresStore(url, schema=store.schema)
    c = fan_out(store, 10)
    store.commit(
        c.lease, Commit(outcome=r.Suspend(children=tuple(f"c{i}" for i in range(10)))), at(2)
    )
    kids = store.claim(worker="w", tasks=["child"], now=at(2), lease=LEASE, limit=20)
    barrier = threading.Barrier(len(kids) + 1)

    def finish(kid: r.Claimed) -> None:
        barrier.wait()
        try:
            other.commit(kid.lease, Commit(outcome=r.Complete(output=1)), at(3))
        except Exception as exc:  # losing the race to the cancel is fine
            assert type(exc).__name__ == "LeaseLost"

    def cancel() -> bool:
        barrier.wait()
        return store.cancel("p", at(3))

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
    workers: list[PostgresStore],
    woke_once_after_all: Callable[[str], None],
) -> None:
    # The cancel ends the child's row and, after its commit, checks the
    # parent like a finishing child: whichever of them commits last sees
    # every child final.
    for round_ in range(5):
        parent = f"p{round_}"
        c = fan_out(store, 8, parent)
        names = tuple(f"c{i}" for i in range(8))
        store.commit(c.lease, Commit(outcome=r.Suspend(children=names)), at(2))
        kids = store.claim(worker="w", tasks=["child"], now=at(2), lease=LEASE, limit=20)
        barrier = threading.Barrier(len(kids))

        def act(barrier: threading.Barrier, kid: r.Claimed, i: int) -> bool:
            barrier.wait()
            worker = workers[i % len(workers)]
            if i == 0:
                return worker.cancel(kid.record.id, at(3))
            return worker.commit(kid.lease, Commit(outcome=r.Complete(output=i)), at(3))

        runs = [in_thread(partial(act, barrier, k, i)) for i, k in enumerate(kids)]
        for t, _ in runs:
            t.join(60)
        assert [out.get("error") for _, out in runs] == [None] * len(runs)
        rec = store.get(parent)
        assert rec.status == r.PENDING and rec.wake_at == at(3), (round_, rec)
        statuses = sorted(x.status for x in store.history(parent))
        assert statuses == [r.R_CANCELLED] + [r.R_COMPLETED] * 7
        woke_once_after_all(parent)


def test_a_wake_up_lost_after_a_childs_commit_is_found_by_the_next_check(
    url: str,
    store: PostgresStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    c = fan_out(store, 2)
    store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0", "c1"))), at(2))
    kids = {
        k.record.id: k
        for k in store.claim(worker="w", tasks=["child"], now=at(2), lease=LEASE, limit=5)
    }
    store.commit(kids["p:c0"].lease, Commit(outcome=r.Complete(output=0)), at(3))
    # As if the worker died between the last child's commit and its check.
    monkeypatch.setitem(store._q, "WAKE_PARENT_OF", b"SELECT 1")
    assert store.commit(kids["p:c1"].lease, Commit(outcome=r.Complete(output=1)), at(3))
    assert store.get("p").status == r.WAITING
    # This store looked at its first claim: it looks again only after the interval.
    assert store.claim(worker="w", tasks=["t"], now=at(4), lease=LEASE, limit=5) == []
    other = PostgresStore(url, schema=store.schema)
    with caplog.at_level("WARNING", logger="zart"):
        got = other.claim(worker="w2", tasks=["t"], now=at(4), lease=LEASE, limit=5)
    other.close()
    assert [g.record.id for g in got] == ["p"]
    assert "woke 1 parent(s)" in caplog.text
    log = store.load("p").records
    assert (log["c0"].result, log["c1"].result) == (0, 1)


def test_a_child_its_parent_does_not_await_yet_skips_the_wake_up(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = fan_out(store, 2)
    (kid, _) = store.claim(worker="w", tasks=["child"], now=at(2), lease=LEASE, limit=5)
    with monkeypatch.context() as m:
        m.setitem(store._q, "WAKE_PARENT_OF", b"SELECT 1 / 0")  # fails if it runs
        assert store.commit(kid.lease, Commit(outcome=r.Complete(output=0)), at(3))
    # The parent's suspend sees that record final, and counts only the other.
    assert store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0", "c1"))), at(4))
    assert store.get("p").status == r.WAITING


def test_connection_killed_during_the_wake_up_keeps_the_finish_and_the_retry_wakes(
    url: str, store: PostgresStore, app_name: str
) -> None:
    # The child's commit landed; the statement after it, which wakes the
    # parent, lost its connection. The retry finds the lease ended by that
    # very commit, reports it done, and wakes the parent.
    kid = _one_child_awaited(store)
    holder = psycopg.connect(url)  # the parent's row, locked: the wake-up waits for it
    holder.execute(render("SELECT 1 FROM {executions} WHERE id = 'p' FOR UPDATE", store.schema, ""))
    t, out = in_thread(lambda: store.commit(kid.lease, Commit(outcome=r.Complete(output=7)), at(3)))
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
    url: str, store: PostgresStore, app_name: str
) -> None:
    # The retry's check accepts only the lease's own ending: a cancel that
    # came in between moved the token, and the commit is refused.
    store.create(NewExecution(id="e1", task_name="t"), T0)
    (c,) = store.claim(worker="w", tasks=None, now=at(1), lease=LEASE, limit=1)
    holder = psycopg.connect(url)  # takes the row first, and cancels it (as cancel does)
    holder.execute(
        render("SELECT 1 FROM {executions} WHERE id = 'e1' FOR UPDATE", store.schema, "")
    )
    t, out = in_thread(lambda: store.commit(c.lease, Commit(outcome=r.Complete(output=1)), at(2)))
    _kill_when_blocked(url, app_name)
    holder.execute(
        render(
            "UPDATE {executions} SET status = 'cancelled', token = token + 1 WHERE id = 'e1'",
            store.schema,
            "",
        )
    )
    holder.commit()
    holder.close()
    t.join(30)
    assert isinstance(out.get("error"), LeaseLost)
    assert (store.get("e1").status, store.get("e1").output) == (r.CANCELLED, None)


# -- LISTEN / NOTIFY ----------------------------------------------------------------
def _time_wait(listener: PostgresStore, action: Callable[[], Any], waiters: int = 1) -> float:
    """How long ``waiters`` threads blocked in wait(30) take to return after
    ``action`` runs (the slowest of them)."""
    started = time.monotonic()
    runs = [in_thread(lambda: listener.wait(30)) for _ in range(waiters)]
    action()
    for t, _ in runs:
        t.join(35)
    return time.monotonic() - started


def test_notify_wakes_wait_promptly(url: str, store: PostgresStore) -> None:
    listener = PostgresStore(url, schema=store.schema)
    listener.wait(0)  # opens the LISTEN connection and returns at once
    started = time.monotonic()
    listener.wait(0.3)  # nothing happened: it waits out its timeout
    assert time.monotonic() - started >= 0.25

    assert (
        _time_wait(
            listener, lambda: store.create(NewExecution(id="e1", task_name="t"), T0), waiters=3
        )
        < 5
    )
    (c,) = store.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=1)
    store.commit(c.lease, Commit(outcome=r.Suspend(event="go")), at(1))
    assert _time_wait(listener, lambda: store.offer_event("e1", "go", 1, at(2))) < 5
    (c,) = store.claim(worker="w", tasks=None, now=at(2), lease=LEASE, limit=1)
    assert _time_wait(listener, lambda: store.release(c.lease, at(3))) < 5
    listener.close()


def test_other_schemas_do_not_wake_wait(url: str, store: PostgresStore) -> None:
    with scratch_schema(url) as elsewhere:
        other = PostgresStore(url, schema=elsewhere)
        other.migrate()
        store.wait(0)
        other.create(NewExecution(id="e1", task_name="t"), T0)
        started = time.monotonic()
        store.wait(0.3)
        assert time.monotonic() - started >= 0.25
        other.close()


# -- faults ---------------------------------------------------------------------
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


def test_killed_connections_are_replaced(url: str, store: PostgresStore, app_name: str) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    store.wait(0)  # the listening connection
    assert _kill(url, app_name) >= 2
    # create is not retried on a lost connection: this proves the pool hands
    # out a live connection instead of the dead one.
    store.create(NewExecution(id="e2", task_name="t"), T0)
    (c,) = store.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=1)
    store.commit(c.lease, Commit(records=(step("s", 1),)), at(1))
    assert store.load("e1").records["s"].result == 1
    assert store.offer_event("e2", "go", None, at(1)) is True
    store.wait(0)  # reconnects the listener
    other = PostgresStore(url, schema=store.schema)
    assert _time_wait(store, lambda: other.create(NewExecution(id="e3", task_name="t"), T0)) < 5
    other.close()


def test_connection_killed_mid_commit_writes_nothing_and_the_retry_applies_once(
    url: str, store: PostgresStore, app_name: str
) -> None:
    kid = _one_child_awaited(store)
    # The child's finish, its row locked and written, waits on its record's key.
    holder = _holding_record_key(url, store)
    done = Commit(records=(step("s", 7),), outcome=r.Complete(output=7))
    t, out = in_thread(lambda: store.commit(kid.lease, done, at(3)))
    _kill_when_blocked(url, app_name)  # the child is finishing, in an open transaction
    assert store.get("p:c0").status == r.RUNNING  # the killed transaction left nothing
    holder.rollback()
    holder.close()
    t.join(30)
    assert out == {"value": True}
    assert store.get("p:c0").status == r.COMPLETED
    assert [(h.name, h.result) for h in store.history("p:c0")] == [("s", 7)]
    parent = store.get("p")
    assert parent.status == r.PENDING and parent.wake_at == at(3)
    assert store.load("p").records["c0"].result == 7


def test_connection_killed_mid_offer_raises_store_error_and_writes_nothing(
    url: str, store: PostgresStore, app_name: str
) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    holder = psycopg.connect(url)
    holder.execute(
        render("SELECT 1 FROM {executions} WHERE id = 'e1' FOR UPDATE", store.schema, "")
    )
    t, out = in_thread(lambda: store.offer_event("e1", "go", {"x": 1}, at(1)))
    _kill_when_blocked(url, app_name)
    t.join(30)
    holder.rollback()
    holder.close()
    assert isinstance(out.get("error"), StoreError)
    assert store.load("e1").events == {}
    assert store.offer_event("e1", "go", {"x": 2}, at(2)) is True


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
    ],
)
def test_a_bad_url_parameter_raises_store_error_naming_it(query: str, says: str) -> None:
    # Before, libpq's ProgrammingError escaped, or the bad timeout was ignored.
    url = f"postgresql://ann:s3cret@127.0.0.1:1/test?password=s3cret&{query}"
    with pytest.raises(StoreError) as info:
        connect(url)
    message = str(info.value)
    assert message.startswith("bad PostgreSQL URL postgresql://ann:***@127.0.0.1:1/test?")
    assert says in message and "s3cret" not in message


def test_the_urls_connect_timeout_is_used_unless_given(url: str) -> None:
    def timeout(s: PostgresStore) -> str:
        return str(psycopg.conninfo.conninfo_to_dict(s._conninfo)["connect_timeout"])

    sep = "&" if "?" in url else "?"
    assert timeout(PostgresStore(f"{url}{sep}connect_timeout=3&schema=x")) == "3"
    assert timeout(PostgresStore(f"{url}{sep}connect_timeout=3", connect_timeout=5)) == "5"
    assert timeout(PostgresStore(url)) == "10"
    s = PostgresStore(f"{url}{sep}connect_timeout=3")
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
    for call in (lambda: s.get("x"), s.migrate):
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


def test_from_url_keeps_libpq_options_with_spaces() -> None:
    from zart.postgres import split_url

    url, own = split_url("postgresql://u@h/db?schema=s&options=-c%20synchronous_commit%3Doff")
    assert own == {"schema": "s"}
    assert url.endswith("?options=-c%20synchronous_commit%3Doff")
