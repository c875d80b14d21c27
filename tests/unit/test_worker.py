"""zart.Worker (threads) and zart.AsyncWorker (asyncio) on a MemoryStore and a
SQLite file: batches run until idle, sync and async steps in either worker,
WorkerConfig validation, claim sizing, graceful stop, the shutdown timeout,
executions of tasks this worker has no handler for, and what a worker logs
through the ``zart`` logger."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import zart
from zart.loop import WorkerBase
from zart.records import Claimed
from zart.stores.protocol import Store
from zart.stores.sqlite import SqliteStore

# A generous bound for waits that should end at once; never reached when all is well.
DEADLINE = 5.0
KINDS = ["threads", "asyncio"]


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield zart.MemoryStore()
        return
    sqlite = SqliteStore(str(tmp_path / "zart.db"))
    sqlite.migrate()
    try:
        yield sqlite
    finally:
        sqlite.close()


def config(**kw: Any) -> zart.WorkerConfig:
    """A config whose idle waits are short, so stop() is noticed quickly."""
    kw.setdefault("poll_interval", 0.02)
    return zart.WorkerConfig(**kw)


def until_idle(kind: str, store: Store, registry: zart.TaskRegistry, cfg: zart.WorkerConfig) -> int:
    if kind == "threads":
        return zart.Worker(store, registry, cfg).run_until_idle()
    return asyncio.run(zart.AsyncWorker(store, registry, cfg).run_until_idle())


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def due_now(record: zart.ExecutionRecord) -> bool:
    return record.wake_at is not None and record.wake_at <= datetime.now(UTC)


class StepRuns:
    """Counts step bodies run, by (execution id, step name), across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.runs: Counter[tuple[str, str | None]] = Counter()

    def hit(self) -> None:
        info = zart.context()
        with self._lock:
            self.runs[(info.execution_id, info.step)] += 1

    def add(self, value: int, k: int) -> int:
        self.hit()
        return value + k


# -- run_until_idle ---------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_run_until_idle_completes_a_batch_and_counts_the_runs(kind: str, store: Store) -> None:
    steps = StepRuns()

    @zart.durable("three-steps")
    def three_steps(n: int) -> Generator[Any, Any, int]:
        a = yield zart.call("one", steps.add, n, 1)
        b = yield zart.call("two", steps.add, a, 10)
        return (yield zart.call("three", steps.add, b, 100))

    registry = zart.TaskRegistry([three_steps])
    client = zart.Client(store, registry)
    eids = {client.schedule(three_steps, n, execution_id=f"w-{n}"): n for n in range(20)}

    assert until_idle(kind, store, registry, config(concurrency=4)) == 20

    for eid, n in eids.items():
        assert client.get(eid).status == "completed"
        assert client.result(eid, timeout=0) == n + 111
        assert [s.name for s in client.history(eid)] == ["one", "two", "three"]
    expected = {(eid, name): 1 for eid in eids for name in ("one", "two", "three")}
    assert dict(steps.runs) == expected
    # Nothing left to do: a second pass runs nothing.
    assert until_idle(kind, store, registry, config(concurrency=4)) == 0


# -- sync and async steps in either worker ----------------------------------------


def test_async_worker_runs_sync_steps_in_threads_and_async_steps_on_the_loop() -> None:
    seen: dict[str, int] = {}

    def sync_step(x: int) -> int:
        seen["sync"] = threading.get_ident()
        return x + 1

    async def async_step(x: int) -> int:
        seen["async"] = threading.get_ident()
        await asyncio.sleep(0)
        return x * 10

    @zart.durable("mixed")
    def mixed(x: int) -> Generator[Any, Any, list[int]]:
        a = yield zart.call("sync", sync_step, x)
        b = yield zart.call("async", async_step, a)
        return [a, b]

    registry = zart.TaskRegistry([mixed])
    store = zart.MemoryStore()
    client = zart.Client(store, registry)
    eid = client.schedule(mixed, 4)

    async def main() -> int:
        seen["loop"] = threading.get_ident()
        return await zart.AsyncWorker(store, registry, config()).run_until_idle()

    assert asyncio.run(main()) == 1
    assert client.result(eid, timeout=0) == [5, 50]
    assert seen["sync"] != seen["loop"]  # a sync step never blocks the event loop
    assert seen["async"] == seen["loop"]


