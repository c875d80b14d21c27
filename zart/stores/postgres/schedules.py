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
                changed = schedules.paused(found, paused, now)
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
            with transaction(conn):
                params = {"now": now, "tasks": chosen, "limit": limit}
                due = [_schedule(row) for row in self._exec(conn, "due_schedules", params)]
                started, cancel = _fire_all(self, conn, due, now) if due else ([], [])
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


def _fire_all(
    store: PostgresSchedules, conn: Conn, due: list[r.ScheduleRecord], now: datetime
) -> tuple[list[str], list[str]]:
    """Fire a batch of locked schedules in three statements: the last
    ticks' statuses, the new ticks, the schedules' new rows. The ticks
    started, and the executions ``cancel_other`` cancels."""
    lasts = [s.last_execution_id for s in due if s.last_execution_id is not None]
    statuses = dict(store._exec(conn, "statuses_of", {"ids": lasts}).fetchall()) if lasts else {}
    firings = [(s, schedules.fire(s, statuses.get(s.last_execution_id or ""), now)) for s in due]
    ticks = [schedules.tick_execution(s, tick) for s, f in firings for tick in f.start]
    created: set[str] = set()
    if ticks:
        params = store._base(
            ids=[t.id for t in ticks],
            task_names=[t.task_name for t in ticks],
            inputs=[rows.dump(t.input) for t in ticks],
            format_version=r.FORMAT_VERSION,
        )
        created = {row[0] for row in store._exec(conn, "insert_ticks", params)}
    changed = []
    for schedule, firing in firings:
        mine = [schedules.tick_id(schedule.id, t) for t in firing.start]
        started = [eid for eid in mine if eid in created]
        changed.append((schedule, firing, started[-1] if started else schedule.last_execution_id))
    store._exec(conn, "update_schedules", _batch(changed, now))
    cancel = [s.last_execution_id for s, f in firings if f.cancel_last and s.last_execution_id]
    return [t.id for t in ticks if t.id in created], cancel


def _batch(
    changed: list[tuple[r.ScheduleRecord, schedules.Firing, str | None]], now: datetime
) -> dict[str, Any]:
    return {
        "now": now,
        "ids": [s.id for s, _, _ in changed],
        "next_ticks": [f.next_tick for _, f, _ in changed],
        "next_fire_ats": [f.next_fire_at for _, f, _ in changed],
        "last_ticks": [f.last_tick for _, f, _ in changed],
        "last_execution_ids": [last for _, _, last in changed],
        "buffered_ticks": [f.buffered for _, f, _ in changed],
    }
