"""Records as JSON documents, one shape for every way out: the CLI's
``--json``, the HTTP API and the dashboard's data.

Times are ISO 8601 strings (UTC); documents (inputs, outputs, results,
errors) are the JSON they were stored as; nothing else is added.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from .records import AttemptError, ExecutionRecord, ScheduleRecord, StepRecord, WorkerInfo


def when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def seconds(value: timedelta | None) -> float | None:
    """A span as seconds (JSON has no duration type)."""
    return None if value is None else value.total_seconds()


def execution(record: ExecutionRecord) -> dict[str, Any]:
    """An execution. ``name`` is what it is called: a child by its name in
    its parent's log, anything else by its task."""
    return {
        "id": record.id,
        "name": record.name,
        "task": record.task_name,
        "kind": record.kind,
        "status": record.status,
        "input": record.input,
        "output": record.output,
        "error": record.error,
        "state": record.state,
        "attempt": record.attempt,
        "run": record.run,
        "parent_id": record.parent_id,
        "root_id": record.root_id,
        "created_at": when(record.created_at),
        "updated_at": when(record.updated_at),
        "wake_at": when(record.wake_at),
        "waiting_for": record.waiting_for,
    }


def attempt_error(error: AttemptError) -> dict[str, Any]:
    return {
        "attempt": error.attempt,
        "type": error.type,
        "message": error.message,
        "at": when(error.at),
    }


def step(record: StepRecord) -> dict[str, Any]:
    """A log record, with each failed attempt's error and its duration (for
    a step whose start is known)."""
    duration = None
    if record.started_at is not None and record.updated_at is not None:
        duration = max(0.0, (record.updated_at - record.started_at).total_seconds())
    return {
        "name": record.name,
        "kind": record.kind,
        "status": record.status,
        "seq": record.seq,
        "step": record.step,
        "result": record.result,
        "error": record.error,
        "attempts": record.attempts,
        "errors": [attempt_error(e) for e in record.errors],
        "wake_at": when(record.wake_at),
        "child_id": record.child_id,
        "started_at": when(record.started_at),
        "created_at": when(record.created_at),
        "updated_at": when(record.updated_at),
        "duration": duration,
    }


def worker(info: WorkerInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "host": info.host,
        "pid": info.pid,
        "tasks": list(info.tasks),
        "concurrency": info.concurrency,
        "inflight": info.inflight,
        "alive": info.alive,
        "started_at": when(info.started_at),
        "heartbeat_at": when(info.heartbeat_at),
        "expires_at": when(info.expires_at),
    }


def served_tasks(workers: Iterable[WorkerInfo]) -> frozenset[str]:
    """The tasks some live worker serves (``client.served``, read once for
    a whole list of schedules)."""
    return frozenset(task for info in workers if info.alive for task in info.tasks)


def schedule(record: ScheduleRecord, served: bool) -> dict[str, Any]:
    """A recurring schedule. ``every``, ``catchup`` and ``jitter`` are
    seconds; ``next_fire_at`` is when ``next_tick`` starts (later by its
    jitter). ``served``: whether a live worker serves its task; a schedule
    nobody serves still ticks, but its executions wait for a worker."""
    return {
        "id": record.id,
        "task": record.task_name,
        "input": record.input,
        "cron": record.cron,
        "every": seconds(record.every),
        "timezone": record.timezone,
        "overlap": record.overlap,
        "catchup": seconds(record.catchup),
        "jitter": seconds(record.jitter),
        "paused": record.paused,
        "next_tick": when(record.next_tick),
        "next_fire_at": when(record.next_fire_at),
        "last_tick": when(record.last_tick),
        "last_execution_id": record.last_execution_id,
        "buffered_tick": when(record.buffered_tick),
        "created_at": when(record.created_at),
        "updated_at": when(record.updated_at),
        "served": served,
    }
