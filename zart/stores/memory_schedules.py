"""The memory store's recurring schedules (a part of ``MemoryStore``)."""

from __future__ import annotations

import builtins
import contextlib
import threading
from collections.abc import Callable, Collection
from datetime import datetime

import attrs

from .. import records as r
from .. import schedules
from ..errors import ExecutionAlreadyExists, ScheduleAlreadyExists, ScheduleNotFound


class MemorySchedules:
    """Schedules in a dict; every operation under the store's lock."""

    # What the store provides.
    _lock: threading.RLock
    _changed: threading.Condition
    now: Callable[[], datetime]
    create: Callable[[r.NewExecution], r.ExecutionRecord]
    get: Callable[[str], r.ExecutionRecord]
    cancel: Callable[[str], bool]

    def __init__(self) -> None:
        self._schedules: dict[str, r.ScheduleRecord] = {}

    def create_schedule(self, schedule: r.ScheduleRecord) -> r.ScheduleRecord:
        with self._lock:
            if schedule.id in self._schedules:
                raise ScheduleAlreadyExists(schedule.id)
            self._schedules[schedule.id] = schedule
            self._changed.notify_all()
            return schedule

    def get_schedule(self, schedule_id: str) -> r.ScheduleRecord:
        with self._lock:
            found = self._schedules.get(schedule_id)
            if found is None:
                raise ScheduleNotFound(schedule_id)
            return found

    def list_schedules(self) -> builtins.list[r.ScheduleRecord]:
        with self._lock:
            return [self._schedules[key] for key in sorted(self._schedules)]

    def pause_schedule(self, schedule_id: str, paused: bool) -> r.ScheduleRecord:
        with self._lock:
            found, now = self.get_schedule(schedule_id), self.now()
            changed = schedules.paused(found, paused, now)
            self._schedules[schedule_id] = changed
            self._changed.notify_all()
            return changed

    def delete_schedule(self, schedule_id: str) -> bool:
        with self._lock:
            return self._schedules.pop(schedule_id, None) is not None

    def trigger_schedule(self, schedule_id: str) -> r.ExecutionRecord:
        with self._lock:
            found, now = self.get_schedule(schedule_id), self.now()
            record = self.create(schedules.tick_execution(found, now))
            self._schedules[schedule_id] = attrs.evolve(
                found, last_execution_id=record.id, updated_at=now
            )
            return record

    def fire_schedules(self, tasks: Collection[str] | None, limit: int) -> r.Fired:
        with self._lock:
            now, started = self.now(), []
            mine = [s for s in self._schedules.values() if tasks is None or s.task_name in tasks]
            due = sorted(
                (s for s in mine if not s.paused and s.next_fire_at <= now),
                key=lambda s: s.next_fire_at,
            )
            for schedule in due[:limit]:
                started += self._fire(schedule, now)
            upcoming = [
                s.next_fire_at
                for s in self._schedules.values()
                if not s.paused and (tasks is None or s.task_name in tasks)
            ]
            return r.Fired(started=tuple(started), next_fire_at=min(upcoming, default=None))

    def _fire(self, schedule: r.ScheduleRecord, now: datetime) -> list[str]:
        last = schedule.last_execution_id
        status = self._status(last) if last is not None else None
        firing = schedules.fire(schedule, status, now)
        if firing.cancel_last and last is not None:
            self.cancel(last)
        started = []
        for tick in firing.start:
            new = schedules.tick_execution(schedule, tick)
            with contextlib.suppress(ExecutionAlreadyExists):  # a trigger at that instant
                started.append(self.create(new).id)
        self._schedules[schedule.id] = schedules.fired(schedule, firing, started, now)
        return started

    def _status(self, execution_id: str) -> str | None:
        try:
            return self.get(execution_id).status
        except LookupError:
            return None
