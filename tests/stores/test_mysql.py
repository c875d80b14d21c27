"""MySQL-specific behaviour of MySQLStore, beyond the shared contract: URLs,
the server version it needs, migrations and their lock, the server's clock,
exact ids and documents, fencing in as few round trips as a commit allows,
concurrency, lost connections, wake-ups without LISTEN/NOTIFY, and the pool.

Every test runs against a real server (tests/mysql.py), in scratch
databases; the stores read the test's clock unless a test is about the
server's. Nothing sleeps to wait for something: waits poll a condition
with a deadline.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.mysql import admin, in_database, mysql_url_or_skip, scratch_database
from tests.stores.scenario import (
    LEASE,
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
    ExecutionAlreadyExists,
    ExecutionNotFound,
    LeaseLost,
    SchemaNewer,
    SchemaOutdated,
    StoreError,
)
from zart.records import Commit, NewExecution, RecordWrite, SetState
from zart.serde import dumps
from zart.stores import serverclock, sqlfiles
from zart.stores.connect import connect, redact
from zart.stores.mysql import PACKAGE, MySQLStore, check_version, statements
from zart.stores.mysql.connection import parse_url, render, script
from zart.stores.mysql.pool import Pool, PoolTimeout

pytestmark = pytest.mark.mysql
LATEST = sqlfiles.latest_version(PACKAGE)


@pytest.fixture
def server() -> str:
    return mysql_url_or_skip()


@pytest.fixture
def url(server: str) -> Iterator[str]:
    with scratch_database(server) as at_url:
        yield at_url


@pytest.fixture
def store(url: str, clock: ManualClock) -> Iterator[MySQLStore]:
    s = MySQLStore(url, clock=clock)
    s.migrate()
    try:
        yield s
    finally:
        s.close()


def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with admin(url) as conn:
        cursor = conn.cursor()
        cursor.execute(sql, args or None)
        return list(cursor.fetchall())


def round_trips(store: MySQLStore, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The statements of each round trip ``store`` makes from now on, but
    the rings its ringer thread sends (after a create, say) whenever they go."""
    sent: list[list[str]] = []
    send = store._send
    store._ringer.close()  # a ring still asked for goes now

    def noting(conn: Any, steps: Any) -> Any:
        names = [name for name, _ in steps]
        if names != ["ring", "waiters"] and names[:1] != ["wake_waiter"]:
            sent.append(names)
        return send(conn, steps)

    monkeypatch.setattr(store, "_send", noting)
    return sent


# -- URLs ---------------------------------------------------------------------------
def test_the_url_gives_the_server_the_database_and_zarts_own_parameters() -> None:
    url = "mysql://ann:p%40ss@db.example:3307/app?prefix=z_&max_payload=100&connect_timeout=4"
    target, _ = parse_url(url)
    assert (target.host, target.port, target.user, target.password) == (
        "db.example",
        3307,
        "ann",
        "p@ss",
    )
    assert (target.database, target.connect_timeout) == ("app", 4.0)
    s = MySQLStore.from_url(url)  # nothing connects until the first operation
    assert (s.database, s.prefix, s.max_payload) == ("app", "z_", 100)
    assert MySQLStore.from_url(url, prefix="o_").prefix == "o_"
    assert isinstance(connect("mariadb://u@h/app"), MySQLStore)
    assert parse_url("mysql://h/app")[0].port == 3306


def test_redact_hides_a_mysql_password() -> None:
    assert redact("mysql://ann:s3cret@db:3306/app") == "mysql://ann:***@db:3306/app"
    assert redact("mariadb://ann@db/app") == "mariadb://ann@db/app"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u@h/app?schema=x", "unknown parameter 'schema'"),
        ("mysql://u@h/", "name the database"),
        ("mysql://u@h:port/app", "port"),
        ("mysql://u@h/app?max_payload=0", "max_payload"),
        ("mysql://u@h/app?prefix=a-b", "table prefix"),
    ],
)
def test_a_bad_url_raises_store_error_naming_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(StoreError, match=says):
        MySQLStore(url)


