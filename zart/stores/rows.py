"""Rows to records and back, for the SQL stores: the columns every store's
``get``, ``claim`` and ``load`` return, in one order, and the documents
kept as JSON text."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import records as r
from ..serde import dumps, loads

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# The order of an execution row in every query that reads one.
EXECUTION_COLUMNS = (
    "id",
    "task_name",
    "kind",
    "status",
    "input",
    "output",
    "error",
    "state",
    "attempt",
    "run",
    "parent_id",
    "parent_step",
    "root_id",
    "created_at",
    "updated_at",
    "wake_at",
    "waiting_for",
    "format_version",
    "trace",
)
_DOCUMENTS = frozenset({"input", "output", "error", "state", "trace"})
_TIMES = frozenset({"created_at", "updated_at", "wake_at"})


def dump(value: Any) -> str | None:
    return None if value is None else dumps(value)


def load(text: Any) -> Any:
    """A document from a column: JSON text, or None."""
    return None if text is None else loads(text)


def micros(when: datetime | None) -> int | None:
    """A datetime as integer microseconds since the epoch (SQLite's times)."""
    return None if when is None else (when - EPOCH) // _MICROSECOND


def from_micros(value: int | None) -> datetime | None:
    return None if value is None else EPOCH + timedelta(microseconds=value)


def execution(row: Sequence[Any], time: Callable[[Any], datetime | None]) -> r.ExecutionRecord:
    """An execution from a row in ``EXECUTION_COLUMNS`` order; ``time``
    reads the store's time columns."""
    fields = dict(zip(EXECUTION_COLUMNS, row[: len(EXECUTION_COLUMNS)], strict=True))
    for name in _DOCUMENTS:
        fields[name] = load(fields[name])
    for name in _TIMES:
        fields[name] = time(fields[name])
    return r.ExecutionRecord(**fields)


def dump_errors(errors: Sequence[r.AttemptError]) -> str | None:
    if not errors:
        return None
    return dumps(
        [
            {"attempt": e.attempt, "type": e.type, "message": e.message, "at": e.at.isoformat()}
            for e in errors
        ]
    )


def load_errors(text: Any) -> tuple[r.AttemptError, ...]:
    entries = load(text) or []
    return tuple(
        r.AttemptError(
            attempt=int(e["attempt"]),
            type=str(e["type"]),
            message=str(e["message"]),
            at=datetime.fromisoformat(e["at"]),
        )
        for e in entries
    )


# The order of a log record in every store's load query.
RECORD_COLUMNS = (
    "name",
    "kind",
    "status",
    "seq",
    "step",
    "result",
    "error",
    "attempts",
    "errors",
    "wake_at",
    "child_id",
    "execution_attempt",
    "started_at",
    "created_at",
    "updated_at",
)


def record(row: Sequence[Any], time: Callable[[Any], datetime | None]) -> r.StepRecord:
    fields = dict(zip(RECORD_COLUMNS, row, strict=True))
    fields["result"] = load(fields["result"])
    fields["error"] = load(fields["error"])
    fields["errors"] = load_errors(fields["errors"])
    for name in ("wake_at", "started_at", "created_at", "updated_at"):
        fields[name] = time(fields[name])
    return r.StepRecord(**fields)


def logs(
    heads: Sequence[tuple[str, int]],
    records: Iterable[Sequence[Any]],
    events: Iterable[Sequence[Any]],
    messages: Iterable[Sequence[Any]],
    time: Callable[[Any], datetime | None],
) -> dict[str, r.Log]:
    """The logs of (id, last seq) from the rows of the server stores' load
    statements: records (execution id first), events and messages."""
    found: dict[str, dict[str, r.StepRecord]] = {eid: {} for eid, _ in heads}
    for row in records:
        found[row[0]][row[1]] = record(row[1:], time)
    offered: dict[str, dict[str, Any]] = {eid: {} for eid, _ in heads}
    for eid, name, payload in events:
        offered[eid][name] = load(payload)
    queues: dict[str, dict[str, list[r.Message]]] = {eid: {} for eid, _ in heads}
    for eid, mid, topic, payload in messages:
        message = r.Message(id=mid, topic=topic, payload=load(payload))
        queues[eid].setdefault(topic, []).append(message)
    return {
        eid: r.Log(
            records=found[eid],
            events=offered[eid],
            messages={t: tuple(q) for t, q in queues[eid].items()},
            last_seq=max(seq, *(x.seq for x in found[eid].values()), 0),
        )
        for eid, seq in heads
    }


def record_params(write: r.RecordWrite, time: Callable[[datetime | None], Any]) -> dict[str, Any]:
    """A record write as the named parameters of every store's upsert."""
    return {
        "name": write.name,
        "seq": write.seq,
        "kind": write.kind,
        "status": write.status,
        "step": write.step,
        "result": dump(write.result),
        "error": dump(write.error),
        "attempts": write.attempts,
        "errors": dump_errors(write.errors),
        "wake_at": time(write.wake_at),
        "child_id": write.child_id,
        "execution_attempt": write.execution_attempt,
        "started_at": time(write.started_at),
    }


def new_params(new: r.NewExecution) -> dict[str, Any]:
    return {
        "id": new.id,
        "task_name": new.task_name,
        "kind": new.kind,
        "input": dump(new.input),
        "parent_id": new.parent_id,
        "parent_step": new.parent_step,
        "root_id": new.root_id,
        "format_version": r.FORMAT_VERSION,
        "trace": dump(new.trace),
    }


def worker_params(info: r.WorkerInfo, now: Any, expires_at: Any) -> dict[str, Any]:
    return {
        "id": info.id,
        "host": info.host,
        "pid": info.pid,
        "tasks": dumps(list(info.tasks)),
        "concurrency": info.concurrency,
        "now": now,
        "expires_at": expires_at,
        "inflight": info.inflight,
    }


def worker(
    row: Sequence[Any], time: Callable[[Any], datetime | None], now: datetime
) -> r.WorkerInfo:
    """A worker from a row of the ``workers`` statement, alive as of ``now``."""
    wid, host, pid, tasks, concurrency, started, beat, expires, inflight = row
    expires_at = time(expires)
    assert expires_at is not None
    return r.WorkerInfo(
        id=wid,
        host=host,
        pid=pid,
        tasks=tuple(load(tasks) or ()),
        concurrency=concurrency,
        started_at=time(started) or now,
        heartbeat_at=time(beat) or now,
        expires_at=expires_at,
        inflight=inflight,
        alive=expires_at > now,
    )


# The order of a schedule row in every store's schedule queries. Durations
# are integer microseconds on every store.
SCHEDULE_COLUMNS = (
    "id",
    "task_name",
    "input",
    "cron",
    "every_us",
    "timezone",
    "overlap",
    "catchup_us",
    "jitter_us",
    "paused",
    "next_tick",
    "next_fire_at",
    "last_tick",
    "last_execution_id",
    "buffered_tick",
    "created_at",
    "updated_at",
)
_SCHEDULE_TIMES = (
    "next_tick",
    "next_fire_at",
    "last_tick",
    "buffered_tick",
    "created_at",
    "updated_at",
)


def _span(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(microseconds=value)


def _span_micros(value: timedelta | None) -> int | None:
    return None if value is None else value // _MICROSECOND


def schedule(row: Sequence[Any], time: Callable[[Any], datetime | None]) -> r.ScheduleRecord:
    fields = dict(zip(SCHEDULE_COLUMNS, row[: len(SCHEDULE_COLUMNS)], strict=True))
    for name in _SCHEDULE_TIMES:
        fields[name] = time(fields[name])
    return r.ScheduleRecord(
        id=fields["id"],
        task_name=fields["task_name"],
        input=load(fields["input"]),
        cron=fields["cron"],
        every=_span(fields["every_us"]),
        timezone=fields["timezone"],
        overlap=fields["overlap"],
        catchup=_span(fields["catchup_us"]) or timedelta(0),
        jitter=_span(fields["jitter_us"]) or timedelta(0),
        paused=bool(fields["paused"]),
        next_tick=fields["next_tick"],
        next_fire_at=fields["next_fire_at"],
        last_tick=fields["last_tick"],
        last_execution_id=fields["last_execution_id"],
        buffered_tick=fields["buffered_tick"],
        created_at=fields["created_at"],
        updated_at=fields["updated_at"],
    )


def schedule_params(s: r.ScheduleRecord, time: Callable[[datetime | None], Any]) -> dict[str, Any]:
    """A schedule as the named parameters of every store's schedule writes."""
    return {
        "id": s.id,
        "task_name": s.task_name,
        "input": dump(s.input),
        "cron": s.cron,
        "every_us": _span_micros(s.every),
        "timezone": s.timezone,
        "overlap": s.overlap,
        "catchup_us": _span_micros(s.catchup),
        "jitter_us": _span_micros(s.jitter),
        "paused": s.paused,
        **{name: time(getattr(s, name)) for name in _SCHEDULE_TIMES},
        "last_execution_id": s.last_execution_id,
    }
