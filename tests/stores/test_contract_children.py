"""The store contract: children, and how they wake their parent."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest

from tests.stores.scenario import ManualClock, at, claim_all, fan_out
from zart import records as r
from zart.errors import LeaseLost
from zart.records import Commit, NewExecution


def test_children_end_into_the_parent_log_and_the_last_one_wakes_it(
    store: Any, clock: ManualClock
) -> None:
    c = fan_out(store, clock, 3)
    clock.to(2)
    assert store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0", "c1", "c2")))) is True
    parent = store.get("p")
    assert parent.status == r.WAITING and parent.waiting_for == "children"
    clock.to(3)
    kids = {k.record.id: k for k in claim_all(store, tasks=["child"])}
    assert sorted(kids) == ["p:c0", "p:c1", "p:c2"]
    assert {k.record.parent_id for k in kids.values()} == {"p"}
    assert {k.record.root_id for k in kids.values()} == {"p"}
    assert {k.record.name for k in kids.values()} == {"c0", "c1", "c2"}
    clock.to(4)
    store.commit(kids["p:c0"].lease, Commit(outcome=r.Complete(output="zero")))
    business = r.Fail(error={"type": "app.Nope", "fields": {}}, business=True)
    store.commit(kids["p:c1"].lease, Commit(outcome=business))
    assert store.get("p").status == r.WAITING
    assert claim_all(store, tasks=["t"]) == []
    clock.to(6)
    store.commit(kids["p:c2"].lease, Commit(outcome=r.Fail(error={"type": "E"})))
    parent = store.get("p")
    assert parent.status == r.PENDING and parent.wake_at == at(6)
    log = store.load("p").records
    assert (log["c0"].status, log["c0"].result) == (r.R_COMPLETED, "zero")
    assert (log["c1"].status, log["c1"].error) == (r.R_ERROR, {"type": "app.Nope", "fields": {}})
    assert log["c2"].status == r.R_FAILED and log["c2"].updated_at == at(6)
    assert sorted(e.id for e in store.list(parent_id="p", limit=10)) == ["p:c0", "p:c1", "p:c2"]


def test_suspend_on_children_already_done_stays_due(store: Any, clock: ManualClock) -> None:
    c = fan_out(store, clock, 1)
    (kid,) = claim_all(store, tasks=["child"])
    store.commit(kid.lease, Commit(outcome=r.Complete(output=1)))
    clock.to(4)
    assert store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0",)))) is False
    assert store.get("p").status == r.PENDING and store.get("p").wake_at == at(4)


def test_a_child_the_parent_does_not_await_does_not_wake_it(store: Any, clock: ManualClock) -> None:
    c = fan_out(store, clock, 2)
    store.commit(c.lease, Commit(outcome=r.Suspend(children=("c1",))))
    kids = {k.record.id: k for k in claim_all(store, tasks=["child"])}
    store.commit(kids["p:c0"].lease, Commit(outcome=r.Complete(output=0)))
    assert store.get("p").status == r.WAITING
    store.commit(kids["p:c1"].lease, Commit(outcome=r.Complete(output=1)))
    assert store.get("p").status == r.PENDING


def test_children_in_the_same_commit_as_the_suspend_are_awaited(
    store: Any, clock: ManualClock
) -> None:
    fan_out(store, clock, 2, wait=True)
    assert store.get("p").status == r.WAITING
    kids = claim_all(store, tasks=["child"])
    for kid in kids:
        store.commit(kid.lease, Commit(outcome=r.Complete(output=kid.record.input)))
    assert store.get("p").status == r.PENDING
    assert [rec.result for rec in store.load("p").records.values()] == [0, 1]


def test_children_ids_are_not_created_twice(store: Any, clock: ManualClock) -> None:
    c = fan_out(store, clock, 1)
    kid = NewExecution(id="p:c0", task_name="child", input="again", parent_id="p", parent_step="c0")
    store.commit(c.lease, Commit(children=(kid,)))
    assert store.get("p:c0").input == 0


def test_a_thousand_children_in_one_commit(store: Any, clock: ManualClock) -> None:
    fan_out(store, clock, 1000, wait=True)
    assert len(store.list(parent_id="p", limit=2000)) == 1000
    assert len(store.load("p").records) == 1000
    assert store.get("p").status == r.WAITING


def test_cancel_cascades_and_fences(store: Any, clock: ManualClock) -> None:
    c = fan_out(store, clock, 2)
    store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0", "c1"))))
    kids = claim_all(store, tasks=["child"], limit=1)
    assert store.cancel("p") is True
    assert store.cancel("p") is False
    assert {e.status for e in store.list(parent_id="p")} == {r.CANCELLED}
    assert store.get("p").status == r.CANCELLED
    assert store.get("p").error["type"] == "Cancelled"
    with pytest.raises(LeaseLost):
        store.commit(kids[0].lease, Commit(outcome=r.Complete(output=1)))
    clock.to(100)
    assert claim_all(store) == []


def test_a_finished_childs_subtree_is_left_alone_by_a_cancel(
    store: Any, clock: ManualClock
) -> None:
    c = fan_out(store, clock, 2)
    kids = {k.record.id: k for k in claim_all(store, tasks=["child"])}
    store.commit(kids["p:c0"].lease, Commit(outcome=r.Complete(output=0)))
    store.cancel("p")
    assert store.get("p:c0").status == r.COMPLETED
    assert store.get("p:c1").status == r.CANCELLED
    del c


def test_a_cancelled_child_wakes_its_waiting_parent(store: Any, clock: ManualClock) -> None:
    c = fan_out(store, clock, 1)
    store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0",))))
    clock.to(3)
    store.cancel("p:c0")
    assert store.get("p").status == r.PENDING
    rec = store.load("p").records["c0"]
    assert rec.status == r.R_CANCELLED and rec.error["type"] == "Cancelled"


def _drop_wake_ups(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed between a child's end and its parent's wake-up: the
    wake-up never runs."""
    if hasattr(store, "_wake_parent"):  # memory
        monkeypatch.setattr(store, "_wake_parent", lambda child, now: None)
        return
    if hasattr(store, "_send"):  # MySQL: statements go in batches through _send
        send = store._send
        wakes = ("wake_parent", "wake_parent_of")

        def batch_without_wake_ups(conn: Any, steps: Any) -> Any:
            # A read in the wake-up's place keeps the answers where they were.
            kept = [("status_of", {"id": ""}) if q in wakes else (q, p) for q, p in steps]
            return send(conn, kept)

        monkeypatch.setattr(store, "_send", batch_without_wake_ups)
        return
    name = "_run" if hasattr(store, "_db") else "_exec"
    real = getattr(store, name)

    def without_wake_ups(conn: Any, query: str, params: Any) -> Any:
        if query == "wake_parent":
            return real(conn, "status_of", {"id": params["parent"]})
        return real(conn, query, params)

    monkeypatch.setattr(store, name, without_wake_ups)