def test_unreachable_server_raises_store_error_with_the_password_redacted() -> None:
    s = MySQLStore("mysql://ann:s3cret@127.0.0.1:1/app", connect_timeout=2)
    with pytest.raises(StoreError) as info:
        s.get("x")
    assert "mysql://ann:***@127.0.0.1:1/app" in str(info.value)
    assert "s3cret" not in str(info.value)


def test_unknown_database_raises_store_error(server: str) -> None:
    s = MySQLStore(in_database(server, "zart_no_such_database"))
    with pytest.raises(StoreError, match="cannot connect"):
        s.get("x")


# -- the server version --------------------------------------------------------------
@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ("10.11.19-MariaDB-0+deb12u1", True),
        ("10.6.0-MariaDB-log", True),
        ("11.4.2-MariaDB", True),
        ("8.0.36", True),
        ("8.4.0-commercial", True),
        ("10.5.23-MariaDB", False),
        ("10.3.39-MariaDB-0+deb10u1", False),
        ("5.7.44-log", False),
    ],
)
def test_servers_older_than_skip_locked_are_refused(version: str, ok: bool) -> None:
    if ok:
        check_version(version, "here")
        return
    with pytest.raises(StoreError, match=r"MySQL 8\.0 or later, or MariaDB 10\.6") as info:
        check_version(version, "here")
    assert version in str(info.value)


def test_an_old_server_is_refused_at_migrate_and_at_first_use(url: str) -> None:
    s = MySQLStore(url)
    s._q["server_version"] = "SELECT '10.5.9-MariaDB'"  # what an old server answers
    with pytest.raises(StoreError, match=r"MariaDB 10\.5\.9-MariaDB; zart needs"):
        s.migrate()
    assert query(url, "SHOW TABLES") == []  # nothing created
    MySQLStore(url).migrate()
    with pytest.raises(StoreError, match=r"MariaDB 10\.6 or later"):
        s.get("x")
    s.close()


# -- migrations ---------------------------------------------------------------------
def _shape(url: str) -> dict[str, list[Any]]:
    """A database's tables, columns, indexes and checks, comparable across databases."""
    columns = query(
        url,
        """SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT,
                  COLLATION_NAME, EXTRA
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
            ORDER BY TABLE_NAME, ORDINAL_POSITION""",
    )
    indexes = query(
        url,
        """SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME
             FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()
            ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX""",
    )
    checks = query(
        url,
        """SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE
             FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()
            ORDER BY TABLE_NAME, CONSTRAINT_NAME""",
    )
    tables = query(
        url,
        """SELECT TABLE_NAME, ENGINE, TABLE_COLLATION FROM information_schema.TABLES
            WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> 'schema_version'
            ORDER BY TABLE_NAME""",
    )
    return {"columns": columns, "indexes": indexes, "checks": checks, "tables": tables}


def _versions(url: str) -> list[int]:
    return [v for (v,) in query(url, "SELECT version FROM schema_version ORDER BY 1")]


def test_the_migrations_lead_to_the_schema_a_new_database_gets(
    server: str, store: MySQLStore, url: str
) -> None:
    fresh = _shape(url)
    assert _versions(url) == [LATEST]  # schema.sql, at once
    assert any(name == "executions_due" for _, name, *_ in fresh["indexes"])
    q = statements("", "x")
    with scratch_database(server) as old:
        with admin(old) as conn:  # a database that went through every migration
            conn.cursor().execute(q["version_table"])
            for number, text in sqlfiles.migrations(PACKAGE):
                script(conn, render(text, "", {"collation": "utf8mb4_nopad_bin"}))
                conn.cursor().execute(q["record_version"], {"version": number})
        assert _shape(old) == fresh
        MySQLStore(old).migrate()  # nothing left to do
        assert _versions(old) == list(range(1, LATEST + 1))


