"""zart.testing.TestEnv and the zart_env fixture: the virtual clock (timers
in due order, a clock frozen only while the env drives work) and the
fault-injection helpers the other unit tests rely on."""

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import zart
from zart.stores.sqlite import SqliteStore
from zart.testing import TestEnv

START = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_fixture_is_a_fresh_test_env(zart_env: TestEnv) -> None:
    assert isinstance(zart_env, TestEnv)
    assert len(zart_env.registry) == 0
    assert zart_env.list() == []


def test_virtual_clock_starts_where_asked_and_moves_on_advance() -> None:
    with TestEnv(start=START) as env:
        assert env.now() == env.clock.now() == START
        # Frozen only while the env drives work (see test_steps_see_virtual_time).
        assert datetime.now(UTC) != START
        env.advance(timedelta(hours=2))
        assert env.now() == START + timedelta(hours=2)
        env.advance(30)
        assert env.now() == START + timedelta(hours=2, seconds=30)
        with pytest.raises(ValueError):
            env.advance(-1)


def test_steps_see_virtual_time() -> None:
    @zart.durable("clock")
    def clock(_: Any):  # type: ignore[no-untyped-def]
        first = yield zart.call("read", lambda: datetime.now(UTC).isoformat())
        yield zart.sleep("nap", timedelta(days=1))
        second = yield zart.call("read-again", lambda: datetime.now(UTC).isoformat())
        return [first, second]

    with TestEnv(start=START) as env:
        eid = env.schedule(clock)
        env.run_until_idle()
        env.advance(timedelta(days=1))
        assert env.result(eid) == [START.isoformat(), (START + timedelta(days=1)).isoformat()]


