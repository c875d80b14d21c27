"""The interpreter alone: a log in, decisions out. No store, no host, no clock."""

from __future__ import annotations

from typing import Any

import pytest

import zart
from tests.unit.interpreter.history import T0, History, at, drive, workflow
from zart import records as r
from zart.decisions import RunStep


@zart.step("a")
def a() -> int:
    return 1


@zart.step("b")
def b() -> int:
    return 2


@zart.step("c")
def c() -> int:
    return 3


def three(_: Any):  # type: ignore[no-untyped-def]
    x = yield a()
    y = yield b()
    z = yield c()
    return x + y + z


def test_a_fresh_run_runs_each_step_and_writes_its_record_with_the_next_decision() -> None:
    run = drive(workflow(three), results={"a": 1, "b": 2, "c": 3})
    assert run.ran == ["a", "b", "c"]
    first, second, third, finish = run.decisions
    assert not first.commit.writes  # nothing to write before the first step
    assert [w.name for w in second.commit.records] == ["a"]
    assert [w.name for w in third.commit.records] == ["b"]
    # The last step's record travels with the outcome: one write ends the run.
    assert [w.name for w in finish.commit.records] == ["c"]
    assert finish.commit.outcome == r.Complete(output=6)
    assert [(w.seq, w.attempts, w.execution_attempt) for w in run.writes] == [
        (1, 1, 0),
        (2, 1, 0),
        (3, 1, 0),
    ]
    assert all(w.started_at == T0 for w in run.writes)


def test_a_replay_answers_from_the_log_and_runs_only_what_it_lacks() -> None:
    run = drive(workflow(three), History().step("a", 1).step("b", 2), results={"c": 3})
    assert run.ran == ["c"]
    assert not run.decisions[0].commit.writes
    assert run.outcome == r.Complete(output=6)
    assert [w.name for w in run.writes] == ["c"]


def test_new_records_are_numbered_above_the_highest_seq_given() -> None:
    history = History().step("a", 1)
    log = history.log()
    from tests.unit.interpreter.history import execution
    from zart.interpreter import Interpreter

    interp = Interpreter(
        workflow(three), execution(), r.Log(records=log.records, events={}, last_seq=7)
    )
    first = interp.start(T0)
    assert isinstance(first, RunStep) and first.step.name == "b"
    second = interp.step_finished(zart.decisions.StepOutcome(value=2), T0)
    assert isinstance(second, RunStep) and [(w.name, w.seq) for w in second.commit.records] == [
        ("b", 8)
    ]


