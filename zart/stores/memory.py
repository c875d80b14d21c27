"""The in-memory store: the reference implementation of the store protocol.

It keeps JSON text, not live objects, so a value read back is a fresh copy,
exactly as from a database. One lock makes every operation atomic; a
condition wakes waiting workers the way LISTEN/NOTIFY does for PostgreSQL.
Every decision about a row comes from ``zart.stores.rules``.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from .. import records as r
from .. import settings
from ..clock import checked_clock, utcnow
from ..errors import ExecutionAlreadyExists, ExecutionNotFound, LeaseLost
from ..records import Claimed, Commit, ExecutionRecord, Lease, Log, NewExecution, StepRecord
from ..serde import DEFAULT_MAX_PAYLOAD, dumps, loads
from . import rules
from .memory_schedules import MemorySchedules
from .memory_workers import MemoryWorkers


def _dump(value: Any) -> str | None:
    return None if value is None else dumps(value)


def _load(text: str | None) -> Any:
    return None if text is None else loads(text)


@attrs.define
class _Execution:
    id: str
    task_name: str
    kind: str
    status: str
    input: str | None
    created_at: datetime
    updated_at: datetime
    wake_at: datetime | None
    parent_id: str | None = None
    parent_step: str | None = None
    root_id: str | None = None
    trace: dict[str, str] | None = None
    output: str | None = None
    error: str | None = None
    state: str | None = None
    attempt: int = 0
    run: int = 1
    token: int = 0
    waiting_for: str | None = None
    record_status: str | None = None
    awaited: bool = False
    seq: int = 0
    children: list[str] = attrs.Factory(list)


@attrs.define
class _Record:
    write: r.RecordWrite  # what the lease holder wrote, documents as given
    result: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime


@attrs.define
class _Message:
    id: int
    topic: str
    payload: str | None
    consumed: bool = False


class MemoryStore(MemorySchedules, MemoryWorkers):
    """A thread-safe store in this process's memory (tests, scripts)."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = utcnow,
        max_payload: int | None = DEFAULT_MAX_PAYLOAD,
    ) -> None:
        self.url = "memory://"
        self.max_payload = settings.payload_limit(max_payload)
        self._clock = checked_clock(clock, "MemoryStore")
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._executions: dict[str, _Execution] = {}
        self._logs: dict[tuple[str, int], dict[str, _Record]] = {}
        self._events: dict[str, dict[str, str | None]] = {}
        self._messages: dict[str, list[_Message]] = {}
        self._message_ids = 0
        self._message_keys: dict[tuple[str, str], tuple[int, str]] = {}  # -> (id, topic)
        MemorySchedules.__init__(self)
        MemoryWorkers.__init__(self)

    # -- lifecycle -------------------------------------------------------
    def migrate(self) -> None:
        return None

    def close(self) -> None:
        return None

    def now(self) -> datetime:
        return self._clock()

    def wait(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait(timeout)

    # -- executions ------------------------------------------------------
    def create(self, new: NewExecution) -> ExecutionRecord:
        with self._lock:
            e = self._insert_new(new, self.now())
            self._changed.notify_all()
            return self._record(e)

    def create_in(self, connection: Any, new: NewExecution) -> None:
        raise TypeError(
            "the memory store has no database: connection= needs a SQLite, PostgreSQL "
            "or MySQL store"
        )

    def create_leased(self, new: NewExecution, *, worker: str, lease: timedelta) -> Claimed:
        with self._lock:
            e = self._insert_new(new, self.now())
            held = self._take(e, self.now(), lease)
            return Claimed(record=self._record(e), lease=held, log=r.EMPTY_LOG)

    def _insert_new(self, new: NewExecution, now: datetime) -> _Execution:
        existing = self._executions.get(new.id)
        if existing is not None:
            raise ExecutionAlreadyExists(new.id, existing.status)
        return self._insert(new, now)

    def _insert(self, new: NewExecution, now: datetime) -> _Execution:
        e = self._executions[new.id] = _Execution(
            id=new.id,
            task_name=new.task_name,
            kind=new.kind,
            status=r.PENDING,
            input=_dump(new.input),
            created_at=now,
            updated_at=now,
            wake_at=now,
            parent_id=new.parent_id,
            parent_step=new.parent_step,
            root_id=new.root_id,
            trace=new.trace,
        )
        self._logs[(new.id, 1)] = {}
        self._events[new.id] = {}
        self._messages[new.id] = []
        parent = self._executions.get(new.parent_id or "")
        if parent is not None:
            parent.children.append(new.id)
        return e

    def _take(self, e: _Execution, now: datetime, lease: timedelta) -> Lease:
        self._set(e, rules.claimed(now, lease), now)
        e.token += 1
        return Lease(execution_id=e.id, token=e.token)

    def claim(
        self,
        *,
        worker: str,
        tasks: Collection[str] | None,
        lease: timedelta,
        limit: int,
        under: str | None = None,
    ) -> list[Claimed]:
        with self._lock:
            now = self.now()
            due = [
                e for e in self._claimable(tasks, under) if rules.is_due(e.status, e.wake_at, now)
            ]
            due.sort(key=lambda e: (e.wake_at or now, e.created_at))
            claimed = []
            for e in due[:limit]:
                due_at = e.wake_at
                held = self._take(e, now, lease)
                log = self._log(e, e.run)
                claimed.append(Claimed(record=self._record(e), lease=held, log=log, due_at=due_at))
            return claimed

    def _claimable(self, tasks: Collection[str] | None, under: str | None) -> list[_Execution]:
        return [
            e
            for e in self._executions.values()
            if (tasks is None or e.task_name in tasks)
            and (under is None or e.id == under or e.root_id == under)
        ]

    def load(self, execution_id: str, run: int | None = None) -> Log:
        with self._lock:
            e = self._get(execution_id)
            return self._log(e, e.run if run is None else run)

    def _log(self, e: _Execution, run: int) -> Log:
        recs = sorted(self._logs.get((e.id, run), {}).values(), key=lambda x: x.write.seq)
        messages: dict[str, list[r.Message]] = {}
        for m in self._messages[e.id]:
            if not m.consumed:
                messages.setdefault(m.topic, []).append(
                    r.Message(id=m.id, topic=m.topic, payload=_load(m.payload))
                )
        return Log(
            records={x.write.name: self._step(x) for x in recs},
            events={k: _load(v) for k, v in self._events[e.id].items()},
            messages={k: tuple(v) for k, v in messages.items()},
            last_seq=e.seq,
        )

    def commit(self, lease: Lease, commit: Commit) -> bool:
        with self._lock:
            now = self.now()
            e = self._owned(lease)
            log = self._logs[(e.id, e.run)]
            for w in commit.records:
                old = log.get(w.name)
                e.seq = max(e.seq, w.seq)
                log[w.name] = _Record(
                    write=w,
                    result=_dump(w.result),
                    error=_dump(w.error),
                    created_at=old.created_at if old else now,
                    updated_at=now,
                )
            for new in commit.children:
                if new.id not in self._executions:
                    self._insert(new, now)
            for child_id in commit.rerun_children:
                child = self._get(child_id)
                if child.status in r.RETRYABLE_STATUSES:  # else it runs again already
                    self._rerun(child, now)
            for message in self._messages[e.id]:
                if message.id in commit.consumed:
                    message.consumed = True
            if commit.state is not None:
                e.state = _dump(commit.state.value)
            woke_at_once = False
            if commit.outcome is not None:
                woke_at_once = self._apply(e, commit.outcome, now)
            self._changed.notify_all()
            return not woke_at_once

    def _apply(self, e: _Execution, outcome: r.Outcome, now: datetime) -> bool:
        """Apply ``outcome``; True when a suspend found its wake-up there."""
        e.updated_at = now
        if isinstance(outcome, r.Suspend):
            woken = self._woken(e, outcome)
            self._set(e, rules.suspended(outcome, already_woken=woken, now=now), now)
            return woken
        if isinstance(outcome, r.Complete | r.Fail):
            self._end(e, rules.ended(outcome), now)
        elif isinstance(outcome, r.RetryExecution):
            self._again(e, rules.retried(outcome, attempt=e.attempt, run=e.run))
        elif isinstance(outcome, r.ContinueAsNew):
            again = rules.continued(outcome, now=now, run=e.run)
            self._again(e, again)
            self._logs[(e.id, again.run)] = {}
            for run in [k[1] for k in self._logs if k[0] == e.id]:
                if run < again.run - outcome.keep_runs:
                    del self._logs[(e.id, run)]
        else:
            self._set(e, rules.stalled(outcome), now)
            e.error = _dump(outcome.error)
        return False

    def _woken(self, e: _Execution, s: r.Suspend) -> bool:
        log = self._logs[(e.id, e.run)]
        open_children = 0
        for name in s.children:
            child = self._executions[log[name].write.child_id or ""]
            child.awaited = True
            open_children += child.record_status is None
        return rules.woken_by_suspend_facts(
            s,
            event_there=s.event is not None and s.event in self._events[e.id],
            message_there=any(m.topic == s.topic and not m.consumed for m in self._messages[e.id]),
            open_children=open_children,
        )

    def _set(self, e: _Execution, row: rules.Row, now: datetime) -> None:
        e.status, e.wake_at, e.waiting_for, e.updated_at = (
            row.status,
            row.wake_at,
            row.waiting_for,
            now,
        )

    def _again(self, e: _Execution, again: rules.Again) -> None:
        e.status, e.wake_at, e.waiting_for = r.PENDING, again.wake_at, None
        e.attempt, e.run = again.attempt, again.run
        e.record_status, e.output = None, None
        if again.error is not None:
            e.error = _dump(again.error)
        if again.new_input:
            e.input, e.state, e.error = _dump(again.input), None, None

    def _end(self, e: _Execution, ended: rules.Ended, now: datetime) -> None:
        e.status, e.wake_at, e.waiting_for, e.updated_at = ended.status, None, None, now
        e.output, e.error = _dump(ended.output), _dump(ended.error)
        e.record_status = ended.record_status
        self._wake_parent(e, now)

    def _wake_parent(self, child: _Execution, now: datetime) -> None:
        parent = self._executions.get(child.parent_id or "")
        if parent is None or not child.awaited:
            return
        open_awaited = sum(
            1
            for cid in parent.children
            if self._executions[cid].awaited and self._executions[cid].record_status is None
        )
        if rules.parent_due(parent.status, parent.waiting_for, open_awaited):
            self._set(parent, rules.released(now), now)

    def _rerun(self, e: _Execution, now: datetime) -> None:
        again = rules.rerun(e.id, e.status, attempt=e.attempt, run=e.run, now=now)
        self._again(e, again)
        e.awaited, e.updated_at = False, now
        e.token += 1

    def heartbeat(self, leases: Sequence[Lease], lease: timedelta) -> list[Lease]:
        with self._lock:
            now, lost = self.now(), []
            for held in leases:
                e = self._executions.get(held.execution_id)
                if e is None or e.status != r.RUNNING or e.token != held.token:
                    lost.append(held)
                else:
                    e.wake_at = now + lease
            return lost

    def release(self, lease: Lease) -> None:
        with self._lock:
            try:
                e = self._owned(lease)
            except LeaseLost:
                return
            self._set(e, rules.released(self.now()), self.now())
            self._changed.notify_all()

    def offer_event(self, execution_id: str, name: str, payload: Any) -> bool:
        with self._lock:
            e = self._get(execution_id)
            rules.accepts_event(execution_id, name, e.status)
            events = self._events[execution_id]
            if name in events:
                return False
            events[name] = _dump(payload)
            if rules.woken_by_event(e.status, e.waiting_for, name):
                self._set(e, rules.released(self.now()), self.now())
            self._changed.notify_all()
            return True

    def send(
        self, execution_id: str, topic: str, payload: Any, idempotency_key: str | None = None
    ) -> int:
        with self._lock:
            e = self._get(execution_id)
            if idempotency_key is not None and (e.id, idempotency_key) in self._message_keys:
                first = self._message_keys[e.id, idempotency_key]
                return rules.sent_before(idempotency_key, topic, first)
            rules.accepts_message(execution_id, topic, e.status)
            self._message_ids += 1
            if idempotency_key is not None:
                self._message_keys[e.id, idempotency_key] = (self._message_ids, topic)
            self._messages[execution_id].append(
                _Message(id=self._message_ids, topic=topic, payload=_dump(payload))
            )
            if rules.woken_by_message(e.status, e.waiting_for, topic):
                self._set(e, rules.released(self.now()), self.now())
            self._changed.notify_all()
            return self._message_ids

    def cancel(self, execution_id: str) -> bool:
        with self._lock:
            e = self._get(execution_id)
            if e.status in r.FINAL_STATUSES:
                return False
            self._cancel(e, self.now())
            self._changed.notify_all()
            return True

    def _cancel(self, e: _Execution, now: datetime) -> None:
        e.token += 1  # void any lease held on it
        self._end(e, rules.cancelled(), now)
        for child_id in e.children:
            child = self._executions[child_id]
            if child.status not in r.FINAL_STATUSES:
                self._cancel(child, now)

    def retry(self, execution_id: str) -> ExecutionRecord:
        with self._lock:
            e = self._get(execution_id)
            self._rerun(e, self.now())
            self._changed.notify_all()
            return self._record(e)

    def fork(self, execution_id: str, from_step: str, new_id: str) -> ExecutionRecord:
        with self._lock:
            source = self._get(execution_id)
            plan = rules.fork(
                self._record(source),
                self._log(source, source.run),
                from_step=from_step,
                new_id=new_id,
            )
            now = self.now()
            e = self._insert_new(plan.new, now)
            e.seq = plan.last_seq
            log = self._logs[(e.id, e.run)]
            for w in plan.records:
                log[w.name] = _Record(
                    write=w,
                    result=_dump(w.result),
                    error=_dump(w.error),
                    created_at=now,
                    updated_at=now,
                )
            self._events[e.id] = {name: _dump(payload) for name, payload in plan.events.items()}
            for topic, payload in plan.messages:
                self._message_ids += 1
                self._messages[e.id].append(
                    _Message(id=self._message_ids, topic=topic, payload=_dump(payload))
                )
            self._changed.notify_all()
            return self._record(e)

    def wake_stranded(self) -> int:
        with self._lock:
            now, woken = self.now(), 0
            for parent in self._executions.values():
                open_awaited = sum(
                    1
                    for cid in parent.children
                    if self._executions[cid].awaited and self._executions[cid].record_status is None
                )
                if rules.parent_due(parent.status, parent.waiting_for, open_awaited):
                    self._set(parent, rules.released(now), now)
                    woken += 1
            if woken:
                self._changed.notify_all()
            return woken

    def status_counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            found: dict[tuple[str, str], int] = {}
            for e in self._executions.values():
                found[(e.task_name, e.status)] = found.get((e.task_name, e.status), 0) + 1
            return found

    def expire_leases(self) -> None:
        """Test aid: every running execution's lease ends now (a restart)."""
        with self._lock:
            for e in self._executions.values():
                if e.status == r.RUNNING:
                    e.wake_at = self.now()

    # -- reads -----------------------------------------------------------
    def get(self, execution_id: str) -> ExecutionRecord:
        with self._lock:
            return self._record(self._get(execution_id))

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
        with self._lock:
            rows = [
                e
                for e in self._executions.values()
                if (status is None or e.status == status)
                and (task is None or e.task_name == task)
                and (parent_id is None or e.parent_id == parent_id)
                and (search is None or e.id.startswith(search))
            ]
            rows.sort(key=lambda e: (e.created_at, e.id), reverse=True)
            return [self._record(e) for e in rows[offset : offset + limit]]

    def counts(self, task: str | None = None) -> dict[str, int]:
        with self._lock:
            found: dict[str, int] = {}
            for e in self._executions.values():
                if task is None or e.task_name == task:
                    found[e.status] = found.get(e.status, 0) + 1
            return found

    def history(self, execution_id: str, run: int | None = None) -> builtins.list[StepRecord]:
        return builtins.list(self.load(execution_id, run).records.values())

    def next_wake(self, tasks: Collection[str] | None, under: str | None = None) -> datetime | None:
        with self._lock:
            wakes = [
                e.wake_at
                for e in self._claimable(tasks, under)
                if e.wake_at is not None and e.status not in r.FINAL_STATUSES
            ]
            return min(wakes, default=None)

    def unknown_tasks(self, known: Collection[str]) -> builtins.list[str]:
        with self._lock:
            now = self.now()
            return sorted(
                {
                    e.task_name
                    for e in self._executions.values()
                    if rules.is_due(e.status, e.wake_at, now) and e.task_name not in known
                }
            )

    # -- helpers ---------------------------------------------------------
    def _get(self, execution_id: str) -> _Execution:
        e = self._executions.get(execution_id)
        if e is None:
            raise ExecutionNotFound(execution_id)
        return e

    def _owned(self, lease: Lease) -> _Execution:
        e = self._executions.get(lease.execution_id)
        if e is None or e.status != r.RUNNING or e.token != lease.token:
            raise LeaseLost(lease.execution_id)
        return e

    @staticmethod
    def _record(e: _Execution) -> ExecutionRecord:
        return ExecutionRecord(
            id=e.id,
            task_name=e.task_name,
            kind=e.kind,
            status=e.status,
            input=_load(e.input),
            output=_load(e.output),
            error=_load(e.error),
            state=_load(e.state),
            attempt=e.attempt,
            run=e.run,
            parent_id=e.parent_id,
            parent_step=e.parent_step,
            root_id=e.root_id,
            trace=e.trace,
            created_at=e.created_at,
            updated_at=e.updated_at,
            wake_at=e.wake_at,
            waiting_for=e.waiting_for,
        )

    def _step(self, x: _Record) -> StepRecord:
        w = x.write
        status, result, error, updated = w.status, _load(x.result), _load(x.error), x.updated_at
        if w.kind == r.K_SCHEDULE and w.child_id is not None:
            child = self._executions.get(w.child_id)
            if child is not None and child.record_status is not None:
                status = child.record_status
                result, error, updated = _load(child.output), _load(child.error), child.updated_at
        return StepRecord(
            name=w.name,
            kind=w.kind,
            status=status,
            seq=w.seq,
            step=w.step,
            result=result,
            error=error,
            attempts=w.attempts,
            errors=w.errors,
            wake_at=w.wake_at,
            child_id=w.child_id,
            execution_attempt=w.execution_attempt,
            started_at=w.started_at,
            created_at=x.created_at,
            updated_at=updated,
        )
