"""The PostgreSQL store (psycopg 3 and psycopg_pool).

Its statements are in ``queries.sql``, its schema in ``schema.sql``; every
decision about a row comes from ``zart.stores.rules``. How it keeps the
store contract on a shared database:

- Due work is one range of a partial index over ``wake_at``; claims take it
  with ``FOR UPDATE SKIP LOCKED``, so claimers pass each other by.
- The execution row is the lock for everything that belongs to it: a commit
  fences on it (status running and the same token) and holds it to its end;
  an event offer or a message locks it before touching what it adds, so a
  suspend, which decides under the same lock, never misses its wake-up.
- A step commit is one statement; a run's last commit (records, state and
  its outcome) is one statement; anything else is one transaction in
  pipeline mode, reading what its rules need halfway.
- A finishing child writes only its own row; when its parent awaits it, a
  statement of its own, after its commit, wakes the parent if no awaited
  sibling is open any more. A worker killed between the two leaves the
  parent for ``wake_stranded``, which workers run now and then.
- Whatever makes work due now also notifies the store's channel in the
  same transaction; ``wait()`` listens to it.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import time
import weakref
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import pq
from psycopg.types.json import Json

from ... import records as r
from ... import settings
from ...clock import checked_clock
from ...errors import (
    ExecutionAlreadyExists,
    ExecutionNotFound,
    SchemaNewer,
    SchemaOutdated,
    StoreError,
)
from ...records import Claimed, Commit, ExecutionRecord, Lease, Log, NewExecution, StepRecord
from ...serde import DEFAULT_MAX_PAYLOAD, dumps
from .. import rows, rules, sqlfiles
from ..connect import redact
from ..serverclock import ServerClock
from .connection import (
    Conn,
    Pool,
    conninfo,
    render,
    split_url,
    transaction,
    url_seconds,
)
from .listen import Listener
from .schedules import PostgresSchedules
from .workers import PostgresWorkers

log = logging.getLogger("zart")
PACKAGE = "zart.stores.postgres"
FINAL = sorted(r.FINAL_STATUSES)
# Columns a claim returns after the execution's: its lease token, the last
# seq its log gave, its creation order, when it was due, the server's time.
_TOKEN, _SEQ, _ORDER, _DUE_AT, _SERVER_TIME, _HAS_LOG = range(
    len(rows.EXECUTION_COLUMNS), len(rows.EXECUTION_COLUMNS) + 6
)
_CREATED_AT = rows.EXECUTION_COLUMNS.index("created_at")
# Statements planned for their values at every run, never prepared. psycopg
# prepares a statement after five runs, and the server may then keep one
# generic plan for any values: for a listing by task that is a walk of
# executions_created newest first, filtering on the task, which a rare
# task pays with a walk of the whole table. A listing is rare enough that
# planning it each time costs nothing.
PLANNED_EACH_TIME = frozenset(
    {
        "list_by_status",
        "list_by_task",
        "list_by_status_and_task",
        "list_by_parent",
        "list_by_search",
        "counts_of_task",
    }
)
_CLAIMS = {
    (False, False): "claim",
    (True, False): "claim_of_tasks",
    (False, True): "claim_in_tree",
    (True, True): "claim_of_tasks_in_tree",
}


def _json(value: Any) -> Json | None:
    """A document for a json parameter (a json column keeps the text given)."""
    return None if value is None else Json(value, dumps=dumps)


def _same(when: Any) -> Any:
    return when


def _record(row: Sequence[Any]) -> ExecutionRecord:
    return rows.execution(row, _same)


class PostgresStore(PostgresSchedules, PostgresWorkers):
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
        max_payload: int | None = DEFAULT_MAX_PAYLOAD,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``clock``: a clock to use instead of the server's (tests)."""
        self.url = url
        base, own = split_url(url)
        # Checked here: psycopg_pool would refuse them only in the first
        # operation, and libpq reads a bad timeout in a URL as none at all.
        min_size = settings.count("min_size", min_size, least=0)
        max_size = settings.count("max_size", max_size, least=max(1, min_size))
        pool_timeout = settings.seconds("pool_timeout", pool_timeout)
        if connect_timeout is not None:  # given, not the URL's: a ValueError like the others
            connect_timeout = settings.seconds("connect_timeout", connect_timeout)
        try:
            if connect_timeout is None:  # the URL's, else 10 s
                connect_timeout = url_seconds(url, base, "connect_timeout", 10.0)
            info = conninfo(base, connect_timeout, application_name)
            if "max_payload" in own:
                max_payload = settings.parse_count("max_payload", own["max_payload"], least=1)
        except (psycopg.ProgrammingError, ValueError) as exc:  # a URL libpq cannot parse
            raise StoreError(f"bad PostgreSQL URL {redact(url)}: {str(exc).strip()}") from None
        self._name_tables(
            schema if schema is not None else own.get("schema") or None,
            prefix or own.get("prefix", ""),
        )
        self.max_payload = settings.payload_limit(max_payload)
        self._pool = Pool(
            info, url, (min_size, max_size), (connect_timeout, pool_timeout), f"zart-{self.channel}"
        )
        self._listener = Listener(info, self.channel, redact(url))
        self._cursors: weakref.WeakKeyDictionary[Conn, psycopg.Cursor[Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._given_clock = None if clock is None else checked_clock(clock, "PostgresStore")
        self._server_clock = ServerClock(redact(url))

    def _name_tables(self, schema: str | None, prefix: str) -> None:
        """Where the tables live: the statements rendered for them, the
        migration lock, and the channel notifications go to."""
        if len(prefix) > 30:  # identifiers stop at 63 bytes
            raise StoreError(f"table prefix {prefix!r} is too long (30 characters at most)")
        self.schema, self.prefix = schema, prefix
        self.table_name = render("{executions}", schema, prefix).decode()
        self._q = {
            name: render(text, schema, prefix) for name, text in sqlfiles.queries(PACKAGE).items()
        }
        scope = hashlib.blake2b(f"{schema or ''}\0{prefix}".encode(), digest_size=16)
        # Migrations lock the schema, not the prefix: stores of two prefixes
        # sharing a schema would both create it at once, and one would fail.
        schema_scope = hashlib.blake2b(f"{schema or ''}".encode(), digest_size=8)
        self._lock_key = int.from_bytes(schema_scope.digest(), "big", signed=True)
        self.channel = f"zart_{scope.hexdigest()[:24]}"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresStore:
        """``postgresql://user:pass@host/db?schema=zart&prefix=zart_``: the
        query's ``schema``, ``prefix`` and ``max_payload`` are zart's
        (options override them), the rest goes to libpq."""
        return cls(url, **options)

    # -- lifecycle ---------------------------------------------------------
    def migrate(self) -> None:
        """A new schema gets schema.sql; an older one the migrations above its
        version. The advisory lock makes workers that start together take
        turns; the later ones find the work done."""
        latest = sqlfiles.latest_version(PACKAGE)
        with self._pool.direct() as conn, conn.transaction():
            self._exec(conn, "migration_lock", {"key": self._lock_key})
            if self.schema:
                self._exec(conn, "create_schema", {})
            self._exec(conn, "version_table", {})
            found = self._answer(conn, "current_version", {})[0]
            if found > latest:
                raise SchemaNewer(f"PostgreSQL {redact(self.url)}", found, latest)
            if found == 0 and not self._has_tables(conn):
                conn.execute(render(sqlfiles.read(PACKAGE, "schema.sql"), self.schema, self.prefix))
                self._exec(conn, "record_version", {"version": latest})
                log.info("zart: created the PostgreSQL schema (version %d)", latest)
                found = latest
            for version, text in sqlfiles.migrations(PACKAGE):
                if version > found:
                    log.info("zart: applying PostgreSQL migration %04d", version)
                    conn.execute(render(text, self.schema, self.prefix))
                    self._exec(conn, "record_version", {"version": version})

    def _has_tables(self, conn: Conn) -> bool:
        table = (
            f"{self.schema}.{self.prefix}executions" if self.schema else f"{self.prefix}executions"
        )
        quoted = ".".join(f'"{part}"' for part in table.split("."))
        return bool(self._answer(conn, "has_executions_table", {"table": quoted})[0])

    def _check_schema(self) -> None:
        """Before the pool opens: the schema must be this code's."""
        expected = sqlfiles.latest_version(PACKAGE)
        with self._pool.direct() as conn:
            try:
                found = self._answer(conn, "current_version", {})[0]
            except psycopg.errors.UndefinedTable:
                found = 0
            except psycopg.Error as exc:
                raise self._pool.error("failed on", exc) from exc
            if found == expected and self._given_clock is None:
                sent = time.monotonic()
                self._server_clock.read(self._answer(conn, "server_time", {})[0], sent)
        if found < expected:
            raise SchemaOutdated(found, expected)
        if found > expected:
            raise SchemaNewer(f"PostgreSQL {redact(self.url)}", found, expected)

    def close(self) -> None:
        """Close the connections; a later call opens new ones."""
        self._pool.close()
        self._listener.close()

    def wait(self, timeout: float) -> None:
        """Block until a notification on this store's channel or ``timeout``."""
        self._listener.wait(timeout)

    def now(self) -> datetime:
        if self._given_clock is not None:
            return self._given_clock()
        if not self._server_clock.known:
            self._pool.ready(self._check_schema)
        return self._server_clock.now()

    # -- running statements -------------------------------------------------
    def _exec(self, conn: Conn, name: str, params: dict[str, Any]) -> psycopg.Cursor[Any]:
        """Run the named statement (every statement goes through here).

        Outside a pipeline it runs on the connection's own cursor, made
        once: a cursor per statement costs more client CPU than the rest of
        a step commit's round trip. In a pipeline each statement needs a
        cursor of its own, which holds its results until they are read."""
        prepare = False if name in PLANNED_EACH_TIME else None
        if conn.pgconn.pipeline_status != pq.PipelineStatus.OFF:
            return conn.execute(self._q[name], params, prepare=prepare)
        cursor = self._cursors.get(conn)
        if cursor is None or cursor.closed:
            cursor = self._cursors[conn] = conn.cursor()
        return cursor.execute(self._q[name], params, prepare=prepare)

    def _answer(self, conn: Conn, name: str, params: dict[str, Any]) -> tuple[Any, ...]:
        """The one row a statement always answers with."""
        row: tuple[Any, ...] | None = self._exec(conn, name, params).fetchone()
        if row is None:
            raise StoreError(f"PostgreSQL {redact(self.url)}: {name} answered no row")
        return row

    def _run(self, what: str, op: Callable[[Conn], Any], **options: Any) -> Any:
        return self._pool.run(what, op, self._check_schema, **options)

    def _one(self, name: str, params: dict[str, Any]) -> Any:
        return self._run(name, lambda conn: self._exec(conn, name, params).fetchone())

    def _all(self, name: str, params: dict[str, Any]) -> builtins.list[Any]:
        return self._run(name, lambda conn: self._exec(conn, name, params).fetchall())  # type: ignore[no-any-return]

    def _base(self, **more: Any) -> dict[str, Any]:
        return {"now": self.now(), "channel": self.channel, "final": FINAL, **more}

    # -- creating and claiming -----------------------------------------------
    def create(self, new: NewExecution) -> ExecutionRecord:
        params = self._base(**_new(new))

        def op(conn: Conn) -> ExecutionRecord:
            row = self._exec(conn, "create", params).fetchone()
            if row is None:
                status = self._exec(conn, "status_of", {"id": new.id}).fetchone()
                raise ExecutionAlreadyExists(new.id, status[0] if status else None)
            return _record(row)

        # Not retried: had the insert committed before the connection broke,
        # a retry would report our own execution as a duplicate.
        return self._run("create", op, retry=False)  # type: ignore[no-any-return]

    def create_in(self, connection: Any, new: NewExecution) -> None:
        from .caller_tx import create_in

        create_in(self, connection, new)

    def create_leased(self, new: NewExecution, *, worker: str, lease: timedelta) -> Claimed:
        now = self.now()
        params = {**_new(new), "now": now, "until": now + lease, "worker": worker}

        def op(conn: Conn) -> Claimed:
            row = self._exec(conn, "create_leased", params).fetchone()
            if row is None:
                status = self._exec(conn, "status_of", {"id": new.id}).fetchone()
                raise ExecutionAlreadyExists(new.id, status[0] if status else None)
            held = Lease(execution_id=new.id, token=1)
            return Claimed(record=_record(row), lease=held, log=r.EMPTY_LOG)

        return self._run("create_leased", op, retry=False)  # type: ignore[no-any-return]

    def claim(
        self,
        *,
        worker: str,
        tasks: Collection[str] | None,
        lease: timedelta,
        limit: int,
        under: str | None = None,
    ) -> list[Claimed]:
        if limit <= 0 or (tasks is not None and not tasks):
            return []
        now = self.now()
        params = self._base(
            limit=limit,
            worker=worker,
            until=now + lease,
            tasks=None if tasks is None else builtins.list(tasks),
            under=under,
        )
        query = _CLAIMS[(tasks is not None, under is not None)]

        def op(conn: Conn) -> list[Claimed]:
            sent = time.monotonic()
            taken = self._exec(conn, query, params).fetchall()
            if not taken:
                return []
            if self._given_clock is None:
                self._server_clock.read(taken[0][_SERVER_TIME], sent)
            return self._claimed(conn, taken)

        return self._run("claim", op)  # type: ignore[no-any-return]

    def _claimed(self, conn: Conn, taken: builtins.list[Any]) -> builtins.list[Claimed]:
        """The claims of the rows a claim took, in claim order, with their logs."""
        taken.sort(key=lambda row: (row[_DUE_AT], row[_CREATED_AT], row[_ORDER]))
        records = [_record(row) for row in taken]
        # A new execution (the most claimed) has no log: no read for it.
        logs = self._logs(
            conn,
            [
                (x.id, x.run, row[_SEQ])
                for x, row in zip(records, taken, strict=True)
                if row[_HAS_LOG]
            ],
        )
        for x, row in zip(records, taken, strict=True):
            logs.setdefault(x.id, Log(records={}, events={}, last_seq=row[_SEQ]))
        return [
            Claimed(
                record=x,
                lease=Lease(execution_id=x.id, token=row[_TOKEN]),
                log=logs[x.id],
                due_at=row[_DUE_AT],
            )
            for x, row in zip(records, taken, strict=True)
        ]

    def load(self, execution_id: str, run: int | None = None) -> Log:
        def op(conn: Conn) -> Log:
            head = self._exec(conn, "load_head", {"id": execution_id}).fetchone()
            if head is None:
                raise ExecutionNotFound(execution_id)
            current, seq = head
            return self._logs(conn, [(execution_id, current if run is None else run, seq)])[
                execution_id
            ]

        return self._run("load", op)  # type: ignore[no-any-return]

    def _logs(self, conn: Conn, heads: Sequence[tuple[str, int, int]]) -> dict[str, Log]:
        """The logs of (id, run, last seq) in one round trip."""
        ids = [eid for eid, _, _ in heads]
        if not ids:
            return {}
        with conn.pipeline():
            recs = self._exec(
                conn, "load_records", {"ids": ids, "runs": [run for _, run, _ in heads]}
            )
            events = self._exec(conn, "load_events", {"ids": ids})
            messages = self._exec(conn, "load_messages", {"ids": ids})
        seqs = [(eid, seq) for eid, _, seq in heads]
        return rows.logs(seqs, recs.fetchall(), events.fetchall(), messages.fetchall(), _same)

    # -- committing ------------------------------------------------------------
    def commit(self, lease: Lease, commit: Commit) -> bool:
        from .commit import apply_commit

        return apply_commit(self, lease, commit)

    def heartbeat(self, leases: Sequence[Lease], lease: timedelta) -> builtins.list[Lease]:
        if not leases:
            return []
        ordered = sorted(leases, key=lambda x: x.execution_id)
        params = {
            "ids": [x.execution_id for x in ordered],
            "tokens": [x.token for x in ordered],
            "until": self.now() + lease,
        }
        sent = time.monotonic()
        found = self._all("heartbeat", params)
        if found and self._given_clock is None:
            self._server_clock.read(found[0][2], sent)
        held = {(row[0], row[1]) for row in found}
        return [x for x in leases if (x.execution_id, x.token) not in held]

    def release(self, lease: Lease) -> None:
        self._one("release", self._base(id=lease.execution_id, token=lease.token))

    # -- events, messages, cancel, retry ------------------------------------------
    def offer_event(self, execution_id: str, name: str, payload: Any) -> bool:
        params = self._base(
            id=execution_id, name=name, payload=_json(payload), waiting_for=rules.event_key(name)
        )

        def op(conn: Conn) -> bool:
            with transaction(conn):
                status = self._locked_status(conn, execution_id)
                rules.accepts_event(execution_id, name, status)
                if self._exec(conn, "insert_event", params).fetchone() is None:
                    return False  # the first payload offered under a name wins
                self._exec(conn, "wake_on", params)
            return True

        # Not retried: a repeat after a lost COMMIT acknowledgement would
        # answer False for the offer that was in fact the first.
        return self._run("offer_event", op, retry=False)  # type: ignore[no-any-return]

    def send(
        self, execution_id: str, topic: str, payload: Any, idempotency_key: str | None = None
    ) -> int:
        waiting_for = rules.topic_key(topic)
        params = self._base(id=execution_id, topic=topic, waiting_for=waiting_for)
        params.update(payload=_json(payload), key=idempotency_key)

        def op(conn: Conn) -> int:
            with transaction(conn):
                status = self._locked_status(conn, execution_id)
                if idempotency_key is not None and (
                    sent := self._exec(conn, "message_by_key", params).fetchone()
                ):
                    return rules.sent_before(idempotency_key, topic, sent)
                rules.accepts_message(execution_id, topic, status)
                (message_id,) = self._answer(conn, "insert_message", params)
                self._exec(conn, "wake_on", params)
            return int(message_id)

        # Without a key a send cannot tell a lost answer from a lost send.
        keyed = idempotency_key is not None
        return self._run("send", op, retry=keyed)  # type: ignore[no-any-return]

    def _locked_status(self, conn: Conn, execution_id: str) -> str:
        row = self._exec(conn, "lock_status", {"id": execution_id}).fetchone()
        if row is None:
            raise ExecutionNotFound(execution_id)
        return str(row[0])

    def cancel(self, execution_id: str) -> bool:
        ended = rules.cancelled()
        params = self._base(
            id=execution_id, record_status=ended.record_status, error=_json(ended.error)
        )

        def op(conn: Conn) -> bool:
            parents = []
            with transaction(conn):
                tree = self._exec(conn, "lock_tree", params).fetchall()
                top = next((row for row in tree if row[0] == execution_id), None)
                if top is None:
                    raise ExecutionNotFound(execution_id)
                if top[1] in r.FINAL_STATUSES:
                    return False
                ids = [row[0] for row in tree]
                for parent, awaited in self._exec(
                    conn, "cancel_rows", {**params, "ids": ids}
                ).fetchall():
                    if parent is not None and awaited and parent not in ids:
                        parents.append(parent)
            for parent in parents:
                self._exec(conn, "wake_parent", self._base(parent=parent))
            return True

        return self._run("cancel", op, retry=False)  # type: ignore[no-any-return]

    def retry(self, execution_id: str) -> ExecutionRecord:
        from .commit import rerun

        def op(conn: Conn) -> ExecutionRecord:
            with transaction(conn):
                rerun(self, conn, [execution_id], quiet=False)
                self._exec(conn, "notify", {"channel": self.channel})
            return _record(self._answer(conn, "get", {"id": execution_id}))

        return self._run("retry", op, retry=False)  # type: ignore[no-any-return]

    def fork(self, execution_id: str, from_step: str, new_id: str) -> ExecutionRecord:
        from .fork import fork

        return fork(self, execution_id, from_step, new_id)

    def wake_stranded(self) -> int:
        row = self._one("wake_stranded", self._base())
        return int(row[0]) if row else 0

    # -- reads -----------------------------------------------------------------
    def get(self, execution_id: str) -> ExecutionRecord:
        row = self._one("get", {"id": execution_id})
        if row is None:
            raise ExecutionNotFound(execution_id)
        return _record(row)

    def list(
        self,
        *,
        status: str | None = None,
        task: str | None = None,
        parent_id: str | None = None,
        search: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> builtins.list[ExecutionRecord]:
        query, params = sqlfiles.listing(
            status=status, task=task, parent_id=parent_id, search=search, limit=limit, offset=offset
        )
        return [_record(row) for row in self._all(query, params)]

    def counts(self, task: str | None = None) -> dict[str, int]:
        query, params = ("counts", {}) if task is None else ("counts_of_task", {"task": task})
        return {status: n for status, n in self._all(query, params)}

    def history(self, execution_id: str, run: int | None = None) -> builtins.list[StepRecord]:
        return builtins.list(self.load(execution_id, run).records.values())

    def next_wake(self, tasks: Collection[str] | None, under: str | None = None) -> datetime | None:
        if tasks is not None and not tasks:
            return None
        query = (
            "next_wake" + ("_of_tasks" if tasks is not None else "") + ("_in_tree" if under else "")
        )
        params = {
            "tasks": None if tasks is None else builtins.list(tasks),
            "under": under,
            "final": FINAL,
        }
        row = self._one(query, params)
        return row[0] if row else None

    def unknown_tasks(self, known: Collection[str]) -> builtins.list[str]:
        params = {"known": builtins.list(known), "now": self.now(), "final": FINAL}
        return [row[0] for row in self._all("unknown_tasks", params)]


def _new(new: NewExecution) -> dict[str, Any]:
    """A new execution as the parameters of ``create``."""
    params = rows.new_params(new)
    params["input"] = _json(new.input)
    return params