def test_thread_worker_runs_async_steps() -> None:
    seen: dict[str, Any] = {}

    async def async_step(x: int) -> int:
        seen["thread"] = threading.current_thread().name
        seen["loop"] = asyncio.get_running_loop()
        await asyncio.sleep(0)
        return x * 10

    @zart.durable("async-steps")
    def async_steps(x: int) -> Generator[Any, Any, int]:
        a = yield zart.call("first", async_step, x)
        return (yield zart.call("second", async_step, a))

    registry = zart.TaskRegistry([async_steps])
    store = zart.MemoryStore()
    client = zart.Client(store, registry)
    eid = client.schedule(async_steps, 3)

    assert zart.Worker(store, registry, config()).run_until_idle() == 1
    assert client.get(eid).status == "completed"
    assert client.result(eid, timeout=0) == 300
    assert [s.result for s in client.history(eid)] == [30, 300]
    assert seen["thread"].startswith("zart-worker")  # awaited in a worker thread
    assert isinstance(seen["loop"], asyncio.AbstractEventLoop)


# -- WorkerConfig ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("concurrency", 0),
        ("concurrency", -1),
        ("poll_interval", 0),
        ("poll_interval", 0.0),
        ("poll_interval", -0.5),
        ("lease", 0),
        ("lease", timedelta(0)),
        ("lease", -1),
        ("lease", timedelta(seconds=-5)),
        ("heartbeat_interval", 0),
        ("heartbeat_interval", -3),
        ("shutdown_timeout", -1),  # 0 is allowed (do not wait); negative is not
        ("batch_size", 0),
        ("batch_size", -2),
        ("concurrency", None),  # only batch_size may be None (it then follows concurrency)
        ("poll_interval", None),
        ("poll_interval", float("inf")),
        ("poll_interval", float("nan")),
        ("lease", float("inf")),
        ("heartbeat_interval", float("nan")),
        ("lease", 1e300),
        # Past a day: now + lease and the thread waits must never overflow.
        ("lease", 1e13),
        ("lease", timedelta(days=1, seconds=1)),
        ("poll_interval", 86_401.0),
        ("heartbeat_interval", timedelta(days=2)),
        ("shutdown_timeout", 1e13),
        # Counts are whole numbers; timings are numbers (bool is neither).
        ("concurrency", 2.5),
        ("concurrency", True),
        ("concurrency", "4"),
        ("batch_size", 0.5),
        ("poll_interval", "1"),
        ("poll_interval", True),
        # Durations of the wrong type: ValueError too, like the other fields.
        ("lease", "5"),
        ("heartbeat_interval", None),
        ("shutdown_timeout", True),
        # A lease that runs out between heartbeats (the default of 10 s is a
        # third of the default lease, not of this one).
        ("heartbeat_interval", 30),
    ],
)
def test_worker_config_refuses_non_positive_settings(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=rf"\b{field}\b"):
        zart.WorkerConfig(**{field: value})


def test_the_heartbeat_follows_the_lease_unless_given() -> None:
    assert zart.WorkerConfig().heartbeat_interval == timedelta(seconds=10)
    assert zart.WorkerConfig(lease=3).heartbeat_interval == timedelta(seconds=1)
    with pytest.raises(ValueError, match=r"heartbeat_interval \(10 s\).*lease \(5 s\)"):
        zart.WorkerConfig(lease=5, heartbeat_interval=10)


