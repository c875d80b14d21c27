"""What only the SQLite store has to prove: pragmas, files and URLs,
migrations (an old file reaches the schema a new one gets), several threads
and processes on one file, rollback of a write that fails half-way, and
waking a waiting worker when another process commits.

Process tests use the 'spawn' start method, so each child is a fresh
interpreter with its own connections, as separate worker processes would be.
Nothing sleeps to wait for something: waits are on a condition, with a deadline.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import zart
from tests.stores.scenario import LEASE, T0, ManualClock, at, claim_one, step_write
from zart import records as r
from zart.errors import LeaseLost, SchemaNewer, SchemaOutdated, StoreError, WriteRejected
from zart.records import Commit, NewExecution, RecordWrite, SetState
from zart.stores import sqlfiles
from zart.stores.connect import connect
from zart.stores.rows import micros
from zart.stores.sqlite import SqliteStore, watch
from zart.stores.sqlite.connection import PACKAGE, Q, statements

SPAWN = multiprocessing.get_context("spawn")
DEADLINE = 60.0  # generous bound for a condition that should hold at once
MIGRATIONS = sqlfiles.migrations(PACKAGE)
LATEST = sqlfiles.latest_version(PACKAGE)


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "zart.db")


@pytest.fixture
def store(path: str, clock: ManualClock) -> Iterator[SqliteStore]:
    s = SqliteStore(path, clock=clock)
    s.migrate()
    yield s
    s.close()


def versions(path: str) -> list[int]:
    with closing(sqlite3.connect(path)) as conn:
        return [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version")]


def run_processes(target: Callable[..., Any], args_list: list[tuple[Any, ...]]) -> None:
    procs = [SPAWN.Process(target=target, args=args) for args in args_list]
    for p in procs:
        p.start()
    for p in procs:
        p.join(DEADLINE)
        assert p.exitcode == 0, f"{p.name} exited with {p.exitcode}"


def wait_until(condition: Callable[[], bool], tick: Callable[[], None]) -> None:
    """Call ``tick`` until ``condition`` holds, failing after DEADLINE."""
    end = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < end, "condition not reached"
        tick()


# -- pragmas and connections ----------------------------------------------
def test_wal_and_synchronous_full_by_default(store: SqliteStore) -> None:
    conn = store._db.get()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


@pytest.mark.parametrize(("mode", "level"), [("OFF", 0), ("normal", 1), ("FULL", 2), ("EXTRA", 3)])
def test_synchronous_is_configurable_on_every_thread(path: str, mode: str, level: int) -> None:
    s = SqliteStore(path, synchronous=mode, busy_timeout=2.5)
    got: list[tuple[int, int]] = []

    def probe() -> None:
        conn = s._db.get()
        got.append(
            (
                conn.execute("PRAGMA synchronous").fetchone()[0],
                conn.execute("PRAGMA busy_timeout").fetchone()[0],
            )
        )

    probe()
    t = threading.Thread(target=probe)
    t.start()
    t.join()
    assert got == [(level, 2500), (level, 2500)]
    s.close()


def test_bad_synchronous_is_rejected(path: str) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SqliteStore(path, synchronous="SOMETIMES")
    with pytest.raises(ValueError, match="synchronous must be one of"):
        SqliteStore(path, synchronous=2)  # type: ignore[arg-type]
    assert not os.path.exists(path)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (-1, "busy_timeout must be at least 0, got -1"),
        (float("nan"), "busy_timeout must be finite, got nan"),
        (float("inf"), "busy_timeout must be finite, got inf"),
        # Past 2**31 ms SQLite's int would wrap; a day is far past any need.
        (3e6, "busy_timeout must be at most 86400 s (a day), got 3000000.0"),
        ("5", "busy_timeout must be a number of seconds, got '5'"),
        (True, "busy_timeout must be a number of seconds, got True"),
    ],
)
def test_bad_busy_timeout_is_rejected_before_the_file_is_touched(
    path: str, value: Any, says: str
) -> None:
    with pytest.raises(ValueError) as info:
        SqliteStore(path, busy_timeout=value)
    assert str(info.value) == says
    assert not os.path.exists(path)


def test_a_writer_waits_for_a_busy_file_up_to_its_busy_timeout(
    path: str, store: SqliteStore
) -> None:
    # Another connection holds the write lock (as another process's commit
    # would): a writer with no busy timeout fails at once, one with a
    # timeout keeps trying that long, and each failure names the file.
    impatient, patient = SqliteStore(path, busy_timeout=0), SqliteStore(path, busy_timeout=0.3)
    with closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match=r"zart\.db.*database is locked"):
            impatient.create(NewExecution(id="e0", task_name="t"))
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"zart\.db.*database is locked"):
            patient.create(NewExecution(id="e1", task_name="t"))
        assert time.monotonic() - started >= 0.25  # it waited for the lock, not failed at once
        holder.execute("ROLLBACK")
    patient.create(NewExecution(id="e2", task_name="t"))
    assert [e.id for e in store.list()] == ["e2"]
    impatient.close()
    patient.close()


# -- files --------------------------------------------------------------------
def test_a_missing_directory_raises_store_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "zart.db"
    with pytest.raises(StoreError, match=r"no-such-dir/zart\.db"):
        SqliteStore(str(missing))
    with pytest.raises(StoreError, match=r"no-such-dir/zart\.db"):
        zart.connect(f"sqlite:///{missing}")
    assert not missing.parent.exists()


def test_create_false_refuses_a_missing_file_and_makes_none(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    with pytest.raises(StoreError, match=r"no SQLite database at .*typo\.db.*check the path"):
        SqliteStore(str(missing), create=False)
    with pytest.raises(StoreError, match=r"no SQLite database at .*typo\.db"):
        connect(f"sqlite:///{missing}?synchronous=NORMAL", create=False)
    assert not missing.exists()
    SqliteStore(str(missing)).migrate()  # the default creates it
    with closing(SqliteStore(str(missing), create=False)) as existing:
        assert existing.list() == []
    with closing(SqliteStore(":memory:", create=False)) as memory:
        memory.migrate()  # nothing on disk to find


def test_a_file_that_is_not_sqlite_raises_store_error_naming_it(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database, not even close" * 100)
    with pytest.raises(StoreError, match=r"junk\.db.*not a database"):
        SqliteStore(str(junk))
    with pytest.raises(StoreError, match=r"junk\.db.*not a database"):
        zart.connect(f"sqlite:///{junk}")
    assert junk.read_bytes() == b"this is not a database, not even close" * 100


def test_connect_creates_a_new_file_and_migrates_it(tmp_path: Path) -> None:
    target = tmp_path / "new.db"
    s = zart.connect(f"sqlite:///{target}")
    try:
        assert isinstance(s, SqliteStore) and target.exists()
        assert versions(str(target)) == [LATEST]  # a new file gets schema.sql at once
        s.create(NewExecution(id="e1", task_name="t"))
        assert s.get("e1").status == r.PENDING
    finally:
        s.close()


def test_connect_with_migrate_false_leaves_the_schema_alone(tmp_path: Path) -> None:
    target = tmp_path / "new.db"
    s = zart.connect(f"sqlite:///{target}", migrate=False)
    try:
        with pytest.raises(SchemaOutdated) as info:
            s.list()
        assert (info.value.found, info.value.expected) == (0, LATEST)
        with closing(sqlite3.connect(target)) as conn:
            assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []
    finally:
        s.close()


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user may write in (see ``as_unprivileged``)."""
    folder = Path(tempfile.mkdtemp(prefix="zart-ro-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder)


def as_unprivileged(fn: Callable[[], str]) -> str:
    """``fn()`` in a forked child, as user nobody when this process is root
    (root writes read-only files, so chmod alone would prove nothing); what
    it returned, or how it raised."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            said = fn()
        except BaseException as exc:
            said = f"raised {type(exc).__name__}: {exc}"
        finally:
            os.write(write, said.encode())
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        said = pipe.read().decode()
    os.waitpid(pid, 0)
    return said


def test_a_read_only_file_raises_store_error_naming_it(shared_dir: Path) -> None:
    older = shared_dir / "older.db"
    sqlite3.connect(older).close()  # an empty database: it needs the schema written
    current = shared_dir / "current.db"
    zart.connect(f"sqlite:///{current}").close()
    for db in (older, current):
        db.chmod(0o444)

    def connect_older() -> str:
        zart.connect(f"sqlite:///{older}")
        return "connected"

    def write_current() -> str:
        s = zart.connect(f"sqlite:///{current}")  # nothing to migrate: reading works
        assert s.list() == []
        s.create(NewExecution(id="e1", task_name="t"))
        return "created"

    for attempt, db in ((connect_older, older), (write_current, current)):
        said = as_unprivileged(attempt)
        assert said.startswith("raised StoreError") and str(db) in said, said
        assert "readonly" in said, said


def test_connections_of_finished_threads_are_closed(store: SqliteStore) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    threads = [threading.Thread(target=store.get, args=("e1",)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gc.collect()
    assert len(store._db._handles) == 1  # only this thread's


def test_close_then_use_reopens(store: SqliteStore) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    store.close()
    assert store.get("e1").status == r.PENDING


def test_a_forked_child_opens_its_own_connection(store: SqliteStore) -> None:
    # An SQLite connection must not cross a fork: the child's first use of
    # the store opens a new one and leaves the parent's alone.
    store.create(NewExecution(id="e1", task_name="t"))
    parent_conn = store._db.get()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        ok = False
        try:
            store.create(NewExecution(id="e2", task_name="t"))
            ok = store._db.get() is not parent_conn and store.get("e2").status == r.PENDING
        finally:
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1" and status == 0
    os.close(read)
    assert store._db.get() is parent_conn
    assert store.get("e2").status == r.PENDING  # the child's write is in the file


# -- URLs ---------------------------------------------------------------
def test_from_url_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = SqliteStore.from_url("sqlite:///rel.db", synchronous="NORMAL")
    assert s.path == "rel.db" and s.url == "sqlite:///rel.db" and s._db.synchronous == "NORMAL"
    s.migrate()
    s.close()
    assert (tmp_path / "rel.db").exists()


def test_from_url_absolute_path(tmp_path: Path) -> None:
    target = tmp_path / "abs.db"
    s = connect(f"sqlite:///{target}")  # tmp_path starts with "/": sqlite:////...
    assert isinstance(s, SqliteStore)
    assert s.url == f"sqlite:////{str(target).lstrip('/')}" and s.path == str(target)
    s.close()
    assert target.exists()


def test_memory_url_is_one_database_shared_by_threads(clock: ManualClock) -> None:
    s = connect("sqlite:///:memory:", clock=clock)
    assert isinstance(s, SqliteStore) and s.url == "sqlite:///:memory:"
    t = threading.Thread(target=s.create, args=(NewExecution(id="e1", task_name="t"),))
    t.start()
    t.join()
    assert s.get("e1").task_name == "t"
    got = s.claim(worker="w", tasks=None, lease=LEASE, limit=5)
    assert [c.record.id for c in got] == ["e1"]
    s.close()


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///", "sqlite://host/x.db", "sqlite:x.db", "sqlite:///?synchronous=OFF"],
)
def test_bad_urls_are_rejected(url: str) -> None:
    with pytest.raises(StoreError, match="SQLite URL"):
        SqliteStore.from_url(url)


def test_url_parameters_set_synchronous_busy_timeout_and_max_payload(tmp_path: Path) -> None:
    # The only way to reach a `zart worker --db URL` or ZART_DATABASE_URL.
    url = f"sqlite:///{tmp_path / 'q.db'}?synchronous=normal&busy_timeout=2.5&max_payload=100"
    s = connect(url)
    assert isinstance(s, SqliteStore) and s.path == str(tmp_path / "q.db")
    conn = s._db.get()
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
    assert s.max_payload == 100
    s.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.db"]


def test_options_given_to_connect_override_the_url(tmp_path: Path) -> None:
    s = connect(f"sqlite:///{tmp_path / 'q.db'}?synchronous=OFF", synchronous="EXTRA")
    assert isinstance(s, SqliteStore)
    assert s._db.get().execute("PRAGMA synchronous").fetchone()[0] == 3
    s.close()


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("mode=ro", "unknown parameter 'mode' (it takes synchronous, busy_timeout, max_payload)"),
        ("password=s3cret", "unknown parameter 'password'"),
        ("synchronous=SOMETIMES", "synchronous must be one of"),
        ("synchronous=OFF&synchronous=FULL", "synchronous is given twice"),
        ("busy_timeout=soon", "busy_timeout must be a number of seconds, got 'soon'"),
        ("busy_timeout=-2", "busy_timeout must be at least 0, got -2.0"),
        ("busy_timeout=nan", "busy_timeout must be finite, got nan"),
        ("max_payload=0", "max_payload"),
        ("junk", "bad query field: 'junk'"),
    ],
)
def test_bad_url_parameters_are_refused_naming_them_and_no_file_is_made(
    tmp_path: Path, query: str, says: str
) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}?{query}"
    with pytest.raises(StoreError) as info:
        connect(url)
    message = str(info.value)
    assert message.startswith("bad SQLite URL") and says in message
    assert "s3cret" not in message
    assert list(tmp_path.iterdir()) == []


# -- datetimes ----------------------------------------------------------
def test_datetimes_round_trip_exactly_as_utc(store: SqliteStore, clock: ManualClock) -> None:
    plus2 = timezone(timedelta(hours=2))
    created = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=plus2)
    clock.time = created
    store.create(NewExecution(id="e1", task_name="t"))
    rec = store.get("e1")
    assert rec.created_at == created and rec.created_at.tzinfo == UTC
    assert rec.created_at.microsecond == 123456
    old = datetime(1901, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    clock.time = old
    store.create(NewExecution(id="e0", task_name="t"))
    assert store.get("e0").wake_at == old
    c = claim_one(store)
    assert c.record.id == "e0"
    write = RecordWrite(name="nap", kind=r.K_SLEEP, status=r.R_WAITING, seq=1, wake_at=created)
    store.commit(c.lease, Commit(records=(write,)))
    assert store.history("e0")[0].wake_at == created


# -- migrations ---------------------------------------------------------
def shape(path: str) -> dict[str, Any]:
    """What a schema is made of: each table's columns, foreign keys and
    indexes (by pragma), and each index's SQL with its whitespace normalized."""
    with closing(sqlite3.connect(path)) as conn:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        found: dict[str, Any] = {}
        for table in sorted(tables):
            found[table] = {
                "columns": conn.execute(f"PRAGMA table_info('{table}')").fetchall(),
                "foreign_keys": conn.execute(f"PRAGMA foreign_key_list('{table}')").fetchall(),
                "indexes": sorted(row[1:] for row in conn.execute(f"PRAGMA index_list('{table}')")),
            }
        found["index_sql"] = {
            name: " ".join(sql.split())
            for name, sql in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
    return found


def build_at(path: str, version: int) -> sqlite3.Connection:
    """A file built by migrations 0001..``version`` only, as an older zart
    left it; a connection to it (in autocommit) for the test's rows."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(Q["version_table"])
    for number, sql in MIGRATIONS[:version]:
        for statement in statements(sql):
            conn.execute(statement)
        conn.execute(Q["record_version"], {"version": number})
    return conn


def test_migrate_twice_is_a_no_op(store: SqliteStore, path: str) -> None:
    before = shape(path)
    store.migrate()
    SqliteStore(path).migrate()
    assert shape(path) == before
    assert versions(path) == [LATEST]


def test_every_migration_leads_to_the_schema_a_new_file_gets(tmp_path: Path) -> None:
    fresh = str(tmp_path / "fresh.db")
    SqliteStore(fresh).migrate()
    for start in range(1, LATEST):
        old = str(tmp_path / f"from-{start}.db")
        build_at(old, start).close()
        SqliteStore(old).migrate()
        assert versions(old) == list(range(1, LATEST + 1))
        assert shape(old) == shape(fresh), start
    assert "executions_due" in shape(fresh)["index_sql"]


_V3_ROWS = [
    """INSERT INTO executions (id, num, task_name, kind, status, input, attempt, created_at,
                               updated_at, wake_at, waiting_for, awaiting, seq, format_version)
       VALUES ('p', 1, 'parent', 'workflow', 'waiting', '{"n": 2}', 1, :t, :t, NULL,
               'children', 1, 3, 1)""",
    """INSERT INTO executions (id, num, task_name, kind, status, input, output, parent_id,
                               parent_step, created_at, updated_at, wake_at, format_version)
       VALUES ('p:c0', 2, 'child', 'workflow', 'completed', '0', '5', 'p', 'c0', :t, :t, NULL, 1),
              ('p:c1', 3, 'child', 'workflow', 'pending', '1', NULL, 'p', 'c1', :t, :t, :t, 1)""",
    """INSERT INTO steps (key, execution_id, name, seq, kind, status, step, result, error,
                          attempts, child_id, awaited, created_at, updated_at)
       VALUES ((1 << 32) + 1, 'p', 'c0', 1, 'schedule', 'completed', 'child', '5', NULL, 0,
               'p:c0', 1, :t, :t),
              ((1 << 32) + 2, 'p', 'c1', 2, 'schedule', 'pending', 'child', NULL, NULL, 0,
               'p:c1', 1, :t, :t),
              ((1 << 32) + 3, 'p', 's', 3, 'step', 'failed', 'mod.s', NULL,
               '{"type": "E", "message": "boom"}', 3, NULL, 0, :t, :t)""",
    """INSERT INTO events (execution_id, name, payload, created_at)
       VALUES ('p', 'go', '{"x": 1}', :t)""",
]


def test_a_version_3_file_with_a_waiting_parent_migrates_and_runs_on(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Version 3 kept a child's outcome in its record in the parent's log,
    and ``awaited`` there; version 4 keeps both on the child's row. The
    parent still waits on the same children, and reads the same log."""
    path = str(tmp_path / "v3.db")
    with closing(build_at(path, 3)) as conn:
        for statement in _V3_ROWS:
            conn.execute(statement, {"t": micros(T0)})
    store = SqliteStore(path, clock=clock)
    with pytest.raises(SchemaOutdated):
        store.get("p")
    store.migrate()
    assert versions(path) == list(range(1, LATEST + 1))
    fresh = str(tmp_path / "fresh.db")
    SqliteStore(fresh).migrate()
    assert shape(path) == shape(fresh)

    log = store.load("p")
    assert (log.records["c0"].status, log.records["c0"].result) == (r.R_COMPLETED, 5)
    assert log.records["c1"].status == r.R_PENDING
    s = log.records["s"]
    assert (s.status, s.error, s.attempts, s.errors) == (
        r.R_FAILED,
        {"type": "E", "message": "boom"},
        3,
        (),
    )
    assert s.execution_attempt == 1  # written by the parent's attempt then
    assert log.events == {"go": {"x": 1}} and log.last_seq == 3
    parent = store.get("p")
    assert (parent.status, parent.waiting_for, parent.input) == (r.WAITING, "children", {"n": 2})
    assert store.get("p:c1").root_id == "p"

    clock.to(5)
    kid = claim_one(store)
    assert kid.record.id == "p:c1"
    assert store.commit(kid.lease, Commit(outcome=r.Complete(output=6)))
    parent = store.get("p")
    assert (parent.status, parent.wake_at) == (r.PENDING, at(5))  # woken: c0 was done already
    assert [x.result for x in store.history("p")][:2] == [5, 6]


def test_migrating_a_version_1_file_keeps_its_executions_and_logs(path: str) -> None:
    """Versions 2 and 3 rebuild the log table (WITHOUT ROWID, then keyed by
    execution number and seq): every row comes across, and the execution
    keeps a number its next records are keyed under."""
    with closing(build_at(path, 1)) as conn:
        conn.execute(
            "INSERT INTO executions (id, task_name, kind, status, created_at, updated_at, "
            "wake_at, seq, format_version) VALUES ('e1', 't', 'workflow', 'pending', 0, 0, 0, 5, 1)"
        )
        conn.executemany(
            "INSERT INTO steps (execution_id, name, seq, kind, status, result, awaited, "
            "created_at, updated_at) VALUES ('e1', ?, ?, 'step', 'completed', ?, ?, 0, 0)",
            [("b", 2, "20", 1), ("a", 1, "10", 0)],
        )
    store = SqliteStore(path, clock=ManualClock())
    with pytest.raises(SchemaOutdated):
        store.get("e1")
    store.migrate()
    log = store.load("e1")
    assert [(x.name, x.seq, x.result) for x in log.records.values()] == [("a", 1, 10), ("b", 2, 20)]
    assert log.last_seq == 5
    with closing(sqlite3.connect(path)) as conn:
        keys = conn.execute("SELECT key >> 32, key & 4294967295 FROM steps ORDER BY key").fetchall()
    assert keys == [(1, 1), (1, 2)]
    c = claim_one(store)
    store.commit(c.lease, Commit(records=(step_write("c", seq=6),)))
    store.create(NewExecution(id="e2", task_name="t"))
    assert [x.name for x in store.history("e1")] == ["a", "b", "c"]
    with closing(sqlite3.connect(path)) as conn:
        nums = conn.execute("SELECT id, num FROM executions ORDER BY num").fetchall()
    assert nums == [("e1", 1), ("e2", 2)]
    store.close()


def test_a_seq_held_by_another_name_is_refused_and_nothing_written(store: SqliteStore) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)

    def write(name: str, seq: int) -> RecordWrite:
        return step_write(name, seq, seq=seq)

    store.commit(c.lease, Commit(records=(write("a", 1),)))
    with pytest.raises(WriteRejected, match=r"seq 1 already holds another name than 'b'"):
        store.commit(c.lease, Commit(records=(write("b", 1),)))
    with pytest.raises(WriteRejected, match="already holds another name than 'd'"):
        store.commit(c.lease, Commit(records=(write("c", 2), write("d", 1))))
    with pytest.raises(WriteRejected, match="seq 0 is outside"):
        store.commit(c.lease, Commit(records=(write("e", 0),)))
    assert [(x.name, x.seq, x.result) for x in store.history("e1")] == [("a", 1, 1)]


def _migrate_in_child(path: str, barrier: Any) -> None:
    barrier.wait(DEADLINE)
    store = SqliteStore(path)
    store.migrate()
    store.create(NewExecution(id=f"from-{os.getpid()}", task_name="t"))
    store.close()


@pytest.mark.slow
def test_concurrent_migrate_from_two_processes(path: str) -> None:
    barrier = SPAWN.Barrier(2)
    run_processes(_migrate_in_child, [(path, barrier), (path, barrier)])
    assert versions(path) == [LATEST]
    store = SqliteStore(path)
    assert len(store.list()) == 2
    store.close()


def test_concurrent_migrate_from_two_threads(path: str) -> None:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def go() -> None:
        try:
            barrier.wait(DEADLINE)
            SqliteStore(path).migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert versions(path) == [LATEST]


def test_unmigrated_file_raises_schema_outdated(path: str) -> None:
    s = SqliteStore(path)
    with pytest.raises(SchemaOutdated, match="zart migrate") as info:
        s.get("e1")
    assert (info.value.found, info.value.expected) == (0, LATEST)
    with pytest.raises(SchemaOutdated):
        s.create(NewExecution(id="e1", task_name="t"))
    # Once another process migrates, the same instance works.
    SqliteStore(path).migrate()
    s.create(NewExecution(id="e1", task_name="t"))
    assert s.get("e1").status == r.PENDING


def test_empty_version_table_raises_schema_outdated(path: str) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(Q["version_table"])
    with pytest.raises(SchemaOutdated):
        SqliteStore(path).list()


def test_older_recorded_version_raises_schema_outdated(
    store: SqliteStore, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlfiles, "latest_version", lambda _package: LATEST + 1)
    with pytest.raises(SchemaOutdated) as info:
        SqliteStore(path).claim(worker="w", tasks=None, lease=LEASE, limit=1)
    assert (info.value.found, info.value.expected) == (LATEST, LATEST + 1)


def test_a_schema_newer_than_the_code_is_refused_everywhere(store: SqliteStore, path: str) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (LATEST + 1,))
    url = f"sqlite:///{path}"
    calls: list[Callable[[], Any]] = [
        lambda: SqliteStore(path).get("x"),
        lambda: SqliteStore(path).migrate(),
        lambda: zart.connect(url),
        lambda: zart.connect(url, migrate=False).list(),
    ]
    for call in calls:
        with pytest.raises(SchemaNewer, match="newer than this code") as info:
            call()
        assert (info.value.found, info.value.expected) == (LATEST + 1, LATEST)
        assert path in str(info.value)


# -- several processes and threads on one file ---------------------------------
def _claim_all(path: str, name: str, barrier: Any, out: Any) -> None:
    store = SqliteStore(path, clock=lambda: at(1))
    barrier.wait(DEADLINE)
    mine: list[tuple[str, int]] = []
    while batch := store.claim(worker=name, tasks=None, lease=LEASE, limit=5):
        for c in batch:
            mine.append((c.record.id, c.lease.token))
            store.load(c.record.id)  # a worker reads the log next, outside any write lock
    out.put((name, mine))
    store.close()


@pytest.mark.slow
def test_two_processes_never_claim_the_same_execution(store: SqliteStore, path: str) -> None:
    for i in range(200):
        store.create(NewExecution(id=f"e{i:03}", task_name="t"))
    barrier, out = SPAWN.Barrier(2), SPAWN.Queue()
    procs = [SPAWN.Process(target=_claim_all, args=(path, f"w{n}", barrier, out)) for n in (1, 2)]
    for p in procs:
        p.start()
    claimed = {}
    for _ in procs:
        name, got = out.get(timeout=DEADLINE)
        claimed[name] = got
    for p in procs:
        p.join(DEADLINE)
        assert p.exitcode == 0
    union = [eid for got in claimed.values() for eid, _ in got]
    assert len(union) == len(set(union)) == 200
    # Each row's owner and token are those of the one process that reported it.
    with closing(sqlite3.connect(path)) as conn:
        stored = {
            eid: (owner, token)
            for eid, owner, token in conn.execute(
                "SELECT id, owner, token FROM executions WHERE status = 'running'"
            )
        }
    assert stored == {eid: (name, token) for name, got in claimed.items() for eid, token in got}


def test_threads_sharing_a_store_never_claim_the_same_execution(
    store: SqliteStore, clock: ManualClock
) -> None:
    for i in range(100):
        store.create(NewExecution(id=f"e{i:03}", task_name="t"))
    clock.to(1)
    got: list[str] = []

    def claim() -> None:
        while batch := store.claim(worker="w", tasks=None, lease=LEASE, limit=3):
            got.extend(c.record.id for c in batch)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(set(got)) == 100


def test_claim_under_takes_only_that_tree(store: SqliteStore) -> None:
    # A tree is its root's id in root_id, never a prefix of ids.
    trees = [("p", None), ("p:c0", "p"), ("p:c0:g", "p"), ("px", None), ("p%", None)]
    for eid, root in [*trees, ("q:p", "q"), ("p_:x", "p_")]:
        store.create(NewExecution(id=eid, task_name="t", root_id=root))
    got = store.claim(worker="w", tasks=None, lease=LEASE, limit=10, under="p")
    assert sorted(c.record.id for c in got) == ["p", "p:c0", "p:c0:g"]


# -- one statement for a step ----------------------------------------------------
def test_a_step_commit_is_one_fenced_statement(
    store: SqliteStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    old = claim_one(store)
    clock.to(31)  # the lease expires; another worker takes it
    new = claim_one(store)
    ran: list[str] = []
    run = store._run
    monkeypatch.setattr(
        store, "_run", lambda conn, name, params: ran.append(name) or run(conn, name, params)
    )
    assert store.commit(new.lease, Commit(records=(step_write("a", 1),)))
    assert ran == ["upsert_record_fenced"]
    ran.clear()
    with pytest.raises(LeaseLost):
        store.commit(old.lease, Commit(records=(step_write("a", "stale"),)))
    assert ran[0] == "upsert_record_fenced"  # the fence is in the statement, not before it
    assert [(x.name, x.result) for x in store.history("e1")] == [("a", 1)]


# -- failures inside a transaction ----------------------------------------
def _claimed(store: SqliteStore) -> r.Claimed:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    store.commit(c.lease, Commit(records=(step_write("a", 1),)))
    return c


def _assert_untouched(store: SqliteStore, c: r.Claimed, clock: ManualClock) -> None:
    rec = store.get("e1")
    assert rec.status == r.RUNNING and rec.updated_at == T0 and rec.state is None
    assert [h.name for h in store.history("e1")] == ["a"]
    assert store.list(parent_id="e1") == []
    # The lease still holds.
    clock.to(9)
    store.commit(c.lease, Commit(records=(step_write("b", seq=2),)))
    assert [(h.name, h.seq) for h in store.history("e1")] == [("a", 1), ("b", 2)]


def _big_commit(*records: RecordWrite, outcome: r.Outcome | None = None) -> Commit:
    kid = NewExecution(id="e1:k", task_name="t", parent_id="e1", parent_step="k", root_id="e1")
    sched = RecordWrite(name="k", kind=r.K_SCHEDULE, status=r.R_PENDING, seq=2, child_id="e1:k")
    return Commit(
        records=(sched, *records), children=(kid,), state=SetState(value={"s": 1}), outcome=outcome
    )


def test_python_error_mid_commit_writes_nothing(
    store: SqliteStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = _claimed(store)
    run = store._run

    def failing(conn: Any, name: str, params: dict[str, Any]) -> Any:
        if name == "end_execution":  # after the records, the child and the state
            raise RuntimeError("a bug halfway")
        return run(conn, name, params)

    monkeypatch.setattr(store, "_run", failing)
    clock.to(5)
    with pytest.raises(RuntimeError, match="a bug halfway"):
        store.commit(c.lease, _big_commit(outcome=r.Complete(output=1)))
    monkeypatch.undo()
    _assert_untouched(store, c, clock)


def test_database_error_mid_commit_writes_nothing(
    store: SqliteStore, path: str, clock: ManualClock
) -> None:
    c = _claimed(store)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON steps WHEN NEW.name = 'boom' "
            "BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
    boom = step_write("boom", seq=3)
    clock.to(5)
    with pytest.raises(StoreError, match="boom"):
        store.commit(c.lease, _big_commit(boom, outcome=r.Complete(output=1)))
    _assert_untouched(store, c, clock)


def _die_mid_commit(path: str) -> None:
    store = SqliteStore(path, clock=lambda: T0)
    (c,) = store.claim(worker="doomed", tasks=None, lease=LEASE, limit=1)
    # The process dies with the transaction open, records already written in it.
    SqliteStore._apply = lambda *_: os._exit(3)  # type: ignore[method-assign]
    store.commit(c.lease, _big_commit(outcome=r.Complete(output=1)))


@pytest.mark.slow
def test_process_dying_mid_commit_writes_nothing(
    store: SqliteStore, path: str, clock: ManualClock
) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    p = SPAWN.Process(target=_die_mid_commit, args=(path,))
    p.start()
    p.join(DEADLINE)
    assert p.exitcode == 3
    rec = store.get("e1")
    assert rec.status == r.RUNNING and rec.state is None  # the claim committed; the rest did not
    assert store.history("e1") == [] and store.list(parent_id="e1") == []
    # The dead process's write lock is gone: its execution can be reclaimed.
    clock.to(31)
    again = claim_one(store)
    assert store.commit(again.lease, Commit(outcome=r.Complete(output=2)))
    assert store.get("e1").output == 2


# -- wait -----------------------------------------------------------------
def _waiter(
    store: SqliteStore, timeout: float = DEADLINE * 2
) -> tuple[threading.Thread, list[float]]:
    """A thread blocked in ``store.wait(timeout)``; the list gets how long it took."""
    took: list[float] = []

    def wait() -> None:
        started = time.monotonic()
        store.wait(timeout)
        took.append(time.monotonic() - started)

    t = threading.Thread(target=wait, daemon=True)
    t.start()
    return t, took


def test_wait_wakes_on_a_commit_by_another_connection(store: SqliteStore, path: str) -> None:
    other = SqliteStore(path)  # its own connections, as another process would have
    (waiter, _), n = _waiter(store), iter(range(10**6))
    wait_until(
        lambda: not waiter.is_alive(),
        lambda: (
            other.create(NewExecution(id=f"e{next(n)}", task_name="t")),
            waiter.join(0.01),
        ),
    )
    other.close()


def test_wait_wakes_on_a_commit_in_this_process(store: SqliteStore) -> None:
    (waiter, _), n = _waiter(store), iter(range(10**6))
    wait_until(
        lambda: not waiter.is_alive(),
        lambda: (
            store.create(NewExecution(id=f"e{next(n)}", task_name="t")),
            waiter.join(0.01),
        ),
    )


def test_wait_returns_after_its_timeout(store: SqliteStore) -> None:
    started = time.monotonic()
    store.wait(0)
    store.wait(0.05)
    assert time.monotonic() - started >= 0.05


def test_the_wake_mechanism_is_inotify_on_linux(store: SqliteStore) -> None:
    expected = "inotify" if sys.platform.startswith("linux") else "data_version polling"
    assert store.wake_mechanism == expected


def _commit_when_told(path: str, ready: Any, go: Any, done: Any) -> None:
    store = SqliteStore(path)
    store.list()  # opened and read: the next write is the commit
    ready.set()
    assert go.wait(DEADLINE)
    store.create(NewExecution(id="from-another-process", task_name="t"))
    done.set()
    store.close()


def _wait_ends_on_another_process_commit(
    store: SqliteStore, path: str, blocked: Callable[[], bool]
) -> None:
    """A ``wait(5)`` here ends, well before its timeout, when a process of
    its own commits to the file; ``blocked`` tells once the waiter watches."""
    ready, go, done = SPAWN.Event(), SPAWN.Event(), SPAWN.Event()
    child = SPAWN.Process(target=_commit_when_told, args=(path, ready, go, done))
    child.start()
    try:
        assert ready.wait(DEADLINE)
        waiter, took = _waiter(store, 5.0)
        end = time.monotonic() + DEADLINE
        while not blocked():
            assert time.monotonic() < end, "the waiter never started watching"
            waiter.join(0.001)
        assert waiter.is_alive()  # nothing woke it before the commit
        go.set()
        assert done.wait(DEADLINE)
        waiter.join(DEADLINE)
        assert not waiter.is_alive()
        assert took[0] < 2.5, took  # the commit ended it, not its 5 s timeout
    finally:
        go.set()
        child.join(DEADLINE)
    assert child.exitcode == 0
    assert store.get("from-another-process").status == r.PENDING


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")
def test_a_commit_of_another_process_ends_a_wait_through_inotify(
    store: SqliteStore, path: str
) -> None:
    assert store.wake_mechanism == "inotify"  # the watch is set from here on
    bell = store._doorbell()
    _wait_ends_on_another_process_commit(store, path, lambda: bell._watching)


@pytest.mark.slow
def test_without_inotify_polling_data_version_ends_the_wait(
    store: SqliteStore, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(folder: str) -> None:
        raise OSError(24, "inotify refused (as when the watch limit is reached)")

    monkeypatch.setattr(watch, "_Inotify", refused)
    # Set once the waiter has read the version it compares against.
    baseline = threading.Event()
    read_version = store._data_version

    def noting() -> int:
        version = read_version()
        baseline.set()
        return version

    monkeypatch.setattr(store, "_data_version", noting)
    assert store.wake_mechanism == "data_version polling"
    baseline.clear()  # the doorbell read it once when made; the waiter's reads count
    _wait_ends_on_another_process_commit(store, path, baseline.is_set)


@pytest.mark.parametrize("mechanism", ["inotify", "data_version polling"])
def test_a_commit_between_a_look_and_the_wait_after_it_ends_that_wait(
    store: SqliteStore, path: str, mechanism: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by bench/schedules.py: the first message sent to a new worker's
    # waiting execution took a second (the wait's timeout) to be heard,
    # because the watch began only at the first wait, after the commit.
    if mechanism == "data_version polling":
        monkeypatch.setattr(watch, "_Inotify", _refused)
    elif not sys.platform.startswith("linux"):
        pytest.skip("inotify is Linux's")
    worker, other = store, SqliteStore(path)  # other: its own connections, as another process
    try:
        lease = timedelta(seconds=30)
        assert worker.claim(worker="w", tasks=["t"], lease=lease, limit=1) == []  # a look
        other.create(NewExecution(id="e1", task_name="t"))  # another process's commit
        started = time.monotonic()
        worker.wait(DEADLINE)
        assert time.monotonic() - started < DEADLINE / 2  # heard, not timed out
        assert worker.wake_mechanism == mechanism
        assert [c.record.id for c in worker.claim(worker="w", tasks=["t"], lease=lease, limit=1)]
    finally:
        other.close()


def _refused(folder: str) -> None:
    raise OSError(24, "inotify refused (as when the watch limit is reached)")


def test_polling_waits_from_different_threads_end_only_on_a_commit(
    store: SqliteStore, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # data_version numbers compare only on the connection that read them:
    # waits taken from different threads (as AsyncWorker's pool does) must
    # not mistake one thread's number for a commit.
    monkeypatch.setattr(watch, "_Inotify", _refused)
    other = SqliteStore(path)
    try:
        lease = timedelta(seconds=30)
        store.claim(worker="w", tasks=["t"], lease=lease, limit=1)
        for n in range(3):
            other.create(NewExecution(id=f"e{n}", task_name="t"))
        store.wait(0)  # the commits above: heard
        ended_early = []
        for _ in range(4):
            with ThreadPoolExecutor(max_workers=1) as pool:  # a new thread each time
                started = time.monotonic()
                pool.submit(store.wait, 0.2).result()
                ended_early.append(time.monotonic() - started < 0.2)
        assert ended_early == [False] * 4  # nobody committed: each wait ran out
    finally:
        other.close()