def test_migrate_twice_is_a_no_op(url: str, store: MySQLStore) -> None:
    before = _shape(url)
    store.migrate()
    assert _shape(url) == before
    assert _versions(url) == [LATEST]


def _migrate_together(stores: list[MySQLStore]) -> None:
    barrier = threading.Barrier(len(stores))

    def migrate(s: MySQLStore) -> None:
        barrier.wait()
        s.migrate()

    runs = [in_thread(lambda s=s: migrate(s)) for s in stores]  # type: ignore[misc]
    for t, _ in runs:
        t.join(60)
    assert [out.get("error") for _, out in runs] == [None] * len(stores)


def test_concurrent_migrate_on_a_fresh_database(url: str) -> None:
    stores = [MySQLStore(url) for _ in range(6)]
    _migrate_together(stores)
    assert _versions(url) == [LATEST]
    stores[0].create(NewExecution(id="e1", task_name="t"))
    assert stores[1].get("e1").status == r.PENDING
    for s in stores:
        s.close()


def test_prefixes_sharing_a_new_database_migrate_together(url: str) -> None:
    stores = [MySQLStore(url, prefix=f"p{i}_") for i in range(3)]
    _migrate_together(stores)
    for s in stores:
        s.create(NewExecution(id="e1", task_name=s.prefix))
        assert s.get("e1").task_name == s.prefix
        assert [x.id for x in s.list()] == ["e1"]
        s.close()


def test_a_migration_waits_for_the_lock_another_holds(url: str) -> None:
    s = MySQLStore(url)
    with admin(url) as holder:
        holder.cursor().execute("SELECT GET_LOCK(%s, 5)", (s._lock_key,))
        t, out = in_thread(s.migrate)
        t.join(0.5)
        assert t.is_alive() and query(url, "SHOW TABLES") == []
        holder.cursor().execute("SELECT RELEASE_LOCK(%s)", (s._lock_key,))
        t.join(30)
    assert out == {"value": None}
    assert _versions(url) == [LATEST]
    s.close()


def test_unmigrated_database_raises_schema_outdated(url: str) -> None:
    s = MySQLStore(url)
    with pytest.raises(SchemaOutdated) as info:
        s.get("x")
    assert (info.value.found, info.value.expected) == (0, LATEST)
    s.migrate()
    with pytest.raises(ExecutionNotFound):
        s.get("x")
    s.close()


def test_connect_migrates_mysql_only_when_asked(url: str) -> None:
    s = connect(url)
    try:
        with pytest.raises(SchemaOutdated):
            s.get("x")
    finally:
        s.close()
    assert query(url, "SHOW TABLES") == []
    s = connect(url, migrate=True)
    try:
        with pytest.raises(ExecutionNotFound):
            s.get("x")
    finally:
        s.close()
    assert _versions(url) == [LATEST]


def test_a_newer_recorded_version_is_refused(url: str, store: MySQLStore) -> None:
    query(url, "INSERT INTO schema_version (version) VALUES (%s)", LATEST + 1)
    for call in (lambda: MySQLStore(url).get("x"), lambda: MySQLStore(url).migrate()):
        with pytest.raises(SchemaNewer, match="newer than this code"):
            call()


