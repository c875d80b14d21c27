"""The data that crosses between the interpreter, the hosts and the stores.

Every value here is frozen and built by keyword. The few built on every
step (a record write, a commit, a decision) keep their fields in a dict
rather than slots: attrs initialises a frozen dict-backed class about a
third faster, and none of them lives long enough for the memory to matter. Payloads are JSON-ready
Python values (dicts, lists, strings, numbers, None), never live objects: a
store only has to write them as JSON, and anything it reads back is rebuilt
by the converter. Nothing here tells a store how to store it: a store keeps
what it needs to itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

# Execution statuses.
PENDING = "pending"
RUNNING = "running"
SLEEPING = "sleeping"
WAITING = "waiting"
STALLED = "stalled"  # the code no longer matches the log: parked until a retry
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
FINAL_STATUSES = frozenset({COMPLETED, FAILED, CANCELLED})
RETRYABLE_STATUSES = frozenset({FAILED, CANCELLED, STALLED})
STATUSES = (PENDING, RUNNING, SLEEPING, WAITING, STALLED, COMPLETED, FAILED, CANCELLED)

# Execution kinds: a workflow runs a generator; a step child runs one step
# that a workflow scheduled (it rebuilds the step by replaying its parent);
# a failure handler is the workflow an execution's ``on_failure`` names, run
# once when it failed for good (its own failure runs no handler in turn).
WORKFLOW = "workflow"
STEP = "step"
FAILURE_HANDLER = "failure-handler"

# Log record kinds. A record is keyed by (execution_id, run, name).
K_STEP = "step"
K_SLEEP = "sleep"
K_EVENT = "event"
K_SCHEDULE = "schedule"
K_CAPTURE = "capture"
K_PATCH = "patch"  # a zart.patched marker
K_MESSAGE = "message"  # a zart.receive
KINDS = (K_STEP, K_SLEEP, K_EVENT, K_SCHEDULE, K_CAPTURE, K_PATCH, K_MESSAGE)

# Log record statuses.
R_COMPLETED = "completed"  # a value (step result, event payload, capture, child output)
R_ERROR = "error"  # a business error, stored with its fields
R_FAILED = "failed"  # a framework error after the retry policy was spent
R_RETRYING = "retrying"  # a step waiting for its backoff timer (wake_at)
R_WAITING = "waiting"  # a sleep, event or message wait not yet over (wake_at: deadline)
R_TIMED_OUT = "timed_out"  # an event or message wait whose deadline passed first
R_PENDING = "pending"  # a scheduled child still running
R_CANCELLED = "cancelled"  # a scheduled child that was cancelled
R_FINAL = frozenset({R_COMPLETED, R_ERROR, R_FAILED, R_TIMED_OUT, R_CANCELLED})

# Bumped when the shape of stored rows changes; stored with each execution.
FORMAT_VERSION = 2


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
    run: int = 1  # goes up at each continue_as_new
    parent_id: str | None = None
    parent_step: str | None = None
    root_id: str | None = None  # the top of its tree; None for a top-level execution
    kind: str = WORKFLOW
    created_at: datetime
    updated_at: datetime
    wake_at: datetime | None = None
    waiting_for: str | None = None
    format_version: int = FORMAT_VERSION
    # The W3C trace context of the code that created it (zart.otel), or None.
    trace: dict[str, str] | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def name(self) -> str:
        """What the execution is called: a child by its name in its parent's
        log, anything else by its task."""
        return self.parent_step if self.parent_step is not None else self.task_name


@attrs.frozen(kw_only=True)
class AttemptError:
    """One failed attempt of a step, kept in its record's history."""

    attempt: int  # 1-based, over every round of the execution
    type: str
    message: str
    at: datetime


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
    # Failed attempts, oldest first, over every attempt of the execution.
    errors: tuple[AttemptError, ...] = ()
    wake_at: datetime | None = None
    child_id: str | None = None
    # The execution attempt that wrote this record: a failed outcome written
    # by an earlier attempt runs afresh (see the interpreter).
    execution_attempt: int = 0
    started_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@attrs.frozen(kw_only=True, slots=False)
class RecordWrite:
    """Insert or replace one log record (keyed by name).

    ``seq`` numbers a name in the log. The lease holder numbers new names
    from ``Log.last_seq`` and sends a known name with the seq its log gave it:
    while its lease holds it is the only writer of the log.
    """

    name: str
    kind: str
    status: str
    seq: int
    step: str | None = None
    result: Any = None
    error: dict[str, Any] | None = None
    attempts: int = 0
    errors: tuple[AttemptError, ...] = ()
    wake_at: datetime | None = None
    child_id: str | None = None
    execution_attempt: int = 0
    started_at: datetime | None = None


@attrs.frozen(kw_only=True)
class NewExecution:
    """What a store needs to create an execution."""

    id: str
    task_name: str
    input: Any = None
    kind: str = WORKFLOW
    parent_id: str | None = None
    parent_step: str | None = None  # the schedule record in the parent's log
    root_id: str | None = None  # the top of its tree (None: itself)
    trace: dict[str, str] | None = None  # the creator's trace context (zart.tracecontext)


@attrs.frozen(kw_only=True)
class Lease:
    """Proof of ownership: every write by a worker is fenced by its token."""

    execution_id: str
    token: int


