"""The SQLite store: one database file, shared by threads and processes.

Its statements are in ``queries.sql``, its schema in ``schema.sql``; every
decision about a row comes from ``zart.stores.rules``. Datetimes are integer
microseconds since the epoch: they sort as numbers and come back as the
exact UTC datetime that went in. Its clock is the clock of the machine the
file is on (every process sharing the file reads it).
"""

from __future__ import annotations

import builtins
import json
import os
import threading
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import parse_qsl

from ... import records as r
from ... import settings
from ...clock import checked_clock, utcnow
from ...errors import (
    ExecutionAlreadyExists,
    ExecutionNotFound,
    LeaseLost,
    StoreError,
    WriteRejected,
)
from ...records import Claimed, Commit, ExecutionRecord, Lease, Log, NewExecution, StepRecord
from ...serde import DEFAULT_MAX_PAYLOAD
from .. import rows, rules, sqlfiles
from ..connect import redact
from . import caller_tx, fork
from .connection import FAILURES, SYNC_MODES, Conn, Connections, Q
from .schedules import SqliteSchedules
from .watch import Doorbell
from .workers import SqliteWorkers

_URL_OPTIONS = ("synchronous", "busy_timeout", "max_payload")
_SEQ_LIMIT = 1 << 32
_DUE = {
    (False, False): "due",
    (True, False): "due_of_tasks",
    (False, True): "due_in_tree",
    (True, True): "due_of_tasks_in_tree",
}


_t = rows.micros  # a time as SQLite keeps it


def _record(row: Sequence[Any]) -> ExecutionRecord:
    return rows.execution(row, rows.from_micros)


