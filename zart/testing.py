"""``zart.testing.TestEnv``: every host rule of a real worker, in memory, on a
virtual clock.

The clock is the env's own: the store reads it, and ``advance`` walks it
from timer to timer. While the env drives work (``run_until_idle``,
``advance``, ``run``), freezegun holds ``datetime.now()`` and ``time.time()``
at the virtual time, so steps see it too. Outside those calls nothing is
frozen: an env left open, or never closed, leaves the process's clock
alone. Asyncio keeps real time (``real_asyncio``) so async steps still run.
"""

from __future__ import annotations

import builtins
import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from freezegun import freeze_time

from . import records as r
from . import settings
from .client import Client
from .clock import checked_clock, utcnow
from .errors import ZartError
from .host import Host
from .names import check_name
from .records import Commit, ExecutionRecord, StepRecord
from .retry import to_timedelta
from .stores.memory import MemoryStore
from .tasks import TaskHandler, TaskRegistry, check_registry
from .verify import check

__all__ = ["TestEnv", "VirtualClock"]


class _Crash(BaseException):
    """The in-process worker dies here, as a SIGKILLed process would."""


class VirtualClock:
    """A clock that moves only when told to (thread-safe)."""

    def __init__(self, start: datetime) -> None:
        checked_clock(lambda: start, "VirtualClock")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def move_to(self, when: datetime) -> None:
        with self._lock:
            if when > self._now:
                self._now = when


