"""Every replay rule, driven through zart.testing.TestEnv on a virtual clock."""

import dataclasses
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

import zart
from zart.testing import TestEnv


@attrs.define
class Report:
    title: str
    pages: list[int]
    created: datetime


@dataclasses.dataclass
class Summary:
    total: int
    tags: tuple[str, ...]


@attrs.define
class InsufficientFunds(zart.BusinessError):
    needed: int
    account: str


class OutOfStock(zart.BusinessError):
    """A business error without attrs fields: only its message travels."""


class Opaque:
    """Has no JSON form."""


def snapshot(env: TestEnv, eid: str) -> list[tuple[Any, ...]]:
    return [
        (s.name, s.kind, s.status, s.step, s.result, s.error, s.attempts, s.wake_at, s.child_id)
        for s in env.history(eid)
    ]


def failure(env: TestEnv, eid: str) -> zart.ExecutionFailed:
    with pytest.raises(zart.ExecutionFailed) as info:
        env.result(eid)
    return info.value


def stalled(env: TestEnv, eid: str) -> dict[str, Any]:
    """The error of a stalled execution (the code no longer matches its log)."""
    rec = env.get(eid)
    assert rec.status == "stalled", rec.status
    assert rec.error is not None
    return rec.error


# -- typed values round-trip -----------------------------------------------------


T_REPORT = datetime(2030, 5, 1, 9, 30, tzinfo=UTC)


@zart.step("make-report")
def make_report(title: str) -> Report:
    return Report(title, [1, 2, 3], T_REPORT)


@zart.step("summarize")
def summarize(report: Report) -> Summary:
    return Summary(len(report.pages), ("a", "b"))


def test_typed_results_arrive_typed_live_and_after_a_restart(zart_env: TestEnv) -> None:
    seen: list[tuple[Any, ...]] = []

    @zart.durable("typed")
    def typed(_: Any):  # type: ignore[no-untyped-def]
        report = yield make_report("q1")
        summary = yield summarize(report)
        pair = yield zart.call("pair", lambda: (1, 2))
        seen.append((report, summary, pair))
        yield zart.sleep("nap", timedelta(minutes=5))
        return {"title": report.title, "total": summary.total}

    eid = zart_env.schedule(typed)
    zart_env.run_until_idle()
    assert len(seen) == 1
    zart_env.restart()
    zart_env.advance(timedelta(minutes=5))
    assert zart_env.get(eid).status == "completed"
    assert len(seen) == 2
    live, replayed = seen
    assert live == replayed
    report, summary, _ = replayed
    assert type(report) is Report and report == Report("q1", [1, 2, 3], T_REPORT)
    assert isinstance(report.created, datetime)
    assert report.created == T_REPORT and report.created.tzinfo is not None
    assert type(summary) is Summary and summary.tags == ("a", "b")
    assert type(live[1].tags) is tuple
    # An untyped step's value is what JSON gives back, live as on replay.
    assert live[2] == [1, 2] and replayed[2] == [1, 2]
    assert zart_env.result(eid) == {"title": "q1", "total": 3}


def test_live_value_is_the_stored_copy_not_the_object_the_step_returned(
    zart_env: TestEnv,
) -> None:
    produced: list[Any] = []
    received: list[Any] = []

    def build() -> dict[str, Any]:
        value = {"items": [1, 2], "tuple": (3, 4)}
        produced.append(value)
        return value

    @zart.durable("copy")
    def copy(_: Any):  # type: ignore[no-untyped-def]
        got = yield zart.call("build", build)
        received.append(got)
        return None

    zart_env.run(copy)
    assert received[0] is not produced[0]
    assert received[0] == {"items": [1, 2], "tuple": [3, 4]}


