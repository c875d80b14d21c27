"""The MySQL/MariaDB store (mysqlclient, and a small pool of ours).

Its statements are in ``queries.sql``, its schema in ``schema.sql``; every
decision about a row comes from ``zart.stores.rules``. It needs MySQL 8.0+
or MariaDB 10.6+ (``FOR UPDATE SKIP LOCKED``). How it keeps the store
contract on a shared database:

- Due work is one range of an index over ``wake_at``; claims lock it with
  ``FOR UPDATE SKIP LOCKED`` (READ COMMITTED: the rows, no gaps), so
  claimers pass each other by.
- The execution row is the lock for everything that belongs to it: a
  commit fences on it (status running and the same token, read with a lock)
  and holds it to its end; an event offer or a message locks it before
  touching what it adds, so a suspend, which decides under the same lock,
  never misses its wake-up.
- An operation sends its statements together: a step commit is one
  statement, a run's last commit one round trip, a claim two; what needs a
  rule's answer halfway takes one more.
- A finishing child writes only its own row; the statement that wakes its
  parent runs after its COMMIT (in the same round trip) and wakes it if no
  awaited sibling is open any more. A worker killed between the two leaves
  the parent for ``wake_stranded``, which workers run now and then.
- Whatever makes work due rings the bell after its commit (``wake.py``);
  ``wait()`` blocks on the server until then.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

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
from ...serde import DEFAULT_MAX_PAYLOAD
from .. import rows, rules, sqlfiles
from ..connect import redact
from ..serverclock import ServerClock
from .connection import (
    DUPLICATE_KEY,
    BatchError,
    Conn,
    Database,
    Result,
    errno,
    parse_url,
    render,
    send,
)
from .schedules import MySQLSchedules
from .values import aware as _aware
from .values import naive as _t
from .wake import Listener, Ringer
from .workers import MySQLWorkers

log = logging.getLogger("zart")
PACKAGE = "zart.stores.mysql"
LEAST = {"MariaDB": (10, 6), "MySQL": (8, 0)}  # FOR UPDATE SKIP LOCKED, JSON_TABLE
COLLATIONS = {"MariaDB": "utf8mb4_nopad_bin", "MySQL": "utf8mb4_0900_bin"}
MIGRATION_LOCK_WAIT = 300  # seconds a migration waits for another to finish
_COMMENT_LINE = re.compile(r"^\s*--.*$\n?", re.M)
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")
Steps = list[tuple[str, dict[str, Any] | None]]


# What a claim's rows hold after the execution's columns.
_TOKEN, _SEQ, _SERVER_TIME = range(len(rows.EXECUTION_COLUMNS), len(rows.EXECUTION_COLUMNS) + 3)


def _record(row: Sequence[Any]) -> ExecutionRecord:
    return rows.execution(row, _aware)


def server_kind(version: str) -> tuple[str, tuple[int, ...]]:
    """``SELECT VERSION()`` read: ("MariaDB" or "MySQL", (major, minor, patch))."""
    found = _VERSION.match(version)
    numbers = tuple(int(n or 0) for n in found.groups()) if found else (0, 0, 0)
    return ("MariaDB" if "mariadb" in version.lower() else "MySQL"), numbers


def check_version(version: str, where: str) -> str:
    """The server's kind, or StoreError when it is too old for zart."""
    kind, numbers = server_kind(version)
    if numbers[:2] < LEAST[kind]:
        raise StoreError(
            f"{where} runs {kind} {version}; zart needs MySQL 8.0 or later, or MariaDB 10.6 or "
            "later (claims use FOR UPDATE SKIP LOCKED)"
        )
    return kind


def statements(prefix: str, channel: str) -> dict[str, str]:
    """The store's named statements, rendered for its tables: comment lines
    dropped (several statements travel in one packet, where a trailing
    comment would be a statement of its own) and the final ';' with them."""
    return {
        name: render(_COMMENT_LINE.sub("", text).strip().rstrip(";"), prefix, {"channel": channel})
        for name, text in sqlfiles.queries(PACKAGE).items()
    }