def test_worker_config_accepts_positive_settings() -> None:
    cfg = zart.WorkerConfig(
        concurrency=1, poll_interval=0.01, lease=2, heartbeat_interval=0.5, batch_size=1
    )
    assert cfg.lease == timedelta(seconds=2)
    assert cfg.heartbeat_interval == timedelta(seconds=0.5)
    assert cfg.claim_batch == 1
    assert zart.WorkerConfig(concurrency=3).claim_batch == 3  # batch_size None: the slots
    assert zart.WorkerConfig(shutdown_timeout=0).shutdown_timeout == timedelta(0)
    day = zart.WorkerConfig(lease=86_400, poll_interval=86_400.0, shutdown_timeout=86_400)
    assert day.lease == day.shutdown_timeout == timedelta(days=1)


# -- claim_room ---------------------------------------------------------------------


def base(concurrency: int, batch_size: int | None) -> WorkerBase:
    cfg = zart.WorkerConfig(concurrency=concurrency, batch_size=batch_size)
    return WorkerBase(zart.MemoryStore(), zart.TaskRegistry(), cfg)


def test_claim_room_with_the_default_batch() -> None:
    w = base(8, None)
    assert [w.claim_room(i) for i in range(8)] == [8] * 8  # a free slot claims a whole batch
    assert w.claim_room(8) == 8  # all slots busy: one batch ahead
    assert [w.claim_room(i) for i in (9, 10, 11, 12)] == [7, 6, 5, 4]
    assert [w.claim_room(i) for i in (13, 14, 15, 16, 17, 40)] == [0] * 6  # under half a batch


def test_claim_room_with_a_batch_larger_than_the_slots() -> None:
    w = base(2, 6)
    assert [w.claim_room(i) for i in range(10)] == [6, 6, 6, 5, 4, 3, 0, 0, 0, 0]
    for inflight in range(2 + 6 + 1):
        assert inflight + w.claim_room(inflight) <= 2 + 6  # at most a batch ahead of the slots