def test_step_result_that_does_not_structure_is_thrown_into_the_workflow(
    zart_env: TestEnv,
) -> None:
    @zart.step("wrong")
    def wrong() -> Summary:
        return "not a summary"  # type: ignore[return-value]

    @zart.durable("mistyped")
    def mistyped(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield wrong()
        except zart.SerializationError as exc:
            return f"caught: {exc}"
        return "no error"

    out = zart_env.run(mistyped)
    assert out.startswith("caught:") and "'wrong'" in out


# -- the three-way outcome -------------------------------------------------------


def test_business_error_is_caught_as_the_same_type_live_and_on_replay(
    zart_env: TestEnv,
) -> None:
    calls: list[int] = []
    caught: list[InsufficientFunds] = []

    @zart.step("charge", retry="fixed(3, 1s)")
    def charge(amount: int) -> None:
        calls.append(amount)
        raise InsufficientFunds(needed=amount, account="acc-1")

    @zart.durable("pay", max_retries=2)
    def pay(amount: int):  # type: ignore[no-untyped-def]
        try:
            yield charge(amount)
        except InsufficientFunds as e:
            caught.append(e)
        yield zart.sleep("nap", 60)
        return {"needed": caught[-1].needed, "account": caught[-1].account}

    eid = zart_env.schedule(pay, 50)
    zart_env.run_until_idle()
    zart_env.restart()
    zart_env.advance(60)
    assert zart_env.result(eid) == {"needed": 50, "account": "acc-1"}
    assert calls == [50]  # not retried, not re-run on replay
    assert len(caught) == 2
    assert all(type(e) is InsufficientFunds for e in caught)
    assert caught[0].needed == caught[1].needed == 50
    [rec, _] = zart_env.history(eid)
    assert rec.status == "error" and rec.attempts == 1
    assert rec.error is not None and rec.error["fields"] == {"needed": 50, "account": "acc-1"}
    assert zart_env.get(eid).attempt == 0


def test_business_error_without_fields_keeps_type_and_message(zart_env: TestEnv) -> None:
    @zart.step("reserve")
    def reserve() -> None:
        raise OutOfStock("sku-9 is gone")

    @zart.durable("shop")
    def shop(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield reserve()
        except OutOfStock as e:
            return f"{type(e).__name__}: {e}"

    assert zart_env.run(shop) == "OutOfStock: sku-9 is gone"


def test_business_error_escaping_the_workflow_fails_it_without_retry(
    zart_env: TestEnv,
) -> None:
    runs: list[int] = []

    @zart.step("charge")
    def charge() -> None:
        raise InsufficientFunds(needed=7, account="a")

    @zart.durable("pay", max_retries=3)
    def pay(_: Any):  # type: ignore[no-untyped-def]
        runs.append(zart.context().current_attempt)
        yield charge()

    eid = zart_env.schedule(pay)
    zart_env.run_until_idle()
    rec = zart_env.get(eid)
    assert rec.status == "failed" and rec.attempt == 0
    assert runs == [0]
    err = failure(zart_env, eid)
    assert err.error_type.endswith("InsufficientFunds")
    cause = err.__cause__
    assert type(cause) is InsufficientFunds and cause.needed == 7


def test_framework_error_becomes_retry_exhausted_after_the_policy_is_spent(
    zart_env: TestEnv,
) -> None:
    calls: list[int] = []
    caught: list[zart.StepFailed] = []

    @zart.step("flaky", retry="fixed(2, 1s)")
    def flaky() -> None:
        calls.append(1)
        raise ValueError(f"boom {len(calls)}")

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield flaky()
        except zart.RetryExhausted as e:
            caught.append(e)
            return {"step": e.step, "type": e.error_type, "msg": e.message, "n": e.attempts}

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    zart_env.advance(1)
    zart_env.advance(1)
    assert zart_env.result(eid) == {"step": "flaky", "type": "ValueError", "msg": "boom 3", "n": 3}
    assert len(calls) == 3
    assert isinstance(caught[0], zart.StepFailed) and isinstance(caught[0], zart.ZartError)
    [rec] = zart_env.history(eid)
    assert rec.status == "failed" and rec.attempts == 3


def test_framework_error_escaping_fails_the_execution_with_step_details(
    zart_env: TestEnv,
) -> None:
    class Custom(Exception):
        pass

    @zart.step("explode")
    def explode() -> None:
        raise Custom("kaboom")

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield explode()

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    err = failure(zart_env, eid)
    assert err.error_type == "RetryExhausted"
    assert err.error["step"] == "explode"
    assert err.error["error_type"].endswith("Custom")
    assert err.error["message"] == "kaboom" and err.error["attempts"] == 1
    cause = err.__cause__
    assert isinstance(cause, zart.RetryExhausted) and cause.step == "explode"


def test_step_timeout_is_a_step_failed(zart_env: TestEnv) -> None:
    release = threading.Event()

    @zart.step("hang", timeout=0.05)
    def hang() -> None:
        release.wait(5)

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield hang()
        except zart.StepTimeout as e:
            failed = isinstance(e, zart.StepFailed)
            return {"step": e.step, "attempts": e.attempts, "failed": failed}

    try:
        assert zart_env.run(wf) == {"step": "hang", "attempts": 1, "failed": True}
    finally:
        release.set()


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


# -- events ----------------------------------------------------------------------


def test_event_offered_before_the_wait_is_consumed(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("nap", 60)
        report = yield zart.wait_event("report", type=Report)
        return {"type": type(report).__name__, "title": report.title}

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    assert zart_env.offer_event(eid, "report", Report("early", [], T_REPORT)) is True
    zart_env.advance(60)
    assert zart_env.result(eid) == {"type": "Report", "title": "early"}
    ev = zart_env.history(eid)[1]
    assert ev.kind == "event" and ev.status == "completed"


def test_event_offered_before_the_first_run_is_consumed(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield zart.wait_event("go"))

    eid = zart_env.schedule(wf)
    zart_env.offer_event(eid, "go", {"ok": True})
    zart_env.run_until_idle()
    assert zart_env.result(eid) == {"ok": True}


def test_waiting_event_wakes_the_execution(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield zart.wait_event("approval"))

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    rec = zart_env.get(eid)
    assert rec.status == "waiting" and rec.waiting_for == "approval"
    zart_env.advance(timedelta(days=365))  # no timeout: waits forever
    assert zart_env.get(eid).status == "waiting"
    zart_env.offer_event(eid, "other", 1)
    zart_env.run_until_idle()
    assert zart_env.get(eid).status == "waiting"
    assert zart_env.offer_event(eid, "approval", {"by": "boss"}) is True
    assert zart_env.offer_event(eid, "approval", {"by": "intern"}) is False
    zart_env.run_until_idle()
    assert zart_env.result(eid) == {"by": "boss"}


def test_event_offered_while_the_execution_runs_is_not_lost(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        eid = zart.context().execution_id
        yield zart.call("notify", lambda: zart_env.offer_event(eid, "reply", "pong"))
        return (yield zart.wait_event("reply", timeout=timedelta(hours=1)))

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    assert zart_env.result(eid) == "pong"


def test_event_wait_times_out(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield zart.wait_event("approval", timeout=timedelta(hours=48))
        except zart.EventTimeout as e:
            return {"timed_out": e.event}
        return "approved"

    t0 = zart_env.now()
    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    rec = zart_env.get(eid)
    assert rec.status == "waiting" and rec.wake_at == t0 + timedelta(hours=48)
    zart_env.advance(timedelta(hours=47))
    assert zart_env.get(eid).status == "waiting"
    zart_env.advance(timedelta(hours=1))
    assert zart_env.result(eid) == {"timed_out": "approval"}
    [ev] = zart_env.history(eid)
    assert ev.status == "timed_out" and ev.wake_at == t0 + timedelta(hours=48)


def test_uncaught_event_timeout_fails_the_execution(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.wait_event("approval", timeout=10)

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    zart_env.advance(10)
    err = failure(zart_env, eid)
    assert err.error_type.endswith("EventTimeout")


def test_timed_out_wait_stays_timed_out_after_the_event_arrives(zart_env: TestEnv) -> None:
    outcomes: list[str] = []

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            got = yield zart.wait_event("approval", timeout=timedelta(hours=1))
            outcomes.append(f"got {got}")
        except zart.EventTimeout:
            outcomes.append("timed out")
        more = yield zart.wait_event("continue")
        return {"first": outcomes[-1], "more": more}

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    zart_env.advance(timedelta(hours=1))
    assert outcomes == ["timed out"]
    assert zart_env.get(eid).waiting_for == "continue"
    zart_env.offer_event(eid, "approval", "late yes")  # too late
    zart_env.restart()
    zart_env.offer_event(eid, "continue", 1)
    zart_env.run_until_idle()
    assert outcomes == ["timed out", "timed out"]
    assert zart_env.result(eid) == {"first": "timed out", "more": 1}
    assert zart_env.history(eid)[0].status == "timed_out"
    zart_env.check_determinism(eid)


# -- schedule, children, wait_all ------------------------------------------------


def test_schedule_makes_deterministic_child_ids_and_replay_never_adds_one(
    zart_env: TestEnv,
) -> None:
    calls: list[int] = []
    handles: list[zart.Handle] = []

    @zart.step("child-{i}")
    def child(i: int) -> int:
        calls.append(i)
        return i * 10

    @zart.durable("parent")
    def parent(_: Any):  # type: ignore[no-untyped-def]
        h = yield zart.schedule(child(1))
        handles.append(h)
        yield zart.sleep("nap", 60)
        [v] = yield zart.wait_all([h])
        return v

    eid = zart_env.schedule(parent, execution_id="p-1")
    zart_env.run_until_idle()
    assert handles[0] == zart.Handle(name="child-1", execution_id="p-1:child-1")
    child_rec = zart_env.get("p-1:child-1")
    assert child_rec.parent_id == "p-1" and child_rec.status == "completed"
    zart_env.restart()
    zart_env.advance(60)
    assert zart_env.result(eid) == 10
    assert handles == [handles[0]] * 2
    assert calls == [1]
    children = zart_env.client.list(parent_id="p-1")
    assert [c.id for c in children] == ["p-1:child-1"]
    [sched, _] = zart_env.history(eid)
    assert sched.kind == "schedule" and sched.child_id == "p-1:child-1"


def test_wait_all_returns_results_in_handle_order(zart_env: TestEnv) -> None:
    finished: list[str] = []

    @zart.durable("slow")
    def slow(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("nap", 30)
        finished.append("slow")
        return "slow"

    zart_env.registry.register(slow)

    @zart.step("fast")
    def fast() -> str:
        finished.append("fast")
        return "fast"

    entered: list[int] = []

    @zart.durable("parent")
    def parent(_: Any):  # type: ignore[no-untyped-def]
        entered.append(1)
        h1 = yield zart.schedule(slow())
        h2 = yield zart.schedule(fast())
        return (yield zart.wait_all([h1, h2]))

    eid = zart_env.schedule(parent)
    zart_env.run_until_idle()
    rec = zart_env.get(eid)
    assert rec.status == "waiting" and rec.waiting_for == "children"
    zart_env.advance(30)
    assert finished == ["fast", "slow"]
    assert zart_env.result(eid) == ["slow", "fast"]
    # The parent held no worker while waiting and was re-queued once, by the last child.
    assert len(entered) == 2


def _failing_children() -> tuple[Any, ...]:
    @zart.step("ok")
    def ok() -> str:
        return "fine"

    @zart.step("late-failure", retry="fixed(1, 30s)")
    def late_failure() -> None:
        raise ValueError("late")

    @zart.step("early-failure")
    def early_failure() -> None:
        raise InsufficientFunds(needed=1, account="x")

    @zart.step("slow-ok", retry="fixed(1, 60s)")
    def slow_ok() -> str:
        if zart.context().current_attempt == 0:
            raise RuntimeError("later")
        return "slow-fine"

    return ok, late_failure, early_failure, slow_ok


def test_wait_all_raises_the_first_failure_by_handle_order(zart_env: TestEnv) -> None:
    ok, late_failure, early_failure, slow_ok = _failing_children()

    @zart.durable("parent")
    def parent(_: Any):  # type: ignore[no-untyped-def]
        hs = []
        for cmd in (ok(), late_failure(), early_failure(), slow_ok()):
            hs.append((yield zart.schedule(cmd)))
        try:
            yield zart.wait_all(hs)
        except zart.RetryExhausted as e:
            return {"raised": "RetryExhausted", "step": e.step}
        except InsufficientFunds:
            return {"raised": "InsufficientFunds"}
        return {"raised": None}

    eid = zart_env.schedule(parent, execution_id="p")
    zart_env.run_until_idle()
    assert zart_env.get("p:early-failure").status == "failed"  # failed first in time
    assert zart_env.get(eid).status == "waiting"
    zart_env.advance(30)
    assert zart_env.get(eid).status == "waiting"  # slow-ok still running: not cancelled
    zart_env.advance(30)
    assert zart_env.result(eid) == {"raised": "RetryExhausted", "step": "late-failure"}
    assert zart_env.get("p:slow-ok").status == "completed"
    assert zart_env.get("p:ok").status == "completed"
    assert not zart_env.list(status="cancelled")


def test_wait_all_return_exceptions_gives_exception_values(zart_env: TestEnv) -> None:
    ok, late_failure, early_failure, slow_ok = _failing_children()
    seen: list[Any] = []

    @zart.durable("parent")
    def parent(_: Any):  # type: ignore[no-untyped-def]
        hs = []
        for cmd in (ok(), late_failure(), early_failure(), slow_ok()):
            hs.append((yield zart.schedule(cmd)))
        results = yield zart.wait_all(hs, return_exceptions=True)
        seen.append(results)
        return [type(r).__name__ for r in results]

    eid = zart_env.schedule(parent)
    zart_env.run_until_idle()
    zart_env.advance(60)
    assert zart_env.result(eid) == ["str", "RetryExhausted", "InsufficientFunds", "str"]
    results = seen[-1]
    assert results[0] == "fine" and results[3] == "slow-fine"
    assert results[1].step == "late-failure" and results[1].attempts == 2
    assert results[2].needed == 1 and results[2].account == "x"


def test_wait_all_on_a_handle_not_scheduled_here_is_invalid(zart_env: TestEnv) -> None:
    @zart.durable("wf", max_retries=2)
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.wait_all([zart.Handle(name="ghost", execution_id="x:ghost")])

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    err = failure(zart_env, eid)
    assert err.error_type.endswith("InvalidCommand") and "ghost" in err.message
    assert zart_env.get(eid).attempt == 0


def test_wait_all_of_nothing_is_an_empty_list(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield zart.wait_all([]))

    assert zart_env.run(wf) == []


@zart.durable("double", output=Summary)
def double(n: int):  # type: ignore[no-untyped-def]
    v = yield zart.call("times-two", lambda: n * 2)
    return Summary(v, ("child",))


@zart.durable("fails")
def fails(n: int):  # type: ignore[no-untyped-def]
    yield zart.now("t")
    raise RuntimeError(f"child {n} broke")


@zart.durable("refuses")
def refuses(n: int):  # type: ignore[no-untyped-def]
    yield zart.now("t")
    raise InsufficientFunds(needed=n, account="child")


def test_child_workflows_scheduled_and_awaited(zart_env: TestEnv) -> None:
    zart_env.registry.register(double)

    @zart.durable("parent")
    def parent(n: int):  # type: ignore[no-untyped-def]
        h1 = yield zart.schedule(double(n))
        h2 = yield zart.schedule(double(n + 1).named("double-2"))
        a, b = yield zart.wait_all([h1, h2])
        return {"types": [type(a).__name__, type(b).__name__], "totals": [a.total, b.total]}

    eid = zart_env.schedule(parent, 5, execution_id="p")
    zart_env.run_until_idle()
    assert zart_env.result(eid) == {"types": ["Summary", "Summary"], "totals": [10, 12]}
    kid = zart_env.get("p:double")
    assert kid.task_name == "double" and kid.input == 5 and kid.parent_id == "p"
    assert zart_env.get("p:double-2").input == 6


def test_yielding_a_workflow_call_directly_waits_for_it(zart_env: TestEnv) -> None:
    zart_env.registry.register(double)

    @zart.durable("parent")
    def parent(n: int):  # type: ignore[no-untyped-def]
        s = yield double(n)
        return {"type": type(s).__name__, "total": s.total}

    eid = zart_env.schedule(parent, 4, execution_id="p")
    zart_env.run_until_idle()
    assert zart_env.result(eid) == {"type": "Summary", "total": 8}
    assert zart_env.get("p:double").status == "completed"
    assert [s.kind for s in zart_env.history(eid)] == ["schedule"]


def test_child_workflow_failures_reach_the_parent(zart_env: TestEnv) -> None:
    zart_env.registry.register(fails)
    zart_env.registry.register(refuses)

    @zart.durable("parent")
    def parent(_: Any):  # type: ignore[no-untyped-def]
        out = []
        try:
            yield fails(1)
        except zart.ExecutionFailed as e:
            out.append(("failed", e.error_type, e.message))
        try:
            yield refuses(2)
        except InsufficientFunds as e:
            out.append(("business", e.needed, e.account))
        return out

    assert zart_env.run(parent) == [
        ["failed", "RuntimeError", "child 1 broke"],
        ["business", 2, "child"],
    ]


def test_child_workflow_input_that_does_not_structure_fails_the_parent(
    zart_env: TestEnv,
) -> None:
    @zart.durable("typed-child")
    def typed_child(data: Report):  # type: ignore[no-untyped-def]
        yield zart.now("t")

    zart_env.registry.register(typed_child)

    @zart.durable("parent", max_retries=2)
    def parent(_: Any):  # type: ignore[no-untyped-def]
        yield zart.schedule(typed_child({"title": 3}))

    eid = zart_env.schedule(parent, execution_id="p")
    zart_env.run_until_idle()
    err = failure(zart_env, eid)
    assert err.error_type.endswith("SerializationError") and "typed-child" in err.message
    assert zart_env.get(eid).attempt == 0
    assert zart_env.client.list(parent_id="p") == []


def test_execution_timeout_while_waiting_for_children(zart_env: TestEnv) -> None:
    @zart.durable("parent", timeout=timedelta(minutes=5))
    def parent(_: Any):  # type: ignore[no-untyped-def]
        h = yield zart.schedule(zart.call("slow", lambda: 1, retry="fixed(1, 1h)").named("slow"))
        return (yield zart.wait_all([h]))

    def slow_fails_first() -> None:
        raise RuntimeError("later")

    zart_env.replace_step("slow", slow_fails_first)
    eid = zart_env.schedule(parent)
    zart_env.run_until_idle()
    assert zart_env.get(eid).status == "waiting"
    zart_env.advance(timedelta(minutes=5))
    assert failure(zart_env, eid).error_type.endswith("TaskTimeout")


def test_scheduling_one_child_name_twice_is_a_duplicate(zart_env: TestEnv) -> None:
    zart_env.registry.register(double)

    @zart.durable("parent")
    def parent(_: Any):  # type: ignore[no-untyped-def]
        yield zart.schedule(double(1))
        yield zart.schedule(double(2))

    eid = zart_env.schedule(parent)
    zart_env.run_until_idle()
    err = stalled(zart_env, eid)
    assert err["type"].endswith("DuplicateNameError") and "'double'" in err["message"]


def test_child_workflow_handler_need_not_be_registered_beforehand(zart_env: TestEnv) -> None:
    @zart.durable("parent")
    def parent(n: int):  # type: ignore[no-untyped-def]
        s = yield double(n)
        return s.total

    eid = zart_env.schedule(parent, 3)
    zart_env.run_until_idle()
    assert zart_env.get(eid).status in ("completed", "failed")
    assert zart_env.result(eid) == 6


def test_scheduled_step_rebuilt_by_replaying_the_parent_after_a_crash(zart_env: TestEnv) -> None:
    calls: Counter[str] = Counter()

    @zart.durable("parent")
    def parent(n: int):  # type: ignore[no-untyped-def]
        calls["body"] += 1
        h = yield zart.schedule(zart.call("child", lambda: calls.update(["child"]) or n * 3))
        yield zart.call("after", lambda: calls.update(["after"]))
        yield zart.call("more", lambda: calls.update(["more"]))
        [v] = yield zart.wait_all([h])
        return v

    zart_env.crash_after("after")
    eid = zart_env.schedule(parent, 7, execution_id="p")
    zart_env.run_until_idle()
    assert zart_env.get(eid).status == "running"  # the worker died holding it
    assert zart_env.get("p:child").status == "pending"
    zart_env.restart()
    zart_env.run_until_idle()
    assert zart_env.result(eid) == 21
    assert calls["child"] == 1 and calls["after"] == 1 and calls["more"] == 1
    assert len(zart_env.client.list(parent_id="p")) == 1


# -- capture and now -------------------------------------------------------------


def test_capture_and_now_replay_the_recorded_value(zart_env: TestEnv) -> None:
    draws: list[int] = []
    seen: list[tuple[Any, Any]] = []

    def draw() -> int:
        draws.append(1)
        return 100 + len(draws)

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        value = yield zart.capture("draw", draw)
        started = yield zart.now("started")
        seen.append((value, started))
        yield zart.sleep("nap", timedelta(hours=1))
        return {"value": value, "started": started.isoformat()}

    t0 = zart_env.now()
    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    zart_env.restart()
    zart_env.advance(timedelta(hours=1))
    assert draws == [1]
    assert seen[0] == seen[1] == (101, t0)
    assert isinstance(seen[1][1], datetime) and seen[1][1].tzinfo is not None
    assert zart_env.result(eid) == {"value": 101, "started": t0.isoformat()}
    kinds = [(s.name, s.kind) for s in zart_env.history(eid)]
    assert kinds == [("draw", "capture"), ("started", "capture"), ("nap", "sleep")]


def test_failing_capture_is_thrown_into_the_workflow_and_not_recorded(
    zart_env: TestEnv,
) -> None:
    def broken() -> int:
        raise KeyError("nope")

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield zart.capture("broken", broken)
        except KeyError:
            return "caught"

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    assert zart_env.result(eid) == "caught"
    assert zart_env.history(eid) == []


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


# -- code that disagrees with the log --------------------------------------------


def test_a_name_yielded_twice_fails_without_retry(zart_env: TestEnv) -> None:
    calls: list[int] = []

    @zart.step("item-{i}")
    def item(i: int) -> int:
        calls.append(i)
        return i

    @zart.durable("wf", max_retries=3)
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield item(1)
        yield item(1)

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    rec = zart_env.get(eid)
    assert rec.attempt == 0  # stalling spends no retry
    err = stalled(zart_env, eid)
    assert err["type"].endswith("DuplicateNameError") and "'item-1'" in err["message"]
    assert calls == [1]
    assert [s.name for s in zart_env.history(eid)] == ["item-1"]


def test_a_name_reused_across_command_kinds_is_a_duplicate(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("x", 0)
        yield zart.call("x", lambda: 1)

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    assert stalled(zart_env, eid)["type"].endswith("DuplicateNameError")


def test_duplicate_name_is_not_swallowed_by_the_workflow(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.now("t")
        try:
            yield zart.now("t")
        except zart.DuplicateNameError:
            return "swallowed"
        return "second value"

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    assert stalled(zart_env, eid)["type"].endswith("DuplicateNameError")


@zart.step("fetch-user")
def fetch_user() -> str:
    return "user"


@zart.step("fetch-order")
def fetch_order() -> str:
    return "order"


def _versioned(first: Any) -> zart.TaskHandler:
    @zart.durable("order", max_retries=3)
    def order(_: Any):  # type: ignore[no-untyped-def]
        yield first()
        yield zart.sleep("nap", timedelta(hours=1))
        return "done"

    return order


@pytest.mark.parametrize(
    ("v2_first", "recorded", "yielded"),
    [
        (lambda: fetch_order().named("load"), "step 'fetch-user'", "step 'fetch-order'"),
        (lambda: zart.sleep("load", 5), "step 'fetch-user'", "sleep"),
        (lambda: zart.capture("load", lambda: 1), "step 'fetch-user'", "capture"),
        (lambda: zart.wait_event("load"), "step 'fetch-user'", "event wait"),
        (lambda: zart.schedule(fetch_order().named("load")), "step 'fetch-user'", "schedule"),
    ],
    ids=["other-step", "sleep", "capture", "event", "schedule"],
)
def test_changed_code_fails_with_non_determinism_and_leaves_the_log(
    zart_env: TestEnv, v2_first: Any, recorded: str, yielded: str
) -> None:
    eid = zart_env.schedule(_versioned(lambda: fetch_user().named("load")))
    zart_env.run_until_idle()
    assert zart_env.get(eid).status == "sleeping"
    before = snapshot(zart_env, eid)
    zart_env.restart(registry=zart.TaskRegistry([_versioned(v2_first)]))
    zart_env.advance(timedelta(hours=1))
    rec = zart_env.get(eid)
    assert rec.attempt == 0
    err = stalled(zart_env, eid)
    assert err["type"].endswith("NonDeterminismError")
    assert "'load'" in err["message"]
    assert recorded in err["message"] and yielded in err["message"]
    assert snapshot(zart_env, eid) == before
    assert zart_env.client.list(parent_id=eid) == []


def test_non_determinism_error_carries_recorded_and_yielded(zart_env: TestEnv) -> None:
    eid = zart_env.schedule(_versioned(lambda: fetch_user().named("load")))
    zart_env.run_until_idle()
    zart_env.restart(registry=zart.TaskRegistry([_versioned(lambda: fetch_order().named("load"))]))
    zart_env.advance(timedelta(hours=1))
    message = stalled(zart_env, eid)["message"]
    assert "recorded step 'fetch-user'" in message
    assert "yielded step 'fetch-order'" in message
    # Code that matches again resumes it from where it stopped.
    zart_env.restart(registry=zart.TaskRegistry([_versioned(lambda: fetch_user().named("load"))]))
    zart_env.retry(eid)
    zart_env.run_until_idle()
    assert zart_env.result(eid) == "done"


def test_a_templated_step_renamed_by_new_code_is_non_deterministic(zart_env: TestEnv) -> None:
    @zart.step("item-{i}")
    def templated(i: int) -> int:
        return i

    @zart.step("item-1")
    def literal() -> int:
        return 1

    def version(cmd: Any) -> zart.TaskHandler:
        @zart.durable("wf")
        def wf(_: Any):  # type: ignore[no-untyped-def]
            yield cmd()
            yield zart.sleep("nap", 60)

        return wf

    eid = zart_env.schedule(version(lambda: templated(1)))
    zart_env.run_until_idle()
    zart_env.restart(registry=zart.TaskRegistry([version(literal)]))
    zart_env.advance(60)
    err = stalled(zart_env, eid)
    assert err["type"].endswith("NonDeterminismError")
    assert "item-{i}" in err["message"]


def test_same_code_after_restart_replays_fine(zart_env: TestEnv) -> None:
    eid = zart_env.schedule(_versioned(lambda: fetch_user().named("load")))
    zart_env.run_until_idle()
    zart_env.restart(registry=zart.TaskRegistry([_versioned(lambda: fetch_user().named("load"))]))
    zart_env.advance(timedelta(hours=1))
    assert zart_env.result(eid) == "done"


def test_yielding_a_non_command_fails_with_invalid_command(zart_env: TestEnv) -> None:
    @zart.durable("wf", max_retries=2)
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.call("t", lambda: 1)
        yield 42

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    rec = zart_env.get(eid)
    assert rec.status == "failed" and rec.attempt == 0
    err = failure(zart_env, eid)
    assert err.error_type.endswith("InvalidCommand")
    assert "42" in err.message and "int" in err.message
    assert [s.name for s in zart_env.history(eid)] == ["t"]


def test_yielding_an_uncalled_step_function_fails_with_invalid_command(
    zart_env: TestEnv,
) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield fetch_user  # forgot the call

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    err = failure(zart_env, eid)
    assert err.error_type.endswith("InvalidCommand") and "fetch-user" in err.message


def test_unserializable_step_result_fails_naming_step_and_type(zart_env: TestEnv) -> None:
    calls: list[str] = []

    @zart.durable("wf", max_retries=2)
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.call("first", lambda: calls.append("first") or "fine")
        yield zart.call("opaque", lambda: calls.append("opaque") or Opaque())
        return "unreachable"

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    rec = zart_env.get(eid)
    assert rec.status == "failed" and rec.attempt == 0
    err = failure(zart_env, eid)
    assert err.error_type.endswith("SerializationError")
    assert "'opaque'" in err.message and "Opaque" in err.message
    assert calls == ["first", "opaque"]
    first, opaque = zart_env.history(eid)
    assert first.name == "first" and first.status == "completed" and first.result == "fine"
    # The log keeps the step that ended the execution, failed with the error.
    assert opaque.name == "opaque" and opaque.status == "failed" and opaque.error == rec.error


def test_unserializable_workflow_output_fails_naming_the_task(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.now("t")
        return Opaque()

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    err = failure(zart_env, eid)
    assert err.error_type.endswith("SerializationError")
    assert "'wf'" in err.message and "Opaque" in err.message


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


# -- errors the engine must turn into failures, not crashes ----------------------


@attrs.define
class CarriesOpaque(zart.BusinessError):
    thing: object


@attrs.define
class MistypedField(zart.BusinessError):
    needed: int


def test_business_error_with_unserializable_fields_fails_the_execution(
    zart_env: TestEnv,
) -> None:
    @zart.step("odd")
    def odd() -> None:
        raise CarriesOpaque(thing=Opaque())

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield odd()

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()  # must not raise
    err = failure(zart_env, eid)
    assert err.error_type.endswith("SerializationError") and "CarriesOpaque" in err.message


def test_business_error_whose_fields_do_not_read_back_fails_the_execution(
    zart_env: TestEnv,
) -> None:
    calls: list[int] = []

    @zart.step("odd")
    def odd() -> None:
        calls.append(1)
        raise MistypedField(needed="lots")  # type: ignore[arg-type]

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield odd()

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()  # must not raise
    assert zart_env.get(eid).status == "failed"
    zart_env.advance(timedelta(minutes=5))  # and the step is not run again
    assert calls == [1]


def test_a_stored_business_error_its_changed_class_cannot_read_is_thrown_as_serialization_error(
    zart_env: TestEnv,
) -> None:
    # The error was stored by code whose class took an int; the code that
    # replays it wants a list. Replay hands the workflow the SerializationError
    # in its place (as for a step result that no longer reads back) instead
    # of raising out of the interpreter on every resume.
    def version(field_type: Any) -> zart.TaskHandler:
        @attrs.define
        class Declined(zart.BusinessError):
            code: field_type  # type: ignore[valid-type]

        @zart.step("charge")
        def charge() -> None:
            raise Declined(code=7)

        @zart.durable("pay")
        def pay(_: Any):  # type: ignore[no-untyped-def]
            try:
                yield charge()
            except Declined as exc:
                yield zart.wait_event("go")
                return f"declined {exc.code}"
            except zart.SerializationError as exc:
                return f"unreadable: {exc}"

        return pay

    eid = zart_env.schedule(version(int))
    zart_env.run_until_idle()
    assert zart_env.get(eid).status == "waiting"
    zart_env.restart(registry=zart.TaskRegistry([version(list[str])]))
    zart_env.offer_event(eid, "go", None)
    zart_env.run_until_idle()  # must not raise
    out = zart_env.result(eid)
    assert out.startswith("unreadable: business error") and "Declined" in out, out


def test_a_stored_business_error_whose_constructor_changed_is_thrown_as_serialization_error(
    zart_env: TestEnv,
) -> None:
    def version(strict: bool) -> zart.TaskHandler:
        class Refused(zart.BusinessError):
            if strict:

                def __init__(self, message: str, code: int) -> None:
                    super().__init__(message)

        @zart.step("ask")
        def ask() -> None:
            raise Refused("no")

        @zart.durable("ask-wf")
        def wf(_: Any):  # type: ignore[no-untyped-def]
            try:
                yield ask()
            except Refused:
                yield zart.wait_event("go")
                return "refused"
            except zart.SerializationError as exc:
                return f"unreadable: {exc}"

        return wf

    eid = zart_env.schedule(version(False))
    zart_env.run_until_idle()
    zart_env.restart(registry=zart.TaskRegistry([version(True)]))
    zart_env.offer_event(eid, "go", None)
    zart_env.run_until_idle()
    out = zart_env.result(eid)
    assert "Refused" in out and "TypeError" in out, out


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
