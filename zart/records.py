"""The data that crosses between the interpreter, the hosts and the stores.

Every value here is never changed once built (frozen, but for the two built
on every step) and holds JSON-ready Python values (dicts, lists, strings,
numbers, None) for payloads, never live objects: a store only has to write
them as JSON, and anything it reads back is rebuilt by the converter.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

# Execution statuses.
PENDING = "pending"
RUNNING = "running"
SLEEPING = "sleeping"
WAITING = "waiting"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
FINAL_STATUSES = frozenset({COMPLETED, FAILED, CANCELLED})
STATUSES = (PENDING, RUNNING, SLEEPING, WAITING, COMPLETED, FAILED, CANCELLED)

# Execution kinds: a workflow runs a generator; a step child runs one step
# that a workflow scheduled (it rebuilds the step by replaying its parent).
WORKFLOW = "workflow"
STEP = "step"

# Log record kinds and statuses. A record is keyed by (execution_id, name).
K_STEP, K_SLEEP, K_EVENT, K_SCHEDULE, K_CAPTURE = "step", "sleep", "event", "schedule", "capture"
R_COMPLETED = "completed"  # a value (step result, event payload, capture, child output)
R_ERROR = "error"  # a business error, stored with its fields
R_FAILED = "failed"  # a framework error after the retry policy was spent
R_RETRYING = "retrying"  # a step waiting for its backoff timer (wake_at)
R_WAITING = "waiting"  # a sleep or an event wait not yet over (wake_at)
R_TIMED_OUT = "timed_out"  # an event wait whose deadline passed first
R_PENDING = "pending"  # a scheduled child still running
R_CANCELLED = "cancelled"  # a scheduled child that was cancelled
R_FINAL = frozenset({R_COMPLETED, R_ERROR, R_FAILED, R_TIMED_OUT, R_CANCELLED})

# Bumped when the shape of stored rows changes; stored with each execution.
FORMAT_VERSION = 1


@attrs.frozen(kw_only=True)
class ExecutionRecord:
    """One execution as stored."""

    id: str
    task_name: str
    status: str
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    state: Any = None
    attempt: int = 0
    parent_id: str | None = None
    parent_step: str | None = None
    kind: str = WORKFLOW
    created_at: datetime
    updated_at: datetime
    wake_at: datetime | None = None
    waiting_for: str | None = None
    format_version: int = FORMAT_VERSION

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


@attrs.frozen(kw_only=True)
class StepRecord:
    """One entry of an execution's log."""

    name: str
    kind: str
    status: str
    seq: int = 0
    step: str | None = None  # the step's identity (its template), or the child's task
    result: Any = None
    error: dict[str, Any] | None = None
    attempts: int = 0
    wake_at: datetime | None = None
    child_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


# RecordWrite and Commit are built on every step: they are not frozen,
# because a frozen attrs class sets each field through object.__setattr__,
# which made building them cost twice as much (about 11% of a step's
# instructions with the interpreter's decisions). Nothing changes them once
# built; treat them as values. Nor are their fields keyword-only: building
# a class with keywords packs them into a dict and unpacks it again for
# __init__, which cost a RecordWrite 580 ns against 250 ns by position. The
# interpreter builds them by position; everything else names the fields.
@attrs.define
class RecordWrite:
    """Insert or replace one log record (keyed by name).

    ``seq`` numbers a new name in the log; a name already there keeps its
    own. The lease holder numbers its records (the interpreter does, from
    ``Log.last_seq``): it is the only writer of new names while its lease
    holds, so the store need not keep a counter row up to date per step.
    """

    name: str
    kind: str
    status: str
    seq: int
    step: str | None = None
    result: Any = None
    error: dict[str, Any] | None = None
    attempts: int = 0
    wake_at: datetime | None = None
    child_id: str | None = None
    # The writer's log had no record of this name: a store may insert it
    # without looking for one. A hint only: a store must stay correct when a
    # record is there after all (a retried commit whose first try landed).
    first: bool = False


@attrs.frozen(kw_only=True)
class NewExecution:
    """What a store needs to create an execution."""

    id: str
    task_name: str
    input: Any = None
    kind: str = WORKFLOW
    parent_id: str | None = None
    parent_step: str | None = None  # the schedule record in the parent's log


@attrs.frozen
class Lease:
    """Proof of ownership: every write by a worker is fenced by its token.

    ``parent_id`` is the execution's parent as the claim saw it (it never
    changes). It is a hint that lets a store plan how an outcome propagates
    before it reads the row; a store must not trust it for correctness.
    """

    execution_id: str
    token: int
    parent_id: str | None = attrs.field(default=None, eq=False, kw_only=True)


@attrs.frozen
class Claimed:
    record: ExecutionRecord
    lease: Lease
    # The log, when the claim could tell it is empty (no record, no event):
    # the host then skips ``load``, a round trip per new execution on a
    # server. An event offered after the claim is no loss: a suspend on it
    # finds the event and leaves the execution due.
    log: Log | None = None


@attrs.frozen(kw_only=True)
class Log:
    """What a host loads to replay an execution: its records and its events."""

    records: Mapping[str, StepRecord]  # in order of first record
    events: Mapping[str, Any]  # offered events by name, consumed or not
    # The highest seq the log has ever given, deleted records included (a
    # retry drops failed step records; their names come back with new seqs).
    last_seq: int = 0


# The outcomes a commit can carry. A commit without one only writes records.


@attrs.frozen(kw_only=True)
class Suspend:
    """Release the execution until ``wake_at``, an event, or the children.

    ``event``: wake when this event is offered. ``children``: the names of
    schedule records to wait for; the last of them to finish re-queues the
    execution once. ``wake_at`` is a timer or a deadline (None: no deadline).
    """

    wake_at: datetime | None = None
    event: str | None = None
    children: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Complete:
    output: Any = None


@attrs.frozen(kw_only=True)
class Fail:
    error: dict[str, Any]
    business: bool = False


@attrs.frozen(kw_only=True)
class RetryExecution:
    """The attempt failed and the task may retry: bump the attempt, re-queue
    at ``wake_at``, and drop the log's failed step records so they run afresh."""

    error: dict[str, Any]
    wake_at: datetime


Outcome = Suspend | Complete | Fail | RetryExecution

_UNSET: Any = object()


@attrs.define  # not frozen, nor keyword-only: see RecordWrite
class Commit:
    """One atomic, lease-fenced write: records, children, state, and maybe an outcome."""

    records: tuple[RecordWrite, ...] = ()
    children: tuple[NewExecution, ...] = ()
    state: Any = _UNSET
    outcome: Outcome | None = None

    @property
    def has_state(self) -> bool:
        return self.state is not _UNSET

    @property
    def is_empty(self) -> bool:
        return not self.records and not self.children and not self.has_state and not self.outcome


UNSET = _UNSET
# The commit that writes nothing. The interpreter hands out this one object
# for every empty commit, so a host tells it by identity on every step
# (``is_empty`` would cost a Python call each time).
NO_WRITES = Commit()