@pytest.mark.parametrize("concurrency", [1, 2, 3, 8])
@pytest.mark.parametrize("batch_size", [None, 1, 2, 5, 16])
def test_claim_room_rules(concurrency: int, batch_size: int | None) -> None:
    w = base(concurrency, batch_size)
    batch = batch_size or concurrency
    for inflight in range(concurrency + batch + 3):
        room = w.claim_room(inflight)
        assert 0 <= room <= batch
        assert room == 0 or inflight + room <= concurrency + batch  # at most a batch ahead
        if inflight < concurrency:
            assert room >= 1  # a free slot always claims
        elif room:
            assert room >= max(1, batch // 2)  # a busy worker claims half a batch or more


# -- graceful stop: thread worker -------------------------------------------------


def test_worker_stop_finishes_the_running_step_and_gives_back_the_queue() -> None:
    started, gate = threading.Event(), threading.Event()
    steps = StepRuns()

    def blocking() -> str:
        steps.hit()
        started.set()
        if not gate.wait(DEADLINE):
            raise RuntimeError("the test never opened the gate")
        return "first"

    def after() -> str:
        steps.hit()
        return "second"

    @zart.durable("gated")
    def gated(_: Any) -> Generator[Any, Any, list[str]]:
        a = yield zart.call("blocking", blocking)
        b = yield zart.call("after", after)
        return [a, b]

    registry = zart.TaskRegistry([gated])
    store = zart.MemoryStore()
    client = zart.Client(store, registry)
    eids = [client.schedule(gated, execution_id=f"g-{i}") for i in range(3)]
    worker = zart.Worker(store, registry, config(concurrency=1, batch_size=4))
    runner = threading.Thread(target=worker.run, name="test-worker-run")
    runner.start()
    try:
        assert started.wait(DEADLINE)
        # One slot, a batch of 4: all three were claimed, one of them runs.
        assert [client.get(e).status for e in eids] == ["running"] * 3
        worker.stop()
        gate.set()
        runner.join(DEADLINE)
        assert not runner.is_alive(), "run() did not return after stop()"
    finally:
        gate.set()
        worker.stop()
        runner.join(DEADLINE)

    [(first, _)] = [key for key in steps.runs if key[1] == "blocking"]
    assert client.get(first).status == "completed"
    assert client.result(first, timeout=0) == ["first", "second"]
    queued = [e for e in eids if e != first]
    for eid in queued:
        record = client.get(eid)
        assert record.status == "pending" and due_now(record)
        assert client.history(eid) == []
    assert dict(steps.runs) == {(first, "blocking"): 1, (first, "after"): 1}

    # What was given back runs at once on another worker, lease or not.
    assert zart.Worker(store, registry, config(concurrency=2)).run_until_idle() == 2
    assert all(client.get(e).status == "completed" for e in eids)
    assert all(steps.runs[(e, "blocking")] == 1 for e in eids)


def test_worker_releases_in_flight_work_after_the_shutdown_timeout(store: Store) -> None:
    started, gate = threading.Event(), threading.Event()
    steps = StepRuns()

    def slow() -> str:
        steps.hit()
        started.set()
        if not gate.wait(DEADLINE):
            raise RuntimeError("the test never opened the gate")
        return "slow"

    @zart.durable("slow")
    def slow_flow(_: Any) -> Generator[Any, Any, str]:
        return (yield zart.call("slow", slow))

    registry = zart.TaskRegistry([slow_flow])
    client = zart.Client(store, registry)
    eid = client.schedule(slow_flow, execution_id="slow-1")
    worker = zart.Worker(
        store, registry, config(concurrency=1, shutdown_timeout=timedelta(seconds=0.2))
    )
    runner = threading.Thread(target=worker.run, name="test-worker-run")
    runner.start()
    try:
        assert started.wait(DEADLINE)
        worker.stop()
        runner.join(DEADLINE)
        assert not runner.is_alive(), "run() did not return after the shutdown timeout"
        assert not gate.is_set()  # it returned while the step still ran
        record = client.get(eid)
        assert record.status == "pending" and due_now(record)  # not held for the 30 s lease
        # The abandoned step ends now; its late result is refused (the lease is gone).
        gate.set()
        wait_until(lambda: worker.processed == 1, "the abandoned run to end")
        assert client.get(eid).status == "pending"
        assert client.history(eid) == []
    finally:
        gate.set()
        runner.join(DEADLINE)

    assert zart.Worker(store, registry, config(concurrency=1)).run_until_idle() == 1
    assert client.result(eid, timeout=0) == "slow"
    assert steps.runs[(eid, "slow")] == 2  # at least once: the interrupted step ran again


# -- graceful stop: asyncio worker ------------------------------------------------


def claim_all_due(store: Store) -> list[str]:
    """What another worker gets when it claims now (its lease is never used)."""
    got = store.claim(worker="other", tasks=None, lease=timedelta(seconds=30), limit=10)
    return sorted(c.record.id for c in got)


def test_async_worker_stop_finishes_the_running_step_and_gives_back_the_queue() -> None:
    steps = StepRuns()
    store = zart.MemoryStore()
    client = zart.Client(store)

    async def main() -> None:
        started, gate = asyncio.Event(), asyncio.Event()

        async def blocking() -> str:
            steps.hit()
            started.set()
            await asyncio.wait_for(gate.wait(), DEADLINE)
            return "first"

        async def after() -> str:
            steps.hit()
            return "second"

        @zart.durable("gated")
        def gated(_: Any) -> Generator[Any, Any, list[str]]:
            a = yield zart.call("blocking", blocking)
            b = yield zart.call("after", after)
            return [a, b]

        eids = [client.schedule(gated, execution_id=f"g-{i}") for i in range(3)]
        # A long poll: the loop sleeps in its wait for a run to end when the runs end.
        cfg = config(concurrency=1, batch_size=4, poll_interval=60)
        worker = zart.AsyncWorker(store, client.registry, cfg)
        run = asyncio.create_task(worker.run())
        try:
            await asyncio.wait_for(started.wait(), DEADLINE)
            # One slot, a batch of 4: all three were claimed, one of them runs.
            assert [client.get(e).status for e in eids] == ["running"] * 3
            worker.stop()
            gate.set()
            await asyncio.wait_for(run, DEADLINE)
        finally:
            gate.set()
            worker.stop()
            run.cancel()

        [(first, _)] = [key for key in steps.runs if key[1] == "blocking"]
        assert client.get(first).status == "completed"
        assert client.result(first, timeout=0) == ["first", "second"]
        queued = sorted(e for e in eids if e != first)
        for eid in queued:
            record = client.get(eid)
            assert record.status == "pending" and due_now(record)
            assert client.history(eid) == []
        assert dict(steps.runs) == {(first, "blocking"): 1, (first, "after"): 1}
        assert claim_all_due(store) == queued  # given back: claimable at once

    asyncio.run(main())


def test_async_worker_releases_in_flight_work_after_the_shutdown_timeout() -> None:
    steps = StepRuns()
    store = zart.MemoryStore()
    client = zart.Client(store)

    async def main() -> None:
        started, gate = asyncio.Event(), asyncio.Event()

        async def slow() -> str:
            steps.hit()
            started.set()
            await asyncio.wait_for(gate.wait(), DEADLINE)
            return "slow"

        @zart.durable("slow")
        def slow_flow(_: Any) -> Generator[Any, Any, str]:
            return (yield zart.call("slow", slow))

        eid = client.schedule(slow_flow, execution_id="slow-1")
        cfg = config(concurrency=1, shutdown_timeout=timedelta(seconds=0.2))
        worker = zart.AsyncWorker(store, client.registry, cfg)
        run = asyncio.create_task(worker.run())
        try:
            await asyncio.wait_for(started.wait(), DEADLINE)
            worker.stop()
            await asyncio.wait_for(run, DEADLINE)
            assert not gate.is_set()  # it returned while the step still ran
        finally:
            gate.set()
            run.cancel()

        record = client.get(eid)
        assert record.status == "pending" and due_now(record)  # not held for the 30 s lease
        assert client.history(eid) == []
        assert steps.runs[(eid, "slow")] == 1
        assert claim_all_due(store) == [eid]

    asyncio.run(main())


def test_async_worker_survives_its_last_run_ending_during_a_claim() -> None:
    # All runs ending while a claim is out once made the loop wait on nothing
    # (ValueError from asyncio.wait), which killed the worker.
    class SlowEmptyClaims(zart.MemoryStore):
        """Returns an empty claim only once the worker's one run has ended: the
        window in which AsyncWorker._loop awaits a claim while its runs finish."""

        worker: zart.AsyncWorker | None = None

        def claim(self, **kw: Any) -> list[Claimed]:
            claimed = super().claim(**kw)
            worker = self.worker
            if not claimed and worker is not None:
                wait_until(lambda: worker.processed == 1, "the run to end")
            return claimed

    @zart.durable("one-step")
    def one_step(x: int) -> Generator[Any, Any, int]:
        return (yield zart.call("inc", lambda: x + 1))

    store = SlowEmptyClaims()
    client = zart.Client(store, zart.TaskRegistry([one_step]))
    eid = client.schedule(one_step, 1)
    worker = zart.AsyncWorker(store, client.registry, config())
    store.worker = worker
    assert asyncio.run(worker.run_until_idle()) == 1
    assert client.result(eid, timeout=0) == 2


# -- unknown tasks --------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_an_execution_without_a_handler_waits_and_is_reported(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    @zart.durable("known")
    def known(x: int) -> Generator[Any, Any, int]:
        return (yield zart.call("inc", lambda: x + 1))

    @zart.durable("elsewhere")
    def elsewhere(_: Any) -> Generator[Any, Any, None]:
        yield zart.call("never", lambda: None)

    store = zart.MemoryStore()
    client = zart.Client(store, zart.TaskRegistry([known, elsewhere]))
    orphan = client.schedule(elsewhere, execution_id="orphan")
    done = client.schedule(known, 1, execution_id="done")

    with caplog.at_level(logging.WARNING, logger="zart"):
        ran = until_idle(kind, store, zart.TaskRegistry([known]), config())

    assert ran == 1
    assert client.result(done, timeout=0) == 2
    record = client.get(orphan)
    assert record.status == "pending" and due_now(record)
    assert client.history(orphan) == []
    warnings = [
        r
        for r in caplog.records
        if r.name == "zart" and r.levelno == logging.WARNING and "'elsewhere'" in r.getMessage()
    ]
    assert len(warnings) == 1


# -- what a worker logs ---------------------------------------------------------------

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class StoreClock:
    """A store's clock that stands still until the test moves it."""

    def __init__(self) -> None:
        self.time = T0

    def __call__(self) -> datetime:
        return self.time


def zart_records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "zart" and r.levelno == level]


