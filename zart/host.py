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
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Generator, Mapping, Sequence
from datetime import timedelta

import attrs

from . import records as r
from . import tracecontext
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
from .firing import ScheduleFiring
from .interpreter import Interpreter
from .observe import LOG_REPORT, Observer
from .records import Claimed, Commit
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
        observers: Sequence[Observer] = (),
    ) -> None:
        self.store = store
        self.registry = registry
        self.lease = lease
        self.worker_id = worker_id or f"host-{uuid.uuid4().hex[:8]}"
        self.overrides = overrides
        self.after_commit = after_commit
        self.observers: tuple[Observer, ...] = (LOG_REPORT, *observers)
        self.cache = StepCache()
        self.schedules = ScheduleFiring(store)
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
        """Fire the due schedules of this host's tasks (not when driving
        one tree: ``under``), claim due executions, and tell the observers
        (claim latency)."""
        if under is None and self.schedules.due():
            self.schedules.fire(self.task_names())
        items = self.store.claim(
            worker=self.worker_id,
            tasks=self.task_names(),
            lease=self.lease,
            limit=limit,
            under=under,
        )
        if items:
            now = self.store.now()
            for observer in self.observers:
                observer.claimed(items, now)
        return items

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

    def write(self, claimed: Claimed, decision: Decision) -> None:
        """Commit what ``decision`` writes, then what follows from it here."""
        commit = decision.commit
        if not commit.writes:
            return
        if commit.children:
            commit = _traced(commit, claimed.record)
        self.store.commit(claimed.lease, commit)
        if decision.scheduled_steps:
            self.cache.add(decision.scheduled_steps)
        for name, handler in decision.scheduled_workflows.items():
            if name not in self.registry and isinstance(handler, TaskHandler):
                self._discovered[name] = handler
        for observer in self.observers:
            observer.committed(claimed.record, commit)
        if self.after_commit is not None:
            self.after_commit(commit)

    def ran(
        self, claimed: Claimed, decision: RunStep, outcome: StepOutcome, seconds: float
    ) -> None:
        """Tell the observers a step ran (the host times it)."""
        for observer in self.observers:
            observer.stepped(claimed.record, decision, outcome, seconds)

    def process(self, claimed: Claimed) -> Decision | None:
        """Drive one claimed execution until it suspends or ends, in this thread."""
        try:
            walk = self.decisions(self.begin(claimed))
            decision = next(walk)
            while True:
                self.write(claimed, decision)
                if isinstance(decision, Finish):
                    return decision
                started = time.monotonic()
                outcome = run_step_sync(decision, self.overrides)
                self.ran(claimed, decision, outcome, time.monotonic() - started)
                decision = walk.send(outcome)
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
            self._end(claimed, r.Stall(error=error_document(exc)))
        elif isinstance(exc, WriteRejected):
            # The same write would be refused on every retry: letting the
            # lease expire would run the execution again and again.
            self._end(claimed, r.Fail(error=error_document(exc)))
        else:
            log.warning("lost the lease on %s; dropping it", eid)

    def _end(self, claimed: Claimed, outcome: r.Outcome) -> None:
        lease = claimed.lease
        try:
            self.store.commit(lease, Commit(outcome=outcome))
        except LeaseLost:
            log.warning("lost the lease on %s; dropping it", lease.execution_id)
            return
        except StoreError:
            log.exception("could not end %s; its lease will expire", lease.execution_id)
            return
        for observer in self.observers:
            observer.committed(claimed.record, Commit(outcome=outcome))


def _traced(commit: Commit, parent: r.ExecutionRecord) -> Commit:
    """Children join their parent's trace: under the run of it this process
    drives (zart.otel), else under the context the parent was created in."""
    trace = tracecontext.of_run(parent.id) or parent.trace
    if trace is None:
        return commit
    children = tuple(attrs.evolve(child, trace=trace) for child in commit.children)
    return attrs.evolve(commit, children=children)
