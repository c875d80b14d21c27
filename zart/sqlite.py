"""The SQLite store: one database file, shared by threads and processes.

SQLite lets one writer at a time into a file. Every write here is a
``BEGIN IMMEDIATE`` transaction, which takes that write lock before reading
anything, so a claim's select-then-update can never interleave with another
claimer's: the lock is the queue, and no row can be handed out twice. WAL mode
keeps readers running beside the writer; the busy timeout makes a second writer
wait for the lock instead of failing.

A sqlite3 connection must not run two transactions at once, so each thread
gets its own. ``:memory:`` is the exception: every connection to it would be a
separate database, so it has one shared connection behind a lock.

SQLite has no LISTEN/NOTIFY. ``wait`` polls ``PRAGMA data_version``, which
moves when another connection commits, and a condition that this process's
own commits notify, so a waiting worker wakes within a poll slice.

Datetimes are stored as integer microseconds since the epoch: they sort as
numbers and come back as the exact UTC datetime that went in.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii as _encode_str
from typing import Any, NoReturn
from urllib.parse import parse_qsl

import attrs

from . import records as r
from . import settings
from .errors import (
    EventRejected,
    ExecutionAlreadyExists,
    ExecutionNotFound,
    LeaseLost,
    SchemaNewer,
    SchemaOutdated,
    StoreError,
    WriteRejected,
)
from .migrations import latest_version, migration_files
from .records import Claimed, Commit, ExecutionRecord, Lease, Log, NewExecution, StepRecord
from .urls import redact

log = logging.getLogger("zart")
Conn = sqlite3.Connection
# What a failed statement raises: sqlite3's errors, and OverflowError for an
# integer parameter past 64 bits.
_FAILURES = (sqlite3.Error, OverflowError)
_Parent = tuple[str | None, str | None]  # an execution's parent_id and parent_step

SYNC_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
# What a sqlite:/// URL may set after "?", by the constructor's names.
_URL_OPTIONS = ("synchronous", "busy_timeout")
_POLL = 0.05  # the longest ``wait`` sleeps before looking for commits of other processes
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_CANCELLED = {"type": "Cancelled", "message": "cancelled"}

# The table migrate() needs before it can know which migrations to run.
VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)"""

_EXEC_COLS = (
    "id, task_name, kind, status, input, output, error, state, attempt, parent_id, "
    "parent_step, created_at, updated_at, wake_at, waiting_for, format_version"
)
_EXEC_FIELDS = _EXEC_COLS.split(", ")
_STEP_COLS = (
    "seq, name, kind, status, step, result, error, attempts, wake_at, child_id, "
    "created_at, updated_at"
)
_STEP_FIELDS = _STEP_COLS.split(", ")
_JSON_FIELDS = frozenset({"input", "output", "error", "state", "result"})
_TIME_FIELDS = frozenset({"created_at", "updated_at", "wake_at"})
# Numbers only grow (see 0003): a new execution's log lies past every other.
_INSERT_EXEC = """
INSERT INTO executions (id, num, task_name, kind, status, input, parent_id, parent_step,
                        created_at, updated_at, wake_at, format_version)
VALUES (:id, (SELECT coalesce(max(num), 0) + 1 FROM executions), :task_name, :kind,
        'pending', :input, :parent_id, :parent_step, :now, :now, :now, :format_version)
ON CONFLICT (id) DO NOTHING
"""


def _log_of(execution: str) -> str:
    """The key range of an execution's records (see 0003); ``execution`` is
    an SQL expression for its id."""
    return _log_numbered(f"(SELECT num FROM executions WHERE id = {execution})")


def _log_numbered(num: str) -> str:
    """The key range of the records of the execution numbered ``num`` (an SQL expression)."""
    return f"key BETWEEN {num} << 32 AND ({num} << 32) + {_SEQ_LIMIT - 1}"


