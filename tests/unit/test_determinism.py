"""TestEnv.check_determinism: replay an execution's log against (new) code,
raising what a resume under that code would stall on."""

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest

import zart
from zart.testing import TestEnv


@attrs.define
class Declined(zart.BusinessError):
    reason: str


@zart.step("reserve-{sku}")
def reserve(sku: str) -> str:
    return f"res-{sku}"


@zart.step("charge", retry="fixed(2, 1s)")
def charge(amount: int) -> int:
    if zart.context().current_attempt == 0:
        raise RuntimeError("flaky")
    return amount


@zart.step("ship")
def ship() -> str:
    return "shipped"


@zart.step("notify")
def notify() -> None:
    return None


@zart.step("decline")
def decline() -> None:
    raise Declined("card")


def workflow(body: Callable[[Any], Iterator[Any]], name: str = "order") -> zart.TaskHandler:
    return zart.durable(name)(body)


def v1(_: Any):  # type: ignore[no-untyped-def]
    r = yield reserve("A1")
    c = yield charge(10)
    yield zart.sleep("cool-off", 60)
    s = yield ship()
    return [r, c, s]


def run_v1(env: TestEnv) -> str:
    eid = env.schedule(workflow(v1))
    env.run_until_idle()
    env.advance(1)
    env.advance(60)
    assert env.result(eid) == ["res-A1", 10, "shipped"]
    return eid


def check_with(env: TestEnv, eid: str, body: Any) -> None:
    env.restart(registry=zart.TaskRegistry([workflow(body)]))
    env.check_determinism(eid)


def test_unchanged_code_passes(zart_env: TestEnv) -> None:
    eid = run_v1(zart_env)
    zart_env.check_determinism(eid)
    check_with(zart_env, eid, v1)


def test_check_does_not_touch_the_store(zart_env: TestEnv) -> None:
    eid = run_v1(zart_env)
    before = (zart_env.get(eid), zart_env.history(eid))
    zart_env.check_determinism(eid)
    assert (zart_env.get(eid), zart_env.history(eid)) == before


def test_check_runs_no_step_again(zart_env: TestEnv) -> None:
    calls: list[str] = []

    def body(_: Any):  # type: ignore[no-untyped-def]
        yield zart.call("side-effect", lambda: calls.append("ran"))
        yield zart.capture("draw", lambda: calls.append("drew") or 4)

    eid = zart_env.schedule(workflow(body))
    zart_env.run_until_idle()
    assert calls == ["ran", "drew"]
    zart_env.check_determinism(eid)
    assert calls == ["ran", "drew"]


def test_renamed_step_is_non_deterministic(zart_env: TestEnv) -> None:
    eid = run_v1(zart_env)

    def renamed(_: Any):  # type: ignore[no-untyped-def]
        r = yield reserve("A1")
        c = yield charge(10)
        yield zart.sleep("cool-off", 60)
        s = yield ship().named("dispatch")
        return [r, c, s]

    with pytest.raises(zart.NonDeterminismError) as info:
        check_with(zart_env, eid, renamed)
    assert "dispatch" in str(info.value) or "ship" in str(info.value)


def start_v1(env: TestEnv) -> str:
    """v1 run up to its cool-off sleep: in flight, its log short of the code."""
    eid = env.schedule(workflow(v1))
    env.run_until_idle()
    env.advance(1)
    assert env.get(eid).status == "sleeping"
    assert [s.name for s in env.history(eid)] == ["reserve-A1", "charge", "cool-off"]
    return eid


def without_charge(_: Any):  # type: ignore[no-untyped-def]
    r = yield reserve("A1")
    yield zart.sleep("cool-off", 60)
    s = yield ship()
    return [r, 10, s]


def test_a_removed_step_is_no_mismatch(zart_env: TestEnv) -> None:
    # The log is keyed by name: a record the code no longer reaches is left alone.
    eid = run_v1(zart_env)
    check_with(zart_env, eid, without_charge)


def test_a_removed_trailing_step_is_no_mismatch(zart_env: TestEnv) -> None:
    eid = run_v1(zart_env)

    def removed(_: Any):  # type: ignore[no-untyped-def]
        r = yield reserve("A1")
        c = yield charge(10)
        yield zart.sleep("cool-off", 60)
        return [r, c, "shipped"]

    check_with(zart_env, eid, removed)


def test_an_execution_in_flight_resumes_past_a_removed_step(zart_env: TestEnv) -> None:
    eid = start_v1(zart_env)
    check_with(zart_env, eid, without_charge)
    zart_env.advance(60)
    assert zart_env.result(eid) == ["res-A1", 10, "shipped"]
    names = [s.name for s in zart_env.history(eid)]
    assert names == ["reserve-A1", "charge", "cool-off", "ship"]  # the charge record stays


def added_before_the_sleep(_: Any):  # type: ignore[no-untyped-def]
    r = yield reserve("A1")
    c = yield charge(10)
    yield notify()
    yield zart.sleep("cool-off", 60)
    s = yield ship()
    return [r, c, s]


