"""``MySQLStore``'s recurring schedules. A firing locks the due schedule
rows it takes (``FOR UPDATE SKIP LOCKED``: two workers never fire one
schedule at once) and starts their ticks in the same transaction; what a
firing does is ``zart.schedules.fire``'s answer."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

import attrs

from ... import records as r
from ... import schedules
from ...errors import ScheduleAlreadyExists, ScheduleNotFound
from .. import rows
from .connection import DUPLICATE_KEY, BatchError, Conn, Result, errno


def _t(when: datetime | None) -> datetime | None:
    from .values import naive

    return naive(when)


def _schedule(row: Any) -> r.ScheduleRecord:
    from .values import aware as _aware

    return rows.schedule(row, _aware)


def _params(schedule: r.ScheduleRecord) -> dict[str, Any]:
    return rows.schedule_params(schedule, _t)


def _found(rows_: tuple[Any, ...], schedule_id: str) -> r.ScheduleRecord:
    if not rows_:
        raise ScheduleNotFound(schedule_id)
    return _schedule(rows_[0])


Steps = list[tuple[str, dict[str, Any] | None]]


class MySQLSchedules:
    """The schedule operations of ``MySQLStore`` (a part of it)."""

    # What the store provides.
    now: Callable[[], datetime]
    get: Callable[[str], r.ExecutionRecord]
    cancel: Callable[[str], bool]
    _run: Callable[..., Any]
    _send: Callable[[Conn, Steps], list[Result]]
    _ring: Callable[[], None]

    def create_schedule(self, schedule: r.ScheduleRecord) -> r.ScheduleRecord:
        def op(conn: Conn) -> None:
            try:
                self._send(conn, [("insert_schedule", _params(schedule))])
            except BatchError as exc:
                if errno(exc.cause) != DUPLICATE_KEY:
                    raise
                raise ScheduleAlreadyExists(schedule.id) from None

        self._run("create_schedule", op, retry=False)
        self._ring()  # idle workers look at when it first fires
        return schedule

    def get_schedule(self, schedule_id: str) -> r.ScheduleRecord:
        got = self._run(
            "get_schedule",
            lambda conn: self._send(conn, [("get_schedule", {"id": schedule_id})])[0].rows,
        )
        return _found(got, schedule_id)

    def list_schedules(self) -> builtins.list[r.ScheduleRecord]:
        got = self._run(
            "list_schedules", lambda conn: self._send(conn, [("list_schedules", None)])[0].rows
        )
        return [_schedule(row) for row in got]

    def pause_schedule(self, schedule_id: str, paused: bool) -> r.ScheduleRecord:
        def op(conn: Conn) -> r.ScheduleRecord:
            now = self.now()
            out = self._send(conn, [("begin", None), ("lock_schedule", {"id": schedule_id})])
            found = _found(out[1].rows, schedule_id)
            changed = schedules.paused(found, paused, now)
            self._send(conn, [("update_schedule", _params(changed)), ("commit", None)])
            return changed

        changed: r.ScheduleRecord = self._run("pause_schedule", op)
        self._ring()
        return changed

    def delete_schedule(self, schedule_id: str) -> bool:
        done = self._run(
            "delete_schedule",
            lambda conn: self._send(conn, [("delete_schedule", {"id": schedule_id})]),
        )
        return bool(done[0].rowcount)

    def trigger_schedule(self, schedule_id: str) -> r.ExecutionRecord:
        def op(conn: Conn) -> str:
            now = self.now()
            out = self._send(conn, [("begin", None), ("lock_schedule", {"id": schedule_id})])
            found = _found(out[1].rows, schedule_id)
            new = schedules.tick_execution(found, now)
            changed = attrs.evolve(found, last_execution_id=new.id, updated_at=now)
            _start(self, conn, new, now)  # False: triggered twice in one microsecond
            self._send(conn, [("update_schedule", _params(changed)), ("commit", None)])
            return new.id

        execution_id = self._run("trigger_schedule", op, retry=False)
        self._ring()
        return self.get(execution_id)

    def fire_schedules(self, tasks: Collection[str] | None, limit: int) -> r.Fired:
        chosen = None if tasks is None else tuple(tasks)
        if chosen == ():
            return r.Fired()
        which = "due_schedules" if chosen is None else "due_schedules_of_tasks"

        def op(conn: Conn) -> tuple[list[str], list[str], Any]:
            now = self.now()
            started: list[str] = []
            cancel: list[str] = []
            params = {"now": _t(now), "tasks": chosen, "limit": limit}
            out = self._send(conn, [("begin", None), (which, params)])
            for row in out[1].rows:
                started += _fire(self, conn, _schedule(row), now, cancel)
            upcoming = "next_schedule_fire" + ("" if chosen is None else "_of_tasks")
            after = self._send(conn, [("commit", None), (upcoming, params)])
            return started, cancel, after[1].rows[0][0]

        started, cancel, upcoming = self._run("fire_schedules", op, retry=False)
        for execution_id in cancel:  # cancel_other: the tick before goes
            self.cancel(execution_id)
        if started:
            self._ring()
        from .values import aware as _aware

        return r.Fired(started=tuple(started), next_fire_at=_aware(upcoming))


def _start(store: MySQLSchedules, conn: Conn, new: r.NewExecution, now: datetime) -> bool:
    """Insert a tick's execution unless its id exists (a tick is started
    once, however many workers fire it); whether it was new. A duplicate
    rolls back only its own statement: the transaction goes on."""
    try:
        store._send(conn, [("create", {**rows.new_params(new), "now": _t(now)})])
    except BatchError as exc:
        if errno(exc.cause) != DUPLICATE_KEY:
            raise
        return False
    return True


def _fire(
    store: MySQLSchedules,
    conn: Conn,
    schedule: r.ScheduleRecord,
    now: datetime,
    cancel: list[str],
) -> list[str]:
    last = schedule.last_execution_id
    status = None
    if last is not None:
        found = store._send(conn, [("status_of", {"id": last})])[0].first()
        status = None if found is None else found[0]
    firing = schedules.fire(schedule, status, now)
    if firing.cancel_last and last is not None:
        cancel.append(last)
    started = []
    for tick in firing.start:
        new = schedules.tick_execution(schedule, tick)
        if _start(store, conn, new, now):
            started.append(new.id)
    changed = schedules.fired(schedule, firing, started, now)
    store._send(conn, [("update_schedule", _params(changed))])
    return started