@pytest.mark.parametrize("kind", KINDS)
def test_a_worker_logs_failed_attempts_retry_timers_and_the_failure(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    @zart.step("charge", retry="fixed(1, 10s)")
    def charge() -> None:
        raise ValueError("card declined")

    @zart.durable("pay")
    def pay(_: Any) -> Generator[Any, Any, None]:
        yield charge()

    registry = zart.TaskRegistry([pay])
    clock = StoreClock()
    store = zart.MemoryStore(clock=clock)
    eid = zart.Client(store, registry).schedule(pay, execution_id="pay-1")
    with caplog.at_level(logging.DEBUG, logger="zart"):
        assert until_idle(kind, store, registry, config()) == 1
        assert zart_records(caplog, logging.WARNING) == [
            "execution pay-1: step 'charge' attempt 1 failed: ValueError: card declined"
        ]
        wake = (T0 + timedelta(seconds=10)).isoformat()
        assert zart_records(caplog, logging.INFO) == [
            f"execution pay-1: step 'charge' retries at {wake}"
        ]
        assert zart_records(caplog, logging.ERROR) == []
        caplog.clear()
        clock.time = T0 + timedelta(seconds=10)
        assert until_idle(kind, store, registry, config()) == 1

    assert store.get(eid).status == "failed"
    assert zart_records(caplog, logging.WARNING) == [
        "execution pay-1: step 'charge' attempt 2 failed: ValueError: card declined"
    ]
    assert zart_records(caplog, logging.INFO) == []  # no retry left: no timer
    (failed,) = zart_records(caplog, logging.ERROR)
    assert failed.startswith("execution pay-1 failed: RetryExhausted: card declined\n")
    # The traceback an operator needs: where the step raised.
    assert "Traceback (most recent call last)" in failed
    assert 'raise ValueError("card declined")' in failed


@pytest.mark.parametrize("kind", KINDS)
def test_a_workflow_that_raises_is_an_error_with_its_traceback(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    @zart.durable("crash")
    def crash(_: Any) -> Generator[Any, Any, None]:
        yield zart.now("t")
        raise RuntimeError("went wrong")

    registry = zart.TaskRegistry([crash])
    store = zart.MemoryStore()
    eid = zart.Client(store, registry).schedule(crash, execution_id="crash-1")
    with caplog.at_level(logging.WARNING, logger="zart"):
        assert until_idle(kind, store, registry, config()) == 1
    assert store.get(eid).status == "failed"
    (failed,) = zart_records(caplog, logging.ERROR)
    assert failed.startswith("execution crash-1 failed: RuntimeError: went wrong\n")
    assert "Traceback (most recent call last)" in failed
    assert 'raise RuntimeError("went wrong")' in failed
    assert zart_records(caplog, logging.WARNING) == []
