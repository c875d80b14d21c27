"""Events: offered before or after the wait, with deadlines."""

from datetime import timedelta
from typing import Any

import zart
from tests.unit.replay.helpers import T_REPORT, Report, failure
from zart.testing import TestEnv

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
    assert rec.status == "waiting" and rec.waiting_for == "event:approval"
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
    assert zart_env.get(eid).waiting_for == "event:continue"
    zart_env.offer_event(eid, "approval", "late yes")  # too late
    zart_env.restart()
    zart_env.offer_event(eid, "continue", 1)
    zart_env.run_until_idle()
    assert outcomes == ["timed out", "timed out"]
    assert zart_env.result(eid) == {"first": "timed out", "more": 1}
    assert zart_env.history(eid)[0].status == "timed_out"
    zart_env.check_determinism(eid)
