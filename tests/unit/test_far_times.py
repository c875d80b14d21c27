"""Durations that reach past the calendar (9999-12-31) or what a thread can
wait: a clear failure or a sensible meaning, never an OverflowError that
would crash every worker claiming the execution."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

import zart
from zart.testing import TestEnv

FAR = timedelta(days=9000 * 365)  # from 2026, past the year 9999


def test_a_sleep_ending_past_the_calendar_fails_the_execution_naming_it(
    zart_env: TestEnv,
) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("nap", FAR)

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    rec = zart_env.get(eid)
    assert rec.status == "failed" and rec.error is not None
    assert rec.error["type"] == "zart.errors.InvalidCommand"
    assert "sleep 'nap'" in rec.error["message"] and "9999-12-31" in rec.error["message"]
    assert zart_env.history(eid) == []  # nothing half-recorded
    zart_env.check_determinism(eid)


def test_an_event_timeout_past_the_calendar_is_no_timeout(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield zart.wait_event("go", timeout=FAR))

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    rec = zart_env.get(eid)
    assert rec.status == "waiting" and rec.wake_at is None
    zart_env.advance(timedelta(days=365))
    assert zart_env.offer_event(eid, "go", "yes")
    zart_env.run_until_idle()
    assert zart_env.result(eid) == "yes"
    zart_env.check_determinism(eid)


def test_a_workflow_timeout_past_the_calendar_is_no_deadline(zart_env: TestEnv) -> None:
    @zart.step("s")
    def s() -> int:
        return 1

    @zart.durable("wf", timeout=FAR)
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield s())

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    assert zart_env.result(eid) == 1
    zart_env.check_determinism(eid)


def test_exponential_backoff_capped_by_max_delay_outlives_the_timedelta_range(
    zart_env: TestEnv,
) -> None:
    # Uncapped, the 48th delay (2**47 s) is past what a timedelta holds.
    calls: list[int] = []

    @zart.step("flaky", retry="exponential(60, 1s, 2.0, 1m)")
    def flaky() -> int:
        calls.append(1)
        if len(calls) < 55:
            raise RuntimeError("down")
        return len(calls)

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield flaky())

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    while zart_env.get(eid).status == "sleeping":
        zart_env.advance(timedelta(minutes=1))
    assert zart_env.result(eid) == 55
    [rec] = zart_env.history(eid)
    assert rec.status == "completed" and rec.attempts == 55


def test_a_retry_due_past_the_calendar_spends_the_retries(zart_env: TestEnv) -> None:
    calls: list[int] = []

    @zart.step("flaky", retry=zart.RetryPolicy.fixed(3, FAR))
    def flaky() -> None:
        calls.append(1)
        raise RuntimeError("down")

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield flaky()
        except zart.RetryExhausted as e:
            return {"attempts": e.attempts, "message": e.message}

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    assert zart_env.result(eid) == {"attempts": 1, "message": "down"}
    assert calls == [1]
    zart_env.check_determinism(eid)


@pytest.mark.parametrize("is_async", [False, True])
def test_a_step_timeout_past_what_a_thread_can_wait_is_no_limit(
    zart_env: TestEnv, is_async: bool
) -> None:
    # Over threading.TIMEOUT_MAX the wait itself raised, and a step that ran
    # and returned was recorded as failed.
    if is_async:

        @zart.step("slow", timeout=1e13)
        async def slow() -> int:
            import asyncio

            await asyncio.sleep(0.05)
            return 7

    else:

        @zart.step("slow", timeout=1e13)
        def slow() -> int:
            time.sleep(0.05)
            return 7

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield slow())

    assert zart_env.run(wf) == 7
