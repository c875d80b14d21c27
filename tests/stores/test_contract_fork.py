"""The store contract: a fork copies a log up to a step into a new execution
and leaves the source as it was."""

from __future__ import annotations

from typing import Any

import pytest

from tests.stores.scenario import ManualClock, at, claim_one, fan_out, step_write
from zart import records as r
from zart.errors import ExecutionAlreadyExists, ExecutionNotFound, ForkRefused
from zart.records import Commit, NewExecution, RecordWrite


def _three_steps(store: Any, clock: ManualClock, eid: str = "src") -> None:
    """``eid`` failed after steps a, b (retried once before it passed) and c."""
    store.create(NewExecution(id=eid, task_name="t", input={"n": 1}))
    c = claim_one(store, tasks=["t"])
    clock.to(1)
    failed_once = (r.AttemptError(attempt=1, type="Boom", message="x", at=at(1)),)
    store.commit(c.lease, Commit(records=(step_write("a", 1, seq=1),)))
    store.commit(c.lease, Commit(records=(step_write("b", 2, seq=2, errors=failed_once),)))
    store.commit(c.lease, Commit(records=(step_write("c", 3, seq=3),)))
    boom = {"type": "Boom", "message": "x"}
    store.commit(c.lease, Commit(outcome=r.Fail(error=boom)))


def test_fork_copies_the_records_before_the_step_into_a_new_pending_execution(
    store: Any, clock: ManualClock
) -> None:
    _three_steps(store, clock)
    clock.to(5)
    new = store.fork("src", "c", "copy")
    assert new.id == "copy" and new.status == r.PENDING and new.task_name == "t"
    assert new.input == {"n": 1} and new.parent_id is None and new.attempt == 0
    assert new.created_at == at(5) and new.wake_at == at(5)
    log = store.load("copy")
    assert [(x.name, x.result, x.seq) for x in log.records.values()] == [("a", 1, 1), ("b", 2, 2)]
    assert log.records["b"].errors == store.load("src").records["b"].errors
    assert log.last_seq == 2
    assert claim_one(store, tasks=["t"]).record.id == "copy"


def test_fork_leaves_the_source_untouched(store: Any, clock: ManualClock) -> None:
    _three_steps(store, clock)
    before, log_before = store.get("src"), store.load("src")
    store.fork("src", "b", "copy")
    assert store.get("src") == before and store.load("src") == log_before


def test_fork_from_the_first_step_copies_nothing(store: Any, clock: ManualClock) -> None:
    _three_steps(store, clock)
    store.fork("src", "a", "copy")
    assert store.load("copy").records == {} and store.load("copy").last_seq == 0


def test_fork_refuses_an_unknown_step_naming_the_ones_there(store: Any, clock: ManualClock) -> None:
    _three_steps(store, clock)
    with pytest.raises(ForkRefused, match=r"no record named 'zz' \(it has: 'a', 'b', 'c'\)"):
        store.fork("src", "zz", "copy")
    with pytest.raises(ExecutionNotFound):
        store.get("copy")
    with pytest.raises(ExecutionNotFound):
        store.fork("nope", "a", "copy")


def test_fork_to_an_existing_id_writes_nothing(store: Any, clock: ManualClock) -> None:
    _three_steps(store, clock)
    store.create(NewExecution(id="taken", task_name="other"))
    with pytest.raises(ExecutionAlreadyExists):
        store.fork("src", "c", "taken")
    assert store.get("taken").task_name == "other" and store.load("taken").records == {}


def test_fork_shares_ended_children_and_refuses_open_ones(store: Any, clock: ManualClock) -> None:
    parent = fan_out(store, clock, 2, parent="p")
    store.commit(parent.lease, Commit(records=(step_write("after", seq=3),)))
    c0 = claim_one(store, tasks=["child"])
    store.commit(c0.lease, Commit(outcome=r.Complete(output="zero")))
    # c1 is still open: a fork past it would wait on a child that wakes
    # its own parent, never the fork.
    with pytest.raises(ForkRefused, match="schedule 'c1', before 'after', was still pending"):
        store.fork("p", "after", "copy")
    with pytest.raises(ExecutionNotFound):
        store.get("copy")
    store.fork("p", "c1", "copy")
    [shared] = store.load("copy").records.values()
    assert shared.name == "c0" and shared.child_id == "p:c0"
    assert shared.status == r.R_COMPLETED and shared.result == "zero"
    assert store.list(parent_id="copy") == []
    assert store.get("p:c0").parent_id == "p"


def test_fork_gets_every_event_and_the_messages_after_the_cut(
    store: Any, clock: ManualClock
) -> None:
    store.create(NewExecution(id="src", task_name="t"))
    c = claim_one(store)
    store.offer_event("src", "go", {"ok": True})
    first = store.send("src", "q", "m1")
    store.send("src", "q", "m2")
    store.send("src", "q", "m3")
    store.commit(c.lease, Commit(records=(_received("r1", 1, "m1"),), consumed=(first,)))
    [m2, _] = store.load("src").messages["q"]
    store.commit(c.lease, Commit(records=(_received("r2", 2, "m2"),), consumed=(m2.id,)))
    store.fork("src", "r2", "copy")
    log = store.load("copy")
    assert log.events == {"go": {"ok": True}}
    assert [m.payload for m in log.messages["q"]] == ["m2", "m3"]
    assert list(log.records) == ["r1"]
    assert [m.payload for m in store.load("src").messages["q"]] == ["m3"]


def _received(name: str, seq: int, payload: Any) -> RecordWrite:
    return RecordWrite(
        name=name, kind=r.K_MESSAGE, status=r.R_COMPLETED, seq=seq, step="q", result=payload
    )


def test_fork_of_a_step_child_is_refused(store: Any, clock: ManualClock) -> None:
    fan_out(store, clock, 1, parent="p")
    store.create(NewExecution(id="s", task_name="t", kind=r.STEP, parent_id="p"))
    with pytest.raises(ForkRefused, match="step child"):
        store.fork("s", "x", "copy")
