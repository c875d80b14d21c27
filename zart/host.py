"""Carrying out the interpreter's decisions against a store.

Every host (``Worker`` threads, ``AsyncWorker``, ``Client.run``, ``TestEnv``)
does the same three things for a claimed execution: ``prepare`` an
interpreter from the stored log, ``drive`` it (commit, run step, feed the
outcome, repeat), and write the final commit. ``prepare`` and ``Host`` hold
that logic once; the async worker awaits the same calls.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Any

from . import records as r
from .clock import checked_clock, utcnow
from .commands import Step
from .decisions import Decision, RunStep
from .errors import (
    LeaseLost,
    NonDeterminismError,
    StoreError,
    UnknownTaskError,
    WriteRejected,
)
from .failures import error_document
from .interpreter import Interpreter, interpreter_for
from .records import Claimed, Commit, Lease
from .steps import Overrides, run_step_sync
from .store import Store
from .tasks import StepChild, TaskContext, TaskHandler, TaskRegistry

log = logging.getLogger("zart")

Clock = Callable[[], datetime]
# What driving an execution may raise that a host settles (Host.settle)
# rather than leaving the lease to expire.
SETTLED = (LeaseLost, UnknownTaskError, WriteRejected)
AfterCommit = Callable[[Commit], None]


class StepCache:
    """Steps this process scheduled, by child id: a child claimed by the same
    process runs its step without replaying the parent to rebuild it."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._steps: OrderedDict[str, Step] = OrderedDict()

    def add(self, steps: dict[str, Step]) -> None:
        self._steps.update(steps)
        while len(self._steps) > self._size:
            self._steps.popitem(last=False)

    def get(self, child_id: str) -> Step | None:
        return self._steps.get(child_id)


class _Unrunnable(TaskHandler):
    """Fails the execution with a fixed error (a step child whose parent no
    longer schedules that step)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def run(self, ctx: TaskContext, data: Any) -> Generator[Any, Any, Any]:
        raise self.error
        yield  # pragma: no cover - makes this a generator

    def input_type(self) -> Any:
        return Any


def find_step(store: Store, registry: TaskRegistry, record: r.ExecutionRecord) -> Step | None:
    """Rebuild a scheduled step by replaying its parent's log (pure CPU)."""
    if record.parent_id is None or record.parent_step is None:
        return None
    parent = store.get(record.parent_id)
    handler = registry.get(parent.task_name)
    target = interpreter_for(handler, parent, store.load(parent.id)).find_scheduled(
        record.parent_step
    )
    return target if isinstance(target, Step) else None


def prepare(
    store: Store, registry: TaskRegistry, claimed: Claimed, cache: StepCache | None
) -> Interpreter:
    record = claimed.record
    # An unknown task raises here, before a log is read for nothing.
    workflow = registry.get(record.task_name) if record.kind != r.STEP else None
    log_ = claimed.log if claimed.log is not None else store.load(record.id)
    if workflow is not None:
        return interpreter_for(workflow, record, log_)
    step = cache.get(record.id) if cache is not None else None
    if step is None:
        step = find_step(store, registry, record)
    handler: TaskHandler
    if step is None:
        handler = _Unrunnable(
            NonDeterminismError(
                record.parent_step or record.id,
                f"a scheduled step in parent {record.parent_id!r}",
                "nothing (the parent's code no longer schedules it)",
            )
        )
    else:
        handler = StepChild(step, record.task_name)
    return interpreter_for(handler, record, log_)


class Host:
    """Runs claimed executions in the calling thread."""

    def __init__(
        self,
        store: Store,
        registry: TaskRegistry,
        *,
        clock: Clock = utcnow,
        lease: timedelta = timedelta(seconds=30),
        worker_id: str | None = None,
        overrides: Overrides | None = None,
        after_commit: AfterCommit | None = None,
        cache: StepCache | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.clock = checked_clock(clock, "Host")
        self.lease = lease
        self.worker_id = worker_id or f"host-{uuid.uuid4().hex[:8]}"
        self.overrides = overrides
        self.after_commit = after_commit
        self.cache = cache if cache is not None else StepCache()

    def claim(self, limit: int, under: str | None = None) -> list[Claimed]:
        return self.store.claim(
            worker=self.worker_id,
            tasks=self.registry.names(),
            now=self.clock(),
            lease=self.lease,
            limit=limit,
            under=under,
        )

    def tick(self, limit: int = 16, under: str | None = None) -> int:
        """Claim and run up to ``limit`` due executions; how many ran."""
        claimed = self.claim(limit, under)
        for item in claimed:
            self.process(item)
        return len(claimed)

    def process(self, claimed: Claimed) -> Decision | None:
        """Drive one claimed execution until it suspends or ends."""
        try:
            interp = prepare(self.store, self.registry, claimed, self.cache)
            return self.drive(interp, claimed.lease)
        except SETTLED as exc:
            self.settle(claimed, exc)
            return None

    def settle(self, claimed: Claimed, exc: Exception) -> None:
        """What every host does when driving raised one of ``SETTLED``."""
        eid = claimed.record.id
        if isinstance(exc, UnknownTaskError):
            log.warning("no handler for task %r; releasing %s", claimed.record.task_name, eid)
            self.store.release(claimed.lease, self.clock())
        elif isinstance(exc, WriteRejected):
            self._reject(claimed.lease, exc)
        else:
            log.warning("lost the lease on %s; dropping it", eid)

    def _reject(self, lease: Lease, exc: WriteRejected) -> None:
        """Fail an execution whose commit the store refused. The same write
        would be refused on every retry, so letting the lease expire would
        run the execution again and again; the refused records are dropped,
        and the error says what the database refused."""
        eid = lease.execution_id
        log.error("the store refused a write of %s; failing it: %s", eid, exc)
        fail = r.Fail(error=error_document(exc), business=False)
        try:
            self.store.commit(lease, Commit(outcome=fail), self.clock())
        except LeaseLost:
            log.warning("lost the lease on %s; dropping it", eid)
        except StoreError:
            log.exception("could not fail %s; its lease will expire", eid)

    def drive(self, interp: Interpreter, lease: Lease) -> Decision:
        # One clock reading per step: the decision and its commit share it.
        clock, overrides = self.clock, self.overrides
        now = clock()
        decision = interp.start(now)
        while type(decision) is RunStep:
            if decision.commit is not r.NO_WRITES:
                self._commit(interp, lease, decision.commit, now)
            outcome = run_step_sync(decision, overrides)
            now = clock()
            decision = interp.step_finished(outcome, now)
        self._commit(interp, lease, decision.commit, now)
        return decision

    def remember(self, interp: Interpreter) -> None:
        """After a commit: cache the steps it scheduled, and make the child
        workflows it scheduled runnable here (handlers met in code are
        registered on the fly, as ``Client.schedule`` does)."""
        if interp.scheduled_steps:
            self.cache.add(interp.scheduled_steps)
            interp.scheduled_steps = {}
        for name, handler in interp.scheduled_workflows.items():
            if name not in self.registry:
                self.registry.register(name, handler)
        interp.scheduled_workflows = {}

    def _commit(self, interp: Interpreter, lease: Lease, commit: Commit, now: datetime) -> None:
        self.store.commit(lease, commit, now)
        if interp.scheduled_steps or interp.scheduled_workflows:
            self.remember(interp)
        if self.after_commit is not None:
            self.after_commit(commit)
