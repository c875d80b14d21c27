"""Crashes, the hot path, and cancellation seen from inside."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import zart
from zart.testing import TestEnv

# -- crashes and the hot path ----------------------------------------------------


def test_crash_after_a_recorded_step_does_not_rerun_it(zart_env: TestEnv) -> None:
    calls: Counter[str] = Counter()

    @zart.step("charge")
    def charge() -> str:
        calls["charge"] += 1
        return "charged"

    @zart.step("ship")
    def ship() -> str:
        calls["ship"] += 1
        return "shipped"

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        a = yield charge()
        b = yield ship()
        return [a, b]

    zart_env.crash_after("charge")
    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    assert zart_env.get(eid).status == "running"  # lease still held by the dead worker
    assert [s.name for s in zart_env.history(eid)] == ["charge"]
    zart_env.run_until_idle()
    assert zart_env.get(eid).status == "running"  # nobody else may take it yet
    zart_env.restart()
    zart_env.run_until_idle()
    assert zart_env.result(eid) == ["charged", "shipped"]
    assert calls == Counter({"charge": 1, "ship": 1})


def test_crash_on_the_last_step_keeps_its_result(zart_env: TestEnv) -> None:
    calls: list[int] = []

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield zart.call("only", lambda: calls.append(1) or len(calls)))

    zart_env.crash_after("only")
    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    zart_env.restart()
    zart_env.run_until_idle()
    assert zart_env.result(eid) == 1
    assert calls == [1]


def test_a_crashed_lease_expires_by_itself(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        a = yield zart.call("a", lambda: "A")
        b = yield zart.call("b", lambda: "B")
        return a + b

    zart_env.crash_after("a")
    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    assert zart_env.get(eid).status == "running"
    zart_env.advance(timedelta(seconds=31))  # past the 30s lease
    assert zart_env.result(eid) == "AB"


def test_hot_path_never_replays(zart_env: TestEnv) -> None:
    entered: list[int] = []

    @zart.durable("wf")
    def wf(n: int):  # type: ignore[no-untyped-def]
        entered.append(1)
        total = 0
        for i in range(n):
            total += yield zart.call(f"add-{i}", lambda i=i: i)
        h = yield zart.schedule(zart.call("child", lambda: 1))
        yield zart.now("t")
        [one] = yield zart.wait_all([h])
        return total + one - 1

    assert zart_env.run(wf, 50) == sum(range(50))
    # One live pass and one resume after the child finished; the child's step
    # came from the host's cache, not from replaying the parent.
    assert entered == [1, 1]


def test_hot_path_without_suspends_enters_the_body_once(zart_env: TestEnv) -> None:
    entered: list[int] = []

    @zart.durable("wf")
    def wf(n: int):  # type: ignore[no-untyped-def]
        entered.append(1)
        total = 0
        for i in range(n):
            total += yield zart.call(f"add-{i}", lambda i=i: i)
        yield zart.sleep("zero", 0)
        yield zart.capture("c", lambda: 1)
        return total

    assert zart_env.run(wf, 100) == sum(range(100))
    assert entered == [1]


def test_each_suspend_costs_exactly_one_replay(zart_env: TestEnv) -> None:
    entered: list[int] = []
    calls: list[int] = []

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        entered.append(1)
        for i in range(3):
            yield zart.call(f"s-{i}", lambda i=i: calls.append(i))
            yield zart.sleep(f"nap-{i}", 10)
        return "done"

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    for _ in range(3):
        zart_env.advance(10)
    assert zart_env.result(eid) == "done"
    assert len(entered) == 4
    assert calls == [0, 1, 2]


# -- cancellation seen from inside ---------------------------------------------


def test_cancel_during_a_step_stops_the_execution(zart_env: TestEnv) -> None:
    calls: list[str] = []

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        eid = zart.context().execution_id
        yield zart.call("cancel-me", lambda: calls.append("cancel") or zart_env.cancel(eid))
        yield zart.call("after", lambda: calls.append("after"))
        return "finished"

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    zart_env.advance(timedelta(minutes=5))
    assert zart_env.get(eid).status == "cancelled"
    assert calls == ["cancel"]
    with pytest.raises(zart.Cancelled):
        zart_env.result(eid)


def test_the_interpreter_numbers_new_records_above_the_highest_seq_given() -> None:
    from zart import records as r
    from zart.decisions import RunStep, StepOutcome
    from zart.interpreter import Interpreter

    @zart.step("a")
    def a() -> int:
        return 1

    @zart.step("b")
    def b() -> int:
        return 2

    @zart.durable("numbered")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield a()
        yield b()
        yield zart.sleep("nap", timedelta(seconds=5))

    # "a" is logged at seq 4; seqs up to 7 were given (5 to 7 to records a retry dropped).
    a_rec = r.StepRecord(name="a", kind=r.K_STEP, status=r.R_RETRYING, seq=4, step="a")
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    record = r.ExecutionRecord(
        id="e1", task_name="numbered", status="running", attempt=1, created_at=t0, updated_at=t0
    )
    interp = Interpreter(wf, record, r.Log(records={"a": a_rec}, events={}, last_seq=7))
    first = interp.start(t0)
    assert isinstance(first, RunStep) and first.step.name == "a"
    second = interp.step_finished(StepOutcome(value=1), t0)
    assert isinstance(second, RunStep) and second.step.name == "b"
    third = interp.step_finished(StepOutcome(value=2), t0)
    writes = [*second.commit.records, *third.commit.records]
    assert [(w.name, w.seq) for w in writes] == [("a", 4), ("b", 8), ("nap", 9)]