# -- the server's clock -------------------------------------------------------------
class _Ahead(datetime):
    """This machine's clock, 30 s ahead of the server's."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(tz) + timedelta(seconds=30)


def test_the_store_clock_is_the_servers_whatever_this_machines_says(
    url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    s = MySQLStore(url)  # no clock given: the server's
    s.migrate()
    monkeypatch.setattr(serverclock, "datetime", _Ahead)
    try:
        with caplog.at_level(logging.WARNING, logger="zart"):
            ours = s.now()
        ((server_now,),) = query(url, "SELECT UTC_TIMESTAMP(6)")
        assert abs((ours - server_now.replace(tzinfo=UTC)).total_seconds()) < 1
        assert "off the database server's" in caplog.text
        s.create(NewExecution(id="e1", task_name="t"))
        (held,) = s.claim(worker="w", tasks=None, lease=timedelta(seconds=20), limit=1)
        assert s.heartbeat([held.lease], timedelta(seconds=20)) == []  # by the server's clock
    finally:
        s.close()


def test_datetimes_round_trip_exactly_as_utc(store: MySQLStore, clock: ManualClock) -> None:
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


# -- exact ids, exact documents --------------------------------------------------------
def test_ids_and_names_compare_as_the_exact_strings_they_are(store: MySQLStore) -> None:
    ids = ["a", "A", "a ", "ä", "a\u0308", "😀"]  # case, trailing space, composed or not
    for eid in ids:
        store.create(NewExecution(id=eid, task_name="t"))
    assert sorted(x.id for x in store.list(limit=10)) == sorted(ids)
    assert [store.get(eid).id for eid in ids] == ids
    assert [x.id for x in store.list(search="a\\%")] == []
    assert {x.id for x in store.list(search="a")} == {"a", "a ", "a\u0308"}


def test_documents_are_kept_exactly_as_written(url: str, store: MySQLStore) -> None:
    store.create(NewExecution(id="e1", task_name="t", input={"b": 1, "a": [1.0, 1e100]}))
    assert store.get("e1").input == {"b": 1, "a": [1.0, 1e100]}
    ((text,),) = query(url, "SELECT input FROM executions WHERE id = 'e1'")
    assert text == dumps({"b": 1, "a": [1.0, 1e100]})  # not rewritten by the server
    c = claim_one(store)
    writes = (step_write("a"), step_write("b", [None], seq=2), step_write("c", "", seq=3))
    store.commit(c.lease, Commit(records=writes))
    assert [h.result for h in store.history("e1")] == [None, [None], ""]
    assert query(url, "SELECT name FROM records WHERE result IS NULL") == [("a",)]


# -- fencing -------------------------------------------------------------------------
def test_a_stale_commit_writes_nothing_whatever_it_carries(
    url: str, store: MySQLStore, clock: ManualClock
) -> None:
    c = fan_out(store, clock, 1)  # p, waiting for nothing yet, with one child p:c0
    clock.to(2)
    (kid,) = claim_all(store, tasks=["child"])
    store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0",))))
    store.send("p:c0", "inbox", 1)
    clock.to(40)  # the child's lease expires and another worker takes it over
    new_kid = claim_one(store, tasks=["child"])
    (message,) = new_kid.log.messages["inbox"]
    failed = RecordWrite(name="f", kind=r.K_STEP, status=r.R_FAILED, seq=1, error={"type": "E"})
    clock.to(41)
    store.commit(new_kid.lease, Commit(records=(failed,)))
    before = {eid: store.get(eid) for eid in ("p", "p:c0")}
    logs = {eid: store.load(eid) for eid in ("p", "p:c0")}
    flags = "SELECT id, awaited, record_status, token, state FROM executions ORDER BY 1"
    rows = query(url, flags)
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
        with pytest.raises((LeaseLost, ExecutionNotFound)):
            store.commit(kid.lease, commit)
    assert {eid: store.get(eid) for eid in ("p", "p:c0")} == before
    assert {eid: store.load(eid) for eid in ("p", "p:c0")} == logs
    assert query(url, flags) == rows
    with pytest.raises(ExecutionNotFound):
        store.get("p:c0:x")


def test_a_step_commit_is_one_fenced_statement(
    store: MySQLStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    old = claim_one(store)
    clock.to(31)
    new = claim_one(store)
    sent = round_trips(store, monkeypatch)
    with pytest.raises(LeaseLost):
        store.commit(old.lease, Commit(records=(step_write("a", "stale"),)))
    assert sent == [["write_record"]]  # the fence is in the statement, not before it
    sent.clear()
    assert store.commit(new.lease, Commit(records=(step_write("a", 1),)))
    assert store.commit(new.lease, Commit(records=(step_write("b", 2, seq=2),)))
    assert sent == [["write_record"], ["write_record"]]
    assert [(h.name, h.result) for h in store.history("e1")] == [("a", 1), ("b", 2)]
    assert store.get("e1").status == r.RUNNING


def test_a_runs_last_commit_is_one_round_trip(
    store: MySQLStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    sent = round_trips(store, monkeypatch)
    done = Commit(
        records=(step_write("a", 1), step_write("b", 2, seq=2)),
        state=SetState(value={"s": 1}),
        outcome=r.Complete(output=3),
    )
    assert store.commit(c.lease, done)
    assert len(sent) == 1
    assert sent[0][-4:] == ["end_execution", "commit", "open_siblings", "wake_parent_of"]
    rec = store.get("e1")
    assert (rec.status, rec.output, rec.state) == (r.COMPLETED, 3, {"s": 1})


# -- concurrency ------------------------------------------------------------------------
def test_concurrent_claimers_never_get_the_same_row(url: str, store: MySQLStore) -> None:
    for i in range(300):
        store.create(NewExecution(id=f"e{i:03}", task_name=f"t{i % 3}"))
    claimers = [MySQLStore(url, clock=store._given_clock) for _ in range(6)]
    barrier = threading.Barrier(len(claimers))

    def drain(s: MySQLStore) -> list[str]:
        barrier.wait()
        got: list[str] = []
        while batch := s.claim(worker="w", tasks=["t0", "t1", "t2"], lease=LEASE, limit=7):
            got.extend(c.record.id for c in batch)
        return got

    runs = [in_thread(lambda s=s: drain(s)) for s in claimers]  # type: ignore[misc]
    for t, _ in runs:
        t.join(60)
    got = [eid for _, out in runs for eid in out["value"]]
    assert len(got) == len(set(got)) == 300
    for s in claimers:
        s.close()


def test_a_claim_over_several_tasks_takes_the_oldest_and_lets_the_rest_go(
    store: MySQLStore, clock: ManualClock
) -> None:
    for i in range(6):
        clock.to(i)
        store.create(NewExecution(id=f"e{i}", task_name=f"t{i % 2}"))
    clock.to(10)
    got = store.claim(worker="w", tasks=["t0", "t1"], lease=LEASE, limit=3)
    assert [c.record.id for c in got] == ["e0", "e1", "e2"]
    assert [c.due_at for c in got] == [at(0), at(1), at(2)]
    rest = store.claim(worker="w", tasks=["t1", "t0"], lease=LEASE, limit=10)
    assert [c.record.id for c in rest] == ["e3", "e4", "e5"]


@pytest.mark.parametrize(
    ("name", "index"),
    [("due", "executions_due"), ("due_of_task", "executions_task_due")],
)
def test_claims_walk_the_due_indexes(url: str, store: MySQLStore, name: str, index: str) -> None:
    for i in range(200):
        store.create(NewExecution(id=f"e{i}", task_name=f"t{i % 4}"))
    query(url, "ANALYZE TABLE executions")
    params = {"now": datetime(2031, 1, 1), "limit": 5, "task": "t1", "under": None}
    with admin(url) as conn:
        cursor = conn.cursor()
        cursor.execute("EXPLAIN " + store._q[name], params)
        plan = cursor.fetchall()
    assert [row[5] for row in plan] == [index], plan  # the key each uses
    assert "filesort" not in str(plan), plan


# -- lost connections -----------------------------------------------------------------
def _store_threads(url: str, store: MySQLStore) -> list[int]:
    """The server ids of the store's connections (pooled and listening)."""
    pooled = [conn.thread_id() for conn in store._db.pool._idle]
    listening = store._listener._conn
    return pooled + ([listening.thread_id()] if listening is not None else [])


