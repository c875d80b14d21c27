"""Retries: a step's backoff is a durable timer; an execution retries under max_retries."""

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

import zart
from tests.unit.replay.helpers import (
    failure,
)
from zart.testing import TestEnv

# -- retries are durable timers ----------------------------------------------------


def test_retry_backoff_is_a_durable_timer(zart_env: TestEnv) -> None:
    attempts: list[int] = []

    @zart.step("flaky", retry="fixed(2, 10s)")
    def flaky() -> str:
        attempts.append(zart.context().current_attempt)
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return "ok"

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield flaky())

    eid = zart_env.schedule(wf)
    t0 = zart_env.now()
    zart_env.run_until_idle()
    rec = zart_env.get(eid)
    assert rec.status == "sleeping" and rec.wake_at == t0 + timedelta(seconds=10)
    [step] = zart_env.history(eid)
    assert step.status == "retrying" and step.attempts == 1
    assert step.wake_at == t0 + timedelta(seconds=10)
    zart_env.advance(timedelta(seconds=9))
    assert attempts == [0]
    assert zart_env.get(eid).status == "sleeping"
    zart_env.advance(timedelta(seconds=1))
    assert attempts == [0, 1]
    assert zart_env.get(eid).status == "sleeping"
    zart_env.restart()  # the timer survives a restart: it is in the store
    zart_env.advance(timedelta(seconds=10))
    assert attempts == [0, 1, 2]
    assert zart_env.result(eid) == "ok"
    [step] = zart_env.history(eid)
    assert step.status == "completed" and step.attempts == 3


def test_exponential_backoff_timers_are_1_2_4_8_16_seconds(zart_env: TestEnv) -> None:
    calls: list[int] = []

    @zart.step("doomed", retry="exponential(5, 1s)")
    def doomed() -> None:
        calls.append(zart.context().current_attempt)
        raise RuntimeError("never")

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield doomed()

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    waits = []
    while zart_env.get(eid).status == "sleeping":
        wake = zart_env.get(eid).wake_at
        assert wake is not None
        waits.append((wake - zart_env.now()).total_seconds())
        zart_env.advance(wake - zart_env.now())
    assert waits == [1, 2, 4, 8, 16]
    assert calls == [0, 1, 2, 3, 4, 5]
    err = failure(zart_env, eid)
    assert err.error_type == "RetryExhausted" and err.error["attempts"] == 6


def test_step_context_in_sync_steps(zart_env: TestEnv) -> None:
    seen: dict[str, Any] = {}

    @zart.step("sync-step", retry="fixed(1, 1s)")
    def sync_step() -> None:
        info = zart.context()
        seen.setdefault("sync", []).append(
            (info.execution_id, info.task_name, info.current_attempt, info.is_retry, info.data)
        )
        if info.current_attempt == 0:
            raise RuntimeError("retry me")

    @zart.step("other-{n}")
    def other(n: int) -> tuple[str | None, int]:
        info = zart.context()
        return info.step, info.max_retries

    @zart.durable("ctx")
    def ctx_wf(data: dict[str, int]):  # type: ignore[no-untyped-def]
        info = zart.context()
        seen.setdefault("body", []).append((info.execution_id, info.current_attempt, info.data))
        yield sync_step()
        a = yield other(1)
        b = yield other(2)
        return [a, b]

    eid = zart_env.schedule(ctx_wf, {"n": 1}, execution_id="ctx-1")
    zart_env.run_until_idle()
    zart_env.advance(1)
    assert zart_env.result(eid) == [["other-1", 0], ["other-2", 0]]
    assert seen["sync"] == [
        ("ctx-1", "ctx", 0, False, {"n": 1}),
        ("ctx-1", "ctx", 1, True, {"n": 1}),
    ]
    assert seen["body"] == [("ctx-1", 0, {"n": 1})] * 2


@zart.step("async-who-{n}", retry="fixed(1, 1s)")
async def async_who(n: int) -> list[Any]:
    info = zart.context()
    if n == 2 and info.current_attempt == 0:
        raise RuntimeError("retry me")
    return [info.execution_id, info.step, info.current_attempt, info.data]


def test_step_context_in_async_steps(zart_env: TestEnv) -> None:
    @zart.durable("actx")
    def actx(data: int):  # type: ignore[no-untyped-def]
        a = yield async_who(1)
        b = yield async_who(2)
        return [a, b]

    first = zart_env.schedule(actx, 1, execution_id="a-1")
    second = zart_env.schedule(actx, 2, execution_id="a-2")
    zart_env.run_until_idle()
    zart_env.advance(1)
    for eid, data in ((first, 1), (second, 2)):
        assert zart_env.result(eid) == [
            [eid, "async-who-1", 0, data],
            [eid, "async-who-2", 1, data],
        ]


def test_async_steps_run_and_return_values(zart_env: TestEnv) -> None:
    @zart.step("async-double")
    async def async_double(n: int) -> int:
        return n * 2

    @zart.durable("async-wf")
    def async_wf(n: int):  # type: ignore[no-untyped-def]
        a = yield async_double(n)
        b = yield async_double(a).named("again")
        return b

    assert zart_env.run(async_wf, 3) == 12


def test_context_outside_an_execution_raises() -> None:
    with pytest.raises(zart.ZartError):
        zart.context()