_SEQ_LIMIT = 1 << 32
# Upsert by key, fenced: the row is selected from the execution only while
# the lease holds, so a lost lease inserts and updates nothing (the commit
# then sees fewer changed rows than it sent, and _refused says why). An
# existing record keeps its seq, created_at and awaited flag, and is updated
# only under its own name. Parameters by number: see _upsert.
_UPSERT_STEP = """
INSERT INTO steps (key, execution_id, seq, name, kind, status, step, result, error, attempts,
                   wake_at, child_id, created_at, updated_at)
SELECT (num << 32) + ?4, id, ?4, ?5, ?6, ?7, ?8, ?9, ?11, ?10, ?12, ?13, ?1, ?1
  FROM executions WHERE id = ?2 AND status = 'running' AND token = ?3
ON CONFLICT (key) DO UPDATE SET
    kind = excluded.kind, status = excluded.status, step = excluded.step,
    result = excluded.result, error = excluded.error, attempts = excluded.attempts,
    wake_at = excluded.wake_at, child_id = excluded.child_id, updated_at = excluded.updated_at
  WHERE name = excluded.name
"""
# The same for a record with no error, wake time or child (every completed
# step): sqlite3 binds a None parameter through its adapter lookup, which
# raises and clears an AttributeError each time, so NULLs go in as literals.
_UPSERT_PLAIN = _UPSERT_STEP.replace("?11", "NULL").replace("?12", "NULL").replace("?13", "NULL")
# The existence check, the log and the events in one read: ``part`` tells them apart.
_LOAD = f"""
SELECT 0 AS part, seq AS ord, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM executions WHERE id = :id
UNION ALL
SELECT 1, seq, name, kind, status, step, result, error, attempts, wake_at, child_id,
       created_at, updated_at
  FROM steps WHERE {_log_of(":id")}
UNION ALL
SELECT 2, rowid, name, NULL, NULL, NULL, payload, NULL, NULL, NULL, NULL, NULL, NULL
  FROM events WHERE execution_id = :id
ORDER BY part, ord
"""
# A finished child counts down its parent's awaited children; the last one
# re-queues the parent. SET expressions all see the row as it was before.
_WAKE_PARENT = f"""
UPDATE executions SET
    awaiting = awaiting - 1,
    status = CASE WHEN awaiting <= 1 THEN 'pending' ELSE status END,
    wake_at = CASE WHEN awaiting <= 1 THEN :now ELSE wake_at END,
    waiting_for = CASE WHEN awaiting <= 1 THEN NULL ELSE waiting_for END
WHERE id = :parent AND status = 'waiting' AND waiting_for = 'children'
  AND EXISTS (SELECT 1 FROM steps
              WHERE {_log_of(":parent")} AND name = :step AND awaited = 1)
"""
# An execution and its unfinished descendants; a final child's subtree is left alone.
_DESCENDANTS = """
WITH RECURSIVE tree (id) AS (
    VALUES (?)
    UNION
    SELECT e.id FROM executions e JOIN tree ON e.parent_id = tree.id
     WHERE e.status NOT IN ('completed', 'failed', 'cancelled')
)
SELECT id FROM tree
"""
_IN_JSON = "IN (SELECT value FROM json_each(?))"


def _us(dt: datetime | None) -> int | None:
    return None if dt is None else (dt - _EPOCH) // _MICROSECOND


def _dt(us: int | None) -> datetime | None:
    return None if us is None else _EPOCH + timedelta(microseconds=us)


