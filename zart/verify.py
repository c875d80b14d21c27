"""Drivers that replay a stored log without running anything: the
determinism check (``TestEnv.check_determinism``, ``zart check``) and the
step-child probe (rebuilding a scheduled step from its parent's log).

Both use only the interpreter's public surface: ``start`` for its first
decision, ``seen``, ``schedules`` and ``mismatch``. A replay that needs the
live world (a step the log does not hold, a record it would write) has
gone past the log: they stop there, and never run a step.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from . import records as r
from .commands import Step
from .decisions import Decision, RunStep
from .errors import DuplicateNameError, NonDeterminismError, ZartError
from .interpreter import Interpreter, later
from .tasks import TaskHandler

if TYPE_CHECKING:
    from .client import Client
    from .host import Host
    from .stores.protocol import Store

# How a run can end from outside its generator, leaving a log that stops
# short of what the code goes on to yield.
_STOPPED_BY = frozenset({"zart.errors.TaskTimeout", "zart.errors.WriteRejected"})


def check(handler: TaskHandler, record: r.ExecutionRecord, log: r.Log, now: datetime) -> None:
    """Replay a stored execution with ``handler``'s code; raise the
    ``NonDeterminismError`` (or ``DuplicateNameError``) a resume would stall
    on. A run that ended by its own code must end the same way without going
    past its log; a run stopped from outside (still in flight, cancelled,
    stalled, past its task timeout, failed by a refused write) matches as
    far as its log goes. Records the code no longer reaches are no mismatch:
    the log is keyed by name, so a removed step replays fine."""
    interp = Interpreter(handler, record, log, max_payload=None)
    decision = interp.start(_before_deadline(handler, record, now))
    if interp.mismatch is not None:
        raise interp.mismatch
    went_live = _first_new(decision, log)
    if went_live is not None and not _stopped_from_outside(record):
        name, what = went_live
        raise NonDeterminismError(name, "nothing", what)


def _before_deadline(handler: TaskHandler, record: r.ExecutionRecord, now: datetime) -> datetime:
    """``now``, or just before the task deadline once past it: a run its
    timeout stopped is replayed as the world stood then, not failed at once."""
    timeout = handler.timeout()
    deadline = None if timeout is None else later(record.created_at, timeout)
    if deadline is not None and now >= deadline:
        return deadline - timedelta(microseconds=1)
    return now


def _first_new(decision: Decision, log: r.Log) -> tuple[str, str] | None:
    """The first command of this decision that the log does not answer."""
    if isinstance(decision, RunStep):
        return decision.step.name, f"step {decision.step.step_id!r}"
    for write in decision.commit.records:
        if write.name not in log.records:
            return write.name, f"a new {write.kind} record"
    return None


def _stopped_from_outside(record: r.ExecutionRecord) -> bool:
    if record.status == r.COMPLETED:
        return False
    if record.status == r.FAILED:
        return (record.error or {}).get("type") in _STOPPED_BY
    return True  # cancelled, stalled or still in flight


def scheduled_step(store: Store, host: Host, record: r.ExecutionRecord) -> Step | None:
    """Rebuild a scheduled step child's step by replaying its parent's log
    up to its schedule (pure CPU; nothing runs): None if the parent's code
    no longer schedules a step there."""
    if record.parent_id is None or record.parent_step is None:
        return None
    parent = store.get(record.parent_id)
    interp = Interpreter(host.handler(parent.task_name), parent, store.load(parent.id))
    try:
        interp.start(store.now())
    except ZartError:
        return None
    if interp.mismatch is not None:
        return None  # the parent's code no longer matches its own log
    target: Any = interp.schedules.get(record.parent_step)
    return target if isinstance(target, Step) else None


# Executions read per page by ``stored``.
PAGE = 200
# Unfinished executions first: they are the ones a deploy would stall. An
# execution that ends while the scan runs moves on to a status read later.
_ORDER = (r.PENDING, r.RUNNING, r.SLEEPING, r.WAITING, r.STALLED, *sorted(r.FINAL_STATUSES))


@attrs.frozen(kw_only=True)
class Stall:
    """An execution the current code would stall, and why."""

    record: r.ExecutionRecord
    error: NonDeterminismError | DuplicateNameError


def would_stall(client: Client, record: r.ExecutionRecord) -> Stall | None:
    """Why a resume of ``record`` with ``client``'s code would stall, if it would."""
    handler = client.registry.get(record.task_name)
    log = client.store.load(record.id)
    try:
        # As of its last write: a timer due since then is not new history.
        check(handler, record, log, record.updated_at)
    except (NonDeterminismError, DuplicateNameError) as exc:
        return Stall(record=record, error=exc)
    return None


def stored(client: Client, tasks: list[str]) -> Iterator[r.ExecutionRecord]:
    """Every execution of ``tasks`` that runs workflow code (not step
    children), page by page, each once (a page may shift while executions
    are created or change status)."""
    seen: set[str] = set()
    for task in tasks:
        for status in _ORDER:
            offset, more = 0, True
            while more:
                page = client.list(status=status, task=task, limit=PAGE, offset=offset)
                offset, more = offset + len(page), len(page) == PAGE
                for record in page:
                    if record.id not in seen and record.kind != r.STEP:
                        seen.add(record.id)
                        yield record


def stalls(client: Client, tasks: list[str] | None = None) -> Iterator[Stall]:
    """``zart check``: every stored execution of ``tasks`` (default: every
    task ``client``'s registry holds) that its code would stall."""
    for record in stored(client, client.registry.names() if tasks is None else tasks):
        stall = would_stall(client, record)
        if stall is not None:
            yield stall
