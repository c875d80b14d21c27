"""The PostgreSQL store (psycopg 3 and psycopg_pool).

How it keeps the store contract (``zart.store``) on a shared database:

- Every execution row carries ``wake_at``, the moment it becomes claimable,
  NULL when nothing can claim it; a partial index over it makes "what is due"
  one index range, and claims take it with ``FOR UPDATE SKIP LOCKED``.
- The execution row is the lock for everything that belongs to it: a commit
  fences on it (status running and same token), and an event offer locks it
  before touching its events, so a suspend, which decides under that same
  lock, never misses its wake-up.
- A finishing child writes only its own row (a thousand children of one
  parent would otherwise queue on the parent's rows): the row keeps what its
  record in the parent's log says, and reading the parent's log joins it
  in. A suspend marks the children it awaits under their row locks, and a
  child the parent awaits wakes it after its commit if none is open any
  more (postgres_sql.WAKE_*), unless it held a later sibling open through
  its commit, which then checks in its place. A worker killed between a
  commit and its check leaves the parent for ``claim`` to find, every
  ``stranded_check_interval`` seconds.
- Pool connections are in autocommit: a single-statement write is its own
  transaction, and a plain step commit is one statement, one round trip,
  sent through libpq's PQexecPrepared (postgres_wire), not psycopg's execute.
  Multi-statement writes are one transaction in pipeline mode: two round
  trips, whatever the number of statements.
- Whatever makes work due now also ``pg_notify``s a channel named after the
  schema and prefix, in the same transaction; ``wait()`` listens to it.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import select
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from . import postgres_sql as q
from . import postgres_wire as wire
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
from .postgres_sql import json_param as _json
from .records import Claimed, Commit, ExecutionRecord, Lease, Log, NewExecution, StepRecord
from .urls import redact

log = logging.getLogger("zart")

T = TypeVar("T")
Conn = psycopg.Connection[tuple[Any, ...]]
Cursor = psycopg.Cursor[tuple[Any, ...]]
Params = dict[str, Any]
# The prepared-statement names of a connection that takes no wired statement
# (its client encoding is not UTF-8); never added to.
_UNWIRED: set[bytes] = set()

CANCEL_ERROR = {"type": "Cancelled", "message": "cancelled"}
# Deadlocks and serialization failures roll the whole transaction back, so
# running it again is safe; they are rare, so a few tries are plenty.
CONFLICT_RETRIES = 5
STRANDED_CHECK_INTERVAL = 30.0  # as long as the default lease: recovery after a crash
_OWN_PARAMS = ("schema", "prefix")
_OPEN_TX = (TransactionStatus.INTRANS, TransactionStatus.INERROR)
# What the server (or psycopg, before sending) refuses in a write's values:
# data exceptions (SQLSTATE class 22, NUL in text included) and program
# limits (class 54). The same write would be refused again.
_REFUSED = (psycopg.DataError, psycopg.errors.ProgramLimitExceeded)


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """The URL without zart's own query parameters, and those parameters."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in pairs if k in _OWN_PARAMS}
    # libpq decodes %20 but not "+": quote spaces the way it reads them.
    rest = urlencode([(k, v) for k, v in pairs if k not in _OWN_PARAMS], quote_via=quote)
    if not parts.scheme:  # a key=value conninfo string: no query to split
        return url, ours
    # Not urlunsplit: it drops the "//" of a URL with no host
    # (postgresql:///db, the local socket), which libpq then cannot read.
    base = f"{parts.scheme}://{parts.netloc}{parts.path}" + (f"?{rest}" if rest else "")
    return base + (f"#{parts.fragment}" if parts.fragment else ""), ours