class SqliteStore(SqliteSchedules, SqliteWorkers):
    """A store in one SQLite file, safe for many threads and processes."""

    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 30.0,
        create: bool = True,
        max_payload: int | None = DEFAULT_MAX_PAYLOAD,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``create=False`` refuses a path with no file yet, instead of
        creating an empty database there (tools that only read: a mistyped
        path should not leave a file behind)."""
        mode, seconds = self._settings(synchronous, busy_timeout)
        self.path = path
        self.url = "sqlite:///" + path
        self.max_payload = settings.payload_limit(max_payload)
        self._clock = checked_clock(clock, "SqliteStore")
        if not create and path != ":memory:" and not os.path.exists(path):
            raise StoreError(
                f"no SQLite database at {os.path.abspath(path)!r} ({self.url!r}): "
                "check the path (zart worker, zart schedule and zart.connect create it)"
            )
        self._db = Connections(path, self.url, mode, seconds)
        self._db.get()  # a path that cannot be opened fails here, not in a worker
        self._bell: Doorbell | None = None
        self._bell_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SqliteStore:
        """``sqlite:///relative.db``, ``sqlite:////absolute/path.db`` or
        ``sqlite:///:memory:``, optionally with ``?synchronous=NORMAL``,
        ``busy_timeout=SECONDS`` and ``max_payload=BYTES`` (options given here
        override them): the settings reach ``zart worker --db URL`` too."""
        prefix = "sqlite:///"
        path, _, query = url[len(prefix) :].partition("?")
        if not url.startswith(prefix) or not path:
            raise StoreError(
                f"bad SQLite URL {redact(url)!r}: use sqlite:///relative.db, "
                "sqlite:////absolute/path.db or sqlite:///:memory:"
            )
        try:
            given = _url_options(query)
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

    # -- lifecycle -----------------------------------------------------------
    def migrate(self) -> None:
        self._db.migrate()

    def close(self) -> None:
        self._db.close()
        bell, self._bell = self._bell, None
        if bell is not None:
            bell.close()

    def now(self) -> datetime:
        return self._clock()

    def _doorbell(self) -> Doorbell:
        with self._bell_lock:  # one watch per store, however many threads ask first
            if self._bell is None:
                watched = None if self._db.memory else self.path
                self._bell = Doorbell(watched, self._data_version)
            return self._bell

    def wait(self, timeout: float) -> None:
        self._doorbell().wait(timeout)

    def _ring(self) -> None:
        if self._bell is not None:
            self._bell.ring()

    def _data_version(self) -> int:
        return self._db.data_version(Q["data_version"])

    @property
    def synchronous(self) -> str:
        """The PRAGMA synchronous every connection runs with."""
        return self._db.synchronous

    @property
    def busy_timeout(self) -> float:
        """Seconds a writer waits for the write lock before failing."""
        return self._db.busy_timeout

    @property
    def wake_mechanism(self) -> str:
        return self._doorbell().mechanism

    # -- creating and claiming -----------------------------------------------
    def create(self, new: NewExecution) -> ExecutionRecord:
        params = {**rows.new_params(new), "now": _t(self.now())}
        with self._db.tx() as conn:
            row = self._run(conn, "insert_execution", params).fetchone()
            if row is None:
                _exists(conn, new.id)
        self._ring()
        return _record(row)

    def create_in(self, connection: Any, new: NewExecution) -> None:
        caller_tx.create_in(self, connection, new)

    def create_leased(self, new: NewExecution, *, worker: str, lease: timedelta) -> Claimed:
        now = self.now()
        params = {
            **rows.new_params(new),
            "now": _t(now),
            "until": _t(now + lease),
            "worker": worker,
        }
        with self._db.tx() as conn:
            row = self._run(conn, "insert_leased_execution", params).fetchone()
            if row is None:
                _exists(conn, new.id)
        held = Lease(execution_id=new.id, token=1)
        return Claimed(record=_record(row), lease=held, log=r.EMPTY_LOG)

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
        # The watch begins before the first look, so that a commit made
        # between a look that found nothing and the wait after it is heard.
        self._doorbell()
        now = self.now()
        params = {
            "now": _t(now),
            "limit": limit,
            "tasks": None if tasks is None else json.dumps(list(tasks)),
            "under": under,
        }
        take = {"now": _t(now), "until": _t(now + lease), "worker": worker}
        with self._db.tx(write=True) as conn:
            due = dict(self._run(conn, _DUE[(tasks is not None, under is not None)], params))
            if not due:
                return []  # an idle worker's turn: one read, no write
            taken = self._run(conn, "take", {**take, "ids": json.dumps(list(due))}).fetchall()
        order = {eid: i for i, eid in enumerate(due)}
        taken.sort(key=lambda row: order[row[0]])  # RETURNING keeps no order
        # The logs are read after the write lock is given back: the leases
        # keep them still, and other writers need not wait on the reads.
        claimed = []
        with self._db.tx() as conn:
            for row in taken:
                due_at = due[row[0]]
                record = _record(row)
                token, num, seq, has_log = row[-4:]
                log = self._log(conn, record.id, num, record.run, seq) if has_log else _empty(seq)
                held = Lease(execution_id=record.id, token=token)
                claimed.append(
                    Claimed(record=record, lease=held, log=log, due_at=rows.from_micros(due_at))
                )
        return claimed

    def load(self, execution_id: str, run: int | None = None) -> Log:
        with self._db.tx() as conn:
            head = self._run(conn, "load_head", {"id": execution_id}).fetchone()
            if head is None:
                raise ExecutionNotFound(execution_id)
            num, current, seq = head
            return self._log(conn, execution_id, num, current if run is None else run, seq)

    def _log(self, conn: Conn, eid: str, num: int, run: int, seq: int) -> Log:
        records = [
            rows.record(row, rows.from_micros)
            for row in self._run(conn, "load_records", {"num": num, "run": run})
        ]
        events = {
            name: rows.load(payload)
            for name, payload in self._run(conn, "load_events", {"id": eid})
        }
        messages: dict[str, list[r.Message]] = {}
        for mid, topic, payload in self._run(conn, "load_messages", {"id": eid}):
            messages.setdefault(topic, []).append(
                r.Message(id=mid, topic=topic, payload=rows.load(payload))
            )
        return Log(
            records={rec.name: rec for rec in records},
            events=events,
            messages={topic: tuple(queue) for topic, queue in messages.items()},
            last_seq=max(seq, *(rec.seq for rec in records), 0),
        )

    # -- committing ------------------------------------------------------------
    def commit(self, lease: Lease, commit: Commit) -> bool:
        now = self.now()
        if (only := commit.only_record) is not None:
            # The common step commit: one statement in autocommit. A writing
            # statement takes the write lock before it reads, so the fence it
            # folds in and its upsert are one atomic transaction.
            with self._db.guard:
                self._upsert(self._db.get(), lease, only, now)
            self._ring()
            return True
        with self._db.tx(write=True) as conn:
            fence = self._run(conn, "fence", {"id": lease.execution_id, "token": lease.token})
            head = fence.fetchone()
            if head is None:
                raise LeaseLost(lease.execution_id)
            for write in commit.records:
                self._upsert(conn, lease, write, now)
            woken = self._apply(conn, lease.execution_id, head, commit, now)
        self._ring()
        return not woken

    def _upsert(self, conn: Conn, lease: Lease, write: r.RecordWrite, now: datetime) -> None:
        """Upsert a record while the lease holds (see _refused for when not)."""
        if not 0 < write.seq < _SEQ_LIMIT:
            raise WriteRejected(
                f"record {write.name!r}: seq {write.seq} is outside 1..{_SEQ_LIMIT - 1}"
            )
        params = rows.record_params(write, _t)
        params.update(id=lease.execution_id, token=lease.token, now=_t(now))
        if not self._db.checked:
            self._db.check_schema(conn)
        try:
            # Through _run, as every statement: a test counts what a commit sends.
            changed = self._run(conn, "upsert_record_fenced", params).rowcount
        except FAILURES as exc:
            raise self._db.error(exc) from exc
        if changed != 1:
            _refused(conn, lease, write)

    def _apply(
        self, conn: Conn, eid: str, head: Sequence[Any], commit: Commit, now: datetime
    ) -> bool:
        """The rest of a commit after its records; True when a suspend found
        its wake-up there already."""
        num, run, attempt, _ = head
        t = _t(now)
        if commit.children:
            conn.executemany(
                Q["insert_child"], [{**rows.new_params(c), "now": t} for c in commit.children]
            )
        for child in commit.rerun_children:
            self._rerun(conn, child, now, quiet=True)
        conn.executemany(Q["consume_message"], [{"message": m, "id": eid} for m in commit.consumed])
        if commit.state is not None:
            self._run(conn, "set_state", {"id": eid, "state": rows.dump(commit.state.value)})
        outcome = commit.outcome
        if outcome is None:
            return False
        if isinstance(outcome, r.Suspend):
            return self._suspend(conn, eid, outcome, now)
        if isinstance(outcome, r.Complete | r.Fail):
            self._end(conn, eid, rules.ended(outcome), now)
        elif isinstance(outcome, r.RetryExecution):
            self._again(
                conn, eid, rules.retried(outcome, attempt=attempt, run=run), now, rerun=False
            )
        elif isinstance(outcome, r.ContinueAsNew):
            again = rules.continued(outcome, now=now, run=run)
            params = {
                "id": eid,
                "wake_at": t,
                "run": again.run,
                "input": rows.dump(again.input),
                "now": t,
            }
            self._run(conn, "continue_run", params)
            self._run(
                conn, "drop_old_runs", {"num": num, "oldest_kept": again.run - outcome.keep_runs}
            )
        else:
            self._run(conn, "stall", {"id": eid, "error": rows.dump(outcome.error), "now": t})
        return False

    def _suspend(self, conn: Conn, eid: str, s: r.Suspend, now: datetime) -> bool:
        open_children = 0
        if s.children:
            marked = self._run(
                conn, "mark_awaited", {"id": eid, "names": json.dumps(list(s.children))}
            )
            open_children = sum(status is None for (status,) in marked.fetchall())
        woken = rules.woken_by_suspend_facts(
            s,
            event_there=s.event is not None
            and self._run(conn, "event_there", {"id": eid, "name": s.event}).fetchone() is not None,
            message_there=s.topic is not None
            and self._run(conn, "message_there", {"id": eid, "topic": s.topic}).fetchone()
            is not None,
            open_children=open_children,
        )
        row = rules.suspended(s, already_woken=woken, now=now)
        self._set_row(conn, eid, row, now)
        return woken

    def _set_row(self, conn: Conn, eid: str, row: rules.Row, now: datetime) -> None:
        params = {"id": eid, "status": row.status, "wake_at": _t(row.wake_at), "now": _t(now)}
        self._run(conn, "set_row", {**params, "waiting_for": row.waiting_for})

    def _end(self, conn: Conn, eid: str, ended: rules.Ended, now: datetime) -> None:
        params = {
            "id": eid,
            "status": ended.status,
            "record_status": ended.record_status,
            "output": rows.dump(ended.output),
            "error": rows.dump(ended.error),
            "now": _t(now),
        }
        parent, awaited = self._run(conn, "end_execution", params).fetchone()
        if parent is not None and awaited:
            self._run(conn, "wake_parent", {"parent": parent, "now": _t(now)})

    def _again(
        self, conn: Conn, eid: str, again: rules.Again, now: datetime, *, rerun: bool
    ) -> None:
        params = {
            "id": eid,
            "wake_at": _t(again.wake_at),
            "attempt": again.attempt,
            "run": again.run,
            "error": rows.dump(again.error),
            "rerun": rerun,
            "now": _t(now),
        }
        self._run(conn, "run_again", params)

    def _rerun(self, conn: Conn, eid: str, now: datetime, *, quiet: bool = False) -> None:
        """Run a failed, cancelled or stalled execution again. ``quiet``: a
        parent's rerun of a child that meanwhile runs again already."""
        facts = self._run(conn, "rerun_facts", {"id": eid}).fetchone()
        if facts is None:
            raise ExecutionNotFound(eid)
        status, attempt, run = facts
        if quiet and status not in r.RETRYABLE_STATUSES:
            return
        self._again(
            conn, eid, rules.rerun(eid, status, attempt=attempt, run=run, now=now), now, rerun=True
        )

    def heartbeat(self, leases: Sequence[Lease], lease: timedelta) -> list[Lease]:
        if not leases:
            return []
        until = _t(self.now() + lease)
        lost = []
        with self._db.tx(write=True) as conn:
            for held in leases:
                params = {"id": held.execution_id, "token": held.token, "until": until}
                if self._run(conn, "heartbeat", params).rowcount == 0:
                    lost.append(held)
        return lost

    def release(self, lease: Lease) -> None:
        with self._db.tx() as conn:
            params = {"id": lease.execution_id, "token": lease.token, "now": _t(self.now())}
            self._run(conn, "release", params)
        self._ring()

    # -- events, messages, cancel, retry ------------------------------------------
    def offer_event(self, execution_id: str, name: str, payload: Any) -> bool:
        t = _t(self.now())
        with self._db.tx(write=True) as conn:
            rules.accepts_event(execution_id, name, _status(conn, execution_id))
            params = {"id": execution_id, "name": name, "payload": rows.dump(payload), "now": t}
            if self._run(conn, "insert_event", params).rowcount == 0:
                return False  # the first payload offered under a name wins
            self._run(
                conn,
                "wake_on",
                {"id": execution_id, "waiting_for": rules.event_key(name), "now": t},
            )
        self._ring()
        return True

    def send(
        self, execution_id: str, topic: str, payload: Any, idempotency_key: str | None = None
    ) -> int:
        t = _t(self.now())
        with self._db.tx(write=True) as conn:
            status = _status(conn, execution_id)
            key = {"id": execution_id, "key": idempotency_key}
            if idempotency_key is not None and (
                sent := self._run(conn, "message_by_key", key).fetchone()
            ):
                return rules.sent_before(idempotency_key, topic, sent)
            rules.accepts_message(execution_id, topic, status)
            params = {**key, "topic": topic, "payload": rows.dump(payload), "now": t}
            (message_id,) = self._run(conn, "insert_message", params).fetchone()
            wake = {"id": execution_id, "waiting_for": rules.topic_key(topic), "now": t}
            self._run(conn, "wake_on", wake)
        self._ring()
        return int(message_id)

    def cancel(self, execution_id: str) -> bool:
        now = self.now()
        ended = rules.cancelled()
        with self._db.tx(write=True) as conn:
            if _status(conn, execution_id) in r.FINAL_STATUSES:
                return False
            tree = [row[0] for row in self._run(conn, "unfinished_tree", {"id": execution_id})]
            for eid in tree:
                params = {
                    "id": eid,
                    "record_status": ended.record_status,
                    "error": rows.dump(ended.error),
                    "now": _t(now),
                }
                parent, awaited = self._run(conn, "cancel_row", params).fetchone()
                if parent is not None and awaited:
                    self._run(conn, "wake_parent", {"parent": parent, "now": _t(now)})
        self._ring()
        return True

    def retry(self, execution_id: str) -> ExecutionRecord:
        with self._db.tx(write=True) as conn:
            self._rerun(conn, execution_id, self.now())
            row = self._run(conn, "get", {"id": execution_id}).fetchone()
        self._ring()
        return _record(row)

    def fork(self, execution_id: str, from_step: str, new_id: str) -> ExecutionRecord:
        return fork.fork(self, execution_id, from_step, new_id)

    def wake_stranded(self) -> int:
        with self._db.tx() as conn:
            woken = self._run(conn, "wake_stranded", {"now": _t(self.now())}).rowcount
        if woken:
            self._ring()
        return int(woken)

    # -- reads -----------------------------------------------------------------
    def get(self, execution_id: str) -> ExecutionRecord:
        with self._db.tx() as conn:
            row = self._run(conn, "get", {"id": execution_id}).fetchone()
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
        with self._db.tx() as conn:
            return [_record(row) for row in self._run(conn, query, params)]

    def counts(self, task: str | None = None) -> dict[str, int]:
        query, params = ("counts", {}) if task is None else ("counts_of_task", {"task": task})
        with self._db.tx() as conn:
            return {status: n for status, n in self._run(conn, query, params)}

    def history(self, execution_id: str, run: int | None = None) -> builtins.list[StepRecord]:
        return builtins.list(self.load(execution_id, run).records.values())

    def next_wake(self, tasks: Collection[str] | None, under: str | None = None) -> datetime | None:
        if tasks is not None and not tasks:
            return None
        query = (
            "next_wake" + ("_of_tasks" if tasks is not None else "") + ("_in_tree" if under else "")
        )
        params = {"tasks": None if tasks is None else json.dumps(list(tasks)), "under": under}
        with self._db.tx() as conn:
            (wake,) = self._run(conn, query, params).fetchone()
        return rows.from_micros(wake)

    def unknown_tasks(self, known: Collection[str]) -> builtins.list[str]:
        params = {"known": json.dumps(list(known)), "now": _t(self.now())}
        with self._db.tx() as conn:
            return [name for (name,) in self._run(conn, "unknown_tasks", params)]

    # -- statements --------------------------------------------------------------
    def _run(self, conn: Conn, name: str, params: dict[str, Any]) -> Any:
        """Run the named statement (every statement goes through here)."""
        return conn.execute(Q[name], params)