def _blocked(url: str) -> int:
    """The id of the connection blocked on a row lock (a locking read that
    has waited a while: a lock wait shows in the process list before it
    shows in INNODB_TRX)."""
    found: list[int] = []

    def waiting() -> bool:
        found[:] = [
            tid
            for (tid,) in query(
                url,
                "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' "
                "AND INFO LIKE '%%FOR UPDATE%%' AND ID <> CONNECTION_ID() AND TIME_MS > 100",
            )
        ]
        return bool(found)

    eventually(waiting)
    return found[0]


@contextlib.contextmanager
def _holding_row(url: str, eid: str) -> Iterator[Any]:
    conn = admin(url)
    conn.autocommit(False)
    cursor = conn.cursor()
    cursor.execute("SELECT id FROM executions WHERE id = %s FOR UPDATE", (eid,))
    try:
        yield conn
    finally:
        with contextlib.suppress(Exception):
            conn.rollback()
        conn.close()


def test_killed_connections_are_replaced(url: str, store: MySQLStore) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    store.wait(0)  # opens the waiting connection
    for tid in _store_threads(url, store):
        query(url, f"KILL CONNECTION {int(tid)}")
    # create is not retried on a lost connection: this proves the pool hands
    # out a live connection instead of the dead one.
    store.create(NewExecution(id="e2", task_name="t"))
    c = claim_one(store)
    store.commit(c.lease, Commit(records=(step_write("s", 1),)))
    assert store.load("e1").records["s"].result == 1
    store.wait(0)  # the dead waiting connection is dropped ...
    store.wait(0)  # ... and a new one opened