class MySQLStore(MySQLSchedules, MySQLWorkers):
    """A store in a MySQL or MariaDB database. ``prefix`` (for table names)
    lets several stores share one database without seeing each other."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str | None = None,
        max_size: int = 10,
        pool_timeout: float = 30.0,
        connect_timeout: float | None = None,
        max_payload: int | None = DEFAULT_MAX_PAYLOAD,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``clock``: a clock to use instead of the server's (tests)."""
        self.url = url
        max_size = settings.count("max_size", max_size, least=1)
        pool_timeout = settings.seconds("pool_timeout", pool_timeout)
        if connect_timeout is not None:
            connect_timeout = settings.seconds("connect_timeout", connect_timeout)
        try:
            target, own = parse_url(url)
            if "max_payload" in own:
                max_payload = settings.parse_count("max_payload", own["max_payload"], least=1)
        except ValueError as exc:
            raise StoreError(f"bad MySQL URL {redact(url)}: {exc}") from None
        if connect_timeout is not None:
            target = attrs.evolve(target, connect_timeout=connect_timeout)
        self.database = target.database
        self.max_payload = max_payload
        self._name_tables(prefix if prefix is not None else own.get("prefix", ""))
        session = [self._q["session_isolation"], self._q["session_mode"]]
        self._db = Database(target, url, session, (max_size, pool_timeout))
        # Late-bound: a test (or the bench's tracer) that wraps _send sees theirs too.
        send = lambda conn, steps: self._send(conn, steps)  # noqa: E731
        self._listener = Listener(self._db.direct, send, redact(url))
        self._ringer = Ringer(self._run, send, self._q["wait"].partition("*/")[0] + "*/")
        self._given_clock = None if clock is None else checked_clock(clock, "MySQLStore")
        self._server_clock = ServerClock(redact(url))
        self._ready = False
        self._ready_lock = threading.Lock()

    def _name_tables(self, prefix: str) -> None:
        """The statements rendered for the tables, the migration lock's name
        and the wake-up channel (both server-wide: they name the database)."""
        if len(prefix) > 30 or not re.fullmatch(r"\w*", prefix):
            raise StoreError(
                f"table prefix {prefix!r}: use at most 30 letters, digits or underscores"
            )
        self.prefix = prefix
        scope = hashlib.blake2b(f"{self.database}\0{prefix}".encode(), digest_size=12)
        self.channel = f"zart_{scope.hexdigest()}"
        # Migrations lock the database, not the prefix: stores of two
        # prefixes migrating one new database together take turns.
        self._lock_key = (
            "zart-migrate-" + hashlib.blake2b(self.database.encode(), digest_size=12).hexdigest()
        )
        self._q = statements(prefix, self.channel)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MySQLStore:
        """``mysql://user:pass@host:3306/db?prefix=z_&max_payload=BYTES``
        (``mariadb://`` too); options given here override the URL's."""
        return cls(url, **options)

    # -- lifecycle ---------------------------------------------------------
    def migrate(self) -> None:
        """A new database gets schema.sql; an older schema the migrations
        above its version. The server's named lock makes workers that start
        together take turns; the later ones find the work done. (MySQL
        commits each DDL statement at once: a migration is not atomic, and
        one that fails half-way is re-run by hand.)"""
        from .migrate import migrate

        conn = self._db.direct()
        try:
            migrate(self, conn)
        except BatchError as exc:
            raise self._db.error("could not migrate", exc.cause) from exc.cause
        finally:
            conn.close()

    def _check(self) -> None:
        """Before the first operation: the server new enough, the schema
        this code's, and the server's clock read."""
        with self._ready_lock:
            if self._ready:
                return
            expected = sqlfiles.latest_version(PACKAGE)
            conn = self._db.direct()
            try:
                version, found = self._versions(conn)
                if found == expected and self._given_clock is None:
                    sent = time.monotonic()
                    (now,) = self._send(conn, [("server_time", None)])[0].rows[0]
                    self._server_clock.read(now.replace(tzinfo=UTC), sent)
            finally:
                conn.close()
            check_version(version, f"the MySQL server at {redact(self.url)}")
            if found < expected:
                raise SchemaOutdated(found, expected)
            if found > expected:
                raise SchemaNewer(f"MySQL {redact(self.url)}", found, expected)
            self._ready = True

    def _versions(self, conn: Conn) -> tuple[str, int]:
        """The server's version, and the schema's (0: none yet)."""
        (version,) = self._send(conn, [("server_version", None)])[0].rows[0]
        try:
            (found,) = self._send(conn, [("current_version", None)])[0].rows[0]
        except BatchError as exc:
            if errno(exc.cause) != 1146:  # no such table: no schema yet
                raise self._db.error("failed on", exc.cause) from exc.cause
            found = 0
        return str(version), int(found)

    def close(self) -> None:
        """Close the connections; a later call opens new ones."""
        self._ringer.close()
        self._listener.close()
        self._db.close()

    def wait(self, timeout: float) -> None:
        """Block until a ring (of any process) or ``timeout``."""
        self._listener.wait(timeout)

    def _ring(self) -> None:
        """Work may be due now: wake this process's waiters and, through the
        bell, every other's."""
        self._listener.ring()
        self._ringer.ring()

    def now(self) -> datetime:
        if self._given_clock is not None:
            return self._given_clock()
        if not self._ready:
            self._check()
        return self._server_clock.now()

    # -- running statements -------------------------------------------------
    def _send(self, conn: Conn, steps: Steps) -> list[Result]:
        """Run named statements in one round trip (every statement goes
        through here)."""
        return send(conn, [(self._q[name], params) for name, params in steps])

    def _run(self, what: str, op: Callable[[Conn], Any], **options: Any) -> Any:
        if not self._ready:
            self._check()
        return self._db.run(what, op, **options)

    def _do(self, what: str, steps: Steps, **options: Any) -> list[Result]:
        return self._run(what, lambda conn: self._send(conn, steps), **options)  # type: ignore[no-any-return]

    def _rows(self, name: str, params: dict[str, Any] | None) -> tuple[tuple[Any, ...], ...]:
        return self._do(name, [(name, params)])[0].rows

    # -- creating and claiming -----------------------------------------------
    def create(self, new: NewExecution) -> ExecutionRecord:
        now = self.now()
        params = {**rows.new_params(new), "now": _t(now)}
        self._insert(new, "create", params)
        self._ring()
        return _created(new, params, now, r.PENDING, now)

    def create_in(self, connection: Any, new: NewExecution) -> None:
        from .caller_tx import create_in

        create_in(self, connection, new)

    def create_leased(self, new: NewExecution, *, worker: str, lease: timedelta) -> Claimed:
        now = self.now()
        params = {**rows.new_params(new), "now": _t(now), "until": _t(now + lease)}
        params["worker"] = worker
        self._insert(new, "create_leased", params)
        record = _created(new, params, now, r.RUNNING, now + lease)
        return Claimed(record=record, lease=Lease(execution_id=new.id, token=1), log=r.EMPTY_LOG)

    def _insert(self, new: NewExecution, name: str, params: dict[str, Any]) -> None:
        def op(conn: Conn) -> None:
            try:
                self._send(conn, [(name, params)])
            except BatchError as exc:
                if errno(exc.cause) != DUPLICATE_KEY:
                    raise
                found = self._send(conn, [("status_of", {"id": new.id})])[0].first()
                raise ExecutionAlreadyExists(new.id, found[0] if found else None) from None

        # Not retried: had the insert committed before the connection broke,
        # a retry would report our own execution as a duplicate.
        self._run(name, op, retry=False)

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
        due = _due(now, limit, tasks, under)
        take = {"worker": worker, "until": _t(now + lease), "now": _t(now)}

        def op(conn: Conn) -> tuple[list[Claimed], bool]:
            sent = time.monotonic()
            found = self._send(conn, [("begin", None), *due])[1:]
            candidates = sorted(
                (row for result in found for row in result.rows), key=lambda row: row[1:]
            )
            if not candidates:
                self._send(conn, [("rollback", None)])
                return [], False
            chosen = candidates[:limit]
            ids = {"ids": tuple(row[0] for row in chosen)}
            out = self._send(
                conn,
                [
                    ("take", {**take, **ids}),
                    ("taken", ids),
                    ("load_records", ids),
                    ("load_events", ids),
                    ("load_messages", ids),
                    ("commit", None),
                ],
            )
            return self._claimed(chosen, out, sent), len(candidates) > len(chosen)

        claimed, let_go = self._run("claim", op)
        if let_go:  # due rows locked and let go: idle claimers skipped them
            self._ring()
        return claimed  # type: ignore[no-any-return]

    def _claimed(self, chosen: Sequence[Any], out: list[Result], sent: float) -> list[Claimed]:
        taken = {row[0]: row for row in out[1].rows}
        if self._given_clock is None:
            self._server_clock.read(_aware(out[1].rows[0][_SERVER_TIME]) or self.now(), sent)
        heads = [(eid, taken[eid][_SEQ]) for eid, *_ in chosen]
        logs = rows.logs(heads, out[2].rows, out[3].rows, out[4].rows, _aware)
        return [
            Claimed(
                record=_record(taken[eid]),
                lease=Lease(execution_id=eid, token=taken[eid][_TOKEN]),
                log=logs[eid],
                due_at=_aware(due_at),
            )
            for eid, due_at, *_ in chosen
        ]

    def load(self, execution_id: str, run: int | None = None) -> Log:
        one = {"id": execution_id, "ids": (execution_id,), "run": run}
        out = self._do(
            "load",
            [
                ("load_head", one),
                ("load_records" if run is None else "load_run_records", one),
                ("load_events", one),
                ("load_messages", one),
            ],
        )
        head = out[0].first()
        if head is None:
            raise ExecutionNotFound(execution_id)
        return rows.logs([(execution_id, head[1])], out[1].rows, out[2].rows, out[3].rows, _aware)[
            execution_id
        ]

    # -- committing ------------------------------------------------------------
    def commit(self, lease: Lease, commit: Commit) -> bool:
        from .commit import apply_commit

        return apply_commit(self, lease, commit)

    def heartbeat(self, leases: Sequence[Lease], lease: timedelta) -> builtins.list[Lease]:
        if not leases:
            return []
        ordered = sorted(leases, key=lambda x: x.execution_id)
        pairs = {"leases": tuple((x.execution_id, x.token) for x in ordered)}
        sent = time.monotonic()
        until = _t(self.now() + lease)
        held = self._do("heartbeat", [("heartbeat", {**pairs, "until": until}), ("held", pairs)])
        found = held[1].rows
        if found and self._given_clock is None:
            self._server_clock.read(found[0][2].replace(tzinfo=UTC), sent)
        kept = {(row[0], row[1]) for row in found}
        return [x for x in leases if (x.execution_id, x.token) not in kept]

    def release(self, lease: Lease) -> None:
        params = {"id": lease.execution_id, "token": lease.token, "now": _t(self.now())}
        if self._do("release", [("release", params)])[0].rowcount:
            self._ring()

    # -- events, messages, cancel, retry, fork ------------------------------------
    def offer_event(self, execution_id: str, name: str, payload: Any) -> bool:
        params = {
            "id": execution_id,
            "name": name,
            "payload": rows.dump(payload),
            "waiting_for": rules.event_key(name),
            "now": _t(self.now()),
        }

        def op(conn: Conn) -> tuple[bool, bool]:
            status, there = self._locked(conn, execution_id, ("event_there", params))
            rules.accepts_event(execution_id, name, status)
            if there and there[0]:  # the first payload offered under a name wins
                self._send(conn, [("rollback", None)])
                return False, False
            out = self._send(
                conn, [("insert_event", params), ("wake_on", params), ("commit", None)]
            )
            return True, out[1].rowcount > 0

        # Not retried: a repeat after a lost COMMIT acknowledgement would
        # answer False for the offer that was in fact the first.
        offered, woken = self._run("offer_event", op, retry=False)
        if woken:
            self._ring()
        return offered  # type: ignore[no-any-return]

    def send(
        self, execution_id: str, topic: str, payload: Any, idempotency_key: str | None = None
    ) -> int:
        params = {
            "id": execution_id,
            "topic": topic,
            "payload": rows.dump(payload),
            "waiting_for": rules.topic_key(topic),
            "now": _t(self.now()),
            "key": idempotency_key,
        }

        def op(conn: Conn) -> tuple[int, bool]:
            status, sent = self._locked(conn, execution_id, ("message_by_key", params))
            if idempotency_key is not None and sent is not None:
                self._send(conn, [("rollback", None)])
                return rules.sent_before(idempotency_key, topic, sent), False
            rules.accepts_message(execution_id, topic, status)
            out = self._send(
                conn,
                [
                    ("insert_message", params),
                    ("message_id", None),
                    ("wake_on", params),
                    ("commit", None),
                ],
            )
            return int(out[1].rows[0][0]), out[2].rowcount > 0

        # Without a key a send cannot tell a lost answer from a lost send.
        message_id, woken = self._run("send", op, retry=idempotency_key is not None)
        if woken:
            self._ring()
        return message_id  # type: ignore[no-any-return]

    def _locked(self, conn: Conn, execution_id: str, *also: tuple[str, Any]) -> tuple[str, Any]:
        """In a new transaction, the execution's status (its row locked) and
        the first row the statement ``also`` answers (None if none)."""
        out = self._send(conn, [("begin", None), ("lock_status", {"id": execution_id}), *also])
        row, found = out[1].first(), (out[2].first() if also else None)
        if row is None:
            raise ExecutionNotFound(execution_id)
        return str(row[0]), found

    def cancel(self, execution_id: str) -> bool:
        from .commit import cancel

        return cancel(self, execution_id)

    def retry(self, execution_id: str) -> ExecutionRecord:
        from .commit import rerun_steps

        def op(conn: Conn) -> ExecutionRecord:
            steps = rerun_steps(self, conn, [execution_id], quiet=False)
            out = self._send(conn, [*steps, ("get", {"id": execution_id}), ("commit", None)])
            return _record(out[-2].rows[0])

        record = self._run("retry", op, retry=False)
        self._ring()
        return record  # type: ignore[no-any-return]

    def fork(self, execution_id: str, from_step: str, new_id: str) -> ExecutionRecord:
        from .fork import fork

        return fork(self, execution_id, from_step, new_id)

    def wake_stranded(self) -> int:
        woken = self._do("wake_stranded", [("wake_stranded", {"now": _t(self.now())})])[0].rowcount
        if woken:
            self._ring()
        return int(woken)

    # -- reads -----------------------------------------------------------------
    def get(self, execution_id: str) -> ExecutionRecord:
        found = self._rows("get", {"id": execution_id})
        if not found:
            raise ExecutionNotFound(execution_id)
        return _record(found[0])

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
        params["pattern"] = None if search is None else _like_prefix(search)
        return [_record(row) for row in self._rows(query, params)]

    def counts(self, task: str | None = None) -> dict[str, int]:
        query, params = ("counts", None) if task is None else ("counts_of_task", {"task": task})
        return {status: n for status, n in self._rows(query, params)}

    def history(self, execution_id: str, run: int | None = None) -> builtins.list[StepRecord]:
        return builtins.list(self.load(execution_id, run).records.values())

    def next_wake(self, tasks: Collection[str] | None, under: str | None = None) -> datetime | None:
        if tasks is not None and not tasks:
            return None
        query = (
            "next_wake" + ("_of_tasks" if tasks is not None else "") + ("_in_tree" if under else "")
        )
        params = {"tasks": None if tasks is None else tuple(tasks), "under": under}
        return _aware(self._rows(query, params)[0][0])

    def unknown_tasks(self, known: Collection[str]) -> builtins.list[str]:
        due = self._rows("due_tasks", {"now": _t(self.now())})
        covered = set(known)
        return [name for (name,) in due if name not in covered]


