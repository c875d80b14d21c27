"""What only the SQLite store has to prove: pragmas, URLs, migrations, several
processes on one file, and rollback of a write that fails half-way.

Process tests use the 'spawn' start method, so each child is a fresh
interpreter with its own connections, as separate worker processes would be.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import zart.sqlite
from tests.stores.scenario import LEASE, T0, at
from zart import records as r
from zart.errors import SchemaOutdated, StoreError
from zart.migrations import latest_version, migration_files
from zart.records import Commit, NewExecution, RecordWrite
from zart.sqlite import VERSION_TABLE, SqliteStore
from zart.urls import connect

SPAWN = multiprocessing.get_context("spawn")
DEADLINE = 60.0  # generous bound for a condition that should hold at once


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "zart.db")


@pytest.fixture
def store(path: str) -> Iterator[SqliteStore]:
    s = SqliteStore(path)
    s.migrate()
    yield s
    s.close()


def schema(path: str) -> list[tuple[str, str, str, str]]:
    with closing(sqlite3.connect(path)) as conn:
        return sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))


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
    conn = store._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000


@pytest.mark.parametrize(("mode", "level"), [("OFF", 0), ("normal", 1), ("FULL", 2), ("EXTRA", 3)])
def test_synchronous_is_configurable_on_every_thread(path: str, mode: str, level: int) -> None:
    s = SqliteStore(path, synchronous=mode, busy_timeout=2.5)
    got: list[tuple[int, int]] = []

    def probe() -> None:
        conn = s._conn()
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


def test_unopenable_path_raises_store_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "zart.db"
    with pytest.raises(StoreError, match="no-such-dir"):
        SqliteStore(str(missing))
    with pytest.raises(StoreError, match="no-such-dir"):
        connect(f"sqlite:///{missing}")


def test_create_false_refuses_a_missing_file_and_makes_none(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    with pytest.raises(StoreError, match=r"no SQLite database at .*typo\.db.*zart migrate"):
        SqliteStore(str(missing), create=False)
    with pytest.raises(StoreError, match="no SQLite database"):
        connect(f"sqlite:///{missing}?synchronous=NORMAL", create=False)
    assert not missing.exists()
    SqliteStore(str(missing)).migrate()  # the default creates it
    with closing(SqliteStore(str(missing), create=False)) as existing:
        assert existing.list() == []
    with closing(SqliteStore(":memory:", create=False)) as memory:
        memory.migrate()  # nothing on disk to find


def test_a_file_that_is_not_a_database_raises_store_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database, not even close" * 100)
    with pytest.raises(StoreError, match=r"junk\.db"):
        SqliteStore(str(junk))


def test_connections_of_finished_threads_are_closed(store: SqliteStore) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    threads = [threading.Thread(target=store.get, args=("e1",)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gc.collect()
    assert len(store._handles) == 1  # only this thread's


def test_close_then_use_reopens(store: SqliteStore) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    store.close()
    assert store.get("e1").status == r.PENDING


def test_a_forked_child_opens_its_own_connection(store: SqliteStore) -> None:
    # An SQLite connection must not cross a fork: the child's first use of
    # the store opens a new one and leaves the parent's alone.
    store.create(NewExecution(id="e1", task_name="t"), T0)
    parent_conn = store._conn()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        ok = False
        try:
            store.create(NewExecution(id="e2", task_name="t"), T0)
            ok = store._conn() is not parent_conn and store.get("e2").status == r.PENDING
        finally:
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1" and status == 0
    os.close(read)
    assert store._conn() is parent_conn
    assert store.get("e2").status == r.PENDING  # the child's write is in the file


# -- URLs ---------------------------------------------------------------
def test_from_url_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = SqliteStore.from_url("sqlite:///rel.db", synchronous="NORMAL")
    assert s.path == "rel.db" and s.url == "sqlite:///rel.db" and s.synchronous == "NORMAL"
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


def test_memory_url_is_one_database_shared_by_threads() -> None:
    s = SqliteStore.from_url("sqlite:///:memory:")
    assert s.url == "sqlite:///:memory:"
    s.migrate()
    t = threading.Thread(target=s.create, args=(NewExecution(id="e1", task_name="t"), T0))
    t.start()
    t.join()
    assert s.get("e1").task_name == "t"
    got = s.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=5)
    assert [c.record.id for c in got] == ["e1"]
    s.close()


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///", "sqlite://host/x.db", "sqlite:x.db", "sqlite:///?synchronous=OFF"],
)
def test_bad_urls_are_rejected(url: str) -> None:
    with pytest.raises(StoreError, match="SQLite URL"):
        SqliteStore.from_url(url)


def test_url_parameters_set_synchronous_and_busy_timeout(tmp_path: Path) -> None:
    # The only way to reach a `zart worker --db URL` or ZART_DATABASE_URL.
    s = connect(f"sqlite:///{tmp_path / 'q.db'}?synchronous=normal&busy_timeout=2.5")
    assert isinstance(s, SqliteStore) and s.path == str(tmp_path / "q.db")
    conn = s._conn()
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
    s.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.db"]


def test_options_given_to_connect_override_the_url(tmp_path: Path) -> None:
    s = connect(f"sqlite:///{tmp_path / 'q.db'}?synchronous=OFF", synchronous="EXTRA")
    assert s._conn().execute("PRAGMA synchronous").fetchone()[0] == 3  # type: ignore[attr-defined]
    s.close()


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("mode=ro", "unknown parameter 'mode' (it takes synchronous and busy_timeout)"),
        ("password=s3cret", "unknown parameter 'password'"),
        ("synchronous=SOMETIMES", "synchronous must be one of"),
        ("synchronous=OFF&synchronous=FULL", "synchronous is given twice"),
        ("busy_timeout=soon", "busy_timeout must be a number of seconds, got 'soon'"),
        ("busy_timeout=-2", "busy_timeout must be at least 0, got -2.0"),
        ("busy_timeout=nan", "busy_timeout must be finite, got nan"),
        ("junk", "bad query field: 'junk'"),
    ],
)
def test_bad_url_parameters_are_refused_naming_them_and_no_file_is_made(
    tmp_path: Path, query: str, says: str
) -> None:
    # Before, everything after "?" became part of the file name.
    url = f"sqlite:///{tmp_path / 'q.db'}?{query}"
    with pytest.raises(StoreError) as info:
        connect(url)
    message = str(info.value)
    assert message.startswith("bad SQLite URL") and says in message
    assert "s3cret" not in message
    assert list(tmp_path.iterdir()) == []


# -- datetimes ----------------------------------------------------------
def test_datetimes_round_trip_exactly_as_utc(store: SqliteStore) -> None:
    plus2 = timezone(timedelta(hours=2))
    created = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=plus2)
    store.create(NewExecution(id="e1", task_name="t"), created)
    rec = store.get("e1")
    assert rec.created_at == created and rec.created_at.tzinfo == UTC
    assert rec.created_at.microsecond == 123456
    old = datetime(1901, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    store.create(NewExecution(id="e0", task_name="t"), old)
    assert store.get("e0").wake_at == old
    (c,) = store.claim(worker="w", tasks=None, now=old, lease=LEASE, limit=1)
    assert c.record.id == "e0"
    write = RecordWrite(name="nap", kind=r.K_SLEEP, status=r.R_WAITING, seq=1, wake_at=created)
    store.commit(c.lease, Commit(records=(write,)), created)
    assert store.history("e0")[0].wake_at == created


# -- migrations ---------------------------------------------------------
def test_migrate_twice_is_a_no_op(store: SqliteStore, path: str) -> None:
    before = schema(path)
    store.migrate()
    SqliteStore(path).migrate()
    assert schema(path) == before
    assert versions(path) == [v for v, _ in migration_files("sqlite")]


def test_migrated_schema_equals_applying_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = migration_files("sqlite")
    fresh = str(tmp_path / "fresh.db")
    SqliteStore(fresh).migrate()
    stepwise = str(tmp_path / "stepwise.db")
    s = SqliteStore(stepwise)
    for k in range(1, len(files) + 1):
        monkeypatch.setattr(zart.sqlite, "migration_files", lambda _d, k=k: files[:k])
        s.migrate()
    direct = str(tmp_path / "direct.db")
    with closing(sqlite3.connect(direct)) as conn:
        conn.executescript(VERSION_TABLE + ";" + "".join(sql for _, sql in files))
    assert schema(fresh) == schema(stepwise) == schema(direct)
    assert versions(fresh) == versions(stepwise) == [v for v, _ in files]


def test_migrating_a_version_1_file_keeps_its_executions_and_logs(path: str) -> None:
    """Versions 2 and 3 rebuild the log table (WITHOUT ROWID, then keyed by
    execution number and seq): every row comes across, and the execution
    keeps a number its next records are keyed under."""
    (v1,) = [sql for v, sql in migration_files("sqlite") if v == 1]
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(VERSION_TABLE + ";" + v1 + ";INSERT INTO schema_version VALUES (1, 'x')")
        conn.execute(
            "INSERT INTO executions (id, task_name, kind, status, created_at, updated_at, "
            "wake_at, seq, format_version) VALUES ('e1', 't', 'workflow', 'pending', 0, 0, 0, 5, 1)"
        )
        conn.executemany(
            "INSERT INTO steps (execution_id, name, seq, kind, status, result, awaited, "
            "created_at, updated_at) VALUES ('e1', ?, ?, 'step', 'completed', ?, ?, 0, 0)",
            [("b", 2, "20", 1), ("a", 1, "10", 0)],
        )
    store = SqliteStore(path)
    with pytest.raises(SchemaOutdated):
        store.get("e1")
    store.migrate()
    log = store.load("e1")
    assert [(x.name, x.seq, x.result) for x in log.records.values()] == [("a", 1, 10), ("b", 2, 20)]
    assert log.last_seq == 5
    with closing(sqlite3.connect(path)) as conn:
        awaited = conn.execute("SELECT name, awaited FROM steps ORDER BY name").fetchall()
        (ddl,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'steps'").fetchone()
        keys = conn.execute("SELECT key >> 32, key & 4294967295 FROM steps ORDER BY key").fetchall()
    assert awaited == [("a", 0), ("b", 1)] and "key          INTEGER PRIMARY KEY" in ddl
    assert keys == [(1, 1), (1, 2)]
    (c,) = store.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=1)
    store.commit(
        c.lease,
        Commit(records=(RecordWrite(name="c", kind="step", status="completed", seq=6),)),
        T0,
    )
    store.create(NewExecution(id="e2", task_name="t"), T0)
    assert [x.name for x in store.history("e1")] == ["a", "b", "c"]
    with closing(sqlite3.connect(path)) as conn:
        nums = conn.execute("SELECT id, num FROM executions ORDER BY num").fetchall()
    assert nums == [("e1", 1), ("e2", 2)]
    store.close()


def test_a_seq_held_by_another_name_is_refused_and_nothing_written(store: SqliteStore) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    (c,) = store.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=1)

    def write(name: str, seq: int) -> RecordWrite:
        return RecordWrite(name=name, kind=r.K_STEP, status=r.R_COMPLETED, seq=seq, result=seq)

    store.commit(c.lease, Commit(records=(write("a", 1),)), T0)
    with pytest.raises(StoreError, match=r"seq already holds another name .*'b' as seq 1"):
        store.commit(c.lease, Commit(records=(write("b", 1),)), T0)
    with pytest.raises(StoreError, match="seq already holds another name"):
        store.commit(c.lease, Commit(records=(write("c", 2), write("d", 1))), T0)
    with pytest.raises(StoreError, match="seq 0 is outside"):
        store.commit(c.lease, Commit(records=(write("e", 0),)), T0)
    assert [(x.name, x.seq, x.result) for x in store.history("e1")] == [("a", 1, 1)]


def _migrate_in_child(path: str, barrier: Any) -> None:
    barrier.wait(DEADLINE)
    store = SqliteStore(path)
    store.migrate()
    store.create(NewExecution(id=f"from-{os.getpid()}", task_name="t"), T0)
    store.close()


@pytest.mark.slow
def test_concurrent_migrate_from_two_processes(path: str) -> None:
    barrier = SPAWN.Barrier(2)
    run_processes(_migrate_in_child, [(path, barrier), (path, barrier)])
    assert versions(path) == [v for v, _ in migration_files("sqlite")]
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
    assert versions(path) == [v for v, _ in migration_files("sqlite")]


def test_unmigrated_file_raises_schema_outdated(path: str) -> None:
    s = SqliteStore(path)
    with pytest.raises(SchemaOutdated, match="zart migrate") as info:
        s.get("e1")
    assert (info.value.found, info.value.expected) == (0, latest_version("sqlite"))
    with pytest.raises(SchemaOutdated):
        s.create(NewExecution(id="e1", task_name="t"), T0)
    # Once another process migrates, the same instance works.
    SqliteStore(path).migrate()
    s.create(NewExecution(id="e1", task_name="t"), T0)
    assert s.get("e1").status == r.PENDING


def test_empty_version_table_raises_schema_outdated(path: str) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(VERSION_TABLE)
    with pytest.raises(SchemaOutdated):
        SqliteStore(path).list()


def test_older_recorded_version_raises_schema_outdated(
    store: SqliteStore, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    latest = latest_version("sqlite")
    monkeypatch.setattr(zart.sqlite, "latest_version", lambda _d: latest + 1)
    with pytest.raises(SchemaOutdated) as info:
        SqliteStore(path).claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=1)
    assert (info.value.found, info.value.expected) == (latest, latest + 1)


def test_newer_schema_than_the_code_is_refused(store: SqliteStore, path: str) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (9999,))
    other = SqliteStore(path)
    with pytest.raises(StoreError, match="newer") as info:
        other.get("x")
    assert not isinstance(info.value, SchemaOutdated)
    with pytest.raises(StoreError, match="newer"):
        other.migrate()


# -- several processes on one file ----------------------------------------
def _claim_all(path: str, name: str, barrier: Any, out: Any) -> None:
    store = SqliteStore(path)
    barrier.wait(DEADLINE)
    mine: list[tuple[str, int]] = []
    while batch := store.claim(worker=name, tasks=None, now=at(1), lease=LEASE, limit=5):
        for c in batch:
            mine.append((c.record.id, c.lease.token))
            store.load(c.record.id)  # a worker reads the log next, outside any write lock
    out.put((name, mine))
    store.close()


@pytest.mark.slow
def test_two_processes_never_claim_the_same_execution(store: SqliteStore, path: str) -> None:
    for i in range(200):
        store.create(NewExecution(id=f"e{i:03}", task_name="t"), T0)
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


def test_threads_sharing_a_store_never_claim_the_same_execution(store: SqliteStore) -> None:
    for i in range(100):
        store.create(NewExecution(id=f"e{i:03}", task_name="t"), T0)
    got: list[str] = []

    def claim() -> None:
        while batch := store.claim(worker="w", tasks=None, now=at(1), lease=LEASE, limit=3):
            got.extend(c.record.id for c in batch)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(set(got)) == 100


def test_claim_under_takes_only_that_tree(store: SqliteStore) -> None:
    for eid in ("p", "p:c0", "p:c0:g", "px", "p;", "q:p"):
        store.create(NewExecution(id=eid, task_name="t"), T0)
    got = store.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=10, under="p")
    assert sorted(c.record.id for c in got) == ["p", "p:c0", "p:c0:g"]


# -- failures inside a transaction ----------------------------------------
def _claimed(store: SqliteStore) -> r.Claimed:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    (c,) = store.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=1)
    store.commit(
        c.lease,
        Commit(
            records=(RecordWrite(name="a", kind=r.K_STEP, status=r.R_COMPLETED, seq=1, result=1),)
        ),
        T0,
    )
    return c


def _assert_untouched(store: SqliteStore, c: r.Claimed) -> None:
    rec = store.get("e1")
    assert rec.status == r.RUNNING and rec.updated_at == T0 and rec.state is None
    assert [h.name for h in store.history("e1")] == ["a"]
    assert store.list(parent_id="e1") == []
    # The lease still holds and the seq counter did not move.
    write = RecordWrite(name="b", kind=r.K_STEP, status=r.R_COMPLETED, seq=2)
    store.commit(c.lease, Commit(records=(write,)), at(9))
    assert [(h.name, h.seq) for h in store.history("e1")] == [("a", 1), ("b", 2)]


def _big_commit(*records: RecordWrite, outcome: r.Outcome | None = None) -> Commit:
    kid = NewExecution(id="e1:k", task_name="t", parent_id="e1", parent_step="k")
    sched = RecordWrite(name="k", kind=r.K_SCHEDULE, status=r.R_PENDING, seq=2, child_id="e1:k")
    return Commit(records=(sched, *records), children=(kid,), state={"s": 1}, outcome=outcome)


def test_python_error_mid_commit_writes_nothing(store: SqliteStore) -> None:
    c = _claimed(store)
    with pytest.raises(KeyError):  # awaits a record that is not in the log
        store.commit(c.lease, _big_commit(outcome=r.Suspend(children=("k", "nope"))), at(5))
    _assert_untouched(store, c)


def test_database_error_mid_commit_writes_nothing(store: SqliteStore, path: str) -> None:
    c = _claimed(store)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON steps WHEN NEW.name = 'boom' "
            "BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
    boom = RecordWrite(name="boom", kind=r.K_STEP, status=r.R_COMPLETED, seq=3)
    with pytest.raises(StoreError, match="boom"):
        store.commit(c.lease, _big_commit(boom, outcome=r.Complete(output=1)), at(5))
    _assert_untouched(store, c)


def _die_mid_commit(path: str) -> None:
    store = SqliteStore(path)
    (c,) = store.claim(worker="doomed", tasks=None, now=T0, lease=LEASE, limit=1)
    # The process dies with the transaction open, records already written in it.
    zart.sqlite._apply = lambda *_: os._exit(3)
    store.commit(c.lease, _big_commit(outcome=r.Complete(output=1)), at(1))


@pytest.mark.slow
def test_process_dying_mid_commit_writes_nothing(store: SqliteStore, path: str) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    p = SPAWN.Process(target=_die_mid_commit, args=(path,))
    p.start()
    p.join(DEADLINE)
    assert p.exitcode == 3
    rec = store.get("e1")
    assert rec.status == r.RUNNING and rec.state is None  # the claim committed; the rest did not
    assert store.history("e1") == [] and store.list(parent_id="e1") == []
    # The dead process's write lock is gone: its execution can be reclaimed.
    (again,) = store.claim(worker="w", tasks=None, now=at(31), lease=LEASE, limit=1)
    assert store.commit(again.lease, Commit(outcome=r.Complete(output=2)), at(32))
    assert store.get("e1").output == 2


# -- wait -----------------------------------------------------------------
def _waiter(store: SqliteStore) -> threading.Thread:
    t = threading.Thread(target=store.wait, args=(DEADLINE * 2,), daemon=True)
    t.start()
    return t


def test_wait_wakes_on_a_commit_by_another_connection(store: SqliteStore, path: str) -> None:
    other = SqliteStore(path)  # its own connections, as another process would have
    waiter, n = _waiter(store), iter(range(10**6))
    wait_until(
        lambda: not waiter.is_alive(),
        lambda: (
            other.create(NewExecution(id=f"e{next(n)}", task_name="t"), T0),
            waiter.join(0.01),
        ),
    )
    other.close()


def test_wait_wakes_on_a_commit_in_this_process(store: SqliteStore) -> None:
    waiter, n = _waiter(store), iter(range(10**6))
    wait_until(
        lambda: not waiter.is_alive(),
        lambda: (
            store.create(NewExecution(id=f"e{next(n)}", task_name="t"), T0),
            waiter.join(0.01),
        ),
    )


def test_wait_returns_after_its_timeout(store: SqliteStore) -> None:
    store.wait(0)
    store.wait(0.01)
