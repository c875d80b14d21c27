"""Worker and AsyncWorker under faults: a stop during a step longer than the
lease, steps that raise what is not an Exception, a stop while idle on a long
poll interval, a store that fails for a while, sync steps that hold every
slot of an AsyncWorker for longer than its lease, a sync step that hangs
past its timeout, and a lease lost under a running step."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import zart
from zart.errors import SchemaOutdated, StoreError
from zart.stores.protocol import Store
from zart.stores.sqlite import SqliteStore

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


def _wait(predicate: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    # Counted ticks, not a clock: this must end even where a clock stands still.
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
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
    lease = timedelta(seconds=0.3)
    cfg = zart.WorkerConfig(lease=lease, poll_interval=0.02, shutdown_timeout=DEADLINE)
    running = Running(kind, store, registry, cfg)
    try:
        assert started.wait(DEADLINE)
        running.stop()
        stopped = store.now()

        def renewed_late_in_the_drain() -> bool:
            wake = store.get(eid).wake_at  # a running execution's: where its lease ends
            return wake is not None and wake > stopped + 3 * lease

        # A renewal more than two leases into the drain: heartbeats still
        # keep the lease, so no other worker can claim the execution and
        # run the step again.
        _wait(renewed_late_in_the_drain, "a heartbeat two leases into the drain")
        other = store.claim(worker="other", tasks=None, lease=timedelta(1), limit=5)
        assert other == []
        assert store.get(eid).status == "running"
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


class IdleWatch(zart.MemoryStore):
    """A memory store that tells when a worker first waits on it (idle)."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait(self, timeout: float) -> None:
        self.waiting.set()
        super().wait(timeout)


@pytest.mark.parametrize("kind", KINDS)
def test_stop_ends_an_idle_worker_on_a_long_poll_interval(kind: str) -> None:
    registry = zart.TaskRegistry()
    store = IdleWatch()
    running = Running(kind, store, registry, zart.WorkerConfig(poll_interval=3600))
    assert store.waiting.wait(DEADLINE), "the worker never went idle"
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


# -- the AsyncWorker's heartbeats and sync steps -----------------------------------


class BodyRuns:
    """Step bodies run, by execution id, across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.runs: Counter[str] = Counter()

    def hit(self) -> None:
        with self._lock:
            self.runs[zart.context().execution_id] += 1

    def total(self) -> int:
        with self._lock:
            return sum(self.runs.values())


def test_async_worker_heartbeats_never_starve_behind_sync_steps(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Four sync steps hold all four slots of an AsyncWorker for 4 s, over
    two leases of 1.5 s: its heartbeats (every 0.5 s) keep every lease, so a
    thread Worker polling the same SQLite file beside it never gets one of
    those executions, and no step body runs twice."""
    bodies = BodyRuns()

    def block() -> str:
        bodies.hit()
        time.sleep(4.0)  # the step's work: it holds its thread for 4 s
        return "done"

    @zart.durable("blocking")
    def blocking(_: Any) -> Generator[Any, Any, str]:
        return (yield zart.call("block", block))

    registry = zart.TaskRegistry([blocking])
    path = str(tmp_path / "zart.db")
    stores = [SqliteStore(path), SqliteStore(path)]  # one each, as two processes have
    stores[0].migrate()
    client = zart.Client(stores[0], registry)
    eids = [client.schedule(blocking, execution_id=f"b-{i}") for i in range(4)]
    cfg = zart.WorkerConfig(concurrency=4, lease=1.5, poll_interval=0.05)
    assert cfg.heartbeat_interval == timedelta(seconds=0.5)
    with caplog.at_level(logging.WARNING, logger="zart"):
        beside: Running | None = None
        running = Running("asyncio", stores[0], registry, cfg)
        try:
            _wait(lambda: bodies.total() == 4, "the four steps to start", timeout=30.0)
            beside = Running("threads", stores[1], registry, cfg)
            done = lambda: all(client.get(e).status == "completed" for e in eids)  # noqa: E731
            _wait(done, "the four executions to complete", timeout=30.0)
        finally:
            running.stop()
            if beside is not None:
                beside.stop()
            running.join()
            if beside is not None:
                beside.join()
            for store in stores:
                store.close()
    assert running.error is None and beside is not None and beside.error is None
    assert bodies.runs == Counter({eid: 1 for eid in eids})
    assert beside.worker.processed == 0  # every execution stayed leased to the AsyncWorker
    # Only these executions: a step thread an earlier test left behind may
    # report its own lease lost into this log.
    lost = [
        m for r in caplog.records if "lost" in (m := r.getMessage()) and any(e in m for e in eids)
    ]
    assert lost == []


