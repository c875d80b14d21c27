"""``SqliteStore``'s recurring schedules. A firing is one write transaction
(SQLite's write lock keeps two firings of a schedule apart); what a firing
does is ``zart.schedules.fire``'s answer."""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from ... import records as r
from ... import schedules
from ...errors import ScheduleAlreadyExists, ScheduleNotFound
from .. import rows

if TYPE_CHECKING:
    from .connection import Conn, Connections

_t = rows.micros


def _schedule(row: Any) -> r.ScheduleRecord:
    return rows.schedule(row, rows.from_micros)


class SqliteSchedules:
    """The schedule operations of ``SqliteStore`` (a part of it)."""

    # What the store provides.
    _db: Connections
    now: Callable[[], datetime]
    get: Callable[[str], r.ExecutionRecord]
    cancel: Callable[[str], bool]
    _ring: Callable[[], None]
    _run: Callable[[Conn, str, dict[str, Any]], Any]

    def create_schedule(self, schedule: r.ScheduleRecord) -> r.ScheduleRecord:
        with self._db.tx(write=True) as conn:
            params = rows.schedule_params(schedule, _t)
            if self._run(conn, "insert_schedule", params).rowcount == 0:
                raise ScheduleAlreadyExists(schedule.id)
        self._ring()
        return schedule

    def get_schedule(self, schedule_id: str) -> r.ScheduleRecord:
        with self._db.tx() as conn:
            return _found(self, conn, schedule_id)

    def list_schedules(self) -> builtins.list[r.ScheduleRecord]:
        with self._db.tx() as conn:
            return [_schedule(row) for row in self._run(conn, "list_schedules", {})]

    def pause_schedule(self, schedule_id: str, paused: bool) -> r.ScheduleRecord:
        now = self.now()
        with self._db.tx(write=True) as conn:
            found = _found(self, conn, schedule_id)
            changed = schedules.paused(found, paused, now)
            self._run(conn, "update_schedule", rows.schedule_params(changed, _t))
        self._ring()
        return changed

    def delete_schedule(self, schedule_id: str) -> bool:
        with self._db.tx(write=True) as conn:
            return bool(self._run(conn, "delete_schedule", {"id": schedule_id}).rowcount)

    def trigger_schedule(self, schedule_id: str) -> r.ExecutionRecord:
        now = self.now()
        with self._db.tx(write=True) as conn:
            found = _found(self, conn, schedule_id)
            new = schedules.tick_execution(found, now)
            row = self._run(conn, "insert_execution", {**rows.new_params(new), "now": _t(now)})
            created = row.fetchone()
            changed = attrs.evolve(found, last_execution_id=new.id, updated_at=now)
            self._run(conn, "update_schedule", rows.schedule_params(changed, _t))
        self._ring()
        if created is None:
            return self.get(new.id)  # triggered twice in one microsecond
        return rows.execution(created, rows.from_micros)

    def fire_schedules(self, tasks: Collection[str] | None, limit: int) -> r.Fired:
        now = self.now()
        chosen = None if tasks is None else json.dumps(list(tasks))
        params = {"now": _t(now), "tasks": chosen, "limit": limit}
        # Most looks find nothing due: a read, without taking the write lock.
        with self._db.tx() as conn:
            if self._run(conn, "due_schedules", params).fetchone() is None:
                (upcoming,) = self._run(conn, "next_schedule_fire", {"tasks": chosen}).fetchone()
                return r.Fired(next_fire_at=rows.from_micros(upcoming))
        started: list[str] = []
        cancel: list[str] = []
        with self._db.tx(write=True) as conn:
            for row in self._run(conn, "due_schedules", params).fetchall():
                started += _fire(self, conn, _schedule(row), now, cancel)
            (upcoming,) = self._run(conn, "next_schedule_fire", {"tasks": chosen}).fetchone()
        for execution_id in cancel:  # cancel_other: the tick before goes
            self.cancel(execution_id)
        if started:
            self._ring()
        return r.Fired(started=tuple(started), next_fire_at=rows.from_micros(upcoming))


def _found(store: SqliteSchedules, conn: Conn, schedule_id: str) -> r.ScheduleRecord:
    row = store._run(conn, "get_schedule", {"id": schedule_id}).fetchone()
    if row is None:
        raise ScheduleNotFound(schedule_id)
    return _schedule(row)


def _fire(
    store: SqliteSchedules, conn: Conn, schedule: r.ScheduleRecord, now: Any, cancel: list[str]
) -> list[str]:
    last = schedule.last_execution_id
    status = None
    if last is not None:
        found = store._run(conn, "status_of", {"id": last}).fetchone()
        status = None if found is None else found[0]
    firing = schedules.fire(schedule, status, now)
    if firing.cancel_last and last is not None:
        cancel.append(last)
    started = []
    for tick in firing.start:
        new = schedules.tick_execution(schedule, tick)
        params = {**rows.new_params(new), "now": _t(now)}
        if store._run(conn, "insert_execution", params).fetchone() is not None:
            started.append(new.id)
    changed = schedules.fired(schedule, firing, started, now)
    store._run(conn, "update_schedule", rows.schedule_params(changed, _t))
    return started