def _due(now: datetime, limit: int, tasks: Collection[str] | None, under: str | None) -> Steps:
    """The statements that lock a claim's candidates (see queries.sql)."""
    params: dict[str, Any] = {"now": _t(now), "limit": limit, "under": under}
    if under is not None:
        if tasks is None:
            return [("due_in_tree", params)]
        return [("due_of_tasks_in_tree", {**params, "tasks": tuple(tasks)})]
    if tasks is None:
        return [("due", params)]
    return [("due_of_task", {**params, "task": task}) for task in sorted(set(tasks))]


def _created(
    new: NewExecution, params: dict[str, Any], now: datetime, status: str, wake_at: datetime
) -> ExecutionRecord:
    """The record a create wrote, without reading it back: every column is
    a value the statement was given or the table's default."""
    return ExecutionRecord(
        id=new.id,
        task_name=new.task_name,
        kind=new.kind,
        status=status,
        input=rows.load(params["input"]),
        attempt=0,
        run=1,
        parent_id=new.parent_id,
        parent_step=new.parent_step,
        root_id=new.root_id,
        created_at=now,
        updated_at=now,
        wake_at=wake_at,
        format_version=r.FORMAT_VERSION,
        trace=new.trace,
    )


def _like_prefix(text: str) -> str:
    """A LIKE pattern matching the strings that start with ``text``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