@attrs.frozen(kw_only=True)
class Message:
    """One message sent to an execution on a topic (``client.send``)."""

    id: int  # the store's order of sending
    topic: str
    payload: Any = None


@attrs.frozen(kw_only=True)
class Log:
    """What a host replays an execution from: its records, its events and
    the messages not consumed yet."""

    records: Mapping[str, StepRecord]  # in order of first record
    events: Mapping[str, Any]  # offered events by name, consumed or not
    # Unconsumed messages by topic, oldest first.
    messages: Mapping[str, tuple[Message, ...]] = attrs.field(factory=dict)
    # The highest seq the log has ever given (a continued run keeps counting).
    last_seq: int = 0


EMPTY_LOG = Log(records={}, events={})


@attrs.frozen(kw_only=True)
class Claimed:
    """A claimed execution, its lease, and the log to run it from."""

    record: ExecutionRecord
    lease: Lease
    log: Log
    # When it became due (None for one created already claimed): how long
    # it waited for a worker is the claim's time less this.
    due_at: datetime | None = None


@attrs.frozen(kw_only=True)
class WorkerInfo:
    """A worker as it records itself in the store."""

    id: str
    host: str
    pid: int
    tasks: tuple[str, ...]
    concurrency: int
    started_at: datetime
    heartbeat_at: datetime
    expires_at: datetime  # past it, the worker counts as dead
    inflight: int = 0  # executions it held at its last heartbeat
    alive: bool = True


@attrs.frozen(kw_only=True)
class ScheduleRecord:
    """A recurring schedule (``client.create_schedule``) as stored.

    ``next_tick`` is the next time it ticks and ``next_fire_at`` when that
    tick is started (later by its share of ``jitter``); ``buffered_tick``
    is a tick ``buffer_one`` holds until the last tick's execution ends.
    """

    id: str
    task_name: str
    input: Any = None
    cron: str | None = None
    every: timedelta | None = None
    timezone: str = "UTC"
    overlap: str = "skip"
    catchup: timedelta = timedelta(0)
    jitter: timedelta = timedelta(0)
    paused: bool = False
    next_tick: datetime
    next_fire_at: datetime
    last_tick: datetime | None = None
    last_execution_id: str | None = None
    buffered_tick: datetime | None = None
    created_at: datetime
    updated_at: datetime


@attrs.frozen(kw_only=True)
class Fired:
    """What ``Store.fire_schedules`` did: the executions it started, and
    when the next schedule of those tasks fires (None: none is active)."""

    started: tuple[str, ...] = ()
    next_fire_at: datetime | None = None


# -- the outcomes a commit can carry ------------------------------------------


@attrs.frozen(kw_only=True)
class Suspend:
    """Release the execution until ``wake_at``, an event, a message or children.

    ``event``: wake when this event is offered. ``topic``: wake when a message
    arrives on it. ``children``: the names of schedule records to wait for;
    the last of them to finish re-queues the execution once. ``wake_at`` is a
    timer or a deadline (None: no deadline).
    """

    wake_at: datetime | None = None
    event: str | None = None
    topic: str | None = None
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
    """The attempt failed and the task may retry: bump the attempt and
    re-queue at ``wake_at``. Failed outcomes of this attempt run afresh."""

    error: dict[str, Any]
    wake_at: datetime


@attrs.frozen(kw_only=True)
class Stall:
    """The code does not match the log: park the execution, log untouched,
    until ``client.retry`` (with code that matches) resumes it."""

    error: dict[str, Any]


@attrs.frozen(kw_only=True)
class ContinueAsNew:
    """End this run; the same execution starts run + 1 with ``input`` and an
    empty log (the attempt counter starts again). The logs of the last
    ``keep_runs`` runs before it are kept for ``history``; older ones go."""

    input: Any = None
    keep_runs: int = 0


Outcome = Suspend | Complete | Fail | RetryExecution | Stall | ContinueAsNew


@attrs.frozen(kw_only=True)
class SetState:
    """The execution's new ``state`` blob (``ctx.set_data``)."""

    value: Any = None


@attrs.frozen(kw_only=True, slots=False)
class Commit:
    """One atomic, lease-fenced write: records, children, state, maybe an outcome."""

    records: tuple[RecordWrite, ...] = ()
    children: tuple[NewExecution, ...] = ()
    # Children (by id) that failed or were cancelled under an earlier attempt
    # of this execution: they run again as a new attempt of the same id.
    rerun_children: tuple[str, ...] = ()
    # Messages this commit consumed, by their ids (see zart.receive).
    consumed: tuple[int, ...] = ()
    state: SetState | None = None
    outcome: Outcome | None = None

    @property
    def only_record(self) -> RecordWrite | None:
        """The record of a commit that writes one record and nothing else
        (a step's commit, the common case every store writes in one
        statement); None for any other commit."""
        rest = self.children or self.rerun_children or self.consumed
        if len(self.records) != 1 or rest or self.state is not None or self.outcome is not None:
            return None
        return self.records[0]

    @property
    def writes(self) -> bool:
        """Whether there is anything to write at all."""
        return bool(
            self.records
            or self.children
            or self.rerun_children
            or self.consumed
            or self.state is not None
            or self.outcome is not None
        )
