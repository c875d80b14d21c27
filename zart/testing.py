"""``zart.testing.TestEnv``: every host rule of a real worker, in memory, on a
virtual clock.

The clock is freezegun's: ``datetime.now()`` inside steps sees virtual time,
and ``advance()`` moves it and runs whatever became due. Asyncio keeps real
time (``real_asyncio``) so async steps still run.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from freezegun import freeze_time

from . import records as r
from .client import Client
from .clock import utcnow
from .errors import ZartError
from .host import Host
from .interpreter import interpreter_for
from .memory import MemoryStore
from .records import Commit, ExecutionRecord, StepRecord
from .tasks import TaskHandler, TaskRegistry


class _Crash(BaseException):
    """The in-process worker dies here, as a SIGKILLed process would."""


class TestEnv:
    """An in-memory engine for unit tests. Use as a context manager, or call
    ``close()`` to stop the virtual clock (the ``zart_env`` fixture does)."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        registry: TaskRegistry | None = None,
        *,
        start: datetime | None = None,
        lease: timedelta = timedelta(seconds=30),
    ) -> None:
        self.registry = registry if registry is not None else TaskRegistry()
        self.store = MemoryStore()
        self.lease = lease
        self._freezer = freeze_time(start or utcnow(), real_asyncio=True)
        self._frozen = self._freezer.start()
        self._closed = False
        self._overrides: dict[str, Callable[..., Any]] = {}
        self._crash_names: set[str] = set()
        self.client = Client(self.store, self.registry, clock=utcnow)
        self._host = self._new_host()

    def _new_host(self) -> Host:
        return Host(
            self.store,
            self.registry,
            clock=utcnow,
            lease=self.lease,
            overrides=self._overrides,
            after_commit=self._after_commit,
        )

    # -- lifecycle ---------------------------------------------------------
    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._freezer.stop()

    def __enter__(self) -> TestEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- time and running --------------------------------------------------
    def now(self) -> datetime:
        return utcnow()

    def run_until_idle(self, max_rounds: int = 100_000) -> int:
        """Run due executions until none is due; how many runs happened."""
        total = 0
        for _ in range(max_rounds):
            try:
                ran = self._host.tick(limit=64)
            except _Crash:
                self._host = self._new_host()  # the process died; its generators with it
                return total + 1
            if ran == 0:
                return total
            total += ran
        raise ZartError(f"run_until_idle: still busy after {max_rounds} rounds (a loop?)")

    def advance(self, delta: timedelta | int | float) -> int:
        """Move the virtual clock forward and run everything that became due."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError("time only moves forward")
        self._frozen.tick(step)
        return self.run_until_idle()

    # -- the client surface ------------------------------------------------
    def schedule(
        self, task: str | TaskHandler, data: Any = None, *, execution_id: str | None = None
    ) -> str:
        return self.client.schedule(task, data, execution_id=execution_id)

    def offer_event(self, execution_id: str, name: str, payload: Any = None) -> bool:
        return self.client.offer_event(execution_id, name, payload)

    def get(self, execution_id: str) -> ExecutionRecord:
        return self.client.get(execution_id)

    def history(self, execution_id: str) -> list[StepRecord]:
        return self.client.history(execution_id)

    def list(
        self, status: str | None = None, task: str | None = None, limit: int = 50
    ) -> builtins.list[ExecutionRecord]:
        return self.client.list(status=status, task=task, limit=limit)

    def cancel(self, execution_id: str) -> bool:
        return self.client.cancel(execution_id)

    def result(self, execution_id: str, type: Any = None) -> Any:
        """The output of a finished execution; ``ExecutionFailed`` if it failed,
        ``ZartError`` if it is still running."""
        return self.client.outcome(self.get(execution_id), type)

    def run(self, task: str | TaskHandler, data: Any = None, type: Any = None) -> Any:
        """Schedule, run until idle, and return the result."""
        eid = self.schedule(task, data)
        self.run_until_idle()
        return self.result(eid, type)

    # -- fault injection and code changes ------------------------------------
    def replace_step(self, name: str, fn: Callable[..., Any]) -> None:
        """Steps of this name (or template) run ``fn`` instead."""
        self._overrides[name] = fn

    def crash_after(self, step_name: str) -> None:
        """The next time this step's result is recorded, the worker dies:
        the execution keeps its lease and its generator is lost."""
        self._crash_names.add(step_name)

    def _after_commit(self, commit: Commit) -> None:
        for write in commit.records:
            if write.kind == r.K_STEP and write.name in self._crash_names:
                self._crash_names.discard(write.name)
                raise _Crash(write.name)

    def restart(self, registry: TaskRegistry | None = None) -> None:
        """A new process, maybe with new code: leases count as expired and
        generators are rebuilt by replay on the next run."""
        if registry is not None:
            self.registry = registry
            self.client = Client(self.store, self.registry, clock=utcnow)
        self.store.expire_leases(utcnow())
        self._host = self._new_host()

    def check_determinism(self, execution_id: str) -> None:
        """Replay the execution from its log with the current code; raise
        ``NonDeterminismError`` where the code no longer matches the log.

        Nothing runs and nothing is written. A log may stop short of the
        code where the run was stopped from outside (still in flight,
        cancelled, its task timeout, a write the store refused): replay
        matches it as far as it goes."""
        record = self.get(execution_id)
        if record.kind != r.WORKFLOW:
            return
        handler = self.registry.get(record.task_name)
        interp = interpreter_for(handler, record, self.store.load(execution_id), replay_only=True)
        interp.check(record.status, record.error)