def test_a_wake_up_lost_after_a_childs_end_is_found_by_wake_stranded(
    store: Any, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = fan_out(store, clock, 2)
    store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0", "c1"))))
    kids = claim_all(store, tasks=["child"])
    with monkeypatch.context() as patch:
        _drop_wake_ups(store, patch)
        for kid in kids:
            store.commit(kid.lease, Commit(outcome=r.Complete(output=1)))
    assert store.get("p").status == r.WAITING  # stranded
    clock.to(9)
    assert store.wake_stranded() == 1
    parent = store.get("p")
    assert parent.status == r.PENDING and parent.wake_at == at(9)
    assert store.wake_stranded() == 0


def test_the_last_child_wakes_the_parent_exactly_once_under_concurrency(
    store: Any, clock: ManualClock
) -> None:
    n = 40
    fan_out(store, clock, n, wait=True)
    kids = claim_all(store, tasks=["child"], limit=n)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def finish(part: list[Any]) -> None:
        barrier.wait()
        try:
            for kid in part:
                store.commit(kid.lease, Commit(outcome=r.Complete(output=kid.record.input)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=finish, args=(kids[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.get("p").status == r.PENDING
    (resumed,) = claim_all(store, tasks=["t"])
    assert sorted(x.result for x in resumed.log.records.values()) == list(range(n))
    assert claim_all(store, tasks=["t"]) == []


def test_cancel_racing_finishing_children_leaves_every_row_final(
    store: Any, clock: ManualClock
) -> None:
    fan_out(store, clock, 30, wait=True)
    kids = claim_all(store, tasks=["child"], limit=30)
    done = threading.Event()

    def finish() -> None:
        for kid in kids:
            with contextlib.suppress(LeaseLost):
                store.commit(kid.lease, Commit(outcome=r.Complete(output=1)))
        done.set()

    t = threading.Thread(target=finish)
    t.start()
    store.cancel("p")
    t.join()
    assert store.get("p").status == r.CANCELLED
    assert {e.status for e in store.list(parent_id="p", limit=50)} <= {r.COMPLETED, r.CANCELLED}
    clock.to(1000)
    assert claim_all(store) == []