def test_a_sleep_suspends_with_its_wake_time_and_replays_it() -> None:
    def napper(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("nap", 60)
        return "up"

    first = drive(workflow(napper))
    assert first.outcome == r.Suspend(wake_at=at(60))
    [write] = first.writes
    assert (write.kind, write.status, write.wake_at) == (r.K_SLEEP, r.R_WAITING, at(60))
    early = drive(workflow(napper), History().sleep("nap", at(60)), now=at(30))
    assert early.outcome == r.Suspend(wake_at=at(60)) and early.writes == []
    due = drive(workflow(napper), History().sleep("nap", at(60)), now=at(61))
    assert due.outcome == r.Complete(output="up")
    assert [(w.status, w.wake_at) for w in due.writes] == [(r.R_COMPLETED, at(60))]


def test_an_event_offered_is_taken_and_one_past_its_deadline_times_out() -> None:
    def waiter(_: Any):  # type: ignore[no-untyped-def]
        try:
            return (yield zart.wait_event("go", timeout=30))
        except zart.EventTimeout:
            return "late"

    waiting = drive(workflow(waiter))
    assert waiting.outcome == r.Suspend(wake_at=at(30), event="go")
    got = drive(
        workflow(waiter), History().waiting("go", at(30)).offered("go", {"ok": 1}), now=at(10)
    )
    assert got.outcome == r.Complete(output={"ok": 1})
    assert [(w.status, w.result) for w in got.writes] == [(r.R_COMPLETED, {"ok": 1})]
    late = drive(workflow(waiter), History().waiting("go", at(30)), now=at(31))
    assert late.outcome == r.Complete(output="late")
    assert [w.status for w in late.writes] == [r.R_TIMED_OUT]


def test_receive_takes_the_oldest_message_and_names_it_consumed() -> None:
    def reader(_: Any):  # type: ignore[no-untyped-def]
        first = yield zart.receive("m1", "inbox")
        second = yield zart.receive("m2", "inbox")
        return [first, second]

    waiting = drive(workflow(reader), History().sent("inbox", "x"))
    assert waiting.outcome == r.Suspend(topic="inbox")
    assert waiting.finish.commit.consumed == (1,)
    done = drive(workflow(reader), History().sent("inbox", "x").sent("inbox", "y"))
    assert done.outcome == r.Complete(output=["x", "y"]) and done.finish.commit.consumed == (1, 2)


def test_a_schedule_creates_its_child_once_and_wait_all_suspends_on_it() -> None:
    def parent(_: Any):  # type: ignore[no-untyped-def]
        h = yield zart.schedule(a())
        return (yield zart.wait_all([h]))

    first = drive(workflow(parent))
    commit = first.finish.commit
    assert [c.id for c in commit.children] == ["e1:a"] and commit.children[0].root_id == "e1"
    assert commit.outcome == r.Suspend(children=("a",))
    assert set(first.finish.scheduled_steps) == {"e1:a"}
    replayed = drive(workflow(parent), History().scheduled("a", "step:a", "e1:a"))
    assert replayed.finish.commit.children == () and replayed.outcome == r.Suspend(children=("a",))
    done = drive(
        workflow(parent), History().scheduled("a", "step:a", "e1:a", r.R_COMPLETED, result=1)
    )
    assert done.outcome == r.Complete(output=[1])


def test_a_failed_step_of_an_earlier_attempt_runs_afresh_keeping_its_errors() -> None:
    first_failure = r.AttemptError(attempt=1, type="E", message="no", at=T0)
    history = History().step("a", 1).failed_step("b", errors=(first_failure,))
    run = drive(workflow(three), history, attempt=1, results={"b": 2, "c": 3})
    assert run.ran == ["b", "c"]
    assert run.decisions[0].attempt == 0
    b_write = next(w for w in run.writes if w.name == "b")
    assert (b_write.status, b_write.seq, b_write.execution_attempt) == (r.R_COMPLETED, 2, 1)
    assert b_write.errors == (first_failure,)
    same_attempt = drive(workflow(three), history, attempt=0)
    assert same_attempt.ran == [] and isinstance(same_attempt.outcome, r.Fail)


def test_a_failed_child_of_an_earlier_attempt_is_rerun_under_the_same_id() -> None:
    def parent(_: Any):  # type: ignore[no-untyped-def]
        h = yield zart.schedule(a())
        return (yield zart.wait_all([h]))

    failed = History().scheduled("a", "step:a", "e1:a", r.R_FAILED, error={"type": "E"})
    run = drive(workflow(parent), failed, attempt=1)
    commit = run.finish.commit
    assert commit.rerun_children == ("e1:a",) and commit.children == ()
    assert [(w.name, w.status, w.execution_attempt) for w in commit.records] == [
        ("a", r.R_PENDING, 1)
    ]
    assert commit.outcome == r.Suspend(children=("a",))
    business = History().scheduled(
        "a", "step:a", "e1:a", r.R_ERROR, error={"kind": "business", "type": "x.Y"}
    )
    assert drive(workflow(parent), business, attempt=1).finish.commit.rerun_children == ()


def test_a_retry_policy_makes_a_durable_timer() -> None:
    @zart.step("flaky", retry="fixed(2, 10s)")
    def flaky() -> int:
        return 1

    def body(_: Any):  # type: ignore[no-untyped-def]
        return (yield flaky())

    run = drive(workflow(body), results={"flaky": RuntimeError("down")})
    assert run.outcome == r.Suspend(wake_at=at(10))
    [write] = run.writes
    assert (write.status, write.attempts, write.wake_at) == (r.R_RETRYING, 1, at(10))
    assert [(e.attempt, e.type, e.message) for e in write.errors] == [(1, "RuntimeError", "down")]
    assert write.error is not None and "RuntimeError: down" in write.error["traceback"]


def test_a_duplicate_name_and_a_changed_kind_stall_leaving_the_log_alone() -> None:
    def twice(_: Any):  # type: ignore[no-untyped-def]
        yield a()
        yield a()

    dup = drive(workflow(twice), results={"a": 1})
    assert isinstance(dup.outcome, r.Stall) and isinstance(
        dup.interp.mismatch, zart.DuplicateNameError
    )
    assert [w.name for w in dup.finish.commit.records] == ["a"]  # the step that really ran

    def changed(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("a", 5)

    mismatch = drive(workflow(changed), History().step("a", 1))
    assert isinstance(mismatch.outcome, r.Stall) and mismatch.writes == []
    assert "recorded step 'a'" in mismatch.outcome.error["message"]


def test_code_inserted_before_recorded_history_stalls_unless_patched() -> None:
    def inserted(_: Any):  # type: ignore[no-untyped-def]
        yield a()
        yield c()  # new
        yield b()

    old_log = History().step("a", 1).step("b", 2)
    stalled = drive(workflow(inserted), old_log)
    assert isinstance(stalled.outcome, r.Stall)
    assert stalled.interp.mismatch is not None and stalled.interp.mismatch.name == "c"

    def patched(_: Any):  # type: ignore[no-untyped-def]
        yield a()
        if (yield zart.patched("add-c")):
            yield c()
        yield b()
        return "ok"

    old = drive(workflow(patched), old_log)
    assert old.outcome == r.Complete(output="ok") and old.ran == []  # the old path: no marker
    new = drive(workflow(patched), results={"a": 1, "b": 2, "c": 3})
    assert new.ran == ["a", "c", "b"]
    assert [w.kind for w in new.writes].count(r.K_PATCH) == 1
    marked = drive(
        workflow(patched), History().step("a", 1).patch("add-c").step("c", 3).step("b", 2)
    )
    assert marked.outcome == r.Complete(output="ok") and marked.writes == []


def test_a_deprecated_patch_takes_the_marker_where_it_is_and_requires_none() -> None:
    def later(_: Any):  # type: ignore[no-untyped-def]
        yield a()
        yield zart.deprecate_patch("add-c")
        yield c()
        yield b()
        return "ok"

    marked = drive(workflow(later), History().step("a", 1).patch("add-c").step("c", 3).step("b", 2))
    assert marked.outcome == r.Complete(output="ok")
    fresh = drive(workflow(later), results={"a": 1, "b": 2, "c": 3})
    assert fresh.ran == ["a", "c", "b"] and all(w.kind == r.K_STEP for w in fresh.writes)


def test_a_removed_step_replays_fine() -> None:
    def without_b(_: Any):  # type: ignore[no-untyped-def]
        x = yield a()
        z = yield c()
        return x + z

    run = drive(workflow(without_b), History().step("a", 1).step("b", 2).step("c", 3))
    assert run.outcome == r.Complete(output=4) and run.ran == []


def test_continue_as_new_ends_the_run_with_the_next_input() -> None:
    def poller(n: int):  # type: ignore[no-untyped-def]
        yield a()
        yield zart.continue_as_new(n + 1)

    run = drive(workflow(poller), input=4, results={"a": 1})
    assert run.outcome == r.ContinueAsNew(input=5, keep_runs=1)
    assert [w.name for w in run.finish.commit.records] == ["a"]


def test_the_task_timeout_and_the_payload_limit_fail_the_execution() -> None:
    late = drive(workflow(three, timeout=60), now=at(61))
    assert (
        isinstance(late.outcome, r.Fail) and late.outcome.error["type"] == "zart.errors.TaskTimeout"
    )
    big = drive(workflow(three), results={"a": "x" * 2000}, max_payload=1000)
    assert isinstance(big.outcome, r.Fail)
    assert big.outcome.error["type"] == "zart.errors.PayloadTooLarge"
    assert "result of step 'a'" in big.outcome.error["message"]


@pytest.mark.parametrize("value", [{1, 2}, frozenset({3})])
def test_an_output_json_would_change_fails_the_execution(value: Any) -> None:
    def body(_: Any):  # type: ignore[no-untyped-def]
        return value
        yield  # pragma: no cover

    run = drive(workflow(body))
    assert isinstance(run.outcome, r.Fail)
    assert "output of task 'wf'" in run.outcome.error["message"]
    assert "array" in run.outcome.error["message"]
