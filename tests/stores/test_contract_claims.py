"""The store contract: creating, claiming and leasing executions.

Each test drives the store protocol directly, the store's clock moved by the
test, so the same assertions hold for memory, SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.stores.scenario import LEASE, T0, ManualClock, at, claim_all, claim_one, step_write
from zart import records as r
from zart.errors import ExecutionAlreadyExists, ExecutionNotFound, LeaseLost
from zart.records import Commit, NewExecution


def test_create_and_get(store: Any) -> None:
    rec = store.create(NewExecution(id="e1", task_name="t", input={"a": [1, "x"]}))
    assert rec.id == "e1" and rec.status == r.PENDING and rec.input == {"a": [1, "x"]}
    got = store.get("e1")
    assert got.task_name == "t" and got.attempt == 0 and got.created_at == T0 and got.run == 1
    assert got.wake_at == T0 and got.parent_id is None and got.kind == r.WORKFLOW
    assert got.root_id is None and got.name == "t"


def test_duplicate_id_raises_with_status(store: Any) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    with pytest.raises(ExecutionAlreadyExists) as info:
        store.create(NewExecution(id="e1", task_name="other"))
    assert info.value.execution_id == "e1" and info.value.status == r.PENDING
    assert store.get("e1").task_name == "t"


def test_get_unknown_raises(store: Any) -> None:
    with pytest.raises(ExecutionNotFound):
        store.get("nope")
    with pytest.raises(ExecutionNotFound):
        store.history("nope")
    with pytest.raises(ExecutionNotFound):
        store.load("nope")


def test_create_leased_is_claimed_already(store: Any, clock: ManualClock) -> None:
    c = store.create_leased(NewExecution(id="e1", task_name="t", input=3), worker="w", lease=LEASE)
    assert c.record.status == r.RUNNING and c.record.input == 3
    assert c.log == r.EMPTY_LOG
    assert store.get("e1").wake_at == T0 + LEASE
    assert store.claim(worker="w2", tasks=None, lease=LEASE, limit=5) == []
    store.commit(c.lease, Commit(records=(step_write("s", 1),), outcome=r.Complete(output=2)))
    assert store.get("e1").status == r.COMPLETED and store.get("e1").output == 2
    with pytest.raises(ExecutionAlreadyExists):
        store.create_leased(NewExecution(id="e1", task_name="t"), worker="w", lease=LEASE)


def test_claim_takes_due_work_once_with_lease(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    clock.to(1)
    store.create(NewExecution(id="e2", task_name="t"))
    got = claim_all(store)
    assert [c.record.id for c in got] == ["e1", "e2"]
    assert all(c.record.status == r.RUNNING for c in got)
    assert all(c.log == r.Log(records={}, events={}, last_seq=0) for c in got)
    clock.to(2)
    assert claim_all(store) == []
    assert store.get("e1").wake_at == at(1) + LEASE


def test_claim_respects_limit_and_task_filter(store: Any, clock: ManualClock) -> None:
    for i in range(3):
        clock.to(i)
        store.create(NewExecution(id=f"a{i}", task_name="a"))
    clock.to(0)
    store.create(NewExecution(id="b0", task_name="b"))
    clock.to(5)
    got = store.claim(worker="w", tasks=["a"], lease=LEASE, limit=2)
    assert [c.record.id for c in got] == ["a0", "a1"]
    assert store.unknown_tasks(["a"]) == ["b"]
    assert store.unknown_tasks(["a", "b"]) == []
    assert store.claim(worker="w", tasks=["zzz"], lease=LEASE, limit=5) == []
    assert store.claim(worker="w", tasks=[], lease=LEASE, limit=5) == []


def test_a_claim_over_several_tasks_takes_the_oldest_due_across_them(
    store: Any, clock: ManualClock
) -> None:
    # The SQL stores read each task's due rows as a range of its own: the
    # claim and the next wake-up still answer across all of them, in due
    # order, whatever the order (or repeats) of the names given.
    for i, task in enumerate(["a", "b", "a", "c", "b", "a"]):
        clock.to(i)
        store.create(NewExecution(id=f"{task}{i}", task_name=task))
    clock.to(20)
    store.create(NewExecution(id="c20", task_name="c"))
    clock.to(10)
    assert store.next_wake(["c", "b"]) == at(1)
    assert store.next_wake(["zzz", "c"]) == at(3)
    got = store.claim(worker="w", tasks=["c", "a", "b", "a"], lease=LEASE, limit=4)
    assert [c.record.id for c in got] == ["a0", "b1", "a2", "c3"]
    rest = store.claim(worker="w", tasks=["a", "b", "c"], lease=LEASE, limit=4)
    assert [c.record.id for c in rest] == ["b4", "a5"]
    assert store.next_wake(["c", "b"]) == at(20)  # the claimed are due when their leases end
    assert store.next_wake(["c"]) == at(20)


def test_claim_ignores_future_work(store: Any, clock: ManualClock) -> None:
    clock.to(10)
    store.create(NewExecution(id="e1", task_name="t"))
    clock.to(5)
    assert claim_all(store) == []
    assert store.next_wake(None) == at(10)
    assert store.next_wake(["t"]) == at(10)
    assert store.next_wake(["other"]) is None
    assert store.unknown_tasks([]) == []  # not due yet


def test_claim_and_next_wake_under_an_execution_look_at_its_tree_only(
    store: Any, clock: ManualClock
) -> None:
    for eid, due, root in [("p", 10, None), ("c", 5, "p"), ("d", 7, "p"), ("q", 2, None)]:
        clock.to(due)
        store.create(NewExecution(id=eid, task_name="u" if eid == "q" else "t", root_id=root))
    assert store.next_wake(None) == at(2)
    assert store.next_wake(None, under="p") == at(5)
    assert store.next_wake(["t"], under="p") == at(5)
    assert store.next_wake(["u"], under="p") is None
    assert store.next_wake(None, under="q") == at(2)
    assert store.next_wake(None, under="nope") is None
    clock.to(8)
    assert [c.record.id for c in claim_all(store, under="p")] == ["c", "d"]
    clock.to(10)
    assert [c.record.id for c in claim_all(store, tasks=["t"], under="p")] == ["p"]


def test_a_claim_hands_over_the_whole_log(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e", task_name="t"))
    store.offer_event("e", "go", 1)
    store.send("e", "inbox", {"n": 1})
    c = claim_one(store)
    store.commit(c.lease, Commit(records=(step_write("s", 1),)))
    store.release(c.lease)
    again = claim_one(store)
    assert again.log == store.load("e")
    assert list(again.log.records) == ["s"] and again.log.events == {"go": 1}
    assert [m.payload for m in again.log.messages["inbox"]] == [{"n": 1}]


def test_stale_lease_is_fenced(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    old = claim_one(store)
    clock.to(31)  # the lease expires; another worker reclaims it
    new = claim_one(store)
    assert new.lease.token != old.lease.token
    clock.to(32)
    stale_commits = [
        Commit(records=(step_write("x", 1),)),
        Commit(records=(step_write("x", 1), step_write("y", 2, seq=2))),
        Commit(outcome=r.Complete(output=1)),
        Commit(records=(step_write("x", 1),), outcome=r.Fail(error={"type": "E"})),
        Commit(children=(NewExecution(id="e1:k", task_name="k", parent_id="e1", parent_step="k"),)),
        Commit(state=r.SetState(value={"a": 1})),
        Commit(outcome=r.Suspend(wake_at=at(100))),
        Commit(outcome=r.RetryExecution(error={"type": "E"}, wake_at=at(40))),
        Commit(outcome=r.Stall(error={"type": "E"})),
        Commit(outcome=r.ContinueAsNew(input=2)),
    ]
    for commit in stale_commits:
        with pytest.raises(LeaseLost):
            store.commit(old.lease, commit)
    assert store.history("e1") == []
    rec = store.get("e1")
    assert rec.status == r.RUNNING and rec.state is None and rec.run == 1 and rec.attempt == 0
    with pytest.raises(ExecutionNotFound):
        store.get("e1:k")
    clock.to(33)
    assert store.heartbeat([old.lease, new.lease], LEASE) == [old.lease]
    assert store.get("e1").wake_at == at(33) + LEASE


def test_release_gives_work_back(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    clock.to(1)
    store.release(c.lease)
    rec = store.get("e1")
    assert rec.status == r.PENDING and rec.wake_at == at(1) and rec.attempt == 0
    clock.to(2)
    store.release(c.lease)  # a stale release is a no-op
    assert store.get("e1").wake_at == at(1)
    assert claim_one(store).lease.token != c.lease.token


def test_concurrent_claimers_never_get_the_same_row(store: Any, clock: ManualClock) -> None:
    for i in range(60):
        store.create(NewExecution(id=f"e{i:02d}", task_name="t"))
    got: list[str] = []
    lock = threading.Lock()

    def claimer() -> None:
        while True:
            batch = store.claim(worker="w", tasks=["t"], lease=LEASE, limit=3)
            if not batch:
                return
            with lock:
                got.extend(c.record.id for c in batch)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == [f"e{i:02d}" for i in range(60)]