@pytest.mark.parametrize("key", [None, "cart:1"])
def test_a_send_killed_mid_way_is_retried_only_with_a_key(
    url: str, store: MySQLStore, key: str | None
) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    with _holding_row(url, "e1"):
        t, out = in_thread(lambda: store.send("e1", "cart", "pen", key))
        query(url, f"KILL CONNECTION {_blocked(url)}")
    t.join(30)
    sent = store.load("e1").messages.get("cart", [])
    if key is None:
        assert isinstance(out.get("error"), StoreError) and sent == []
    else:
        assert [m.id for m in sent] == [out["value"]]
        assert store.send("e1", "cart", "pen", key) == out["value"]


def test_a_commit_whose_connection_is_killed_while_it_waits_is_retried_once(
    url: str, store: MySQLStore
) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    with _holding_row(url, "e1"):
        done = Commit(records=(step_write("s", 7),), outcome=r.Complete(output=7))
        t, out = in_thread(lambda: store.commit(c.lease, done))
        query(url, f"KILL CONNECTION {_blocked(url)}")
        assert store.get("e1").status == r.RUNNING  # the killed transaction left nothing
    t.join(30)
    assert out == {"value": True}
    assert store.get("e1").status == r.COMPLETED
    assert [(h.name, h.result) for h in store.history("e1")] == [("s", 7)]


def test_an_offer_whose_connection_is_killed_raises_and_writes_nothing(
    url: str, store: MySQLStore
) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    with _holding_row(url, "e1"):
        t, out = in_thread(lambda: store.offer_event("e1", "go", {"x": 1}))
        query(url, f"KILL CONNECTION {_blocked(url)}")
        t.join(30)
    assert isinstance(out.get("error"), StoreError)
    assert "lost its connection" in str(out["error"])
    assert store.load("e1").events == {}
    assert store.offer_event("e1", "go", {"x": 2}) is True


# -- wake-ups -------------------------------------------------------------------------
def _time_wait(waiter: MySQLStore, action: Callable[[], Any], waiters: int = 1) -> float:
    """How long ``waiters`` threads blocked in wait(30) take to return after
    ``action`` runs (the slowest of them); each is asleep on the server first."""
    waiter.wait(0)  # open, and take in whatever rang before
    waiter.wait(0)
    runs = [in_thread(lambda: waiter.wait(30)) for _ in range(waiters)]
    eventually(lambda: len(_sleeping(waiter)) == 1)
    started = time.monotonic()
    action()
    for t, _ in runs:
        t.join(35)
    return time.monotonic() - started


