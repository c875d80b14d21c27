"""The store rules, stated once.

Every store (memory, SQLite, PostgreSQL, MySQL) keeps executions as rows
and logs as records; what a transition does to a row is decided here, in
pure code, and each store only translates the answer into a dict change or
into its named SQL. Each function takes the facts a store has read (inside
the transaction that writes the answer) and returns the values to write.

The row an execution is:
- ``status`` (``records.STATUSES``) and ``wake_at``, the moment it becomes
  claimable: due work is ``wake_at <= now``. A final or stalled execution,
  or one waiting with no deadline, has none. A running one holds its lease
  until ``wake_at``; past it, another worker may claim it.
- ``waiting_for``: what wakes a waiting execution besides its deadline (see
  ``waits_for``): ``event:<name>``, ``topic:<topic>`` or ``children``.
- ``token``: bumped by every claim and every cancel; each write of a lease
  holder is fenced by it (status running and the same token).
- ``record_status``: for a child, what its schedule record in the parent's
  log reads as once it ended (None while it runs); ``awaited``: the parent
  waits on it. A finishing awaited child wakes its parent when no awaited
  sibling is open any more (``parent_due``), after its own write.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs

from .. import records as r
from ..errors import EventRejected, ForkRefused, MessageRejected, RetryRefused

CHILDREN = "children"  # waiting_for: the awaited children
_EVENT = "event:"  # waiting_for: the event of this name
_TOPIC = "topic:"  # waiting_for: a message on this topic
CANCEL_ERROR = {"kind": "error", "type": "Cancelled", "message": "cancelled"}


def waits_for(suspend: r.Suspend) -> str | None:
    """What, besides its deadline, wakes an execution that suspended so."""
    if suspend.event is not None:
        return event_key(suspend.event)
    if suspend.topic is not None:
        return _TOPIC + suspend.topic
    return CHILDREN if suspend.children else None


def event_key(name: str) -> str:
    """``waiting_for`` of an execution waiting for the event ``name`` (a
    prefix of its own: an event may be called "children" or "topic:x")."""
    return _EVENT + name


def topic_key(topic: str) -> str:
    """``waiting_for`` of an execution waiting for a message on ``topic``."""
    return _TOPIC + topic


@attrs.frozen(kw_only=True)
class Row:
    """The columns a transition sets on an execution row."""

    status: str
    wake_at: datetime | None
    waiting_for: str | None = None


def claimed(now: datetime, lease: timedelta) -> Row:
    return Row(status=r.RUNNING, wake_at=now + lease)


def released(now: datetime) -> Row:
    """A lease given back: due again at once."""
    return Row(status=r.PENDING, wake_at=now)


def suspended(suspend: r.Suspend, *, already_woken: bool, now: datetime) -> Row:
    """The row after a suspend. ``already_woken``: what it waits for is
    there already (the event offered, a message on the topic, no awaited
    child open), so it stays due now instead."""
    if already_woken:
        return Row(status=r.PENDING, wake_at=now)
    waiting = waits_for(suspend)
    return Row(
        status=r.SLEEPING if waiting is None else r.WAITING,
        wake_at=suspend.wake_at,
        waiting_for=waiting,
    )


def woken_by_suspend_facts(
    suspend: r.Suspend, *, event_there: bool, message_there: bool, open_children: int
) -> bool:
    """Whether a suspend finds its wake-up there already."""
    if suspend.event is not None:
        return event_there
    if suspend.topic is not None:
        return message_there
    return bool(suspend.children) and open_children == 0


@attrs.frozen(kw_only=True)
class Ended:
    """The columns a final outcome sets (besides status: wake_at and
    waiting_for are cleared, the lease released)."""

    status: str
    record_status: str  # what the parent's schedule record reads as
    output: Any = None
    error: dict[str, Any] | None = None


def ended(outcome: r.Complete | r.Fail) -> Ended:
    if isinstance(outcome, r.Complete):
        return Ended(status=r.COMPLETED, record_status=r.R_COMPLETED, output=outcome.output)
    return Ended(
        status=r.FAILED,
        record_status=r.R_ERROR if outcome.business else r.R_FAILED,
        error=outcome.error,
    )


def cancelled() -> Ended:
    return Ended(status=r.CANCELLED, record_status=r.R_CANCELLED, error=CANCEL_ERROR)


@attrs.frozen(kw_only=True)
class Again:
    """An execution that runs again: pending at ``wake_at``, ``attempt``
    and ``run`` as given, ``input`` replaced when ``new_input``."""

    wake_at: datetime
    attempt: int
    run: int
    error: dict[str, Any] | None
    new_input: bool = False
    input: Any = None


def retried(outcome: r.RetryExecution, *, attempt: int, run: int) -> Again:
    """A retry under ``max_retries``: the next attempt, keeping the error."""
    return Again(wake_at=outcome.wake_at, attempt=attempt + 1, run=run, error=outcome.error)


def continued(outcome: r.ContinueAsNew, *, now: datetime, run: int) -> Again:
    """``continue_as_new``: the next run, with its new input, from attempt 0."""
    return Again(
        wake_at=now, attempt=0, run=run + 1, error=None, new_input=True, input=outcome.input
    )


def rerun(execution_id: str, status: str, *, attempt: int, run: int, now: datetime) -> Again:
    """``client.retry`` of an execution (or a parent's retry of a failed
    child): only a failed, cancelled or stalled one runs again."""
    if status not in r.RETRYABLE_STATUSES:
        raise RetryRefused(execution_id, status)
    return Again(wake_at=now, attempt=attempt + 1, run=run, error=None)


def stalled(outcome: r.Stall) -> Row:
    return Row(status=r.STALLED, wake_at=None)


def accepts_event(execution_id: str, name: str, status: str) -> None:
    if status in r.FINAL_STATUSES:
        raise EventRejected(execution_id, name, status)


def sent_before(key: str, topic: str, first: tuple[int, str]) -> int:
    """A send whose idempotency key the execution has seen stores nothing
    and answers the first message's id; the key on another topic is a
    mistake, not a retry."""
    message_id, first_topic = first
    if first_topic != topic:
        raise ValueError(
            f"idempotency_key {key!r} was used for a message on topic {first_topic!r}, "
            f"not {topic!r}"
        )
    return message_id


def accepts_message(execution_id: str, topic: str, status: str) -> None:
    if status in r.FINAL_STATUSES:
        raise MessageRejected(execution_id, topic, status)


def woken_by_event(status: str, waiting_for: str | None, name: str) -> bool:
    return status == r.WAITING and waiting_for == event_key(name)


def woken_by_message(status: str, waiting_for: str | None, topic: str) -> bool:
    return status == r.WAITING and waiting_for == topic_key(topic)


def parent_due(parent_status: str, parent_waiting_for: str | None, open_awaited: int) -> bool:
    """Whether a parent becomes due now that one of its awaited children ended."""
    return parent_status == r.WAITING and parent_waiting_for == CHILDREN and open_awaited == 0


def is_due(status: str, wake_at: datetime | None, now: datetime) -> bool:
    """Whether a row may be claimed now (every store's claim filter)."""
    return wake_at is not None and wake_at <= now and status not in r.FINAL_STATUSES


def record_status_of_child(record_status: str | None, schedule_status: str) -> str:
    """What a schedule record reads as: its child's outcome once it ended."""
    return schedule_status if record_status is None else record_status


DESCENDANT_STATUSES_TO_CANCEL = frozenset(set(r.STATUSES) - r.FINAL_STATUSES)


DEAD_WORKERS_KEPT = timedelta(days=1)  # how long a dead worker's row stays visible


def worker_alive(expires_at: datetime, now: datetime) -> bool:
    """A worker is alive while its last heartbeat's lease holds."""
    return expires_at > now


def worker_lease(info: r.WorkerInfo) -> timedelta:
    """How long a registration holds without a heartbeat."""
    return info.expires_at - info.heartbeat_at


@attrs.frozen(kw_only=True)
class Fork:
    """What a fork writes: the new execution, the records copied into its
    log (``last_seq`` the highest), the events offered to the source and
    the messages it will find waiting, as (topic, payload) in order."""

    new: r.NewExecution
    records: tuple[r.RecordWrite, ...]
    last_seq: int
    events: dict[str, Any]
    messages: tuple[tuple[str, Any], ...]


def fork(source: r.ExecutionRecord, log: r.Log, *, from_step: str, new_id: str) -> Fork:
    """``client.fork``: a new execution of the same task and input whose log
    holds the source's records before ``from_step``'s (the current run's),
    so they replay and everything from ``from_step`` on runs anew.

    Copied records count as the new execution's own first attempt. A
    child scheduled before the cut is shared, not copied: its schedule
    record keeps its id and reads its outcome, so it must have ended. The
    fork finds every event offered to the source, and the messages the
    copied log did not consume: those consumed at or after the cut (their
    payloads are in those records) and those still queued."""
    eid = source.id
    if source.kind == r.STEP:
        raise ForkRefused(eid, "it is a step child; fork the workflow that scheduled it")
    cut = log.records.get(from_step)
    if cut is None:
        names = ", ".join(repr(name) for name in list(log.records)[:20]) or "none"
        raise ForkRefused(eid, f"its log has no record named {from_step!r} (it has: {names})")
    kept = [rec for rec in log.records.values() if rec.seq < cut.seq]
    for rec in kept:
        if rec.status not in r.R_FINAL:
            raise ForkRefused(
                eid,
                f"{rec.kind} {rec.name!r}, before {from_step!r}, was still {rec.status}; "
                "fork from a step before it or after it ended",
            )
    again = [rec for rec in log.records.values() if rec.seq >= cut.seq]
    messages = [
        (rec.step or "", rec.result)
        for rec in again
        if rec.kind == r.K_MESSAGE and rec.status == r.R_COMPLETED
    ]
    for topic, queue in log.messages.items():
        messages.extend((topic, m.payload) for m in queue)
    return Fork(
        new=r.NewExecution(
            id=new_id, task_name=source.task_name, input=source.input, kind=source.kind
        ),
        records=tuple(_copied(rec) for rec in kept),
        last_seq=max((rec.seq for rec in kept), default=0),
        events=dict(log.events),
        messages=tuple(messages),
    )


def _copied(rec: r.StepRecord) -> r.RecordWrite:
    return r.RecordWrite(
        name=rec.name,
        kind=rec.kind,
        status=rec.status,
        seq=rec.seq,
        step=rec.step,
        result=rec.result,
        error=rec.error,
        attempts=rec.attempts,
        errors=rec.errors,
        wake_at=rec.wake_at,
        child_id=rec.child_id,
        started_at=rec.started_at,
    )
