"""The store contract: listing, counting and searching executions."""

from __future__ import annotations

from typing import Any

from tests.stores.scenario import ManualClock, claim_one
from zart import records as r
from zart.records import Commit, NewExecution


def _some(store: Any, clock: ManualClock) -> None:
    for i in range(5):
        clock.to(i)
        store.create(NewExecution(id=f"a{i}", task_name="a"))
    clock.to(10)
    store.create(NewExecution(id="b0", task_name="b"))
    clock.to(11)
    store.create(
        NewExecution(id="b0:k", task_name="k", parent_id="b0", parent_step="k", root_id="b0")
    )


def test_list_filters_and_pages(store: Any, clock: ManualClock) -> None:
    _some(store, clock)
    assert [e.id for e in store.list(task="a", limit=2)] == ["a4", "a3"]
    assert [e.id for e in store.list(task="a", limit=2, offset=2)] == ["a2", "a1"]
    assert [e.id for e in store.list(limit=1)] == ["b0:k"]
    assert store.list(status=r.FAILED) == []
    assert [e.id for e in store.list(parent_id="b0")] == ["b0:k"]
    assert [e.id for e in store.list(status=r.PENDING, task="b")] == ["b0"]
    assert [e.id for e in store.list(status=r.PENDING, parent_id="b0", task="k")] == ["b0:k"]


def test_list_searches_ids_by_prefix(store: Any, clock: ManualClock) -> None:
    _some(store, clock)
    assert [e.id for e in store.list(search="b0")] == ["b0:k", "b0"]
    assert [e.id for e in store.list(search="a", task="a", limit=2)] == ["a4", "a3"]
    assert store.list(search="zz") == []
    assert [e.id for e in store.list(search="b0:")] == ["b0:k"]


def test_counts_by_status(store: Any, clock: ManualClock) -> None:
    _some(store, clock)
    c = claim_one(store, tasks=["a"])
    store.commit(c.lease, Commit(outcome=r.Complete(output=1)))
    assert store.counts() == {r.PENDING: 6, r.COMPLETED: 1}
    assert store.counts("a") == {r.PENDING: 4, r.COMPLETED: 1}
    assert store.counts("nothing") == {}


def test_a_record_carries_its_run(store: Any, clock: ManualClock) -> None:
    _some(store, clock)
    rec = store.get("b0:k")
    assert rec.root_id == "b0" and rec.parent_step == "k" and rec.name == "k" and rec.run == 1


def test_lists_by_status_and_task_page_newest_first_and_ties_by_id(
    store: Any, clock: ManualClock
) -> None:
    # Executions created in one instant (the children of one commit) share
    # created_at: every listing orders them by id, newest first, so pages
    # neither repeat nor skip one.
    clock.to(20)
    for eid in ["t1", "t3", "t2"]:
        store.create(NewExecution(id=eid, task_name="t"))
    clock.to(21)
    store.create(NewExecution(id="u1", task_name="u"))
    assert claim_one(store, tasks=["t"]).record.id == "t1"
    assert [e.id for e in store.list(task="t")] == ["t3", "t2", "t1"]
    assert [e.id for e in store.list(status=r.PENDING)] == ["u1", "t3", "t2"]
    assert [e.id for e in store.list(status=r.PENDING, task="t")] == ["t3", "t2"]
    assert [e.id for e in store.list(status=r.PENDING, task="t", limit=1, offset=1)] == ["t2"]
    assert [e.id for e in store.list(status=r.RUNNING, task="t")] == ["t1"]
    assert store.list(status=r.RUNNING, task="u") == []