class TestEnv:
    """An in-memory engine for unit tests. Use it as a context manager, or
    call ``close()`` (the ``zart_env`` fixture does); forgetting to is harmless."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        registry: TaskRegistry | None = None,
        *,
        start: datetime | None = None,
        lease: timedelta = timedelta(seconds=30),
        max_payload: int | None = 1024 * 1024,
    ) -> None:
        self.registry = TaskRegistry() if registry is None else check_registry("TestEnv", registry)
        self.clock = VirtualClock(start or utcnow())
        self.store = MemoryStore(clock=self.clock.now, max_payload=max_payload)
        self.lease = to_timedelta(lease, "lease")
        settings.seconds("lease", self.lease.total_seconds())
        self._overrides: dict[str, Callable[..., Any]] = {}
        self._crash_names: set[str] = set()
        self._driving = 0
        self._freezer: Any = None
        self.client = Client(self.store, self.registry)
        self._host = self._new_host()

    def _new_host(self) -> Host:
        return Host(
            self.store,
            self.registry,
            lease=self.lease,
            overrides=self._overrides,
            after_commit=self._after_commit,
        )

    # -- lifecycle ---------------------------------------------------------
    def close(self) -> None:
        """Nothing to release: kept for ``with`` and the fixture."""

    def __enter__(self) -> TestEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _drive(self) -> Iterator[None]:
        """Freeze the process's clock at the virtual time while work runs."""
        if self._driving:
            self._driving += 1
            try:
                yield
            finally:
                self._driving -= 1
            return
        freezer = freeze_time(self.clock.now(), real_asyncio=True)
        self._freezer = freezer.start()
        self._driving = 1
        try:
            yield
        finally:
            self._driving = 0
            self._freezer = None
            freezer.stop()

    def _move_to(self, when: datetime) -> None:
        self.clock.move_to(when)
        if self._freezer is not None:
            self._freezer.move_to(self.clock.now())

    # -- time and running --------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    def run_until_idle(self, max_rounds: int = 100_000) -> int:
        """Run due executions until none is due; how many runs happened."""
        settings.count("max_rounds", max_rounds, least=1)
        with self._drive():
            total = 0
            for _ in range(max_rounds):
                try:
                    ran = len(self._host.tick(limit=64))
                except _Crash:
                    self._host = self._new_host()  # the process died; its generators with it
                    return total + 1
                if ran == 0:
                    return total
                total += ran
        raise ZartError(f"run_until_idle: still busy after {max_rounds} rounds (a loop?)")

    def advance(self, delta: timedelta | int | float) -> int:
        """Walk the virtual clock forward by ``delta``: every timer due in
        the window fires in due order, with the clock at its due time (so a
        backoff due inside the window starts its next timer from there),
        then everything due at the end runs. How many runs happened."""
        step = to_timedelta(delta, "advance")
        if step < timedelta(0):
            raise ValueError("time only moves forward")
        return self._walk(self.now() + step, stop_when_idle=False)

    def advance_until_idle(self, limit: timedelta | int | float = timedelta(days=366)) -> int:
        """Jump from timer to timer until none is pending (at most ``limit``
        ahead). Executions waiting for an event or a message stay waiting."""
        return self._walk(self.now() + to_timedelta(limit, "limit"), stop_when_idle=True)

    def _walk(self, target: datetime, *, stop_when_idle: bool) -> int:
        with self._drive():
            ran = self.run_until_idle()
            while True:
                wake = self._next_timer(stop_when_idle)
                if wake is None or wake > target:
                    break
                due_already = wake <= self.now()
                self._move_to(wake)
                count = self.run_until_idle()
                ran += count
                if due_already and count == 0:
                    break  # due, yet nothing here can run it
            if not stop_when_idle:
                self._move_to(target)
                ran += self.run_until_idle()
            return ran

    def _next_timer(self, stop_when_idle: bool) -> datetime | None:
        """The next timer; a schedule's next tick counts unless the walk
        stops when idle (schedules never end: they would walk to the limit)."""
        wake = self.store.next_wake(self._host.task_names())
        ticks = None if stop_when_idle else self._host.schedules.next_fire_at
        return min((t for t in (wake, ticks) if t is not None), default=None)

    # -- the client surface ------------------------------------------------
    def schedule(
        self, task: str | TaskHandler, data: Any = None, *, execution_id: str | None = None
    ) -> str:
        return self.client.schedule(task, data, execution_id=execution_id)

    def offer_event(self, execution_id: str, name: str, payload: Any = None) -> bool:
        return self.client.offer_event(execution_id, name, payload)

    def send(
        self,
        execution_id: str,
        topic: str,
        message: Any = None,
        *,
        idempotency_key: str | None = None,
    ) -> int:
        return self.client.send(execution_id, topic, message, idempotency_key=idempotency_key)

    def get(self, execution_id: str) -> ExecutionRecord:
        return self.client.get(execution_id)

    def history(self, execution_id: str, run: int | None = None) -> list[StepRecord]:
        return self.client.history(execution_id, run)

    def list(
        self, status: str | None = None, task: str | None = None, limit: int = 50
    ) -> builtins.list[ExecutionRecord]:
        return self.client.list(status=status, task=task, limit=limit)

    def cancel(self, execution_id: str) -> bool:
        return self.client.cancel(execution_id)

    def retry(self, execution_id: str) -> ExecutionRecord:
        """``client.retry``: a failed, cancelled or stalled execution runs again."""
        return self.client.retry(execution_id)

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
        check_name("step name", name)
        if not callable(fn):
            raise TypeError(f"replace_step({name!r}, ...) needs a callable, got {fn!r:.80}")
        self._overrides[name] = fn

    def crash_after(self, step_name: str) -> None:
        """The next time this step's result is recorded, the worker dies:
        the execution keeps its lease and its generator is lost."""
        self._crash_names.add(check_name("step name", step_name))

    def _after_commit(self, commit: Commit) -> None:
        for write in commit.records:
            if write.kind == r.K_STEP and write.name in self._crash_names:
                self._crash_names.discard(write.name)
                raise _Crash(write.name)

    def restart(self, registry: TaskRegistry | None = None) -> None:
        """A new process, maybe with new code: leases count as expired and
        generators are rebuilt by replay on the next run."""
        if registry is not None:
            self.registry = check_registry("restart", registry)
            self.client = Client(self.store, self.registry)
        self.store.expire_leases()
        self._host = self._new_host()

    def check_determinism(self, execution_id: str) -> None:
        """Replay the execution from its log with the current code; raise
        ``NonDeterminismError`` (or ``DuplicateNameError``) where a resume
        would stall. Nothing runs and nothing is written; a log that stops
        short of the code (still in flight, cancelled, a task timeout) is
        matched as far as it goes."""
        record = self.get(execution_id)
        if record.kind == r.STEP:
            return  # a step child runs no workflow code
        handler = self._host.handler(record.task_name)
        check(handler, record, self.store.load(execution_id), record.updated_at)
