"""The in-memory store: the reference implementation of the store protocol.

It keeps JSON text, not live objects, so a value read back is a fresh copy,
exactly as from a database. One lock makes every operation atomic; a
condition wakes waiting workers the way LISTEN/NOTIFY does for PostgreSQL.
"""

from __future__ import annotations

import builtins
import json
import threading
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from . import records as r
from .errors import EventRejected, ExecutionAlreadyExists, ExecutionNotFound, LeaseLost
from .records import (
    Claimed,
    Commit,
    ExecutionRecord,
    Lease,
    Log,
    NewExecution,
    StepRecord,
)


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


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
    output: str | None = None
    error: str | None = None
    state: str | None = None
    attempt: int = 0
    token: int = 0
    owner: str | None = None
    waiting_for: str | None = None
    awaiting: int = 0
    seq: int = 0
    children: list[str] = attrs.Factory(list)


@attrs.define
class _Record:
    name: str
    kind: str
    status: str
    seq: int
    step: str | None
    result: str | None
    error: str | None
    attempts: int
    wake_at: datetime | None
    child_id: str | None
    created_at: datetime
    updated_at: datetime
    awaited: bool = False


class MemoryStore:
    """A thread-safe store in this process's memory (tests, scripts)."""

    def __init__(self) -> None:
        self.url = "memory://"
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._executions: dict[str, _Execution] = {}
        self._logs: dict[str, dict[str, _Record]] = {}
        self._events: dict[str, dict[str, str | None]] = {}

    # -- lifecycle -------------------------------------------------------
    def migrate(self) -> None:
        return None

    def close(self) -> None:
        return None

    def _notify(self) -> None:
        self._changed.notify_all()

    def wait(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait(timeout)

    # -- executions ------------------------------------------------------
    def create(self, new: NewExecution, now: datetime) -> ExecutionRecord:
        with self._lock:
            existing = self._executions.get(new.id)
            if existing is not None:
                raise ExecutionAlreadyExists(new.id, existing.status)
            self._insert(new, now)
            self._notify()
            return self._record(self._executions[new.id])

    def _insert(self, new: NewExecution, now: datetime) -> None:
        self._executions[new.id] = _Execution(
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
        )
        self._logs[new.id] = {}
        self._events[new.id] = {}
        if new.parent_id is not None and new.parent_id in self._executions:
            self._executions[new.parent_id].children.append(new.id)

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
        with self._lock:
            due = [
                e
                for e in self._executions.values()
                if e.wake_at is not None
                and e.wake_at <= now
                and (tasks is None or e.task_name in tasks)
                and _in_tree(e.id, under)
            ]
            due.sort(key=lambda e: (e.wake_at or now, e.created_at))
            claimed = []
            for e in due[:limit]:
                e.status = r.RUNNING
                e.token += 1
                e.owner = worker
                e.wake_at = now + lease
                e.waiting_for = None
                e.updated_at = now
                empty = not self._logs[e.id] and not self._events[e.id]
                claimed.append(
                    Claimed(
                        self._record(e),
                        Lease(e.id, e.token, parent_id=e.parent_id),
                        Log(records={}, events={}, last_seq=e.seq) if empty else None,
                    )
                )
            return claimed

    def load(self, execution_id: str) -> Log:
        with self._lock:
            self._get(execution_id)
            recs = sorted(self._logs[execution_id].values(), key=lambda x: x.seq)
            return Log(
                records={x.name: self._step(x) for x in recs},
                events={k: _load(v) for k, v in self._events[execution_id].items()},
                last_seq=self._executions[execution_id].seq,
            )

    def commit(self, lease: Lease, commit: Commit, now: datetime) -> bool:
        with self._lock:
            e = self._owned(lease)
            log = self._logs[e.id]
            for w in commit.records:
                old = log.get(w.name)
                if old is None:
                    e.seq = max(e.seq, w.seq)
                log[w.name] = _Record(
                    name=w.name,
                    kind=w.kind,
                    status=w.status,
                    seq=old.seq if old else w.seq,
                    step=w.step,
                    result=_dump(w.result),
                    error=_dump(w.error),
                    attempts=w.attempts,
                    wake_at=w.wake_at,
                    child_id=w.child_id,
                    created_at=old.created_at if old else now,
                    updated_at=now,
                    awaited=old.awaited if old else False,
                )
            for child in commit.children:
                if child.id not in self._executions:
                    self._insert(child, now)
            if commit.has_state:
                e.state = _dump(commit.state)
            suspended = True
            if commit.outcome is not None:
                e.updated_at = now  # as on every store: the row's status moved, not its log
                suspended = self._apply(e, commit.outcome, now)
            self._notify()
            return suspended

    def _apply(self, e: _Execution, outcome: r.Outcome, now: datetime) -> bool:
        e.owner = None
        if isinstance(outcome, r.Suspend):
            return self._suspend(e, outcome, now)
        if isinstance(outcome, r.Complete):
            self._finish(e, r.COMPLETED, now, output=_dump(outcome.output))
        elif isinstance(outcome, r.Fail):
            self._finish(e, r.FAILED, now, error=_dump(outcome.error), business=outcome.business)
        else:
            e.status, e.wake_at, e.attempt = r.PENDING, outcome.wake_at, e.attempt + 1
            e.error = _dump(outcome.error)
            log = self._logs[e.id]
            for name in [
                n for n, x in log.items() if x.kind == r.K_STEP and x.status == r.R_FAILED
            ]:
                del log[name]
        return True

    def _suspend(self, e: _Execution, s: r.Suspend, now: datetime) -> bool:
        if s.event is not None and s.event in self._events[e.id]:
            e.status, e.wake_at = r.PENDING, now
            return False
        if s.children:
            log = self._logs[e.id]
            open_children = 0
            for name in s.children:
                rec = log[name]
                rec.awaited = True
                open_children += rec.status not in r.R_FINAL
            if open_children == 0:
                e.status, e.wake_at = r.PENDING, now
                return False
            e.awaiting = open_children
        e.status = r.WAITING if (s.event is not None or s.children) else r.SLEEPING
        e.waiting_for = s.event if s.event is not None else ("children" if s.children else None)
        e.wake_at = s.wake_at
        return True

    def _finish(
        self,
        e: _Execution,
        status: str,
        now: datetime,
        *,
        output: str | None = None,
        error: str | None = None,
        business: bool = False,
    ) -> None:
        e.status, e.wake_at, e.waiting_for, e.updated_at = status, None, None, now
        e.output, e.error = output, error
        if e.parent_id is None or e.parent_step is None:
            return
        parent = self._executions.get(e.parent_id)
        rec = self._logs.get(e.parent_id, {}).get(e.parent_step)
        if parent is None or rec is None:
            return
        rec.status = {r.COMPLETED: r.R_COMPLETED, r.CANCELLED: r.R_CANCELLED}.get(
            status, r.R_ERROR if business else r.R_FAILED
        )
        rec.result, rec.error, rec.updated_at = output, error, now
        if rec.awaited and parent.status == r.WAITING and parent.waiting_for == "children":
            parent.awaiting -= 1
            if parent.awaiting <= 0:
                parent.status, parent.wake_at, parent.waiting_for = r.PENDING, now, None
                parent.updated_at = now

    def heartbeat(self, leases: Sequence[Lease], now: datetime, lease: timedelta) -> list[Lease]:
        with self._lock:
            lost = []
            for held in leases:
                e = self._executions.get(held.execution_id)
                if e is None or e.status != r.RUNNING or e.token != held.token:
                    lost.append(held)
                else:
                    e.wake_at = now + lease
            return lost

    def release(self, lease: Lease, now: datetime) -> None:
        with self._lock:
            try:
                e = self._owned(lease)
            except LeaseLost:
                return
            e.status, e.wake_at, e.owner, e.updated_at = r.PENDING, now, None, now
            self._notify()

    def offer_event(self, execution_id: str, name: str, payload: Any, now: datetime) -> bool:
        with self._lock:
            e = self._get(execution_id)
            if e.status in r.FINAL_STATUSES:
                raise EventRejected(execution_id, name, e.status)
            events = self._events[execution_id]
            if name in events:
                return False
            events[name] = _dump(payload)
            if e.status == r.WAITING and e.waiting_for == name:
                e.status, e.wake_at, e.waiting_for, e.updated_at = r.PENDING, now, None, now
            self._notify()
            return True

    def cancel(self, execution_id: str, now: datetime) -> bool:
        with self._lock:
            e = self._get(execution_id)
            if e.status in r.FINAL_STATUSES:
                return False
            self._cancel(e, now)
            self._notify()
            return True

    def _cancel(self, e: _Execution, now: datetime) -> None:
        e.token += 1  # void any lease held on it
        e.owner = None
        cancelled = _dump({"type": "Cancelled", "message": "cancelled"})
        self._finish(e, r.CANCELLED, now, error=cancelled)
        for child_id in e.children:
            child = self._executions[child_id]
            if child.status not in r.FINAL_STATUSES:
                self._cancel(child, now)

    def expire_leases(self, now: datetime) -> None:
        """Test aid: every running execution's lease ends now (a restart)."""
        with self._lock:
            for e in self._executions.values():
                if e.status == r.RUNNING:
                    e.wake_at = now

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
            ]
            rows.sort(key=lambda e: (e.created_at, e.id), reverse=True)
            return [self._record(e) for e in rows[offset : offset + limit]]

    def history(self, execution_id: str) -> builtins.list[StepRecord]:
        with self._lock:
            self._get(execution_id)
            recs = sorted(self._logs[execution_id].values(), key=lambda x: x.seq)
            return [self._step(x) for x in recs]

    def next_wake(self, tasks: Collection[str] | None, under: str | None = None) -> datetime | None:
        with self._lock:
            wakes = [
                e.wake_at
                for e in self._executions.values()
                if e.wake_at is not None
                and (tasks is None or e.task_name in tasks)
                and _in_tree(e.id, under)
            ]
            return min(wakes, default=None)

    def unknown_tasks(self, known: Collection[str], now: datetime) -> builtins.list[str]:
        with self._lock:
            return sorted(
                {
                    e.task_name
                    for e in self._executions.values()
                    if e.wake_at is not None and e.wake_at <= now and e.task_name not in known
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
            parent_id=e.parent_id,
            parent_step=e.parent_step,
            created_at=e.created_at,
            updated_at=e.updated_at,
            wake_at=e.wake_at,
            waiting_for=e.waiting_for,
        )

    @staticmethod
    def _step(x: _Record) -> StepRecord:
        return StepRecord(
            name=x.name,
            kind=x.kind,
            status=x.status,
            seq=x.seq,
            step=x.step,
            result=_load(x.result),
            error=_load(x.error),
            attempts=x.attempts,
            wake_at=x.wake_at,
            child_id=x.child_id,
            created_at=x.created_at,
            updated_at=x.updated_at,
        )


def _in_tree(execution_id: str, root: str | None) -> bool:
    """Whether ``execution_id`` is ``root`` or below it (any id when None)."""
    return root is None or execution_id == root or execution_id.startswith(root + ":")
