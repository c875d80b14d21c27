"""Sleeps, deadlines and the task timeout: fixed when first reached, never recomputed."""

from datetime import timedelta
from typing import Any

import zart
from tests.unit.replay.helpers import (
    failure,
)
from zart.testing import TestEnv

# -- sleeps ----------------------------------------------------------------------


def test_sleep_stores_its_wake_time(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("wait-24h", timedelta(hours=24))
        return "woke"

    t0 = zart_env.now()
    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    rec = zart_env.get(eid)
    assert rec.status == "sleeping" and rec.wake_at == t0 + timedelta(hours=24)
    [nap] = zart_env.history(eid)
    assert (nap.name, nap.kind, nap.status) == ("wait-24h", "sleep", "waiting")
    assert nap.wake_at == t0 + timedelta(hours=24)
    zart_env.advance(timedelta(hours=23, minutes=59))
    assert zart_env.get(eid).status == "sleeping"
    zart_env.advance(timedelta(minutes=1))
    assert zart_env.result(eid) == "woke"
    [nap] = zart_env.history(eid)
    assert nap.status == "completed" and nap.wake_at == t0 + timedelta(hours=24)


def test_a_replay_never_recomputes_a_stored_wake_time(zart_env: TestEnv) -> None:
    def version(hours: int) -> zart.TaskHandler:
        @zart.durable("sleeper")
        def sleeper(_: Any):  # type: ignore[no-untyped-def]
            yield zart.sleep("nap", timedelta(hours=hours))
            return hours

        return sleeper

    t0 = zart_env.now()
    eid = zart_env.schedule(version(1))
    zart_env.run_until_idle()
    # New code asks for a longer sleep; the stored wake time still rules.
    zart_env.restart(registry=zart.TaskRegistry([version(5)]))
    zart_env.advance(timedelta(hours=1, minutes=30))
    assert zart_env.get(eid).status == "completed"
    assert zart_env.result(eid) == 5
    [nap] = zart_env.history(eid)
    assert nap.wake_at == t0 + timedelta(hours=1)


def test_sleep_reached_late_still_wakes_at_its_stored_time(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("nap", timedelta(hours=1))
        yield zart.sleep("second", timedelta(hours=1))
        return None

    t0 = zart_env.now()
    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    zart_env.clock.move_to(t0 + timedelta(hours=3))  # the worker was late: replay at t0+3h
    zart_env.run_until_idle()
    hist = {s.name: s for s in zart_env.history(eid)}
    assert hist["nap"].wake_at == t0 + timedelta(hours=1)
    # The second sleep starts when it is reached (t0+3h), not at the first one's wake time.
    assert hist["second"].wake_at == t0 + timedelta(hours=4)


def test_sleep_until_wakes_at_the_given_time(zart_env: TestEnv) -> None:
    t0 = zart_env.now()
    when = t0 + timedelta(days=2)

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep_until("deadline", when)
        yield zart.sleep_until("past", t0 - timedelta(days=1))
        return "done"

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    assert zart_env.get(eid).wake_at == when
    zart_env.advance(timedelta(days=1))
    assert zart_env.get(eid).status == "sleeping"
    zart_env.advance(timedelta(days=1))
    assert zart_env.result(eid) == "done"
    hist = {s.name: s for s in zart_env.history(eid)}
    assert hist["deadline"].wake_at == when
    assert hist["past"].status == "completed" and hist["past"].wake_at == t0 - timedelta(days=1)


def test_zero_sleep_does_not_suspend(zart_env: TestEnv) -> None:
    entered: list[int] = []

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        entered.append(1)
        yield zart.sleep("zero", 0)
        return "done"

    assert zart_env.run(wf) == "done"
    assert entered == [1]


# -- execution timeout -----------------------------------------------------------


def test_execution_timeout_while_sleeping(zart_env: TestEnv) -> None:
    @zart.durable("wf", timeout=timedelta(hours=1), max_retries=3)
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("long", timedelta(hours=2))
        return "woke"

    t0 = zart_env.now()
    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    rec = zart_env.get(eid)
    assert rec.status == "sleeping" and rec.wake_at == t0 + timedelta(hours=1)
    zart_env.advance(timedelta(hours=1))
    rec = zart_env.get(eid)
    assert rec.status == "failed" and rec.attempt == 0
    err = failure(zart_env, eid)
    assert err.error_type.endswith("TaskTimeout")


def test_execution_timeout_while_waiting_for_an_event(zart_env: TestEnv) -> None:
    @zart.durable("wf", timeout=600)
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield zart.wait_event("never"))

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    assert zart_env.get(eid).status == "waiting"
    zart_env.advance(600)
    assert failure(zart_env, eid).error_type.endswith("TaskTimeout")


def test_execution_timeout_during_step_retries(zart_env: TestEnv) -> None:
    @zart.step("flaky", retry="fixed(10, 1m)")
    def flaky() -> None:
        raise RuntimeError("down")

    @zart.durable("wf", timeout=timedelta(minutes=5))
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield flaky()

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    for _ in range(6):
        zart_env.advance(timedelta(minutes=1))
    assert failure(zart_env, eid).error_type.endswith("TaskTimeout")


def test_execution_finishing_before_its_timeout_completes(zart_env: TestEnv) -> None:
    @zart.durable("wf", timeout=timedelta(hours=2))
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("nap", timedelta(hours=1))
        return "in time"

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    zart_env.advance(timedelta(hours=1))
    assert zart_env.result(eid) == "in time"


# -- stored deadlines ----------------------------------------------------------


def test_event_deadline_is_fixed_when_first_reached(zart_env: TestEnv) -> None:
    def version(hours: int) -> zart.TaskHandler:
        @zart.durable("wf")
        def wf(_: Any):  # type: ignore[no-untyped-def]
            try:
                return (yield zart.wait_event("go", timeout=timedelta(hours=hours)))
            except zart.EventTimeout:
                return "timed out"

        return wf

    t0 = zart_env.now()
    eid = zart_env.schedule(version(1))
    zart_env.run_until_idle()
    zart_env.restart(registry=zart.TaskRegistry([version(5)]))
    zart_env.advance(timedelta(hours=1))
    assert zart_env.result(eid) == "timed out"
    [ev] = zart_env.history(eid)
    assert ev.wake_at == t0 + timedelta(hours=1)


def test_retry_timer_is_fixed_when_first_reached(zart_env: TestEnv) -> None:
    def version(delay: str) -> zart.TaskHandler:
        def flaky() -> str:
            if zart.context().current_attempt == 0:
                raise RuntimeError("first")
            return "ok"

        @zart.durable("wf")
        def wf(_: Any):  # type: ignore[no-untyped-def]
            return (yield zart.call("flaky", flaky, retry=f"fixed(1, {delay})"))

        return wf

    eid = zart_env.schedule(version("1m"))
    zart_env.run_until_idle()
    zart_env.restart(registry=zart.TaskRegistry([version("1h")]))
    zart_env.advance(timedelta(minutes=1))
    assert zart_env.result(eid) == "ok"