def test_context_is_gone_after_the_execution_ran(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.now("t")
        return zart.context().execution_id

    eid = zart_env.schedule(wf, execution_id="wf-ctx")
    zart_env.run_until_idle()
    assert zart_env.result(eid) == "wf-ctx"
    with pytest.raises(zart.ZartError):
        zart.context()


# -- task-level retries ----------------------------------------------------------


def test_task_retry_replays_completed_steps_and_reruns_failed_ones(zart_env: TestEnv) -> None:
    calls: Counter[str] = Counter()
    body_attempts: list[int] = []

    @zart.step("a")
    def a() -> str:
        calls["a"] += 1
        return "A"

    @zart.step("b")
    def b() -> str:
        calls["b"] += 1
        if calls["b"] == 1:
            raise RuntimeError("b fails once")
        return "B"

    @zart.durable("wf", max_retries=2)
    def wf(_: Any):  # type: ignore[no-untyped-def]
        info = zart.context()
        body_attempts.append(info.current_attempt)
        assert info.max_retries == 2
        x = yield a()
        y = yield b()
        return x + y

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    assert zart_env.result(eid) == "AB"
    assert calls == Counter({"a": 1, "b": 2})
    assert body_attempts == [0, 1]
    rec = zart_env.get(eid)
    assert rec.attempt == 1
    hist = {s.name: s for s in zart_env.history(eid)}
    assert hist["a"].attempts == 1 and hist["b"].status == "completed"
    # b ran afresh under the second attempt; its record keeps the first attempt's error.
    assert [(s.name, s.seq) for s in zart_env.history(eid)] == [("a", 1), ("b", 2)]
    assert [(e.attempt, e.type, e.message) for e in hist["b"].errors] == [
        (1, "RuntimeError", "b fails once")
    ]
    assert hist["b"].execution_attempt == 1 and hist["a"].execution_attempt == 0


def test_exception_escaping_the_body_retries_then_fails(zart_env: TestEnv) -> None:
    attempts: list[int] = []
    calls: list[int] = []

    @zart.durable("wf", max_retries=2)
    def wf(_: Any):  # type: ignore[no-untyped-def]
        attempts.append(zart.context().current_attempt)
        yield zart.call("once", lambda: calls.append(1))
        raise ValueError(f"attempt {zart.context().current_attempt}")

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    assert attempts == [0, 1, 2]
    assert calls == [1]
    rec = zart_env.get(eid)
    assert rec.status == "failed" and rec.attempt == 2
    err = failure(zart_env, eid)
    assert err.error_type == "ValueError" and err.message == "attempt 2"


def test_without_max_retries_an_escaping_exception_fails_at_once(zart_env: TestEnv) -> None:
    attempts: list[int] = []

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        attempts.append(zart.context().current_attempt)
        yield zart.now("t")
        raise ValueError("no retries")

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    assert attempts == [0]
    assert zart_env.get(eid).status == "failed"


def test_task_retry_reruns_a_scheduled_childs_failure(zart_env: TestEnv) -> None:
    calls: list[int] = []

    def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first time")
        return 7

    @zart.durable("wf", max_retries=1)
    def wf(_: Any):  # type: ignore[no-untyped-def]
        h = yield zart.schedule(zart.call("flaky", flaky))
        [v] = yield zart.wait_all([h])
        return v

    # The parent's retry runs the failed child again, as a new attempt of
    # the same child id; the child's history keeps its failed attempt.
    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    rec = zart_env.get(eid)
    assert rec.status == "completed" and rec.attempt == 1
    assert zart_env.result(eid) == 7
    assert calls == [1, 1]
    child = zart_env.get(f"{eid}:flaky")
    assert child.attempt == 1 and child.status == "completed"
    [record] = zart_env.history(child.id)
    assert [e.message for e in record.errors] == ["first time"]


def test_a_parent_retry_reruns_a_failed_child_workflow_and_its_failed_children(
    zart_env: TestEnv,
) -> None:
    # grandparent -> child workflow "middle" -> scheduled step "leaf". The
    # leaf fails on its first run, so middle fails (no retries of its own),
    # so the top fails its first attempt; its retry runs middle again (a new
    # attempt of the same id), whose replay runs the failed leaf again.
    calls: Counter[str] = Counter()

    def leaf() -> str:
        calls["leaf"] += 1
        if calls["leaf"] == 1:
            raise RuntimeError("leaf down")
        return "leaf ok"

    def ok() -> str:
        calls["ok"] += 1
        return "done"

    @zart.durable("middle")
    def middle(_: Any):  # type: ignore[no-untyped-def]
        h1 = yield zart.schedule(zart.call("ok", ok))
        h2 = yield zart.schedule(zart.call("leaf", leaf))
        return (yield zart.wait_all([h1, h2]))

    @zart.durable("top", max_retries=1)
    def top(_: Any):  # type: ignore[no-untyped-def]
        return (yield middle(None))

    eid = zart_env.schedule(top, execution_id="t")
    zart_env.run_until_idle()
    assert zart_env.result(eid) == ["done", "leaf ok"]
    assert calls == Counter({"leaf": 2, "ok": 1})  # the completed sibling never re-ran
    assert zart_env.get("t").attempt == 1
    assert zart_env.get("t:middle").attempt == 1
    assert zart_env.get("t:middle:leaf").attempt == 1
    assert zart_env.get("t:middle:ok").attempt == 0
    [leaf_record] = zart_env.history("t:middle:leaf")
    assert [e.message for e in leaf_record.errors] == ["leaf down"]
