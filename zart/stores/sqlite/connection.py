"""SQLite connections: one per thread, WAL, transactions, errors, schema.

SQLite lets one writer at a time into a file. Every multi-statement write
is a ``BEGIN IMMEDIATE`` transaction, which takes that write lock before
reading anything, so a claim's select-then-update never interleaves with
another claimer's: the lock is the queue. A single writing statement takes
the lock before it reads too, so it runs in autocommit. WAL mode keeps
readers running beside the writer; the busy timeout makes a second writer
wait for the lock instead of failing.

A sqlite3 connection must not run two transactions at once, so each thread
gets its own. ``:memory:`` is the exception: every connection to it would be
a separate database, so it has one shared connection behind a lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

from ...errors import SchemaNewer, SchemaOutdated, StoreError, WriteRejected
from .. import sqlfiles

log = logging.getLogger("zart")
Conn = sqlite3.Connection
# What a failed statement raises: sqlite3's errors, and OverflowError for an
# integer parameter past 64 bits.
FAILURES = (sqlite3.Error, OverflowError)
SYNC_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
PACKAGE = "zart.stores.sqlite"
Q = sqlfiles.queries(PACKAGE)

# Bumped in a forked child, so that it opens its own connections; cheaper
# per statement than asking os.getpid() (a system call).
_forks = 0


def _forked() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_forked)


class _Handle:
    """Holds a thread's connection. The pool keeps only weak references to
    handles, so a connection is closed when its thread ends."""

    __slots__ = ("__weakref__", "conn", "key")

    def __init__(self, conn: Conn, key: tuple[int, int]) -> None:
        self.conn = conn
        self.key = key


class Connections:
    """A connection per thread to one SQLite file, and its transactions."""

    def __init__(self, path: str, url: str, synchronous: str, busy_timeout: float) -> None:
        self.path = path
        self.url = url
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.memory = path == ":memory:"
        self.guard: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self.memory else contextlib.nullcontext()
        )
        self._local = threading.local()
        self._lock = threading.Lock()
        self._handles: weakref.WeakSet[_Handle] = weakref.WeakSet()
        self._shared: _Handle | None = None
        self._version: _Handle | None = None
        self._version_lock = threading.Lock()
        self._generation = 0
        self.checked = False

    def get(self) -> Conn:
        key = (_forks, self._generation)  # a forked child must not reuse the parent's
        if self.memory:
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

    def data_version(self, statement: str) -> int:
        """``statement`` (``PRAGMA data_version``) on one connection kept for
        it: the number means something only beside what the same connection
        read before, and a store's waits come from any of its threads."""
        with self._version_lock, self.guard:
            key = (_forks, self._generation)
            handle = self._version
            if handle is None or handle.key != key:
                handle = self._version = _Handle(self.get() if self.memory else self._open(), key)
                with self._lock:
                    self._handles.add(handle)  # closed with the others
            return int(handle.conn.execute(statement).fetchone()[0])

    def _open(self) -> Conn:
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
        if mode != "wal" and not self.memory:
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
    def tx(self, *, write: bool = False, check: bool = True) -> Iterator[Conn]:
        """A connection, in a write transaction when ``write``. Any exception
        rolls the transaction back, so a failed operation never half-writes."""
        with self.guard:
            conn = self.get()
            try:
                if check:
                    self.check_schema(conn)
                if write:
                    conn.execute("BEGIN IMMEDIATE")
                yield conn
                if write:
                    conn.execute("COMMIT")
            except BaseException as exc:
                self._rollback(conn)
                if isinstance(exc, FAILURES):
                    raise self.error(exc) from exc
                raise

    def error(self, exc: BaseException) -> StoreError:
        # A value SQLite will not take (past its length limit, an integer
        # past 64 bits) is refused again on every retry: say so by type.
        refused = isinstance(exc, sqlite3.DataError | OverflowError)
        return (WriteRejected if refused else StoreError)(f"SQLite {self.url!r}: {exc}")

    def _rollback(self, conn: Conn) -> None:
        if not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("SQLite %s: rollback failed", self.url)

    # -- schema --------------------------------------------------------------
    def migrate(self) -> None:
        """A new file gets schema.sql; an older one the migrations above its
        version. The IMMEDIATE transaction is the lock: a second process
        waits, then finds nothing to do."""
        latest = sqlfiles.latest_version(PACKAGE)
        with self.tx(write=True, check=False) as conn:
            conn.execute(Q["version_table"])
            found = self.version(conn)
            if found > latest:
                raise SchemaNewer(f"SQLite {self.url}", found, latest)
            if found == 0 and conn.execute(Q["has_executions_table"]).fetchone() is None:
                for statement in statements(sqlfiles.read(PACKAGE, "schema.sql")):
                    conn.execute(statement)
                conn.execute(Q["record_version"], {"version": latest})
                log.info("SQLite %s: created the schema (version %d)", self.url, latest)
                found = latest
            for version, sql in sqlfiles.migrations(PACKAGE):
                if found < version:
                    for statement in statements(sql):
                        conn.execute(statement)
                    conn.execute(Q["record_version"], {"version": version})
                    log.info("SQLite %s: applied migration %04d", self.url, version)
                    found = version
        self.checked = True

    @staticmethod
    def version(conn: Conn) -> int:
        if conn.execute(Q["has_version_table"]).fetchone() is None:
            return 0
        (found,) = conn.execute(Q["current_version"]).fetchone()
        return int(found)

    def check_schema(self, conn: Conn) -> None:
        if self.checked:
            return
        found, expected = self.version(conn), sqlfiles.latest_version(PACKAGE)
        if found > expected:
            raise SchemaNewer(f"SQLite {self.url}", found, expected)
        if found < expected:
            raise SchemaOutdated(found, expected)
        self.checked = True


def statements(script: str) -> Iterator[str]:
    """Split a script into statements (execute() runs one at a time, and
    executescript() would commit the migration's transaction)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf
            buf = ""
    if any(ln.strip() and not ln.strip().startswith("--") for ln in buf.splitlines()):
        raise StoreError(f"incomplete SQL statement at the end of a script: {buf!r}")
