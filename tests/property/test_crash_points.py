"""Crash at every point of the log, resume, and get the same run.

A hypothesis strategy draws a *plan*: a list of operations (steps, some
flaky with retries; sleeps; events offered before or after the wait, or
never; captures; ``zart.now``; fan-outs of step children; a step that fails
the execution's first attempt; a step under ``zart.patched``; a
``continue_as_new`` that carries the progress into the next run).
``build`` turns a plan into a workflow in a fresh registry whose step and
capture bodies count their calls.

The reference run drives the plan to the end on a virtual clock. Then, for
every step name in the reference history, a fresh engine runs the plan with
``crash_after(name)``, restarts, and drives to the end. It must return the
same output, write the same history, call every step and capture exactly as
often as the reference did (a result recorded before the crash is never
produced again), and replay cleanly under ``check_determinism``.

Forks: after the reference run, a fork from each of its step names must
replay the records before that step without calling them again, end, and
end the same way when its worker crashes after any step it runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

import zart
from zart.testing import TestEnv

START = datetime(2030, 1, 1, tzinfo=UTC)


# -- plans ------------------------------------------------------------------
@attrs.frozen
class StepSpec:
    retries: int  # retries after the first attempt
    fail_first: int  # attempts that raise before one succeeds
    delay: int  # seconds between attempts


@attrs.frozen
class Op:
    kind: str  # step | sleep | event | capture | now | fanout | fail_once | patch | continue
    step: StepSpec | None = None
    seconds: int = 0  # sleep duration
    offer: str = "after"  # event: "before" the wait, "after" it starts, or "never"
    timeout: int | None = None  # event deadline, seconds
    children: tuple[StepSpec, ...] = ()


step_specs = st.builds(
    StepSpec,
    retries=st.integers(0, 2),
    fail_first=st.integers(0, 3),  # above `retries`: the step fails for good
    delay=st.sampled_from([0, 1, 60]),
)
ops = st.one_of(
    st.builds(Op, kind=st.just("step"), step=step_specs),
    st.builds(Op, kind=st.just("sleep"), seconds=st.sampled_from([0, 1, 3600])),
    st.builds(
        Op,
        kind=st.just("event"),
        offer=st.sampled_from(["before", "after"]),
        timeout=st.sampled_from([None, 30, 3600]),
    ),
    st.builds(Op, kind=st.just("event"), offer=st.just("never"), timeout=st.just(60)),
    st.builds(Op, kind=st.just("capture")),
    st.builds(Op, kind=st.just("now")),
    st.builds(
        Op, kind=st.just("fanout"), children=st.lists(step_specs, min_size=1, max_size=3).map(tuple)
    ),
    st.builds(Op, kind=st.just("fail_once")),
    st.builds(Op, kind=st.just("patch"), step=step_specs),
    st.builds(Op, kind=st.just("continue")),
)
plans = st.lists(ops, min_size=1, max_size=7)


# -- plans as workflows -----------------------------------------------------
def build(plan: list[Op]) -> tuple[zart.TaskRegistry, Counter[str]]:
    """A workflow running ``plan``, in a fresh registry, and its call counter."""
    calls: Counter[str] = Counter()

    def body(name: str, fail_first: int) -> Callable[[str], str]:
        def run(prev: str) -> str:
            calls[name] += 1
            if zart.context().current_attempt < fail_first:
                raise RuntimeError(f"{name} flaked")
            return f"{name}({prev[-12:]})"

        return run

    def step(name: str, spec: StepSpec, prev: str) -> zart.Step:
        retry = zart.RetryPolicy.fixed(spec.retries, spec.delay) if spec.retries else None
        return zart.call(name, body(name, spec.fail_first), prev, retry=retry)

    def fails_in_first_attempt(name: str) -> Callable[[int], str]:
        def run(execution_attempt: int) -> str:
            calls[name] += 1
            if execution_attempt == 0:
                raise RuntimeError(f"{name} fails the first execution attempt")
            return f"{name} ok"

        return run

    def counted_capture(name: str) -> Callable[[], str]:
        def run() -> str:
            calls[name] += 1
            return f"{name}#{calls[name]}"  # a second call would show in the output

        return run

    def guarded(name: str, spec: StepSpec, prev: str):  # type: ignore[no-untyped-def]
        try:
            return (yield step(name, spec, prev))
        except zart.StepFailed as failed:
            return f"{name} failed after {failed.attempts}"

    @zart.durable("plan", max_retries=1, keep_runs=len(plan))
    def workflow(progress: dict[str, Any]):  # type: ignore[no-untyped-def]
        out: list[Any] = progress["out"]
        prev = out[-1] if out else ""
        for i, op in enumerate(plan):
            name = f"op{i}"
            if i < progress["start"]:
                continue  # done in an earlier run
            if op.kind == "continue":
                yield zart.continue_as_new({"start": i + 1, "out": [*out, f"{name} continued"]})
            elif op.kind == "patch":
                assert op.step is not None
                if (yield zart.patched(name)):
                    prev = yield from guarded(f"{name}-patched", op.step, prev)
            elif op.kind == "step":
                assert op.step is not None
                prev = yield from guarded(name, op.step, prev)
            elif op.kind == "sleep":
                yield zart.sleep(name, op.seconds)
                prev = f"{name} slept"
            elif op.kind == "event":
                try:
                    prev = (yield zart.wait_event(name, timeout=op.timeout))["v"]
                except zart.EventTimeout:
                    prev = f"{name} timed out"
            elif op.kind == "capture":
                prev = yield zart.capture(name, counted_capture(name))
            elif op.kind == "now":
                prev = (yield zart.now(name)).isoformat()
            elif op.kind == "fanout":
                handles = []
                for j, spec in enumerate(op.children):
                    handles.append((yield zart.schedule(step(f"{name}-c{j}", spec, prev))))
                results = yield zart.wait_all(handles, return_exceptions=True)
                prev = "|".join(r if isinstance(r, str) else type(r).__name__ for r in results)
            else:
                attempt = zart.context().current_attempt
                prev = yield zart.call(name, fails_in_first_attempt(name), attempt)
            out.append(prev)
        return out

    return zart.TaskRegistry([workflow]), calls


def payload(name: str) -> dict[str, str]:
    return {"v": f"{name} arrived"}


# -- driving ----------------------------------------------------------------
def start(plan: list[Op], registry: zart.TaskRegistry, env: TestEnv) -> str:
    eid = env.schedule("plan", {"start": 0, "out": []}, execution_id="run")
    for i, op in enumerate(plan):
        if op.kind == "event" and op.offer == "before":
            env.offer_event(eid, f"op{i}", payload(f"op{i}"))
    return eid


def drive(env: TestEnv, eid: str, plan: list[Op]) -> bool:
    """Run to the end, offering late events when awaited and jumping the
    clock to the next timer. False if the worker crashed on the way."""
    late = {f"op{i}" for i, op in enumerate(plan) if op.kind == "event" and op.offer == "after"}
    env.run_until_idle()
    for _ in range(1_000):
        if env.list(status="running"):
            return False  # a crash left an execution leased to a dead worker
        rec = env.get(eid)
        if rec.is_final:
            return True
        awaited = (rec.waiting_for or "").removeprefix("event:")
        if rec.status == "waiting" and awaited in late:
            env.offer_event(eid, awaited, payload(awaited))
            env.run_until_idle()
            continue
        wake = env.store.next_wake(env.registry.names())
        assert wake is not None, f"stuck: {rec}"
        env.advance(max(wake - env.now(), timedelta(0)))
    raise AssertionError("the plan did not finish")


@attrs.frozen
class Run:
    output: Any
    history: list[tuple[Any, ...]]
    calls: dict[str, int]
    steps: list[str]  # names whose result is a step's: the crash points


def run(plan: list[Op], crash_after: str | None = None) -> Run:
    registry, calls = build(plan)
    with TestEnv(registry, start=START) as env:
        eid = start(plan, registry, env)
        if crash_after is not None:
            env.crash_after(crash_after)
        if not drive(env, eid, plan):
            env.restart()
            assert drive(env, eid, plan), "crashed twice"
        rec = env.get(eid)
        assert rec.status == "completed", rec.error
        env.check_determinism(eid)
        history = [h for n in range(1, rec.run + 1) for h in env.history(eid, run=n)]
        return Run(
            output=rec.output,
            history=[(h.name, h.kind, h.status, h.result, h.attempts, h.wake_at) for h in history],
            calls=dict(calls),
            steps=[h.name for h in history if h.kind in ("step", "schedule")],
        )


def check_every_crash_point(plan: list[Op]) -> None:
    reference = run(plan)
    for name in reference.steps:
        crashed = run(plan, crash_after=name)
        assert crashed.output == reference.output, name
        assert crashed.calls == reference.calls, name
        assert crashed.history == reference.history, name


def run_fork(plan: list[Op], from_step: str, crash_after: str | None = None) -> Run:
    """The plan run to its end, then forked from ``from_step`` and the fork
    driven to its end (its worker crashing after ``crash_after``)."""
    registry, calls = build(plan)
    with TestEnv(registry, start=START) as env:
        eid = start(plan, registry, env)
        assert drive(env, eid, plan)
        original, before = env.history(eid), dict(calls)
        cut = next(h.seq for h in original if h.name == from_step)
        fork = env.client.fork(eid, from_step=from_step, execution_id="fork")
        if crash_after is not None:
            env.crash_after(crash_after)
        if not drive(env, fork, plan):
            env.restart()
            assert drive(env, fork, plan), "crashed twice"
        rec = env.get(fork)
        assert rec.status == "completed", rec.error
        env.check_determinism(fork)
        history = env.history(fork)
        kept = [h for h in original if h.seq < cut]
        assert [(h.name, h.result) for h in history[: len(kept)]] == [
            (h.name, h.result) for h in kept
        ]
        for h in kept:  # what came before the cut replayed: its bodies ran no more
            if h.kind == "step" and h.status == "completed":
                assert calls[h.name] == before[h.name], h.name
        return Run(
            output=rec.output,
            history=[(h.name, h.kind, h.status, h.result, h.attempts, h.wake_at) for h in history],
            calls=dict(calls),
            steps=[h.name for h in history if h.kind in ("step", "schedule") and h.seq >= cut],
        )


def check_every_fork(plan: list[Op]) -> None:
    reference = run(plan)
    last_run = [name for name in reference.steps if name in _final_run_names(plan, reference)]
    for from_step in last_run:
        forked = run_fork(plan, from_step)
        for name in forked.steps:
            crashed = run_fork(plan, from_step, crash_after=name)
            assert (crashed.output, crashed.calls) == (forked.output, forked.calls), name
            assert crashed.history == forked.history, name


def _final_run_names(plan: list[Op], reference: Run) -> set[str]:
    """The names the last run of the reference wrote (a fork copies that run)."""
    last = max((i for i, op in enumerate(plan) if op.kind == "continue"), default=-1)
    return {row[0] for row in reference.history if _op_index(row[0]) > last}


def _op_index(name: str) -> int:
    return int(name.removeprefix("@patch:").removeprefix("op").split("-")[0])


# -- the properties ---------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(plans)
def test_crashing_after_any_step_changes_nothing(plan: list[Op]) -> None:
    check_every_crash_point(plan)


@settings(max_examples=15, deadline=None)
@given(plans)
def test_a_fork_from_any_step_replays_what_came_before_and_survives_crashes(
    plan: list[Op],
) -> None:
    check_every_fork(plan)


def test_patches_continues_and_forks_at_once() -> None:
    plan = [
        Op(kind="step", step=StepSpec(retries=0, fail_first=0, delay=0)),
        Op(kind="patch", step=StepSpec(retries=1, fail_first=1, delay=1)),
        Op(kind="continue"),
        Op(kind="capture"),
        Op(kind="patch", step=StepSpec(retries=0, fail_first=0, delay=0)),
        Op(kind="fanout", children=(StepSpec(0, 0, 0), StepSpec(1, 1, 0))),
        Op(kind="step", step=StepSpec(retries=0, fail_first=0, delay=0)),
    ]
    reference = run(plan)
    assert reference.output[:3] == ["op0()", "op1-patched(op0())", "op2 continued"]
    names = [row[0] for row in reference.history]
    assert names[:3] == ["op0", "@patch:op1", "op1-patched"]  # run 1, kept for history
    assert "@patch:op4" in names and "op4-patched" in names  # run 2
    check_every_crash_point(plan)
    check_every_fork(plan)


def test_a_failed_first_attempt_reruns_only_the_failed_step() -> None:
    plan = [
        Op(kind="step", step=StepSpec(retries=0, fail_first=0, delay=0)),
        Op(kind="capture"),
        Op(kind="fanout", children=(StepSpec(0, 0, 0), StepSpec(1, 1, 1))),
        Op(kind="fail_once"),
        Op(kind="step", step=StepSpec(retries=1, fail_first=1, delay=60)),
    ]
    reference = run(plan)
    # The execution's first attempt failed at op3; the second replayed ops
    # 0-2 from the log and ran op3 again: nothing completed ran twice.
    assert reference.calls == {"op0": 1, "op1": 1, "op2-c0": 1, "op2-c1": 2, "op3": 2, "op4": 2}
    assert reference.output[3] == "op3 ok"
    check_every_crash_point(plan)


def test_every_kind_of_operation_at_once() -> None:
    plan = [
        Op(kind="now"),
        Op(kind="event", offer="before", timeout=30),
        Op(kind="step", step=StepSpec(retries=2, fail_first=3, delay=1)),  # fails for good
        Op(kind="sleep", seconds=3600),
        Op(kind="event", offer="after"),
        Op(kind="event", offer="never", timeout=60),
        Op(kind="fanout", children=(StepSpec(0, 1, 0), StepSpec(2, 2, 0))),
        Op(kind="capture"),
    ]
    reference = run(plan)
    assert reference.output[1:3] == ["op1 arrived", "op2 failed after 3"]
    assert reference.output[4:6] == ["op4 arrived", "op5 timed out"]
    assert reference.output[6] == "RetryExhausted|op6-c1(p5 timed out)"  # prev[-12:]
    check_every_crash_point(plan)