def test_a_resume_stalls_on_what_the_check_raises(zart_env: TestEnv) -> None:
    eid = start_v1(zart_env)
    before = zart_env.history(eid)
    with pytest.raises(zart.NonDeterminismError) as info:
        check_with(zart_env, eid, added_before_the_sleep)
    assert info.value.name == "notify"
    zart_env.advance(60)
    record = zart_env.get(eid)
    assert record.status == "stalled" and record.attempt == 0  # no retry spent
    assert record.error is not None
    assert record.error["type"] == "zart.errors.NonDeterminismError"
    assert record.error["message"] == str(info.value)
    assert zart_env.history(eid) == before
    with pytest.raises(zart.NonDeterminismError) as again:
        zart_env.check_determinism(eid)  # a stalled run is checked like any other
    assert str(again.value) == str(info.value)
    # Code that matches the log again takes it on from where it stopped.
    zart_env.restart(registry=zart.TaskRegistry([workflow(v1)]))
    zart_env.retry(eid)
    zart_env.run_until_idle()
    assert zart_env.result(eid) == ["res-A1", 10, "shipped"]


def patched_before_the_sleep(_: Any):  # type: ignore[no-untyped-def]
    r = yield reserve("A1")
    c = yield charge(10)
    if (yield zart.patched("notify-first")):
        yield notify()
    yield zart.sleep("cool-off", 60)
    s = yield ship()
    return [r, c, s]


def test_code_inserted_before_history_under_patched_is_no_mismatch(zart_env: TestEnv) -> None:
    done = run_v1(zart_env)
    check_with(zart_env, done, patched_before_the_sleep)

    zart_env.restart(registry=zart.TaskRegistry())  # start_v1 brings v1
    in_flight = start_v1(zart_env)
    check_with(zart_env, in_flight, patched_before_the_sleep)
    zart_env.advance(60)
    assert zart_env.result(in_flight) == ["res-A1", 10, "shipped"]
    names = [s.name for s in zart_env.history(in_flight)]
    assert "notify" not in names  # the old run went past the patch without it

    fresh = zart_env.schedule("order")  # a new execution, under the patched code
    zart_env.run_until_idle()
    zart_env.advance(1)
    zart_env.advance(60)
    assert zart_env.result(fresh) == ["res-A1", 10, "shipped"]
    names = [s.name for s in zart_env.history(fresh)]
    assert names == ["reserve-A1", "charge", "@patch:notify-first", "notify", "cool-off", "ship"]
    zart_env.check_determinism(fresh)


def test_added_step_is_non_deterministic(zart_env: TestEnv) -> None:
    eid = run_v1(zart_env)

    def added(_: Any):  # type: ignore[no-untyped-def]
        r = yield reserve("A1")
        c = yield charge(10)
        yield notify()
        yield zart.sleep("cool-off", 60)
        s = yield ship()
        return [r, c, s]

    with pytest.raises(zart.NonDeterminismError) as info:
        check_with(zart_env, eid, added)
    assert info.value.name == "notify"
    assert "step 'notify'" in info.value.yielded


def test_added_trailing_step_is_non_deterministic(zart_env: TestEnv) -> None:
    eid = run_v1(zart_env)

    def added(_: Any):  # type: ignore[no-untyped-def]
        r = yield reserve("A1")
        c = yield charge(10)
        yield zart.sleep("cool-off", 60)
        s = yield ship()
        yield notify()
        return [r, c, s]

    with pytest.raises(zart.NonDeterminismError):
        check_with(zart_env, eid, added)


@pytest.mark.parametrize(
    ("replacement", "yielded"),
    [
        (lambda: zart.sleep("ship", 5), "sleep"),
        (lambda: zart.wait_event("ship"), "event wait"),
        (lambda: zart.capture("ship", lambda: "shipped"), "capture"),
        (lambda: zart.now("ship"), "capture"),
    ],
    ids=["sleep", "event", "capture", "now"],
)
def test_changed_kind_is_non_deterministic(
    zart_env: TestEnv, replacement: Any, yielded: str
) -> None:
    eid = run_v1(zart_env)

    def changed(_: Any):  # type: ignore[no-untyped-def]
        r = yield reserve("A1")
        c = yield charge(10)
        yield zart.sleep("cool-off", 60)
        s = yield replacement()
        return [r, c, s]

    with pytest.raises(zart.NonDeterminismError) as info:
        check_with(zart_env, eid, changed)
    assert info.value.name == "ship"
    assert info.value.recorded == "step 'ship'"
    assert yielded in info.value.yielded
    assert "recorded step 'ship'" in str(info.value)


def test_sleep_turned_into_a_step_is_non_deterministic(zart_env: TestEnv) -> None:
    eid = run_v1(zart_env)

    def changed(_: Any):  # type: ignore[no-untyped-def]
        r = yield reserve("A1")
        c = yield charge(10)
        yield zart.call("cool-off", lambda: None)
        s = yield ship()
        return [r, c, s]

    with pytest.raises(zart.NonDeterminismError) as info:
        check_with(zart_env, eid, changed)
    assert info.value.recorded == "a sleep" and "cool-off" in info.value.yielded