def _url_options(query: str) -> dict[str, Any]:
    given: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key not in _URL_OPTIONS:
            known = ", ".join(_URL_OPTIONS)
            raise ValueError(f"unknown parameter {key!r} (it takes {known})")
        if key in given:
            raise ValueError(f"{key} is given twice")
        given[key] = value
    if "busy_timeout" in given:
        given["busy_timeout"] = settings.parse_seconds(
            "busy_timeout", given["busy_timeout"], zero=True
        )
    if "max_payload" in given:
        given["max_payload"] = settings.parse_count("max_payload", given["max_payload"], least=1)
    SqliteStore._settings(**{k: v for k, v in given.items() if k != "max_payload"})
    return given


def _empty(last_seq: int) -> Log:
    return Log(records={}, events={}, last_seq=last_seq)


def _status(conn: Conn, execution_id: str) -> str:
    row = conn.execute(Q["status_of"], {"id": execution_id}).fetchone()
    if row is None:
        raise ExecutionNotFound(execution_id)
    return str(row[0])


def _exists(conn: Conn, execution_id: str) -> NoReturn:
    raise ExecutionAlreadyExists(execution_id, _status(conn, execution_id))


def _refused(conn: Conn, lease: Lease, write: r.RecordWrite) -> NoReturn:
    """Why an upsert changed no row: the lease is lost, or the record's seq
    already holds another name (a bug upstream: never overwritten)."""
    held = conn.execute(Q["fence"], {"id": lease.execution_id, "token": lease.token}).fetchone()
    if held is None:
        raise LeaseLost(lease.execution_id)
    raise WriteRejected(
        f"execution {lease.execution_id!r}: seq {write.seq} already holds another name than "
        f"{write.name!r}; nothing was written"
    )
