"""``PostgresStore``'s recurring schedules. A firing locks the due schedule
rows it takes (``FOR UPDATE SKIP LOCKED``: two workers never fire one
schedule at once) and starts their ticks in the same transaction; what a
firing does is ``zart.schedules.fire``'s answer."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from ... import records as r
from ... import schedules
from ...errors import ScheduleAlreadyExists, ScheduleNotFound
from .. import rows
from .connection import Conn, transaction

if TYPE_CHECKING:
    import psycopg


def _same(when: Any) -> Any:
    return when


def _schedule(row: Any) -> r.ScheduleRecord:
    return rows.schedule(row, _same)


def _params(schedule: r.ScheduleRecord) -> dict[str, Any]:
    return rows.schedule_params(schedule, _same)


class PostgresSchedules:
    """The schedule operations of ``PostgresStore`` (a part of it)."""

    # What the store provides.
    now: Callable[[], datetime]
    get: Callable[[str], r.ExecutionRecord]
    cancel: Callable[[str], bool]
    _run: Callable[..., Any]
    _exec: Callable[[Conn, str, dict[str, Any]], psycopg.Cursor[Any]]
    _base: Callable[..., dict[str, Any]]

    def create_schedule(self, schedule: r.ScheduleRecord) -> r.ScheduleRecord:
        def op(conn: Conn) -> None:
            if self._exec(conn, "insert_schedule", _params(schedule)).fetchone() is None:
                raise ScheduleAlreadyExists(schedule.id)
            self._exec(conn, "notify", self._base())

        self._run("create_schedule", op, retry=False)
        return schedule

    def get_schedule(self, schedule_id: str) -> r.ScheduleRecord:
        return _found(
            self._run("get_schedule", lambda conn: _get(self, conn, schedule_id)), schedule_id
        )

    def list_schedules(self) -> builtins.list[r.ScheduleRecord]:
        rows_ = self._run(
            "list_schedules", lambda conn: self._exec(conn, "list_schedules", {}).fetchall()
        )
        return [_schedule(row) for row in rows_]

    def pause_schedule(self, schedule_id: str, paused: bool) -> r.ScheduleRecord:
        def op(conn: Conn) -> r.ScheduleRecord:
            now = self.now()
            with transaction(conn):
                found = _found(_get(self, conn, schedule_id, lock=True), schedule_id)
                changed = attrs.evolve(found, paused=paused, updated_at=now)
                if found.paused and not paused:
                    tick, fire_at = schedules.resumed(found, now)
                    changed = attrs.evolve(changed, next_tick=tick, next_fire_at=fire_at)
                self._exec(conn, "update_schedule", _params(changed))
                self._exec(conn, "notify", self._base())
            return changed

        return self._run("pause_schedule", op)  # type: ignore[no-any-return]

    def delete_schedule(self, schedule_id: str) -> bool:
        row = self._run(
            "delete_schedule",
            lambda conn: self._exec(conn, "delete_schedule", {"id": schedule_id}).fetchone(),
        )
        return row is not None

    def trigger_schedule(self, schedule_id: str) -> r.ExecutionRecord:
        from . import _new, _record

        def op(conn: Conn) -> r.ExecutionRecord | str:
            now = self.now()
            with transaction(conn):
                found = _found(_get(self, conn, schedule_id, lock=True), schedule_id)
                new = schedules.tick_execution(found, now)
                created = self._exec(conn, "create", self._base(**_new(new))).fetchone()
                changed = attrs.evolve(found, last_execution_id=new.id, updated_at=now)
                self._exec(conn, "update_schedule", _params(changed))
            return new.id if created is None else _record(created)

        got = self._run("trigger_schedule", op, retry=False)
        if isinstance(got, str):  # triggered twice in one microsecond
            return self.get(got)
        return got  # type: ignore[no-any-return]

    def fire_schedules(self, tasks: Collection[str] | None, limit: int) -> r.Fired:
        chosen = None if tasks is None else builtins.list(tasks)

        def op(conn: Conn) -> tuple[builtins.list[str], builtins.list[str], Any]:
            now = self.now()
            started: list[str] = []
            cancel: list[str] = []
            with transaction(conn):
                params = {"now": now, "tasks": chosen, "limit": limit}
                for row in self._exec(conn, "due_schedules", params).fetchall():
                    started += _fire(self, conn, _schedule(row), now, cancel)
            (upcoming,) = self._exec(conn, "next_schedule_fire", {"tasks": chosen}).fetchone() or (
                None,
            )
            return started, cancel, upcoming

        started, cancel, upcoming = self._run("fire_schedules", op, retry=False)
        for execution_id in cancel:  # cancel_other: the tick before goes
            self.cancel(execution_id)
        return r.Fired(started=tuple(started), next_fire_at=upcoming)


def _get(store: PostgresSchedules, conn: Conn, schedule_id: str, lock: bool = False) -> Any:
    return store._exec(
        conn, "lock_schedule" if lock else "get_schedule", {"id": schedule_id}
    ).fetchone()


def _found(row: Any, schedule_id: str) -> r.ScheduleRecord:
    if row is None:
        raise ScheduleNotFound(schedule_id)
    return _schedule(row)


def _fire(
    store: PostgresSchedules,
    conn: Conn,
    schedule: r.ScheduleRecord,
    now: datetime,
    cancel: list[str],
) -> list[str]:
    from . import _new

    last = schedule.last_execution_id
    status = None
    if last is not None:
        found = store._exec(conn, "status_of", {"id": last}).fetchone()
        status = None if found is None else found[0]
    firing = schedules.fire(schedule, status, now)
    if firing.cancel_last and last is not None:
        cancel.append(last)
    started = []
    for tick in firing.start:
        new = schedules.tick_execution(schedule, tick)
        if store._exec(conn, "create", store._base(**_new(new))).fetchone() is not None:
            started.append(new.id)
    changed = attrs.evolve(
        schedule,
        next_tick=firing.next_tick,
        next_fire_at=firing.next_fire_at,
        last_tick=firing.last_tick,
        last_execution_id=started[-1] if started else last,
        buffered_tick=firing.buffered,
        updated_at=now,
    )
    store._exec(conn, "update_schedule", _params(changed))
    return started