def _dump(value: Any) -> str | None:
    if value is None:
        return None
    kind = type(value)
    if kind is int:
        return int.__repr__(value)  # as json.dumps writes it, without its encoder
    if kind is str:
        return _encode_str(value)
    return json.dumps(value)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _fields(names: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    """A row as keyword arguments: JSON text parsed, microseconds made datetimes."""
    out = dict(zip(names, row, strict=True))
    for name in _JSON_FIELDS.intersection(out):
        out[name] = _load(out[name])
    for name in _TIME_FIELDS.intersection(out):
        out[name] = _dt(out[name])
    return out


def _execution(row: Sequence[Any]) -> ExecutionRecord:
    return ExecutionRecord(**_fields(_EXEC_FIELDS, row))


def _new_row(new: NewExecution, now: datetime) -> dict[str, Any]:
    row = attrs.asdict(new, recurse=False)
    row.update(input=_dump(new.input), now=_us(now), format_version=r.FORMAT_VERSION)
    return row


def _claimable_filter(
    tasks: Collection[str] | None, under: str | None
) -> tuple[str, tuple[str, ...]]:
    """`` AND ...`` conditions for ``tasks`` and for ``under`` and its
    descendants (claim's arguments), and their parameters."""
    where = ""
    args: tuple[str, ...] = ()
    if tasks is not None:
        where, args = f" AND task_name {_IN_JSON}", (json.dumps(list(tasks)),)
    if under is not None:
        # Descendant ids start with "under:", i.e. lie in [under + ":", under + ";").
        where += " AND (id = ? OR (id >= ? AND id < ?))"
        args += (under, under + ":", under + ";")
    return where, args


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements (execute() runs one at a time, and
    executescript() would commit the migration's transaction)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf
            buf = ""
    if any(ln.strip() and not ln.strip().startswith("--") for ln in buf.splitlines()):
        raise StoreError(f"incomplete SQL statement at the end of a migration: {buf!r}")


# Bumped in a forked child, so that it opens its own connections; cheaper
# per statement than asking os.getpid() (a system call).
_forks = 0


def _forked() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_forked)


class _Handle:
    """Holds a thread's connection. The store keeps only weak references to
    handles, so a connection is closed when its thread ends."""

    __slots__ = ("__weakref__", "conn", "key")

    def __init__(self, conn: Conn, key: tuple[int, int]) -> None:
        self.conn = conn
        self.key = key


class SqliteStore:
    """A store in one SQLite file, safe for many threads and processes."""

    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 30.0,
        create: bool = True,
    ) -> None:
        """``create=False`` refuses a path with no file yet, instead of
        creating an empty database there (for tools that only read or
        write executions: a mistyped path should not leave a file behind)."""
        mode, busy_timeout = self._settings(synchronous, busy_timeout)
        if sqlite3.sqlite_version_info < (3, 35, 0):
            raise StoreError(f"zart needs SQLite 3.35 or newer, found {sqlite3.sqlite_version}")
        self.path = path
        self.url = "sqlite:///" + path
        self.synchronous = mode
        self.busy_timeout = busy_timeout
        self._memory = path == ":memory:"
        self._guard: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self._memory else contextlib.nullcontext()
        )
        self._local = threading.local()
        self._lock = threading.Lock()
        self._handles: weakref.WeakSet[_Handle] = weakref.WeakSet()
        self._shared: _Handle | None = None
        self._generation = 0
        self._changed = threading.Condition()
        self._commits = 0  # this process's commits; wait() watches it
        self._waiters = 0  # threads in wait(): commits skip the notify without any
        self._checked = False
        if not create and not self._memory and not os.path.exists(path):
            raise StoreError(
                f"no SQLite database at {os.path.abspath(path)!r} ({self.url!r}): "
                "create it with zart migrate, or check the path"
            )
        self._conn()  # a path that cannot be opened fails here, not in a worker

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SqliteStore:
        """``sqlite:///relative.db``, ``sqlite:////absolute/path.db`` or
        ``sqlite:///:memory:``, optionally with ``?synchronous=NORMAL`` and
        ``busy_timeout=SECONDS`` (options given here override them): the
        settings reach ``zart worker --db URL`` and ``ZART_DATABASE_URL``."""
        prefix = "sqlite:///"
        path, _, query = url[len(prefix) :].partition("?")
        if not url.startswith(prefix) or not path:
            raise StoreError(
                f"bad SQLite URL {redact(url)!r}: use sqlite:///relative.db, "
                "sqlite:////absolute/path.db or sqlite:///:memory:"
            )
        given: dict[str, Any] = {}
        try:
            for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=True):
                if key not in _URL_OPTIONS:
                    known = " and ".join(_URL_OPTIONS)
                    raise ValueError(f"unknown parameter {key!r} (it takes {known})")
                if key in given:
                    raise ValueError(f"{key} is given twice")
                given[key] = value
            if "busy_timeout" in given:
                text = given["busy_timeout"]
                given["busy_timeout"] = settings.parse_seconds("busy_timeout", text, zero=True)
            # The URL's values are checked here, so that the error names the URL.
            cls._settings(**given)
        except ValueError as exc:
            raise StoreError(f"bad SQLite URL {redact(url)!r}: {exc}") from None
        return cls(path, **{**given, **options})

    @staticmethod
    def _settings(synchronous: Any = "FULL", busy_timeout: Any = 30.0) -> tuple[str, float]:
        """The checked settings: ValueError naming the one that is wrong."""
        mode = synchronous.upper() if isinstance(synchronous, str) else synchronous
        if mode not in SYNC_MODES:
            raise ValueError(f"synchronous must be one of {SYNC_MODES}, not {synchronous!r}")
        return mode, settings.seconds("busy_timeout", busy_timeout, zero=True)

    # -- connections and transactions ------------------------------------
    def _conn(self) -> sqlite3.Connection:
        key = (_forks, self._generation)  # a forked child must not reuse the parent's
        if self._memory:
            with self._lock:
                if self._shared is None or self._shared.key != key:
                    self._shared = _Handle(self._open(), key)
                return self._shared.conn
        handle: _Handle | None = getattr(self._local, "handle", None)
        if handle is None or handle.key != key:
            handle = self._local.handle = _Handle(self._open(), key)
            with self._lock:
                self._handles.add(handle)
        return handle.conn

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {self.url!r}: {exc}") from exc
        try:
            self._set_wal(conn)
            # PRAGMA takes no parameters; the value was checked against SYNC_MODES.
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"cannot use SQLite database {self.url!r}: {exc}") from exc
        return conn

    def _set_wal(self, conn: Conn) -> None:
        """Switch the file to WAL (a no-op once it is). Two connections switching
        a fresh file at once get SQLITE_BUSY at once: the switch upgrades a read
        to a write, and SQLite never runs the busy handler for an upgrade."""
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)
        if mode != "wal" and not self._memory:
            log.warning("SQLite %s: journal_mode is %s, not wal", self.url, mode)

    def close(self) -> None:
        with self._lock:
            handles = [*self._handles, *([self._shared] if self._shared else [])]
            self._handles = weakref.WeakSet()
            self._shared = None
            self._generation += 1
        for handle in handles:
            handle.conn.close()

    @contextlib.contextmanager
    def _tx(
        self, *, write: bool = False, notify: bool = False, check: bool = True
    ) -> Iterator[sqlite3.Connection]:
        """A connection, in a write transaction when ``write``. Any exception
        rolls the transaction back, so a failed operation never half-writes."""
        with self._guard:
            conn = self._conn()
            try:
                if check:
                    self._check_schema(conn)
                if write:
                    conn.execute("BEGIN IMMEDIATE")
                yield conn
                if write:
                    conn.execute("COMMIT")
            except BaseException as exc:
                self._rollback(conn)
                if isinstance(exc, _FAILURES):
                    raise self._error(exc) from exc
                raise
        if notify:
            self._notify()

    def _error(self, exc: BaseException) -> StoreError:
        # A value SQLite will not take (past its length limit, an integer
        # past 64 bits) is refused again on every retry: say so by type.
        refused = isinstance(exc, sqlite3.DataError | OverflowError)
        return (WriteRejected if refused else StoreError)(f"SQLite {self.url!r}: {exc}")

    def _notify(self) -> None:
        # Commits with nobody in wait() skip the lock. A waiter counts itself
        # under the lock before it reads the counter, so a commit that misses
        # it was under way before the wait began; its bump is still seen on
        # the waiter's next check, within _POLL.
        if self._waiters:
            with self._changed:
                self._commits += 1
                self._changed.notify_all()
        else:
            self._commits += 1

    def _rollback(self, conn: Conn) -> None:
        if not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("SQLite %s: rollback failed", self.url)

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            self._waiters += 1
            seen = self._commits
        try:
            version = self._data_version()
            while (left := deadline - time.monotonic()) > 0:
                with self._changed:
                    if self._commits == seen:
                        self._changed.wait(min(left, _POLL))
                    if self._commits != seen:
                        return
                if self._data_version() != version:
                    return
        finally:
            with self._changed:
                self._waiters -= 1

    def _data_version(self) -> int:
        if self._memory:
            return 0  # one connection: every commit is this process's and notifies
        with self._tx(check=False) as conn:
            return int(conn.execute("PRAGMA data_version").fetchone()[0])

    # -- schema ----------------------------------------------------------
    def migrate(self) -> None:
        """Apply the migrations above the recorded version. The IMMEDIATE
        transaction is the lock: a second process waits, then finds nothing to do."""
        files = migration_files("sqlite")
        latest = files[-1][0] if files else 0
        with self._tx(write=True, check=False) as conn:
            conn.execute(VERSION_TABLE)
            found = self._version(conn)
            if found > latest:
                raise SchemaNewer("SQLite", found, latest)
            for version, sql in files:
                if version <= found:
                    continue
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                log.info("SQLite %s: applied migration %04d", self.url, version)
        self._checked = True

    @staticmethod
    def _version(conn: Conn) -> int:
        table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        if table is None:
            return 0
        (found,) = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        return int(found)

    def _check_schema(self, conn: Conn) -> None:
        if self._checked:
            return
        found, expected = self._version(conn), latest_version("sqlite")
        if found > expected:
            raise SchemaNewer("SQLite", found, expected)
        if found < expected:
            raise SchemaOutdated(found, expected)
        self._checked = True

    # -- executions ------------------------------------------------------
    def create(self, new: NewExecution, now: datetime) -> ExecutionRecord:
        with self._tx(write=True, notify=True) as conn:
            rows = conn.execute(
                f"{_INSERT_EXEC} RETURNING {_EXEC_COLS}", _new_row(new, now)
            ).fetchall()
            if not rows:
                (status,) = conn.execute(
                    "SELECT status FROM executions WHERE id = ?", (new.id,)
                ).fetchone()
                raise ExecutionAlreadyExists(new.id, status)
        return _execution(rows[0])

    def claim(
        self,
        *,
        worker: str,
        tasks: Collection[str] | None,
        now: datetime,
        lease: timedelta,
        limit: int,
        under: str | None = None,
    ) -> list[Claimed]:
        if limit <= 0:
            return []
        where, args = _claimable_filter(tasks, under)
        with self._tx(write=True) as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM executions WHERE wake_at <= ?{where} "
                    "ORDER BY wake_at, created_at, rowid LIMIT ?",
                    (_us(now), *args, limit),
                )
            ]
            if not ids:
                return []
            rows = conn.execute(
                "UPDATE executions SET status = 'running', token = token + 1, owner = ?, "
                f"wake_at = ?, waiting_for = NULL, updated_at = ? WHERE id {_IN_JSON} "
                f"RETURNING {_EXEC_COLS}, token, seq, "
                f"NOT EXISTS (SELECT 1 FROM steps WHERE {_log_numbered('executions.num')}) "
                "AND NOT EXISTS (SELECT 1 FROM events v WHERE v.execution_id = executions.id)",
                (worker, _us(now + lease), _us(now), json.dumps(ids)),
            ).fetchall()
        order = {eid: i for i, eid in enumerate(ids)}
        rows.sort(key=lambda row: order[row[0]])
        claimed = []
        for row in rows:
            record = _execution(row[:-3])
            token, seq, empty = row[-3:]
            held = Lease(record.id, token, parent_id=record.parent_id)
            empty_log = Log(records={}, events={}, last_seq=seq) if empty else None
            claimed.append(Claimed(record, held, empty_log))
        return claimed

    def load(self, execution_id: str) -> Log:
        with self._tx() as conn:
            rows = conn.execute(_LOAD, {"id": execution_id}).fetchall()
        if not rows or rows[0][0] != 0:
            raise ExecutionNotFound(execution_id)
        steps = [StepRecord(**_fields(_STEP_FIELDS, row[1:])) for row in rows if row[0] == 1]
        records = {step.name: step for step in steps}
        events = {row[2]: _load(row[6]) for row in rows if row[0] == 2}
        last_seq = max(rows[0][1], *(step.seq for step in steps), 0)
        return Log(records=records, events=events, last_seq=last_seq)

    def commit(self, lease: Lease, commit: Commit, now: datetime) -> bool:
        records = commit.records
        # (state is UNSET: has_state, without a property call on every step)
        one = len(records) == 1 and commit.outcome is None and commit.state is r.UNSET
        if one and not commit.children:
            # The common step commit: one statement in autocommit mode. A
            # writing statement takes the write lock before it reads, so the
            # fence it folds in and its upsert are one atomic transaction, as
            # under BEGIN IMMEDIATE, at a third of the statements.
            if self._memory:  # one connection shared by threads
                with self._guard:
                    self._upsert_step(lease, records[0], now)
            else:  # a connection per thread: no nullcontext on the hottest path
                self._upsert_step(lease, records[0], now)
            self._notify()
            return True
        eid = lease.execution_id
        with self._tx(write=True, notify=True) as conn:
            # BEGIN IMMEDIATE holds the write lock, so no claim or cancel can
            # move the token between these fences and COMMIT: a read is fence
            # enough, and the common step commit writes the log row alone.
            if commit.records:
                _write_records(conn, lease, commit.records, now)
            parent: _Parent = (None, None)
            if commit.children or commit.has_state or commit.outcome is not None:
                fenced = conn.execute(
                    "SELECT parent_id, parent_step FROM executions "
                    "WHERE id = ? AND status = 'running' AND token = ?",
                    (eid, lease.token),
                ).fetchone()
                if fenced is None:
                    raise LeaseLost(eid)
                parent = fenced
            if commit.children:
                conn.executemany(_INSERT_EXEC, [_new_row(c, now) for c in commit.children])
            if commit.has_state:
                conn.execute(
                    "UPDATE executions SET state = ? WHERE id = ?", (_dump(commit.state), eid)
                )
            if commit.outcome is None:
                return True
            return _apply(conn, eid, parent, commit.outcome, now)

    def _upsert_step(self, lease: Lease, write: r.RecordWrite, now: datetime) -> None:
        conn = self._conn()
        if not self._checked:
            self._check_schema(conn)
        try:
            if conn.execute(*_upsert(lease, write, now)).rowcount != 1:
                _refused(conn, lease, [write])
        except _FAILURES as exc:
            raise self._error(exc) from exc

    def heartbeat(self, leases: Sequence[Lease], now: datetime, lease: timedelta) -> list[Lease]:
        if not leases:
            return []
        lost = []
        with self._tx(write=True) as conn:
            for held in leases:
                cur = conn.execute(
                    "UPDATE executions SET wake_at = ? "
                    "WHERE id = ? AND status = 'running' AND token = ?",
                    (_us(now + lease), held.execution_id, held.token),
                )
                if cur.rowcount == 0:
                    lost.append(held)
        return lost

    def release(self, lease: Lease, now: datetime) -> None:
        with self._tx(write=True, notify=True) as conn:
            conn.execute(
                "UPDATE executions SET status = 'pending', wake_at = ?, owner = NULL, "
                "updated_at = ? WHERE id = ? AND status = 'running' AND token = ?",
                (_us(now), _us(now), lease.execution_id, lease.token),
            )

    def offer_event(self, execution_id: str, name: str, payload: Any, now: datetime) -> bool:
        with self._tx(write=True, notify=True) as conn:
            status = _status(conn, execution_id)
            if status in r.FINAL_STATUSES:
                raise EventRejected(execution_id, name, status)
            cur = conn.execute(
                "INSERT INTO events (execution_id, name, payload, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (execution_id, name) DO NOTHING",
                (execution_id, name, _dump(payload), _us(now)),
            )
            if cur.rowcount == 0:
                return False  # the first payload offered under a name wins
            conn.execute(
                "UPDATE executions SET status = 'pending', wake_at = ?, waiting_for = NULL, "
                "updated_at = ? WHERE id = ? AND status = 'waiting' AND waiting_for = ?",
                (_us(now), _us(now), execution_id, name),
            )
            return True

    def cancel(self, execution_id: str, now: datetime) -> bool:
        error = _dump(_CANCELLED)
        with self._tx(write=True, notify=True) as conn:
            if _status(conn, execution_id) in r.FINAL_STATUSES:
                return False
            ids = [row[0] for row in conn.execute(_DESCENDANTS, (execution_id,))]
            # token + 1 voids any lease held on them.
            parents = conn.execute(
                "UPDATE executions SET status = 'cancelled', token = token + 1, owner = NULL, "
                "wake_at = NULL, waiting_for = NULL, output = NULL, error = ?, updated_at = ? "
                f"WHERE id {_IN_JSON} RETURNING parent_id, parent_step",
                (error, _us(now), json.dumps(ids)),
            ).fetchall()
            pairs = [(p, s) for p, s in parents if p is not None and s is not None]
            _to_parents(conn, pairs, r.R_CANCELLED, None, error, now)
            return True

    # -- reads -----------------------------------------------------------
    def get(self, execution_id: str) -> ExecutionRecord:
        with self._tx() as conn:
            row = conn.execute(
                f"SELECT {_EXEC_COLS} FROM executions WHERE id = ?", (execution_id,)
            ).fetchone()
        if row is None:
            raise ExecutionNotFound(execution_id)
        return _execution(row)

    def history(self, execution_id: str) -> list[StepRecord]:
        return list(self.load(execution_id).records.values())

    def next_wake(self, tasks: Collection[str] | None, under: str | None = None) -> datetime | None:
        where, args = _claimable_filter(tasks, under)
        with self._tx() as conn:
            (wake,) = conn.execute(
                f"SELECT min(wake_at) FROM executions WHERE wake_at IS NOT NULL{where}", args
            ).fetchone()
        return _dt(wake)

    def unknown_tasks(self, known: Collection[str], now: datetime) -> list[str]:
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT DISTINCT task_name FROM executions "
                f"WHERE wake_at <= ? AND task_name NOT {_IN_JSON} ORDER BY task_name",
                (_us(now), json.dumps(list(known))),
            ).fetchall()
        return [row[0] for row in rows]

    def list(
        self,
        *,
        status: str | None = None,
        task: str | None = None,
        parent_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[ExecutionRecord]:
        filters = {"status": status, "task_name": task, "parent_id": parent_id}
        used = {k: v for k, v in filters.items() if v is not None}
        where = " AND ".join(f"{column} = ?" for column in used) or "1"
        with self._tx() as conn:
            rows = conn.execute(
                f"SELECT {_EXEC_COLS} FROM executions WHERE {where} "
                "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
                (*used.values(), max(limit, 0), max(offset, 0)),
            ).fetchall()
        return [_execution(row) for row in rows]


# -- the steps of a commit, inside its transaction ------------------------
def _status(conn: Conn, execution_id: str) -> str:
    row = conn.execute("SELECT status FROM executions WHERE id = ?", (execution_id,)).fetchone()
    if row is None:
        raise ExecutionNotFound(execution_id)
    return str(row[0])


def _write_records(
    conn: Conn, lease: Lease, writes: Sequence[r.RecordWrite], now: datetime
) -> None:
    """Upsert the records while the lease holds (see _refused for when not)."""
    if len(writes) == 1:  # execute() costs less than executemany()
        changed = conn.execute(*_upsert(lease, writes[0], now)).rowcount
    else:
        # One statement for all, in order: a commit may write a name twice.
        rows = [_upsert(lease, w, now, full=True)[1] for w in writes]
        changed = conn.executemany(_UPSERT_STEP, rows).rowcount
    if changed != len(writes):
        _refused(conn, lease, writes)


def _refused(conn: Conn, lease: Lease, writes: Sequence[r.RecordWrite]) -> NoReturn:
    """Why an upsert changed fewer rows than it was sent: the lease is lost,
    or a record's seq already holds another name. The second is a bug
    upstream, and a record is never overwritten under another name."""
    eid = lease.execution_id
    held = conn.execute(
        "SELECT 1 FROM executions WHERE id = ? AND status = 'running' AND token = ?",
        (eid, lease.token),
    ).fetchone()
    if held is None:
        raise LeaseLost(eid)
    sent = ", ".join(f"{w.name!r} as seq {w.seq}" for w in writes)
    raise WriteRejected(
        f"execution {eid!r}: a record's seq already holds another name (writing {sent}); "
        "nothing was written"
    )


def _upsert(
    lease: Lease, w: r.RecordWrite, now: datetime, *, full: bool = False
) -> tuple[str, tuple[Any, ...]]:
    """The statement that upserts ``w`` while the lease holds, and its
    parameters in ?1..?13 order: _UPSERT_PLAIN, without the last three, for
    a plain record unless ``full``."""
    if not 0 < w.seq < _SEQ_LIMIT:
        raise WriteRejected(f"record {w.name!r}: seq {w.seq} is outside 1..{_SEQ_LIMIT - 1}")
    head = (
        (now - _EPOCH) // _MICROSECOND,  # _us(now), without its call
        lease.execution_id,
        lease.token,
        w.seq,
        w.name,
        w.kind,
        w.status,
        w.step,
        _dump(w.result),
        w.attempts,
    )
    if not full and w.error is None and w.wake_at is None and w.child_id is None:
        return _UPSERT_PLAIN, head
    return _UPSERT_STEP, (*head, _dump(w.error), _us(w.wake_at), w.child_id)


def _apply(conn: Conn, eid: str, parent: _Parent, outcome: r.Outcome, now: datetime) -> bool:
    if isinstance(outcome, r.Suspend):
        return _suspend(conn, eid, outcome, now)
    if isinstance(outcome, r.Complete):
        _finish(conn, eid, parent, r.COMPLETED, r.R_COMPLETED, now, output=_dump(outcome.output))
    elif isinstance(outcome, r.Fail):
        rec_status = r.R_ERROR if outcome.business else r.R_FAILED
        _finish(conn, eid, parent, r.FAILED, rec_status, now, error=_dump(outcome.error))
    else:
        # Failed steps run afresh on the next attempt; their names get new
        # seqs, above the highest given so far, which the execution keeps.
        conn.execute(
            "UPDATE executions SET status = 'pending', wake_at = ?1, attempt = attempt + 1, "
            "error = ?2, owner = NULL, updated_at = ?3, "
            f"seq = max(seq, (SELECT coalesce(max(seq), 0) FROM steps WHERE {_log_of('?4')})) "
            "WHERE id = ?4",
            (_us(outcome.wake_at), _dump(outcome.error), _us(now), eid),
        )
        conn.execute(
            f"DELETE FROM steps WHERE {_log_of('?')} AND kind = 'step' AND status = 'failed'",
            (eid, eid),
        )
    return True


def _suspend(conn: Conn, eid: str, s: r.Suspend, now: datetime) -> bool:
    awaiting = None
    if (
        s.event is not None
        and conn.execute(
            "SELECT 1 FROM events WHERE execution_id = ? AND name = ?", (eid, s.event)
        ).fetchone()
    ):
        awaiting = 0  # the event is here already
    elif s.children:
        awaiting = _await_children(conn, eid, s.children)
    if awaiting == 0:
        conn.execute(
            "UPDATE executions SET status = 'pending', wake_at = ?, owner = NULL, updated_at = ? "
            "WHERE id = ?",
            (_us(now), _us(now), eid),
        )
        return False
    waiting = s.event is not None or bool(s.children)
    waiting_for = s.event if s.event is not None else ("children" if s.children else None)
    conn.execute(
        "UPDATE executions SET status = ?, waiting_for = ?, wake_at = ?, "
        "awaiting = coalesce(?, awaiting), owner = NULL, updated_at = ? WHERE id = ?",
        (
            r.WAITING if waiting else r.SLEEPING,
            waiting_for,
            _us(s.wake_at),
            awaiting,
            _us(now),
            eid,
        ),
    )
    return True


def _await_children(conn: Conn, eid: str, names: Sequence[str]) -> int:
    """Mark the schedule records awaited; return how many are still open."""
    args = (eid, eid, json.dumps(list(names)))
    status = dict(
        conn.execute(
            f"SELECT name, status FROM steps WHERE {_log_of('?')} AND name {_IN_JSON}", args
        ).fetchall()
    )
    missing = [n for n in names if n not in status]
    if missing:
        raise KeyError(f"execution {eid!r} awaits children with no schedule record: {missing}")
    conn.execute(f"UPDATE steps SET awaited = 1 WHERE {_log_of('?')} AND name {_IN_JSON}", args)
    return sum(status[n] not in r.R_FINAL for n in names)


def _finish(
    conn: Conn,
    eid: str,
    parent: _Parent,
    status: str,
    rec_status: str,
    now: datetime,
    *,
    output: str | None = None,
    error: str | None = None,
) -> None:
    conn.execute(
        "UPDATE executions SET status = ?, wake_at = NULL, waiting_for = NULL, updated_at = ?, "
        "output = ?, error = ?, owner = NULL WHERE id = ?",
        (status, _us(now), output, error, eid),
    )
    parent_id, parent_step = parent
    if parent_id is not None and parent_step is not None:
        _to_parents(conn, [(parent_id, parent_step)], rec_status, output, error, now)


def _to_parents(
    conn: Conn,
    pairs: Sequence[tuple[str, str]],
    rec_status: str,
    result: str | None,
    error: str | None,
    now: datetime,
) -> None:
    """Write finished children's outcomes into their parents' schedule records."""
    t = _us(now)
    conn.executemany(
        "UPDATE steps SET status = ?1, result = ?2, error = ?3, updated_at = ?4 "
        f"WHERE {_log_of('?5')} AND name = ?6",
        [(rec_status, result, error, t, p, s) for p, s in pairs],
    )
    conn.executemany(_WAKE_PARENT, [{"now": t, "parent": p, "step": s} for p, s in pairs])