def _sleeping(store: MySQLStore) -> list[tuple[Any, ...]]:
    head = store._ringer._head
    return query(
        in_database(mysql_url_or_skip(), store.database),
        "SELECT ID FROM information_schema.PROCESSLIST WHERE LEFT(INFO, %s) = %s",
        head["length"],
        head["head"],
    )


def test_new_work_of_another_process_wakes_a_sleeping_waiter_promptly(
    url: str, store: MySQLStore, clock: ManualClock
) -> None:
    waiter = MySQLStore(url, clock=clock)  # as another process would: its own connections
    try:
        started = time.monotonic()
        waiter.wait(0)  # opens the connection and returns at once
        waiter.wait(0.3)  # nothing happened: it waits out its timeout
        assert 0.25 <= time.monotonic() - started < 5

        def create() -> None:
            store.create(NewExecution(id="e1", task_name="t"))

        assert _time_wait(waiter, create, waiters=3) < 2
        c = claim_one(store)
        store.commit(c.lease, Commit(outcome=r.Suspend(event="go")))
        assert _time_wait(waiter, lambda: store.offer_event("e1", "go", 1)) < 2
        c = claim_one(store)
        store.commit(c.lease, Commit(outcome=r.Suspend(topic="inbox")))
        assert _time_wait(waiter, lambda: store.send("e1", "inbox", 2)) < 2
        c = claim_one(store)
        assert _time_wait(waiter, lambda: store.release(c.lease)) < 2
        c = claim_one(store)
        timer = Commit(outcome=r.Suspend(wake_at=at(60)))
        assert _time_wait(waiter, lambda: store.commit(c.lease, timer)) < 2
    finally:
        waiter.close()


def test_a_childs_end_wakes_a_waiter_for_its_parent(
    url: str, store: MySQLStore, clock: ManualClock
) -> None:
    waiter = MySQLStore(url, clock=clock)
    try:
        c = fan_out(store, clock, 1)
        store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0",))))
        (kid,) = claim_all(store, tasks=["child"])
        done = Commit(outcome=r.Complete(output=1))
        assert _time_wait(waiter, lambda: store.commit(kid.lease, done)) < 2
        assert store.get("p").status == r.PENDING
    finally:
        waiter.close()


def test_work_of_this_process_wakes_its_own_waiters(store: MySQLStore) -> None:
    took = _time_wait(store, lambda: store.create(NewExecution(id="e1", task_name="t")), 2)
    assert took < 2


def test_a_ring_between_a_look_and_the_sleep_is_not_lost(url: str, store: MySQLStore) -> None:
    waiter = MySQLStore(url, clock=store._given_clock)
    try:
        waiter.wait(0)
        waiter.wait(0)  # up to date with the bell; a look for work would come here
        store.create(NewExecution(id="e1", task_name="t"))  # rings: nobody sleeps yet
        store._ringer.close()  # the ring is sent
        started = time.monotonic()
        waiter.wait(10)  # the bell moved since its last look: back at once
        assert time.monotonic() - started < 2
    finally:
        waiter.close()