def test_result_of_a_running_execution_is_a_zart_error(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("nap", 10)

    eid = zart_env.schedule(wf)
    with pytest.raises(zart.ZartError) as info:
        zart_env.result(eid)
    assert not isinstance(info.value, zart.ExecutionFailed)
    zart_env.run_until_idle()
    with pytest.raises(zart.ZartError, match="sleeping"):
        zart_env.result(eid)


def test_run_until_idle_counts_runs(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("nap", 10)

    zart_env.schedule(wf)
    zart_env.schedule(wf)
    assert zart_env.run_until_idle() == 2
    assert zart_env.run_until_idle() == 0
    assert zart_env.advance(10) == 2


def test_replace_step_by_name_and_by_template(zart_env: TestEnv) -> None:
    @zart.step("charge-{n}")
    def charge(n: int) -> str:
        return f"real-{n}"

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        a = yield charge(1)
        b = yield charge(2)
        c = yield zart.call("email", lambda: "sent")
        return [a, b, c]

    zart_env.replace_step("charge-{n}", lambda n: f"fake-{n}")
    zart_env.replace_step("charge-2", lambda n: "only-two")
    zart_env.replace_step("email", lambda: "not sent")
    assert zart_env.run(wf) == ["fake-1", "only-two", "not sent"]


def test_run_schedules_runs_and_returns(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(n: int):  # type: ignore[no-untyped-def]
        return (yield zart.call("inc", lambda: n + 1))

    assert zart_env.run(wf, 41) == 42
    assert zart_env.list(task="wf")[0].status == "completed"


def test_crash_after_fires_once(zart_env: TestEnv) -> None:
    calls: list[str] = []

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.call("a", lambda: calls.append("a"))
        yield zart.call("b", lambda: calls.append("b"))
        return "ok"

    zart_env.crash_after("a")
    first = zart_env.schedule(wf)
    zart_env.run_until_idle()
    zart_env.restart()
    zart_env.run_until_idle()
    second = zart_env.schedule(wf)  # the crash was used up
    zart_env.run_until_idle()
    assert zart_env.result(first) == zart_env.result(second) == "ok"
    assert calls == ["a", "b", "a", "b"]


def test_restart_with_a_new_registry_runs_new_code(zart_env: TestEnv) -> None:
    def version(tag: str) -> zart.TaskHandler:
        @zart.durable("wf")
        def wf(_: Any):  # type: ignore[no-untyped-def]
            yield zart.sleep("nap", 10)
            return (yield zart.call(f"tag-{tag}", lambda: tag))

        return wf

    eid = zart_env.schedule(version("old"))
    zart_env.run_until_idle()
    zart_env.restart(registry=zart.TaskRegistry([version("new")]))
    zart_env.advance(10)
    assert zart_env.result(eid) == "new"


def test_a_start_must_be_an_aware_datetime() -> None:
    # A naive instant is UTC to one store, an error to another and compared
    # as is by the memory store: refused where the clock starts.
    with pytest.raises(ValueError, match=r"^VirtualClock: clock\(\) returned the naive datetime"):
        TestEnv(start=datetime(2026, 1, 1, 12, 0))
    with pytest.raises(
        TypeError, match=r"^VirtualClock: clock\(\) must return a datetime, got float"
    ):
        TestEnv(start=1_700_000_000.0)  # type: ignore[arg-type]
    # Any aware zone is one instant for every store.
    east = timezone(timedelta(hours=9))
    with TestEnv(start=START.astimezone(east)) as env:
        assert env.now() == START


# -- advance: timers in due order ------------------------------------------------


def test_advance_fires_timers_in_due_order_each_at_its_due_time() -> None:
    seen: dict[str, datetime] = {}

    def read(tag: str) -> None:
        seen[tag] = datetime.now(UTC)

    @zart.durable("napper")
    def napper(seconds: int):  # type: ignore[no-untyped-def]
        yield zart.sleep("nap", seconds)
        yield zart.call("read", read, f"after-{seconds}")

    with TestEnv(start=START) as env:
        for seconds in (20, 10, 5):
            env.schedule(napper, seconds)
        assert env.advance(30) == 6  # three starts, three wake-ups
        assert env.now() == START + timedelta(seconds=30)
    assert seen == {f"after-{s}": START + timedelta(seconds=s) for s in (5, 10, 20)}


def test_advance_starts_a_backoff_due_inside_the_window_from_its_due_time() -> None:
    tries: list[timedelta] = []

    @zart.step("flaky", retry="exponential(3, 10s)")
    def flaky() -> None:
        tries.append(datetime.now(UTC) - START)
        raise ValueError("again")

    @zart.durable("retries")
    def retries(_: Any):  # type: ignore[no-untyped-def]
        yield flaky()

    with TestEnv(start=START) as env:
        eid = env.schedule(retries)
        env.advance(35)
        # Backoffs of 10 s, 20 s, 40 s: the third would be due at +70, outside.
        assert tries == [timedelta(seconds=s) for s in (0, 10, 30)]
        (step,) = env.history(eid)
        assert step.status == "retrying" and step.attempts == 3
        assert step.wake_at == START + timedelta(seconds=70)
        assert env.get(eid).status == "sleeping"
        env.advance(35)
        assert tries == [timedelta(seconds=s) for s in (0, 10, 30, 70)]
        assert env.get(eid).status == "failed"


def test_advance_until_idle_runs_sleeps_to_the_end_and_leaves_a_wait_waiting() -> None:
    @zart.durable("sleeper")
    def sleeper(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("short", timedelta(hours=1))
        yield zart.sleep("long", timedelta(days=30))
        return (yield zart.call("read", lambda: datetime.now(UTC).isoformat()))

    @zart.durable("waiter")
    def waiter(_: Any):  # type: ignore[no-untyped-def]
        return (yield zart.wait_event("go"))

    with TestEnv(start=START) as env:
        slept = env.schedule(sleeper)
        waiting = env.schedule(waiter)
        assert env.advance_until_idle() == 4  # two starts, two wake-ups
        done_at = START + timedelta(days=30, hours=1)
        assert env.result(slept) == done_at.isoformat()
        assert env.now() == done_at  # the last timer's time, not the limit's
        assert env.get(waiting).status == "waiting"
        assert env.advance_until_idle() == 0
        assert env.offer_event(waiting, "go", 7) is True
        assert env.run_until_idle() == 1
        assert env.result(waiting) == 7


# -- the process's clock stays its own ---------------------------------------------


def _until(predicate: Callable[[], bool], what: str, ticks: int = 2000) -> None:
    """Wait for ``predicate`` up to ``ticks`` waits of 10 ms, counted rather
    than timed: a frozen clock must fail this, not make it wait forever."""
    tick = threading.Event()
    for _ in range(ticks):
        if predicate():
            return
        tick.wait(0.01)
    pytest.fail(f"gave up waiting for {what}")


def test_an_env_left_open_leaves_the_process_clock_alone(tmp_path: Path) -> None:
    env = TestEnv()
    env.advance(timedelta(days=3))  # and never closed
    wall, mono = datetime.now(UTC), time.monotonic()
    assert wall < env.now()  # not the env's time, three days ahead
    _until(lambda: datetime.now(UTC) > wall, "datetime.now() to move")
    _until(lambda: time.monotonic() > mono, "time.monotonic() to move")

    # A real worker on a SQLite file, in the same process: its store's
    # clock is the real one, so a durable sleep of 0.2 s comes due.
    @zart.durable("real-nap")
    def real_nap(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("nap", 0.2)
        return "rested"

    registry = zart.TaskRegistry([real_nap])
    store = SqliteStore(str(tmp_path / "zart.db"))
    store.migrate()
    client = zart.Client(store, registry)
    eid = client.schedule(real_nap)
    worker = zart.Worker(store, registry, zart.WorkerConfig(poll_interval=0.02))
    runner = threading.Thread(target=worker.run, name="test-worker-run")
    runner.start()
    try:
        _until(lambda: client.get(eid).status == "completed", "the nap to end")
        assert client.result(eid, timeout=0) == "rested"
    finally:
        worker.stop()
        runner.join(10)
        store.close()
    assert not runner.is_alive()
    assert env.now() > wall  # the env is still there, still open
