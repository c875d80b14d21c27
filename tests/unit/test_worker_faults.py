"""Worker and AsyncWorker under faults: a stop during a step longer than the
lease, steps that raise what is not an Exception, a stop while idle on a long
poll interval, and a store that fails for a while."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Generator
from datetime import timedelta
from typing import Any

import pytest

import zart
from zart.errors import SchemaOutdated, StoreError
from zart.store import Store

DEADLINE = 5.0  # bounds waits that end at once when all is well
KINDS = ["threads", "asyncio"]


class Running:
    """A worker of either kind, run in a thread until stop()."""

    def __init__(self, kind: str, store: Store, registry: zart.TaskRegistry, cfg: Any) -> None:
        self.kind = kind
        if kind == "threads":
            self.worker: Any = zart.Worker(store, registry, cfg)
        else:
            self.worker = zart.AsyncWorker(store, registry, cfg)
        self.loop = asyncio.new_event_loop()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="test-run")
        self.thread.start()

    def _run(self) -> None:
        try:
            if self.kind == "threads":
                self.worker.run()
            else:
                self.loop.run_until_complete(self.worker.run())
        except BaseException as exc:
            self.error = exc

    def stop(self) -> None:
        if self.kind == "threads":
            self.worker.stop()
        else:
            self.loop.call_soon_threadsafe(self.worker.stop)

    def join(self) -> None:
        self.thread.join(DEADLINE)
        assert not self.thread.is_alive(), "run() did not return"
        self.loop.close()


def _wait(predicate: Callable[[], bool], what: str) -> None:
    done = threading.Event()
    for _ in range(int(DEADLINE / 0.01)):
        if predicate():
            return
        done.wait(0.01)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.parametrize("kind", KINDS)
def test_a_stopping_worker_keeps_the_lease_of_the_step_it_finishes(kind: str) -> None:
    started, gate = threading.Event(), threading.Event()
    runs: list[str] = []

    def long_step() -> str:
        runs.append("long")
        started.set()
        gate.wait(DEADLINE)
        return "done"

    @zart.durable("held")
    def held(_: Any) -> Generator[Any, Any, str]:
        return (yield zart.call("long", long_step))

    registry = zart.TaskRegistry([held])
    store = zart.MemoryStore()
    client = zart.Client(store, registry)
    eid = client.schedule(held)
    cfg = zart.WorkerConfig(lease=0.3, poll_interval=0.02, shutdown_timeout=DEADLINE)
    running = Running(kind, store, registry, cfg)
    try:
        assert started.wait(DEADLINE)
        running.stop()
        # Three leases' time into the drain: heartbeats still renew it, so
        # no other worker can claim the execution and run the step again.
        threading.Event().wait(1.0)
        other = store.claim(
            worker="other", tasks=None, now=zart.clock.utcnow(), lease=timedelta(1), limit=5
        )
        assert other == []
    finally:
        gate.set()
        running.stop()
        running.join()
    assert running.error is None
    assert client.get(eid).status == "completed" and runs == ["long"]


def _raises(exc: BaseException) -> Callable[[], None]:
    def step() -> None:
        raise exc

    return step


async def _cancelled_inside() -> None:
    raise asyncio.CancelledError()  # as an inner task's cancellation surfaces


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("what", ["sys.exit", "CancelledError"])
def test_a_step_raising_what_is_not_an_exception_fails_as_a_step(kind: str, what: str) -> None:
    fn: Callable[[], Any] = (lambda: sys.exit(3)) if what == "sys.exit" else _cancelled_inside

    @zart.durable("odd")
    def odd(_: Any) -> Generator[Any, Any, None]:
        yield zart.call("odd-step", fn)

    registry = zart.TaskRegistry([odd])
    store = zart.MemoryStore()
    client = zart.Client(store, registry)
    eid = client.schedule(odd)
    cfg = zart.WorkerConfig(poll_interval=0.02)
    if kind == "threads":
        zart.Worker(store, registry, cfg).run_until_idle()
    else:
        asyncio.run(zart.AsyncWorker(store, registry, cfg).run_until_idle())
    record = client.get(eid)
    assert record.status == "failed", record
    (step,) = client.history(eid)
    assert step.status == "failed" and step.attempts == 1
    expected = "SystemExit" if what == "sys.exit" else "CancelledError"
    assert expected in (step.error or {}).get("error_type", "")


@pytest.mark.parametrize("kind", KINDS)
def test_stop_ends_an_idle_worker_on_a_long_poll_interval(kind: str) -> None:
    registry = zart.TaskRegistry()
    running = Running(kind, zart.MemoryStore(), registry, zart.WorkerConfig(poll_interval=3600))
    threading.Event().wait(0.1)  # into its idle wait
    running.stop()
    running.join()  # within DEADLINE, not after the hour
    assert running.error is None


class Flaky:
    """A store whose claim fails ``failures`` times from the ``after``-th call."""

    def __init__(self, store: Store, after: int, failures: int, error: StoreError) -> None:
        self._store = store
        self.after, self.failures, self.error = after, failures, error
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls >= self.after and self.failures > 0:
            self.failures -= 1
            raise self.error
        return self._store.claim(*args, **kwargs)


@zart.durable("one-step")
def one_step(data: int) -> Generator[Any, Any, int]:
    return (yield zart.call("double", lambda: data * 2))


@pytest.mark.parametrize("kind", KINDS)
def test_a_running_worker_rides_out_store_errors(kind: str) -> None:
    registry = zart.TaskRegistry([one_step])
    store = Flaky(zart.MemoryStore(), after=2, failures=3, error=StoreError("db restarting"))
    client = zart.Client(store, registry)  # type: ignore[arg-type]
    running = Running(kind, store, registry, zart.WorkerConfig(poll_interval=0.02))  # type: ignore[arg-type]
    try:
        _wait(lambda: store.failures == 0, "the store errors")
        eid = client.schedule(one_step, 21)
        assert client.result(eid, timeout=DEADLINE) == 42
    finally:
        running.stop()
        running.join()
    assert running.error is None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("after", "error"),
    [(1, StoreError("cannot connect")), (2, SchemaOutdated(2, 3))],
    ids=["never-reached", "schema"],
)
def test_a_worker_ends_on_errors_waiting_does_not_cure(
    kind: str, after: int, error: StoreError
) -> None:
    store = Flaky(zart.MemoryStore(), after=after, failures=1, error=error)
    running = Running(kind, store, zart.TaskRegistry(), zart.WorkerConfig(poll_interval=0.02))  # type: ignore[arg-type]
    running.join()
    assert running.error is error


def test_a_run_past_the_shutdown_timeout_is_counted_as_abandoned() -> None:
    started, gate = threading.Event(), threading.Event()

    def stuck() -> None:
        started.set()
        gate.wait(DEADLINE)

    @zart.durable("stuck")
    def stuck_wf(_: Any) -> Generator[Any, Any, None]:
        yield zart.call("stuck", stuck)

    registry = zart.TaskRegistry([stuck_wf])
    store = zart.MemoryStore()
    eid = zart.Client(store, registry).schedule(stuck_wf)
    cfg = zart.WorkerConfig(poll_interval=0.02, shutdown_timeout=0)
    running = Running("threads", store, registry, cfg)
    try:
        assert started.wait(DEADLINE)
        running.stop()
        running.join()
        # What the CLI reads to exit rather than wait for the step's thread.
        assert running.worker.abandoned == 1
        assert store.get(eid).status == "pending"  # given back
    finally:
        gate.set()