def test_an_idle_wait_sends_one_statement_and_no_more(
    store: MySQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.wait(0)
    store.wait(0)
    sent = round_trips(store, monkeypatch)
    store.wait(0.5)
    assert sent == [["wait"]]


def test_other_databases_do_not_wake_wait(server: str, store: MySQLStore) -> None:
    with scratch_database(server) as elsewhere:
        other = MySQLStore(elsewhere)
        other.migrate()
        store.wait(0)
        store.wait(0)
        t, _ = in_thread(lambda: store.wait(1.0))
        eventually(lambda: len(_sleeping(store)) == 1)
        started = time.monotonic()
        other.create(NewExecution(id="e1", task_name="t"))
        other._ringer.close()
        t.join(5)
        assert time.monotonic() - started > 0.5
        other.close()


# -- the pool ---------------------------------------------------------------------------
class _Conn:
    def __init__(self, n: int) -> None:
        self.n, self.closed, self.dead = n, False, False

    def close(self) -> None:
        self.closed = True


def _pool(max_size: int = 2, timeout: float = 0.2) -> tuple[Pool, list[_Conn]]:
    opened: list[_Conn] = []

    def open_() -> _Conn:
        opened.append(_Conn(len(opened)))
        return opened[-1]

    return Pool(open_, max_size, timeout, lambda c: c.dead), opened


def test_the_pool_keeps_at_most_max_size_and_reuses_the_last_given_back() -> None:
    pool, opened = _pool()
    a, b = pool.get(), pool.get()
    with pytest.raises(PoolTimeout):
        pool.get()
    pool.put(a)
    pool.put(b)
    assert pool.get() is b and pool.size == 2 and len(opened) == 2


def test_the_pool_hands_a_connection_given_back_to_a_waiting_caller() -> None:
    pool, _ = _pool(max_size=1, timeout=5)
    a = pool.get()
    t, out = in_thread(pool.get)
    t.join(0.1)
    assert t.is_alive()
    pool.put(a)
    t.join(5)
    assert out == {"value": a}


def test_the_pool_drops_dead_broken_and_closed_connections() -> None:
    pool, opened = _pool()
    a, b = pool.get(), pool.get()
    pool.put(a)
    pool.put(b, broken=True)
    assert b.closed and pool.size == 1
    a.dead = True  # the server hung up while it was idle
    c = pool.get()
    assert a.closed and c is opened[2]
    pool.close()  # c is lent out: closed when it comes back
    pool.put(c)
    assert c.closed and pool.size == 0
    assert pool.get() is opened[3]  # usable after close


def test_the_pool_gives_its_place_back_when_a_connection_cannot_open() -> None:
    def failing() -> _Conn:
        raise OSError("refused")

    pool = Pool(failing, 1, 0.1, lambda c: False)
    for _ in range(3):
        with pytest.raises(OSError):
            pool.get()
    assert pool.size == 0


def test_a_store_whose_pool_stays_busy_says_so(url: str, store: MySQLStore) -> None:
    busy = MySQLStore(url, max_size=1, pool_timeout=0.2, clock=store._given_clock)
    try:
        conn = busy._db.pool.get()  # the only connection, held
        with pytest.raises(StoreError, match="got no connection"):
            busy.create(NewExecution(id="e1", task_name="t"))
        busy._db.pool.put(conn)
        busy.create(NewExecution(id="e1", task_name="t"))
    finally:
        busy.close()


# -- writing through the caller's transaction ---------------------------------------------
def test_an_execution_written_in_the_callers_transaction_exists_once_it_commits(
    url: str, store: MySQLStore
) -> None:
    new = NewExecution(id="e1", task_name="t")
    with admin(url) as conn:
        conn.autocommit(False)
        store.create_in(conn, new)
        with pytest.raises(ExecutionNotFound):
            store.get("e1")  # another connection: not before the commit
        conn.commit()
    assert store.get("e1").status == r.PENDING
    with admin(url) as conn:
        conn.autocommit(False)
        store.create_in(conn, NewExecution(id="e2", task_name="t"))
        conn.rollback()
    with pytest.raises(ExecutionNotFound):
        store.get("e2")
    with admin(url) as conn, pytest.raises(ExecutionAlreadyExists):
        store.create_in(conn, new)


def test_the_callers_connection_must_be_to_this_database(
    server: str, url: str, store: MySQLStore
) -> None:
    with pytest.raises(TypeError, match="must be a mysqlclient"):
        store.create_in("conn", NewExecution(id="e1", task_name="t"))
    with (
        scratch_database(server) as elsewhere,
        admin(elsewhere) as conn,
        pytest.raises(ValueError, match="missing: not to this store's database"),
    ):
        store.create_in(conn, NewExecution(id="e1", task_name="t"))
    assert store.list() == []
