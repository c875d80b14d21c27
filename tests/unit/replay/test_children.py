"""Children: schedule, wait_all, child workflows."""

from collections import Counter
from datetime import timedelta
from typing import Any

import zart
from tests.unit.replay.helpers import (
    InsufficientFunds,
    Report,
    Summary,
    failure,
    stalled,
)
from zart.testing import TestEnv

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
