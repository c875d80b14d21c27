"""The store contract: what each outcome of a commit does to the execution."""

from __future__ import annotations

from typing import Any

import pytest

from tests.stores.scenario import ManualClock, at, claim_all, claim_one, step_write
from zart import records as r
from zart.errors import LeaseLost, RetryRefused
from zart.records import Commit, NewExecution, RecordWrite


def test_complete_and_fail(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="ok", task_name="t"))
    store.create(NewExecution(id="bad", task_name="t"))
    a, b = claim_all(store)
    clock.to(1)
    store.commit(
        a.lease, Commit(records=(step_write("s", 1),), outcome=r.Complete(output={"v": 1}))
    )
    store.commit(b.lease, Commit(outcome=r.Fail(error={"type": "X", "message": "m"})))
    ok, bad = store.get("ok"), store.get("bad")
    assert ok.status == r.COMPLETED and ok.output == {"v": 1} and ok.wake_at is None
    assert bad.status == r.FAILED and bad.error == {"type": "X", "message": "m"}
    assert ok.updated_at == at(1)
    with pytest.raises(LeaseLost):
        store.commit(a.lease, Commit(records=(step_write("z", 1),)))
    assert [e.id for e in store.list(status=r.COMPLETED)] == ["ok"]


def test_sleep_suspends_until_wake(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    sleep = RecordWrite(name="nap", kind=r.K_SLEEP, status=r.R_WAITING, seq=1, wake_at=at(100))
    assert store.commit(c.lease, Commit(records=(sleep,), outcome=r.Suspend(wake_at=at(100))))
    rec = store.get("e1")
    assert rec.status == r.SLEEPING and rec.wake_at == at(100) and rec.waiting_for is None
    clock.to(99)
    assert claim_all(store) == []
    clock.to(100)
    again = claim_one(store)
    assert again.record.status == r.RUNNING
    assert again.log.records["nap"].wake_at == at(100)


def test_retry_execution_keeps_the_log_and_counts_the_attempt(
    store: Any, clock: ManualClock
) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    failed = RecordWrite(
        name="f", kind=r.K_STEP, status=r.R_FAILED, seq=2, error={"type": "E"}, attempts=1
    )
    store.commit(c.lease, Commit(records=(step_write("ok", 1, seq=1), failed)))
    clock.to(1)
    store.commit(
        c.lease,
        Commit(outcome=r.RetryExecution(error={"type": "E", "message": "m"}, wake_at=at(2))),
    )
    rec = store.get("e1")
    assert rec.status == r.PENDING and rec.attempt == 1 and rec.wake_at == at(2)
    assert rec.error == {"type": "E", "message": "m"}
    log = store.load("e1")
    # The failed record stays: the interpreter runs it afresh (it was
    # written by an earlier attempt) and overwrites it under its own seq.
    assert list(log.records) == ["ok", "f"] and log.last_seq == 2
    clock.to(2)
    c2 = claim_one(store)
    assert c2.record.attempt == 1
    store.commit(c2.lease, Commit(records=(step_write("f", 2, seq=2, execution_attempt=1),)))
    assert [(h.name, h.seq, h.status) for h in store.history("e1")] == [
        ("ok", 1, r.R_COMPLETED),
        ("f", 2, r.R_COMPLETED),
    ]


def test_stall_parks_the_execution_until_a_retry(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    store.commit(c.lease, Commit(records=(step_write("a", 1),)))
    error = {"type": "zart.errors.NonDeterminismError", "message": "at 'b'"}
    assert store.commit(c.lease, Commit(outcome=r.Stall(error=error)))
    rec = store.get("e1")
    assert rec.status == r.STALLED and rec.error == error and rec.wake_at is None
    clock.to(1000)
    assert claim_all(store) == []
    assert store.next_wake(None) is None
    assert [h.name for h in store.history("e1")] == ["a"]
    retried = store.retry("e1")
    assert retried.status == r.PENDING and retried.attempt == 1 and retried.wake_at == at(1000)
    assert claim_one(store).log.records["a"].result == 1


@pytest.mark.parametrize("status", [r.PENDING, r.RUNNING, r.SLEEPING, r.WAITING, r.COMPLETED])
def test_retry_of_what_has_not_failed_is_refused_and_changes_nothing(
    store: Any, clock: ManualClock, status: str
) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    if status != r.PENDING:
        c = claim_one(store)
        outcome = {
            r.SLEEPING: r.Suspend(wake_at=at(50)),
            r.WAITING: r.Suspend(event="go"),
            r.COMPLETED: r.Complete(output=1),
        }.get(status)
        if outcome is not None:
            store.commit(c.lease, Commit(outcome=outcome))
    before = store.get("e1")
    assert before.status == status
    with pytest.raises(RetryRefused) as info:
        store.retry("e1")
    assert info.value.status == status and "e1" in str(info.value)
    assert store.get("e1") == before


def test_retry_of_failed_and_cancelled_executions(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="f", task_name="t"))
    store.create(NewExecution(id="x", task_name="t"))
    c = claim_one(store, tasks=["t"])
    store.commit(c.lease, Commit(outcome=r.Fail(error={"type": "E"})))
    store.cancel("x")
    clock.to(5)
    for eid in ("f", "x"):
        rec = store.retry(eid)
        assert rec.status == r.PENDING and rec.attempt == 1 and rec.wake_at == at(5)
        assert rec.output is None
    assert sorted(c.record.id for c in claim_all(store)) == ["f", "x"]


def test_continue_as_new_starts_the_next_run(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t", input={"n": 0}))
    for n in range(1, 5):
        c = claim_one(store)
        assert c.record.run == n and c.record.attempt == 0 and c.record.input == {"n": n - 1}
        assert c.log.records == {}
        seq = c.log.last_seq + 1
        store.commit(
            c.lease, Commit(records=(step_write(f"s{n}", n, seq=seq),), state=r.SetState(value=n))
        )
        continued = r.ContinueAsNew(input={"n": n}, keep_runs=2)
        assert store.commit(c.lease, Commit(outcome=continued))
        rec = store.get("e1")
        assert rec.status == r.PENDING and rec.run == n + 1 and rec.state is None
    # Runs 3 and 4 are kept (the 2 before the current one, 5); 1 and 2 dropped.
    assert [h.name for h in store.history("e1", run=4)] == ["s4"]
    assert [h.name for h in store.history("e1", run=3)] == ["s3"]
    assert store.history("e1", run=2) == [] and store.history("e1", run=1) == []
    assert store.history("e1") == []
    c = claim_one(store)
    assert c.log.last_seq == 4  # seqs keep counting across runs
    store.commit(c.lease, Commit(outcome=r.Complete(output="done")))
    assert store.get("e1").output == "done" and store.get("e1").run == 5


def test_a_parent_reruns_its_failed_children(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="p", task_name="t"))
    c = claim_one(store, tasks=["t"])
    kid = NewExecution(id="p:k", task_name="k", parent_id="p", parent_step="k", root_id="p")
    sched = RecordWrite(
        name="k", kind=r.K_SCHEDULE, status=r.R_PENDING, seq=1, step="workflow:k", child_id="p:k"
    )
    store.commit(
        c.lease, Commit(records=(sched,), children=(kid,), outcome=r.Suspend(children=("k",)))
    )
    (k,) = claim_all(store, tasks=["k"])
    store.commit(k.lease, Commit(outcome=r.Fail(error={"type": "E"})))
    assert store.load("p").records["k"].status == r.R_FAILED
    (c,) = claim_all(store, tasks=["t"])
    store.commit(c.lease, Commit(outcome=r.RetryExecution(error={"type": "E"}, wake_at=at(0))))
    (c,) = claim_all(store, tasks=["t"])
    again = RecordWrite(
        name="k",
        kind=r.K_SCHEDULE,
        status=r.R_PENDING,
        seq=1,
        step="workflow:k",
        child_id="p:k",
        execution_attempt=1,
    )
    woke_at_once = not store.commit(
        c.lease,
        Commit(records=(again,), rerun_children=("p:k",), outcome=r.Suspend(children=("k",))),
    )
    assert not woke_at_once
    child = store.get("p:k")
    assert child.status == r.PENDING and child.attempt == 1 and child.error == {"type": "E"}
    assert store.load("p").records["k"].status == r.R_PENDING
    assert store.get("p").status == r.WAITING
    (k,) = claim_all(store, tasks=["k"])
    store.commit(k.lease, Commit(outcome=r.Complete(output=7)))
    assert store.get("p").status == r.PENDING
    assert store.load("p").records["k"].result == 7


def test_a_rerun_of_a_child_that_runs_again_already_is_a_no_op(
    store: Any, clock: ManualClock
) -> None:
    store.create(NewExecution(id="p", task_name="t"))
    c = claim_one(store, tasks=["t"])
    kid = NewExecution(id="p:k", task_name="k", parent_id="p", parent_step="k", root_id="p")
    store.commit(c.lease, Commit(children=(kid,)))
    (k,) = claim_all(store, tasks=["k"])
    store.commit(k.lease, Commit(outcome=r.Fail(error={"type": "E"})))
    store.retry("p:k")  # an operator got there first
    store.commit(c.lease, Commit(rerun_children=("p:k",)))
    assert store.get("p:k").status == r.PENDING and store.get("p:k").attempt == 1


def test_suspend_with_nothing_to_wait_for_but_a_timer_sleeps(
    store: Any, clock: ManualClock
) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    store.commit(c.lease, Commit(outcome=r.Suspend(wake_at=None)))
    rec = store.get("e1")
    assert rec.status == r.SLEEPING and rec.wake_at is None
    assert store.next_wake(None) is None