@contextmanager
def _pipelined(conn: Conn, after: Sequence[tuple[bytes, Params]] = ()) -> Iterator[None]:
    """One transaction in pipeline mode. BEGIN rides along with the first
    statement and COMMIT with the last: two round trips when the block reads
    a result before its end, one when it does not. ``after`` (which the block
    may fill) runs after COMMIT, in the same round trip, each statement in a
    transaction and a snapshot of its own; nothing of it runs when the
    transaction failed."""
    try:
        with conn.pipeline():
            conn.execute(b"BEGIN", prepare=False)
            yield
            conn.execute(b"COMMIT", prepare=False)
            for query, params in after:
                conn.execute(query, params)
    except BaseException:
        if conn.pgconn.transaction_status in _OPEN_TX:
            with suppress(psycopg.Error):
                conn.execute(b"ROLLBACK", prepare=False)
        raise


def _stale(conn: Conn) -> bool:
    # An idle connection has nothing to read unless the server hung up on it
    # (a restart, pg_terminate_backend): a zero-wait poll spots that with no
    # round trip, before a statement is lost on it. (poll, not select: select
    # cannot watch descriptors above 1023.)
    try:
        fd = conn.fileno()
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError, psycopg.Error):
        return True


class PostgresStore:
    """A store in a PostgreSQL database. ``schema`` and ``prefix`` (for table
    names) let several stores share one database without seeing each other."""

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        prefix: str = "",
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float | None = None,
        pool_timeout: float = 30.0,
        application_name: str | None = None,
    ) -> None:
        self.url = url
        base, own = split_url(url)
        # Checked here: psycopg_pool would refuse them only in the first
        # operation, and libpq reads a bad timeout in a URL as none at all.
        min_size = settings.count("min_size", min_size, least=0)
        max_size = settings.count("max_size", max_size, least=max(1, min_size))
        pool_timeout = settings.seconds("pool_timeout", pool_timeout)
        try:
            if connect_timeout is None:  # the URL's, else 10 s
                connect_timeout = _url_seconds(url, base, "connect_timeout", 10.0)
            else:
                connect_timeout = settings.seconds("connect_timeout", connect_timeout)
            self._conninfo = _conninfo(base, connect_timeout, application_name)
        except psycopg.ProgrammingError as exc:  # a URL libpq cannot parse
            raise StoreError(f"bad PostgreSQL URL {redact(url)}: {str(exc).strip()}") from None
        self.schema = schema if schema is not None else own.get("schema") or None
        self.prefix = prefix or own.get("prefix", "")
        if len(self.prefix) > 30:  # identifiers stop at 63 bytes
            raise StoreError(f"table prefix {self.prefix!r} is too long (30 characters at most)")
        self._timeouts = (connect_timeout, pool_timeout)
        self._sizes = (min_size, max_size)
        self._q = {
            name: q.render(getattr(q, name), self.schema, self.prefix)
            for name in dir(q)
            if name.isupper() and not name.startswith("_") and isinstance(getattr(q, name), str)
        }
        scope = hashlib.blake2b(f"{self.schema or ''}\0{self.prefix}".encode(), digest_size=16)
        # Migrations lock the schema, not the prefix: stores of two prefixes
        # sharing a schema would both create it at once, and one would fail.
        schema_scope = hashlib.blake2b(f"{self.schema or ''}".encode(), digest_size=8)
        self._lock_key = int.from_bytes(schema_scope.digest(), "big", signed=True)
        self.channel = f"zart_{scope.hexdigest()[:24]}"
        self._lock = threading.Lock()
        self._pool: ConnectionPool[Conn] | None = None
        self._cursors: weakref.WeakKeyDictionary[Conn, Cursor] = weakref.WeakKeyDictionary()
        # The step commit's statements, by their text (see _write), and what
        # each pooled connection has prepared of them (postgres_wire).
        self._wired = {self._q[name]: wire.Statement(name, self._q[name]) for name in wire.WIRED}
        self._prepared: weakref.WeakKeyDictionary[Conn, set[bytes]] = weakref.WeakKeyDictionary()
        self._wire_on = True
        self._listener = _Listener(self._conninfo, self.channel, redact(url))
        # Seconds between two looks, from claim(), for parents a killed
        # worker left waiting on children that have all finished.
        self.stranded_check_interval = STRANDED_CHECK_INTERVAL
        self._next_stranded_check = 0.0

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresStore:
        """``postgresql://user:pass@host/db?schema=zart&prefix=zart_``: the
        query's ``schema`` and ``prefix`` are zart's (options override them),
        the rest goes to libpq."""
        return cls(url, **options)

    # -- lifecycle ---------------------------------------------------------
    def migrate(self) -> None:
        """Apply the migrations above the recorded version. The advisory lock
        makes workers that start together take turns; the later ones find
        the work done."""
        with self._direct() as conn, conn.transaction():
            conn.execute(self._q["MIGRATION_LOCK"], {"key": self._lock_key})
            if self.schema:
                conn.execute(self._q["CREATE_SCHEMA"])
            conn.execute(self._q["CREATE_VERSION_TABLE"])
            current = conn.execute(self._q["CURRENT_VERSION"]).fetchone()
            latest = latest_version("postgres")
            if current is not None and current[0] > latest:
                raise SchemaNewer(f"PostgreSQL {redact(self.url)}", current[0], latest)
            for version, text in migration_files("postgres"):
                if current is None or version > current[0]:
                    log.info("zart: applying PostgreSQL migration %04d", version)
                    conn.execute(q.render(text, self.schema, self.prefix))
                    conn.execute(self._q["RECORD_VERSION"], {"version": version})

    def close(self) -> None:
        """Close the connections; a later call opens new ones."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        self._listener.close()

    def wait(self, timeout: float) -> None:
        """Block until a notification on this store's channel or ``timeout``.
        The first call (and the first after a lost connection) only starts
        listening and returns at once: anything sent before was not heard."""
        self._listener.wait(timeout)

    @contextmanager
    def _direct(self) -> Iterator[Conn]:
        """A connection outside the pool, its faults raised as StoreError."""
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise self._error("cannot connect to", exc) from exc
        try:
            with conn:
                yield conn
        except psycopg.Error as exc:
            raise self._error("failed on", exc) from exc

    def _ready(self) -> ConnectionPool[Conn]:
        """The pool, opened once the schema is known to be current. The first
        connection is made directly: it fails fast, and with libpq's reason."""
        pool = self._pool
        if pool is not None:
            return pool
        with self._lock:
            if self._pool is None:
                self._check_schema()
                connect_timeout, pool_timeout = self._timeouts
                pool = ConnectionPool(
                    self._conninfo,
                    kwargs={"autocommit": True},
                    min_size=self._sizes[0],
                    max_size=self._sizes[1],
                    timeout=pool_timeout,
                    name=f"zart-{self.channel}",
                    open=False,
                )
                try:
                    pool.open(wait=True, timeout=connect_timeout)
                except PoolTimeout as exc:
                    pool.close()
                    raise self._error("cannot fill its pool for", exc) from exc
                self._pool = pool
            return self._pool

    def _check_schema(self) -> None:
        expected = latest_version("postgres")
        with self._direct() as conn:
            try:
                row = conn.execute(self._q["CURRENT_VERSION"]).fetchone()
                found = row[0] if row else 0
            except psycopg.errors.UndefinedTable:
                found = 0
        if found < expected:
            raise SchemaOutdated(found, expected)
        if found > expected:
            raise SchemaNewer(f"PostgreSQL {redact(self.url)}", found, expected)

    def _error(
        self, what: str, exc: BaseException, kind: type[StoreError] = StoreError
    ) -> StoreError:
        text = str(exc)
        password = urlsplit(self.url).password
        if password:
            text = text.replace(password, "***")
        return kind(f"PostgreSQL store {what} {redact(self.url)}: {text}")

    def _cursor(self, conn: Conn) -> Cursor:
        """The connection's own cursor, made once. ``conn.execute`` makes a
        new cursor per statement, which costs a step commit about as much
        client CPU as adapting all its parameters. One thread at a time
        holds a pooled connection, so its cursor is never shared."""
        cur = self._cursors.get(conn)
        if cur is None or cur.closed:
            cur = self._cursors[conn] = conn.cursor()
        return cur

    def _checkout(self) -> tuple[ConnectionPool[Conn], Conn]:
        """A live pooled connection (and its pool, to give it back to)."""
        pool = self._ready()
        conn = pool.getconn()
        for _ in range(pool.max_size):
            if not _stale(conn):
                break
            conn.close()  # the pool replaces a closed connection when it comes back
            pool.putconn(conn)
            conn = pool.getconn()
        return pool, conn

    def _run(
        self,
        what: str,
        op: Callable[[Conn], T],
        *,
        retry: bool = True,
        reconnecting: Callable[[], None] | None = None,
    ) -> T:
        """Run ``op`` on a pooled connection. A lost connection is retried once
        on a fresh one when ``retry`` (the operation is fenced or read-only, so
        a repeat is harmless), after calling ``reconnecting``; deadlocks and
        serialization failures, which roll the whole transaction back, are
        retried a few times."""
        conflicts = 0
        reconnected = False
        while True:
            try:
                # Not a context manager: this runs once per step commit.
                pool, conn = self._checkout()
                try:
                    return op(conn)
                finally:
                    pool.putconn(conn)
            except psycopg.errors.TransactionRollback as exc:
                conflicts += 1
                if conflicts >= CONFLICT_RETRIES:
                    raise self._error(f"{what} kept conflicting on", exc) from exc
                log.debug("zart: %s conflicted (%s), retrying", what, exc.sqlstate)
            except PoolTimeout as exc:
                raise self._error(f"{what} got no connection to", exc) from exc
            except _REFUSED as exc:
                # Before OperationalError: a program limit (an index row too
                # big for a very long name) is one, and would be retried.
                raise self._error(f"{what} was refused by", exc, WriteRejected) from exc
            except psycopg.OperationalError as exc:
                if not retry or reconnected:
                    raise self._error(f"{what} lost its connection to", exc) from exc
                log.warning("zart: %s lost its connection, retrying: %s", what, exc)
                reconnected = True
                if reconnecting is not None:
                    reconnecting()
            except psycopg.Error as exc:
                raise self._error(f"{what} failed on", exc) from exc

    def _rows(self, what: str, query: str, params: Params) -> builtins.list[tuple[Any, ...]]:
        sql_text = self._q[query]
        return self._run(what, lambda conn: self._cursor(conn).execute(sql_text, params).fetchall())

    # -- executions ----------------------------------------------------------
    def create(self, new: NewExecution, now: datetime) -> ExecutionRecord:
        params = {"channel": self.channel, "now": now, **q.new_params(new)}

        def op(conn: Conn) -> ExecutionRecord:
            row = conn.execute(self._q["CREATE"], params).fetchone()
            if row is not None:
                return q.execution_row(row)
            status = conn.execute(self._q["STATUS_OF"], {"id": new.id}).fetchone()
            raise ExecutionAlreadyExists(new.id, status[0] if status else None)

        # Not retried: had the insert committed before the connection broke,
        # a retry would report our own execution as a duplicate.
        return self._run("create", op, retry=False)

    def claim(
        self,
        *,
        worker: str,
        tasks: Collection[str] | None,
        now: datetime,
        lease: timedelta,
        limit: int,
        under: str | None = None,
    ) -> builtins.list[Claimed]:
        if limit <= 0 or (tasks is not None and not tasks):
            return []
        if time.monotonic() >= self._next_stranded_check:
            self._wake_stranded(now)
        query = "CLAIM" + ("" if tasks is None else "_TASKS") + ("" if under is None else "_UNDER")
        params = {
            "now": now,
            "until": now + lease,
            "worker": worker,
            "limit": limit,
            "tasks": None if tasks is None else builtins.list(tasks),
            "under": under,
        }
        rows = self._rows("claim", query, params)
        return [
            Claimed(
                q.execution_row(row),
                Lease(row[0], row[16], parent_id=row[9]),
                # row[17:19] are due_at and row_order, the claim's order
                Log(records={}, events={}, last_seq=row[19]) if row[20] else None,
            )
            for row in rows
        ]

    def _wake_stranded(self, now: datetime) -> None:
        """The safety net under WAKE_PARENT_OF, which runs after a child's
        commit: a worker killed in between leaves the parent waiting, with
        every awaited child final, until a claimer looks here."""
        self._next_stranded_check = time.monotonic() + self.stranded_check_interval
        ((woke, _),) = self._rows("claim", "WAKE_STRANDED", {"now": now, "channel": self.channel})
        if woke:
            log.warning(
                "zart: woke %d parent(s) whose awaited children had all finished "
                "(a worker stopped between a child's commit and the parent's wake-up)",
                woke,
            )

    def load(self, execution_id: str) -> Log:
        records, events, last_seq = self._read_log(execution_id, "LOAD_ALL")
        return Log(records={x.name: x for x in records}, events=events, last_seq=last_seq)

    def history(self, execution_id: str) -> builtins.list[StepRecord]:
        return self._read_log(execution_id, "LOAD_HISTORY")[0]

    def _read_log(
        self, execution_id: str, query: str
    ) -> tuple[builtins.list[StepRecord], dict[str, Any], int]:
        """The records, the events and the highest seq ever given."""
        rows = self._rows("load", query, {"id": execution_id})
        if not rows or rows[0][0] != 0:
            raise ExecutionNotFound(execution_id)
        records = [q.step_row(row) for row in rows if row[0] == 1]
        events = {row[1]: row[6] for row in rows if row[0] == 2}
        return records, events, max(rows[0][4], *(x.seq for x in records), 0)

    def commit(self, lease: Lease, commit: Commit, now: datetime) -> bool:
        outcome = commit.outcome
        if isinstance(outcome, r.Complete | r.Fail) and not commit.children:
            query, finish = q.commit_params(lease, commit, now, finish=True)
            finish.update(q.finish_params(outcome), parent_id=lease.parent_id)
            return self._finish(lease, query, finish)
        query, params = q.commit_params(lease, commit, now)
        if outcome is not None:
            return self._fenced(lease, lambda conn: self._commit_tx(conn, commit, query, params))
        if commit.children:
            return self._run("commit", lambda conn: self._commit_tx(conn, commit, query, params))

        # The common step commit: one statement in autocommit, one round trip.
        def simple(conn: Conn) -> bool:
            if self._write(conn, query, params) is None:
                raise LeaseLost(lease.execution_id)
            return True

        return self._run("commit", simple)

    def _write(self, conn: Conn, query: str, params: Params) -> tuple[Any, ...] | None:
        """Run an autocommit commit statement, and its upsert twin when it was
        a first write that found its name taken (see COMMIT_STEP_FIRST): its
        unique violation rolled it back whole. The step commit's statements
        go through libpq directly when they can (postgres_wire)."""
        text = self._q[query]
        stmt = self._wired.get(text) if self._wire_on else None
        if stmt is not None:
            answer = self._send(conn, stmt, params)
            if answer is wire.TAKEN and query in q.UPSERT_OF:
                # The twin is wired too (tests/unit/test_postgres_wire.py);
                # should it fall back, psycopg runs the twin alone.
                query = q.UPSERT_OF[query]
                text = self._q[query]
                answer = self._send(conn, self._wired[text], params)
            if answer is not wire.FALLBACK and answer is not wire.TAKEN:
                return answer  # type: ignore[no-any-return]
        cur = self._cursor(conn)
        try:
            return cur.execute(text, params).fetchone()
        except psycopg.errors.UniqueViolation:
            if query not in q.UPSERT_OF:
                raise
            return cur.execute(self._q[q.UPSERT_OF[query]], params).fetchone()

    def _send(self, conn: Conn, stmt: wire.Statement, params: Params) -> Any:
        """``stmt`` through libpq: wire.run's answer, or FALLBACK."""
        values = stmt.encode(params)
        if values is None:
            return wire.FALLBACK
        ready = self._prepared.get(conn)
        if ready is None:
            utf8 = conn.info.encoding == "utf-8"
            ready = self._prepared[conn] = set() if utf8 else _UNWIRED
        if ready is _UNWIRED:
            return wire.FALLBACK
        try:
            return wire.run(conn, stmt, values, ready)
        except wire.Unprepared as exc:
            # Prepared on one server session, run on another: a pooler in
            # transaction mode stands between. psycopg's path for good.
            log.warning(
                "zart: the server forgot statement %s prepared on this connection (is a "
                "transaction-mode pooler in between?); step commits go through psycopg now",
                exc,
            )
            self._wire_on = False
            return wire.FALLBACK

    def _finish(self, lease: Lease, query: str, params: Params) -> bool:
        """Records and a final status in one autocommit statement, then, when
        it says so (a parent awaits this execution, and no sibling was held
        open to check in its place), the parent's wake-up in another (see
        COMMIT_FINISH and WAKE_PARENT_OF). Two round trips cost less client
        CPU than one pipeline with BEGIN and COMMIT around the first. A fence
        that fails runs the wake-up too: on a retry after a lost connection,
        the lost try may have committed and never got to it."""
        wake = {"id": lease.execution_id, "now": params["now"], "channel": self.channel}

        def op(conn: Conn) -> bool:
            fenced = self._write(conn, query, params)
            if fenced is None or fenced[1]:
                self._cursor(conn).execute(self._q["WAKE_PARENT_OF"], wake)
            if fenced is None:
                raise LeaseLost(lease.execution_id)
            return True

        return self._fenced(lease, op)

    def _fenced(self, lease: Lease, op: Callable[[Conn], bool]) -> bool:
        """A commit that ends the lease (an outcome), retried once on a fresh
        connection when the connection is lost. The lost try may have
        committed before the server's answer was lost: then the retry's fence
        finds the lease ended, and what ended it tells which. A claim or a
        cancel moves the token; only the lease holder's own writes take the
        execution out of running and leave the token as it was. (A commit
        that keeps the lease needs none of this: its retry passes the fence
        and writes the same rows again.)"""
        resumed = False

        def reconnecting() -> None:
            nonlocal resumed
            resumed = True

        def attempt(conn: Conn) -> bool:
            try:
                return op(conn)
            except LeaseLost:
                if not resumed:
                    raise
                row = self._cursor(conn).execute(self._q["STATUS_OF"], {"id": lease.execution_id})
                found = row.fetchone()
                if found is None or found[0] == r.RUNNING or found[1] != lease.token:
                    raise
                log.info(
                    "zart: the commit to %s landed before its connection was lost",
                    lease.execution_id,
                )
                return True

        return self._run("commit", attempt, reconnecting=reconnecting)

    def _commit_tx(self, conn: Conn, commit: Commit, query: str, params: Params) -> bool:
        """Fence and all: one pipeline, one round trip. Every statement after the
        fence writes only while the lease holds (see postgres_sql), so the fence's
        answer can be read after COMMIT: empty means nothing was written."""
        base = {
            "id": params["id"],
            "token": params["token"],
            "now": params["now"],
            "channel": self.channel,
        }
        outcome = commit.outcome
        answer = None
        after: list[tuple[bytes, Params]] = []
        with _pipelined(conn, after):
            fenced = conn.execute(self._q[query], params)
            if commit.children:
                # The children this commit's suspend awaits are marked so as
                # they are inserted (see SUSPEND).
                awaits = set(outcome.children) if isinstance(outcome, r.Suspend) else set()
                kids = [q.new_params(k, k.parent_step in awaits) for k in commit.children]
                columns = {f"{key}s": [k[key] for k in kids] for key in kids[0]}
                conn.execute(self._q["INSERT_CHILDREN"], {**base, **columns})
            if isinstance(outcome, r.Suspend):
                answer = conn.execute(self._q["SUSPEND"], {**base, **q.suspend_params(outcome)})
            elif isinstance(outcome, r.RetryExecution):
                retry = {"wake_at": outcome.wake_at, "error": _json(outcome.error)}
                conn.execute(self._q["RETRY"], {**base, **retry})
            elif outcome is not None:
                conn.execute(self._q["FINISH"], {**base, **q.finish_params(outcome)})
                after.append((self._q["WAKE_PARENT_OF"], base))
        if fenced.fetchone() is None:
            raise LeaseLost(params["id"])
        row = answer.fetchone() if answer is not None else (True,)
        return bool(row and row[0])

    def heartbeat(
        self, leases: Sequence[Lease], now: datetime, lease: timedelta
    ) -> builtins.list[Lease]:
        if not leases:
            return []
        ordered = sorted(leases, key=lambda x: x.execution_id)
        params = {
            "ids": [x.execution_id for x in ordered],
            "tokens": [x.token for x in ordered],
            "until": now + lease,
        }
        held = {(row[0], row[1]) for row in self._rows("heartbeat", "HEARTBEAT", params)}
        return [x for x in leases if (x.execution_id, x.token) not in held]

    def release(self, lease: Lease, now: datetime) -> None:
        params = {"id": lease.execution_id, "token": lease.token, "now": now}
        self._rows("release", "RELEASE", {**params, "channel": self.channel})

    def offer_event(self, execution_id: str, name: str, payload: Any, now: datetime) -> bool:
        params = {
            "id": execution_id,
            "name": name,
            "payload": _json(payload),
            "now": now,
            "final": q.FINAL,
            "channel": self.channel,
        }

        def op(conn: Conn) -> bool:
            with _pipelined(conn):
                locked = conn.execute(self._q["LOCK_EXECUTION"], params)
                offered = conn.execute(self._q["OFFER_EVENT"], params)
            status = locked.fetchone()
            if status is None:
                raise ExecutionNotFound(execution_id)
            if status[0] in r.FINAL_STATUSES:
                raise EventRejected(execution_id, name, status[0])
            row = offered.fetchone()
            return bool(row and row[0])

        # Not retried: a repeat after a lost COMMIT acknowledgement would
        # answer False for the offer that was in fact the first.
        return self._run("offer_event", op, retry=False)

    def cancel(self, execution_id: str, now: datetime) -> bool:
        base = {"id": execution_id, "now": now, "channel": self.channel, "final": q.FINAL}
        values = {"error": _json(CANCEL_ERROR)}

        def op(conn: Conn) -> bool:
            after: list[tuple[bytes, Params]] = []
            with _pipelined(conn, after):
                tree = conn.execute(self._q["LOCK_TREE"], base).fetchall()
                top = next((row for row in tree if row[0] == execution_id), None)
                if top is None:
                    raise ExecutionNotFound(execution_id)
                if top[1] in r.FINAL_STATUSES:
                    return False
                conn.execute(self._q["CASCADE"], {**base, **values})
                if top[2] is not None:
                    after.append((self._q["WAKE_PARENT"], {**base, "parent_id": top[2]}))
            return True

        return self._run("cancel", op, retry=False)

    # -- reads ---------------------------------------------------------------
    def get(self, execution_id: str) -> ExecutionRecord:
        rows = self._rows("get", "GET", {"id": execution_id})
        if not rows:
            raise ExecutionNotFound(execution_id)
        return q.execution_row(rows[0])

    def list(
        self,
        *,
        status: str | None = None,
        task: str | None = None,
        parent_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> builtins.list[ExecutionRecord]:
        params = {
            "status": status,
            "task": task,
            "parent_id": parent_id,
            "limit": limit,
            "offset": offset,
        }
        return [q.execution_row(row) for row in self._rows("list", "LIST", params)]

    def next_wake(self, tasks: Collection[str] | None, under: str | None = None) -> datetime | None:
        if tasks is not None and not tasks:
            return None
        query = "NEXT_WAKE" + ("" if tasks is None else "_TASKS")
        query += "" if under is None else "_UNDER"
        params = {"tasks": None if tasks is None else builtins.list(tasks), "under": under}
        rows = self._rows("next_wake", query, params)
        return rows[0][0] if rows else None

    def unknown_tasks(self, known: Collection[str], now: datetime) -> builtins.list[str]:
        params = {"known": builtins.list(known), "now": now}
        return [row[0] for row in self._rows("unknown_tasks", "UNKNOWN_TASKS", params)]


def _url_seconds(url: str, base: str, name: str, default: float) -> float:
    """The seconds that parameter ``name`` of ``base`` (``url`` without
    zart's own parameters) gives, else ``default``."""
    text = conninfo_to_dict(base).get(name)
    if text is None:
        return default
    try:
        return settings.parse_seconds(name, str(text))
    except ValueError as exc:
        raise StoreError(f"bad PostgreSQL URL {redact(url)}: {exc}") from None


def _conninfo(url: str, connect_timeout: float, application_name: str | None) -> str:
    given = conninfo_to_dict(url)
    # Timestamps come back in UTC (as datetime.timezone.utc), whatever the
    # server's TimeZone, without a SET on every new connection.
    options = f"{given.get('options') or ''} -c TimeZone=UTC".strip()
    return make_conninfo(
        url,
        connect_timeout=max(1, round(connect_timeout)),
        application_name=application_name or given.get("application_name") or "zart",
        options=options,
    )


class _Listener:
    """LISTEN on one connection for every thread of the store that waits.

    One thread at a time blocks in ``notifies()`` (psycopg holds the
    connection's lock there); the others wait on a condition and return with
    it when it hears something. Whenever the connection is (re)opened, what
    was sent while nobody listened is lost, so ``wait`` returns at once: the
    caller's next claim looks for itself.
    """

    def __init__(self, conninfo: str, channel: str, where: str) -> None:
        self._conninfo = conninfo
        self._channel = channel
        self._where = where
        self._cond = threading.Condition()
        self._news = 0  # bumped when anything happened, so waiters see it
        self._busy = False
        self._drop_pending = False
        self._conn: Conn | None = None

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            seen = self._news
            while self._busy and self._news == seen:
                if not self._cond.wait(max(0.0, deadline - time.monotonic())):
                    return
            if self._news != seen:
                return
            self._busy = True
        heard = False
        try:
            heard = self._listen(deadline, seen)
        finally:
            with self._cond:
                self._busy = False
                self._news += heard
                if self._drop_pending:
                    self._drop()
                self._cond.notify_all()

    def _listen(self, deadline: float, seen: int) -> bool:
        if self._conn is None:
            try:
                self._conn = psycopg.connect(self._conninfo, autocommit=True)
                self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            except psycopg.Error as exc:
                log.warning("zart: cannot listen on %s: %s", self._where, exc)
                self._drop()
                # Hold the caller for its timeout rather than let a worker
                # loop spin on connection errors while the server is away.
                with self._cond:
                    while self._news == seen and (left := deadline - time.monotonic()) > 0:
                        self._cond.wait(left)
                return False
            return True
        try:
            remaining = max(0.0, deadline - time.monotonic())
            return any(True for _ in self._conn.notifies(timeout=remaining, stop_after=1))
        except psycopg.Error as exc:
            log.info("zart: listening connection lost, reconnecting next time: %s", exc)
            self._drop()
            return True

    def _drop(self) -> None:
        self._drop_pending = False
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Wake every waiter; close the connection now, or when the thread
        blocked on it returns (closing it under that thread is unsafe)."""
        with self._cond:
            self._news += 1
            self._cond.notify_all()
            if self._busy:
                self._drop_pending = True
            else:
                self._drop()