def test_async_worker_abandons_a_sync_step_past_its_timeout_and_keeps_claiming() -> None:
    started, gate = threading.Event(), threading.Event()

    @zart.step("hang", timeout=0.2)
    def hang() -> str:
        started.set()
        gate.wait(60)  # hangs until the test ends
        return "late"

    @zart.durable("hangs")
    def hangs(_: Any) -> Generator[Any, Any, str]:
        return (yield hang())

    registry = zart.TaskRegistry([hangs, one_step])
    store = zart.MemoryStore()
    client = zart.Client(store, registry)
    hung = client.schedule(hangs)
    # One slot: the hung step must not keep it.
    running = Running(
        "asyncio", store, registry, zart.WorkerConfig(concurrency=1, poll_interval=0.02)
    )
    try:
        assert started.wait(DEADLINE)
        _wait(lambda: client.get(hung).is_final, "the timed-out execution to end")
        record = client.get(hung)
        assert record.status == "failed"
        assert record.error is not None and record.error["type"] == "StepTimeout"
        (step,) = client.history(hung)
        assert step.status == "failed" and step.attempts == 1
        assert [e.type for e in step.errors] == ["timeout"]
        # The step's thread still hangs; the worker claims and runs new work.
        later = client.schedule(one_step, 21)
        assert client.result(later, timeout=DEADLINE) == 42
        assert not gate.is_set()
    finally:
        gate.set()
        running.stop()
        running.join()
    assert running.error is None
    assert client.history(hung)[0].status == "failed"  # the late result is ignored


@pytest.mark.parametrize("kind", KINDS)
def test_a_lost_lease_is_a_warning(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    started, gate = threading.Event(), threading.Event()

    def held() -> str:
        started.set()
        gate.wait(DEADLINE)
        return "late"

    @zart.durable("held")
    def held_wf(_: Any) -> Generator[Any, Any, str]:
        return (yield zart.call("held", held))

    registry = zart.TaskRegistry([held_wf])
    store = zart.MemoryStore()
    client = zart.Client(store, registry)
    eid = client.schedule(held_wf, execution_id="held-1")

    def warned(text: str) -> bool:
        return any(
            r.name == "zart" and r.levelno == logging.WARNING and r.getMessage() == text
            for r in list(caplog.records)
        )

    # A heartbeat every 0.1 s: it soon finds the lease gone.
    cfg = zart.WorkerConfig(lease=0.3, poll_interval=0.02)
    with caplog.at_level(logging.WARNING, logger="zart"):
        running = Running(kind, store, registry, cfg)
        try:
            assert started.wait(DEADLINE)
            assert client.cancel(eid) is True  # voids the lease of the running step
            _wait(
                lambda: warned(f"lease on {eid} lost; its next write will be refused"),
                "the heartbeat's warning",
            )
            gate.set()  # the step ends; its commit is refused
            _wait(
                lambda: warned(f"lost the lease on {eid}; dropping it"),
                "the refused commit's warning",
            )
        finally:
            gate.set()
            running.stop()
            running.join()
    assert running.error is None
    assert client.get(eid).status == "cancelled"
    assert client.history(eid) == []  # the late result was not written
