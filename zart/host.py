"""The one driver that carries out the interpreter's decisions against a store.

Every host (``Worker`` threads, ``AsyncWorker``, ``Client.run``, ``TestEnv``)
does the same for a claimed execution: ``begin`` an interpreter from the
claimed log, walk its ``decisions`` (write each commit, run each step, feed
the outcome back), and ``settle`` what went wrong outside the workflow. The
sync and async hosts differ only in how they wait for a commit and a step:
``process`` here, ``AsyncWorker._process`` there, over the same calls.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Generator, Mapping
from datetime import timedelta
from typing import Any

from . import records as r
from .commands import Step
from .decisions import Decision, Finish, RunStep, StepOutcome
from .errors import (
    LeaseLost,
    NonDeterminismError,
    StoreError,
    UnknownTaskError,
    WriteRejected,
)
from .failures import error_document
from .interpreter import Interpreter
from .records import Claimed, Commit, Lease
from .steps import Overrides, run_step_sync
from .stores.protocol import Store
from .tasks import StepChild, TaskHandler, TaskRegistry
from .verify import scheduled_step

log = logging.getLogger("zart")

# What driving an execution may raise that a host settles (Host.settle)
# rather than leaving the lease to expire.
SETTLED = (LeaseLost, UnknownTaskError, WriteRejected, NonDeterminismError)
AfterCommit = Callable[[Commit], None]


class StepCache:
    """Steps this process scheduled, by child id: a child claimed by the same
    process runs its step without replaying the parent to rebuild it."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._steps: OrderedDict[str, Step] = OrderedDict()

    def add(self, steps: Mapping[str, Step]) -> None:
        self._steps.update(steps)
        while len(self._steps) > self._size:
            self._steps.popitem(last=False)

    def get(self, child_id: str) -> Step | None:
        return self._steps.get(child_id)