def test_other_step_under_a_recorded_name_is_non_deterministic(zart_env: TestEnv) -> None:
    eid = run_v1(zart_env)

    def changed(_: Any):  # type: ignore[no-untyped-def]
        r = yield reserve("A1")
        c = yield charge(10)
        yield zart.sleep("cool-off", 60)
        s = yield notify().named("ship")
        return [r, c, s]

    with pytest.raises(zart.NonDeterminismError) as info:
        check_with(zart_env, eid, changed)
    assert "'ship'" in info.value.recorded and "'notify'" in info.value.yielded


def test_a_changed_step_argument_in_the_name_is_non_deterministic(zart_env: TestEnv) -> None:
    eid = run_v1(zart_env)

    def changed(_: Any):  # type: ignore[no-untyped-def]
        r = yield reserve("B2")
        c = yield charge(10)
        yield zart.sleep("cool-off", 60)
        s = yield ship()
        return [r, c, s]

    with pytest.raises(zart.NonDeterminismError):
        check_with(zart_env, eid, changed)


def test_reordering_named_commands_is_allowed_by_the_name_keyed_log(zart_env: TestEnv) -> None:
    eid = run_v1(zart_env)

    def reordered(_: Any):  # type: ignore[no-untyped-def]
        c = yield charge(10)
        r = yield reserve("A1")
        yield zart.sleep("cool-off", 60)
        s = yield ship()
        return [r, c, s]

    check_with(zart_env, eid, reordered)


def test_rich_workflow_passes_when_unchanged(zart_env: TestEnv) -> None:
    @zart.durable("child")
    def child(n: int):  # type: ignore[no-untyped-def]
        yield zart.sleep("child-nap", 5)
        return n + 1

    def rich(_: Any):  # type: ignore[no-untyped-def]
        started = yield zart.now("started")
        with contextlib.suppress(Declined):
            yield decline()
        with contextlib.suppress(zart.EventTimeout):
            yield zart.wait_event("approval", timeout=10)
        got = yield zart.wait_event("data")
        h1 = yield zart.schedule(ship())
        h2 = yield zart.schedule(child(1))
        h3 = yield zart.schedule(decline().named("decline-child"))
        results = yield zart.wait_all([h1, h2, h3], return_exceptions=True)
        direct = yield child(5).named("direct")
        return [started.isoformat(), got, results[:2], direct]

    zart_env.registry.register(child)
    eid = zart_env.schedule(workflow(rich, "rich"))
    zart_env.run_until_idle()
    zart_env.advance(10)
    zart_env.offer_event(eid, "data", [1, 2])
    zart_env.run_until_idle()
    zart_env.advance(5)
    zart_env.advance(5)
    assert zart_env.get(eid).status == "completed", zart_env.get(eid).error
    zart_env.check_determinism(eid)

    registry = zart.TaskRegistry([workflow(rich, "rich"), child])
    zart_env.restart(registry=registry)
    zart_env.check_determinism(eid)

    @zart.durable("other-child")
    def other_child(n: int):  # type: ignore[no-untyped-def]
        yield zart.sleep("x", 1)

    def swapped(_: Any):  # type: ignore[no-untyped-def]
        started = yield zart.now("started")
        with contextlib.suppress(Declined):
            yield decline()
        with contextlib.suppress(zart.EventTimeout):
            yield zart.wait_event("approval", timeout=10)
        yield zart.wait_event("data")
        yield zart.schedule(ship())
        yield zart.schedule(other_child(1).named("child"))
        return started

    zart_env.restart(registry=zart.TaskRegistry([workflow(swapped, "rich"), child, other_child]))
    with pytest.raises(zart.NonDeterminismError) as info:
        zart_env.check_determinism(eid)
    assert info.value.name == "child"


def test_failed_execution_can_be_checked(zart_env: TestEnv) -> None:
    def failing(_: Any):  # type: ignore[no-untyped-def]
        yield reserve("A1")
        yield decline()

    eid = zart_env.schedule(workflow(failing))
    zart_env.run_until_idle()
    assert zart_env.get(eid).status == "failed"
    zart_env.check_determinism(eid)

    def changed(_: Any):  # type: ignore[no-untyped-def]
        yield reserve("A2")
        yield decline()

    with pytest.raises(zart.NonDeterminismError):
        check_with(zart_env, eid, changed)


def test_check_on_a_task_retried_execution(zart_env: TestEnv) -> None:
    attempts: list[int] = []

    def retried(_: Any):  # type: ignore[no-untyped-def]
        yield reserve("A1")
        v = yield zart.call("once-broken", lambda: attempts.append(1) or len(attempts))
        if v == 1:
            raise RuntimeError("retry the execution")
        return v

    handler = zart.durable("retried", max_retries=1)(retried)
    eid = zart_env.schedule(handler)
    zart_env.run_until_idle()
    # The step completed, so the retried execution replays the same value and fails again.
    assert zart_env.get(eid).status == "failed"
    zart_env.check_determinism(eid)