class Host:
    """Runs claimed executions; ``process`` drives one in the calling thread."""

    def __init__(
        self,
        store: Store,
        registry: TaskRegistry,
        *,
        lease: timedelta = timedelta(seconds=30),
        worker_id: str | None = None,
        overrides: Overrides | None = None,
        after_commit: AfterCommit | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.lease = lease
        self.worker_id = worker_id or f"host-{uuid.uuid4().hex[:8]}"
        self.overrides = overrides
        self.after_commit = after_commit
        self.cache = StepCache()
        # Child workflows met in code but not registered: runnable here.
        self._discovered: dict[str, TaskHandler] = {}

    # -- which tasks ------------------------------------------------------
    def task_names(self) -> list[str]:
        return [*self.registry.names(), *(n for n in self._discovered if n not in self.registry)]

    def handler(self, task_name: str) -> TaskHandler:
        found = self._discovered.get(task_name)
        return (
            found
            if found is not None and task_name not in self.registry
            else self.registry.get(task_name)
        )

    def claim(self, limit: int, under: str | None = None) -> list[Claimed]:
        return self.store.claim(
            worker=self.worker_id,
            tasks=self.task_names(),
            lease=self.lease,
            limit=limit,
            under=under,
        )

    def tick(
        self, limit: int = 16, under: str | None = None
    ) -> list[tuple[Claimed, Decision | None]]:
        """Claim and run up to ``limit`` due executions, each with its last decision."""
        return [(item, self.process(item)) for item in self.claim(limit, under)]

    # -- the driver, shared by every host ---------------------------------
    def begin(self, claimed: Claimed) -> Interpreter:
        """The interpreter for a claimed execution (a step child's step is
        rebuilt from its parent's log when this process did not schedule it)."""
        record = claimed.record
        if record.kind != r.STEP:
            handler = self.handler(record.task_name)
        else:
            step = self.cache.get(record.id) or scheduled_step(self.store, self, record)
            if step is None:
                raise NonDeterminismError(
                    record.parent_step or record.id,
                    f"a scheduled step in parent {record.parent_id!r}",
                    "nothing (the parent's code no longer schedules it)",
                )
            handler = StepChild(step, record.task_name)
        return Interpreter(handler, record, claimed.log, max_payload=self.store.max_payload)

    def decisions(self, interp: Interpreter) -> Generator[Decision, StepOutcome, None]:
        """The interpreter's decisions, one at a time; send each step's outcome."""
        decision = interp.start(self.store.now())
        while isinstance(decision, RunStep):
            outcome = yield decision
            decision = interp.step_finished(outcome, self.store.now())
        yield decision

    def write(self, lease: Lease, decision: Decision) -> None:
        """Commit what ``decision`` writes, then what follows from it here."""
        commit = decision.commit
        if not commit.writes:
            return
        self.store.commit(lease, commit)
        if decision.scheduled_steps:
            self.cache.add(decision.scheduled_steps)
        for name, handler in decision.scheduled_workflows.items():
            if name not in self.registry and isinstance(handler, TaskHandler):
                self._discovered[name] = handler
        report(lease.execution_id, commit)
        if self.after_commit is not None:
            self.after_commit(commit)

    def process(self, claimed: Claimed) -> Decision | None:
        """Drive one claimed execution until it suspends or ends, in this thread."""
        try:
            walk = self.decisions(self.begin(claimed))
            decision = next(walk)
            while True:
                self.write(claimed.lease, decision)
                if isinstance(decision, Finish):
                    return decision
                decision = walk.send(run_step_sync(decision, self.overrides))
        except SETTLED as exc:
            self.settle(claimed, exc)
            return None

    def settle(self, claimed: Claimed, exc: Exception) -> None:
        """What every host does when driving raised one of ``SETTLED``."""
        eid = claimed.record.id
        if isinstance(exc, UnknownTaskError):
            log.warning("no handler for task %r; releasing %s", claimed.record.task_name, eid)
            self.store.release(claimed.lease)
        elif isinstance(exc, NonDeterminismError):
            self._end(claimed.lease, r.Stall(error=error_document(exc)))
        elif isinstance(exc, WriteRejected):
            # The same write would be refused on every retry: letting the
            # lease expire would run the execution again and again.
            self._end(claimed.lease, r.Fail(error=error_document(exc)))
        else:
            log.warning("lost the lease on %s; dropping it", eid)

    def _end(self, lease: Lease, outcome: r.Outcome) -> None:
        try:
            self.store.commit(lease, Commit(outcome=outcome))
        except LeaseLost:
            log.warning("lost the lease on %s; dropping it", lease.execution_id)
            return
        except StoreError:
            log.exception("could not end %s; its lease will expire", lease.execution_id)
            return
        report(lease.execution_id, Commit(outcome=outcome))


def report(execution_id: str, commit: Commit) -> None:
    """Tell an operator what a commit means: failed attempts, retries,
    executions failed, stalled or retried."""
    for write in commit.records:
        if write.kind == r.K_STEP and write.status in (r.R_RETRYING, r.R_FAILED):
            _report_attempt(execution_id, write)
    outcome = commit.outcome
    if isinstance(outcome, r.Fail):
        error = outcome.error
        trace = error.get("traceback") or ""
        log.error(
            "execution %s failed: %s: %s%s",
            execution_id,
            error.get("type"),
            error.get("message"),
            f"\n{trace}" if trace else "",
        )
    elif isinstance(outcome, r.RetryExecution):
        log.warning(
            "execution %s attempt failed (%s: %s); retrying at %s",
            execution_id,
            outcome.error.get("type"),
            outcome.error.get("message"),
            outcome.wake_at.isoformat(),
        )
    elif isinstance(outcome, r.Stall):
        log.error("execution %s stalled: %s", execution_id, outcome.error.get("message"))


def _report_attempt(execution_id: str, write: r.RecordWrite) -> None:
    error: dict[str, Any] = write.error or {}
    last = write.errors[-1] if write.errors else None
    kind = last.type if last is not None else error.get("error_type", error.get("type"))
    message = last.message if last is not None else error.get("message")
    log.warning(
        "execution %s: step %r attempt %d failed: %s: %s",
        execution_id,
        write.name,
        write.attempts,
        kind,
        message,
    )
    if write.status == r.R_RETRYING and write.wake_at is not None:
        log.info(
            "execution %s: step %r retries at %s",
            execution_id,
            write.name,
            write.wake_at.isoformat(),
        )
