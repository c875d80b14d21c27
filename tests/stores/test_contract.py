"""The store contract: every store must behave exactly like this.

Each test drives the store protocol directly with explicit times, so the
same assertions hold for memory, SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.stores.scenario import LEASE, T0, at, claim_one, fan_out
from zart import records as r
from zart.errors import EventRejected, ExecutionAlreadyExists, ExecutionNotFound, LeaseLost
from zart.records import Commit, NewExecution, RecordWrite


def step_write(name: str, result: Any = None, *, seq: int = 1, **kw: Any) -> RecordWrite:
    return RecordWrite(name=name, kind=r.K_STEP, status=r.R_COMPLETED, result=result, seq=seq, **kw)


def test_create_and_get(store: Any) -> None:
    rec = store.create(NewExecution(id="e1", task_name="t", input={"a": [1, "x"]}), T0)
    assert rec.id == "e1" and rec.status == r.PENDING and rec.input == {"a": [1, "x"]}
    got = store.get("e1")
    assert got.task_name == "t" and got.attempt == 0 and got.created_at == T0
    assert got.wake_at == T0 and got.parent_id is None and got.kind == r.WORKFLOW


def test_duplicate_id_raises_with_status(store: Any) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    with pytest.raises(ExecutionAlreadyExists) as info:
        store.create(NewExecution(id="e1", task_name="other"), T0)
    assert info.value.execution_id == "e1" and info.value.status == r.PENDING
    assert store.get("e1").task_name == "t"


def test_get_unknown_raises(store: Any) -> None:
    with pytest.raises(ExecutionNotFound):
        store.get("nope")
    with pytest.raises(ExecutionNotFound):
        store.history("nope")


def test_claim_takes_due_work_once_with_lease(store: Any) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    store.create(NewExecution(id="e2", task_name="t"), at(1))
    got = store.claim(worker="w1", tasks=None, now=at(1), lease=LEASE, limit=10)
    assert [c.record.id for c in got] == ["e1", "e2"]
    assert all(c.record.status == r.RUNNING for c in got)
    assert store.claim(worker="w2", tasks=None, now=at(2), lease=LEASE, limit=10) == []
    assert store.get("e1").wake_at == at(1) + LEASE


def test_claim_respects_limit_and_task_filter(store: Any) -> None:
    for i in range(3):
        store.create(NewExecution(id=f"a{i}", task_name="a"), at(i))
    store.create(NewExecution(id="b0", task_name="b"), T0)
    got = store.claim(worker="w", tasks=["a"], now=at(5), lease=LEASE, limit=2)
    assert [c.record.id for c in got] == ["a0", "a1"]
    assert store.unknown_tasks(["a"], at(5)) == ["b"]
    assert store.claim(worker="w", tasks=["zzz"], now=at(5), lease=LEASE, limit=5) == []


def test_claim_ignores_future_work(store: Any) -> None:
    store.create(NewExecution(id="e1", task_name="t"), at(10))
    assert store.claim(worker="w", tasks=None, now=at(5), lease=LEASE, limit=5) == []
    assert store.next_wake(None) == at(10)


def test_next_wake_under_an_execution_looks_at_its_tree_only(store: Any) -> None:
    for eid, due in [("p", 10), ("p:c", 5), ("p:c:d", 7), ("p2", 1), ("q", 2), ("p;", 3)]:
        store.create(NewExecution(id=eid, task_name="u" if eid == "q" else "t"), at(due))
    assert store.next_wake(None) == at(1)
    assert store.next_wake(None, under="p") == at(5)
    assert store.next_wake(["t"], under="p:c") == at(5)
    assert store.next_wake(["u"], under="p") is None
    assert store.next_wake(None, under="q") == at(2)
    assert store.next_wake(None, under="nope") is None


def test_a_claim_hands_over_only_a_log_that_is_really_empty(store: Any) -> None:
    store.create(NewExecution(id="new", task_name="t"), T0)
    store.create(NewExecution(id="evented", task_name="t"), at(1))
    store.offer_event("evented", "go", 1, at(1))
    store.create(NewExecution(id="logged", task_name="t"), at(2))
    (c,) = store.claim(worker="w", tasks=None, now=at(2), lease=LEASE, limit=1, under="logged")
    assert c.record.id == "logged"
    store.commit(c.lease, Commit(records=(step_write("s", 1),)), at(2))
    store.release(c.lease, at(2))
    got = {
        x.record.id: x for x in store.claim(worker="w", tasks=None, now=at(3), lease=LEASE, limit=5)
    }
    assert set(got) == {"new", "evented", "logged"}
    for eid, claimed in got.items():
        # A store need not hand a log over; what it hands over is the whole log.
        assert claimed.log is None or claimed.log == store.load(eid)
    assert got["evented"].log is None and got["logged"].log is None
    assert got["new"].log == r.Log(records={}, events={}, last_seq=0)


def test_commit_records_in_order_and_load_in_one_read(store: Any) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    c = claim_one(store)
    b, a = step_write("b", 1, seq=1), step_write("a", {"x": 2}, seq=2)
    store.commit(c.lease, Commit(records=(b, a)), at(1))
    store.commit(c.lease, Commit(records=(step_write("c", [3], seq=3),)), at(2))
    log = store.load("e1")
    assert list(log.records) == ["b", "a", "c"]
    assert log.records["a"].result == {"x": 2} and log.records["c"].result == [3]
    assert [s.seq for s in store.history("e1")] == [1, 2, 3]
    assert log.events == {} and log.last_seq == 3


def test_commit_upserts_by_name_keeping_seq(store: Any) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    c = claim_one(store)
    store.commit(
        c.lease,
        Commit(
            records=(
                RecordWrite(
                    name="s",
                    kind=r.K_STEP,
                    status=r.R_RETRYING,
                    seq=1,
                    attempts=1,
                    error={"type": "ValueError", "message": "x"},
                    wake_at=at(5),
                ),
            )
        ),
        at(1),
    )
    store.commit(c.lease, Commit(records=(step_write("t", 0, seq=2),)), at(1))
    # A known name is sent with its seq: the record is updated where it stands.
    store.commit(c.lease, Commit(records=(step_write("s", 7, seq=1, attempts=2),)), at(2))
    hist = store.history("e1")
    assert [(h.name, h.seq, h.status, h.attempts) for h in hist] == [
        ("s", 1, r.R_COMPLETED, 2),
        ("t", 2, r.R_COMPLETED, 0),
    ]
    assert hist[0].result == 7 and hist[0].error is None


def test_a_first_write_of_a_name_already_there_still_replaces_it(store: Any) -> None:
    # ``first`` is a hint (the writer's log did not hold the name); a store
    # must not lose or double the record when the name is there after all,
    # as after a retried commit whose first try landed.
    store.create(NewExecution(id="e1", task_name="t"), T0)
    c = claim_one(store)
    store.commit(c.lease, Commit(records=(step_write("s", 1, first=True),)), at(1))
    store.commit(c.lease, Commit(records=(step_write("s", 2, first=True),)), at(2))
    assert [(h.name, h.seq, h.result) for h in store.history("e1")] == [("s", 1, 2)]
    new = claim_one(store, now=at(40))
    u3, u4 = (Commit(records=(step_write("u", v, seq=2, first=True),)) for v in (3, 4))
    with pytest.raises(LeaseLost):
        store.commit(c.lease, u3, at(41))
    assert store.commit(new.lease, u4, at(42))
    assert [(h.name, h.result) for h in store.history("e1")] == [("s", 2), ("u", 4)]


def test_stale_lease_is_fenced(store: Any) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    old = claim_one(store)
    # The lease expires; another worker reclaims it.
    new = claim_one(store, now=at(31))
    assert new.lease.token != old.lease.token
    with pytest.raises(LeaseLost):
        store.commit(old.lease, Commit(records=(step_write("x", 1),)), at(32))
    with pytest.raises(LeaseLost):
        store.commit(old.lease, Commit(outcome=r.Complete(output=1)), at(32))
    assert store.history("e1") == []
    assert store.get("e1").status == r.RUNNING
    assert store.heartbeat([old.lease, new.lease], at(33), LEASE) == [old.lease]
    assert store.get("e1").wake_at == at(33) + LEASE


SCALARS = [
    'quote " backslash \\ newline \n tab \t bell \x07',
    "é\u2603\U0001f600",
    "",
    0,
    -7,
    2**70,
    True,
    False,
    1.5,
    None,
]


def test_scalar_results_of_step_commits_round_trip(store: Any) -> None:
    # One record per commit: the path a step's commit takes, where a store may
    # write scalars without a general JSON encoder.
    store.create(NewExecution(id="e1", task_name="t"), T0)
    c = claim_one(store)
    for seq, value in enumerate(SCALARS, 1):
        store.commit(c.lease, Commit(records=(step_write(f"s{seq}", value, seq=seq),)), at(1))
    got = [rec.result for rec in store.load("e1").records.values()]
    assert got == SCALARS
    assert [type(v) for v in got] == [type(v) for v in SCALARS]


def test_complete_and_fail(store: Any) -> None:
    store.create(NewExecution(id="ok", task_name="t"), T0)
    store.create(NewExecution(id="bad", task_name="t"), T0)
    a, b = store.claim(worker="w", tasks=None, now=T0, lease=LEASE, limit=2)
    store.commit(
        a.lease, Commit(records=(step_write("s", 1),), outcome=r.Complete(output={"v": 1})), at(1)
    )
    store.commit(b.lease, Commit(outcome=r.Fail(error={"type": "X", "message": "m"})), at(1))
    ok, bad = store.get("ok"), store.get("bad")
    assert ok.status == r.COMPLETED and ok.output == {"v": 1} and ok.wake_at is None
    assert bad.status == r.FAILED and bad.error == {"type": "X", "message": "m"}
    with pytest.raises(LeaseLost):
        store.commit(a.lease, Commit(records=(step_write("z", 1),)), at(2))
    assert [e.id for e in store.list(status=r.COMPLETED)] == ["ok"]


def test_state_is_written_with_commit(store: Any) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    c = claim_one(store)
    store.commit(c.lease, Commit(state={"progress": 1}), at(1))
    assert store.get("e1").state == {"progress": 1}
    store.commit(c.lease, Commit(state=None), at(1))
    assert store.get("e1").state is None


def test_updated_at_follows_the_status_not_the_log(store: Any) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    c = claim_one(store, now=at(1))
    assert store.get("e1").updated_at == at(1)
    store.commit(c.lease, Commit(records=(step_write("s", 1),), state={"k": 1}), at(2))
    assert store.get("e1").updated_at == at(1)  # a step commit leaves the row alone
    store.commit(c.lease, Commit(outcome=r.Suspend(wake_at=at(10))), at(3))
    assert store.get("e1").updated_at == at(3)
    c = claim_one(store, now=at(10))
    retry = r.RetryExecution(error={"type": "E"}, wake_at=at(20))
    store.commit(c.lease, Commit(outcome=retry), at(11))
    assert store.get("e1").updated_at == at(11)


def test_sleep_suspends_until_wake(store: Any) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    c = claim_one(store)
    sleep = RecordWrite(name="nap", kind=r.K_SLEEP, status=r.R_WAITING, seq=1, wake_at=at(100))
    assert store.commit(
        c.lease, Commit(records=(sleep,), outcome=r.Suspend(wake_at=at(100))), at(1)
    )
    rec = store.get("e1")
    assert rec.status == r.SLEEPING and rec.wake_at == at(100)
    assert store.claim(worker="w", tasks=None, now=at(99), lease=LEASE, limit=5) == []
    again = claim_one(store, now=at(100))
    assert again.record.status == r.RUNNING
    assert store.load("e1").records["nap"].wake_at == at(100)


def test_a_wake_time_at_the_end_of_the_calendar_round_trips(store: Any) -> None:
    # What zart.sleep_until may be given: the last microsecond a datetime holds.
    last = datetime.max.replace(tzinfo=UTC)
    store.create(NewExecution(id="e1", task_name="t"), T0)
    c = claim_one(store)
    sleep = RecordWrite(name="nap", kind=r.K_SLEEP, status=r.R_WAITING, seq=1, wake_at=last)
    assert store.commit(c.lease, Commit(records=(sleep,), outcome=r.Suspend(wake_at=last)), at(1))
    assert store.get("e1").wake_at == last
    assert store.load("e1").records["nap"].wake_at == last
    assert store.next_wake(None) == last
    assert store.claim(worker="w", tasks=None, now=at(10**6), lease=LEASE, limit=5) == []


def test_retry_execution_drops_failed_steps(store: Any) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    c = claim_one(store)
    failed = RecordWrite(
        name="f", kind=r.K_STEP, status=r.R_FAILED, seq=2, error={"type": "E"}, attempts=1
    )
    store.commit(c.lease, Commit(records=(step_write("ok", 1, seq=1), failed)), at(1))
    store.commit(
        c.lease, Commit(outcome=r.RetryExecution(error={"type": "E"}, wake_at=at(2))), at(1)
    )
    rec = store.get("e1")
    assert rec.status == r.PENDING and rec.attempt == 1 and rec.wake_at == at(2)
    log = store.load("e1")
    # The dropped record's seq stays given: its name comes back above it.
    assert list(log.records) == ["ok"] and log.last_seq == 2
    c2 = claim_one(store, now=at(2))
    store.commit(c2.lease, Commit(records=(step_write("f", 2, seq=log.last_seq + 1),)), at(3))
    assert [(h.name, h.seq) for h in store.history("e1")] == [("ok", 1), ("f", 3)]


def test_event_before_wait_is_kept_and_prevents_suspend(store: Any) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    c = claim_one(store)
    assert store.offer_event("e1", "go", {"ok": True}, at(1)) is True
    assert store.offer_event("e1", "go", {"ok": False}, at(1)) is False  # first one wins
    assert store.load("e1").events == {"go": {"ok": True}}
    suspended = store.commit(c.lease, Commit(outcome=r.Suspend(event="go", wake_at=at(50))), at(2))
    assert suspended is False
    assert store.get("e1").status == r.PENDING
    assert claim_one(store, now=at(2)).record.id == "e1"


def test_event_wakes_waiting_execution(store: Any) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    c = claim_one(store)
    assert store.commit(c.lease, Commit(outcome=r.Suspend(event="go")), at(1)) is True
    rec = store.get("e1")
    assert rec.status == r.WAITING and rec.wake_at is None and rec.waiting_for == "go"
    store.offer_event("e1", "other", 1, at(2))
    assert store.get("e1").status == r.WAITING
    store.offer_event("e1", "go", 2, at(3))
    assert store.get("e1").status == r.PENDING
    assert claim_one(store, now=at(3)).record.id == "e1"


def test_event_wait_deadline_makes_it_due(store: Any) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    c = claim_one(store)
    store.commit(c.lease, Commit(outcome=r.Suspend(event="go", wake_at=at(60))), at(1))
    assert store.claim(worker="w", tasks=None, now=at(59), lease=LEASE, limit=1) == []
    assert claim_one(store, now=at(60)).record.id == "e1"


def test_event_to_unknown_or_final_execution_is_rejected(store: Any) -> None:
    with pytest.raises(ExecutionNotFound):
        store.offer_event("nope", "go", None, T0)
    store.create(NewExecution(id="e1", task_name="t"), T0)
    c = claim_one(store)
    store.commit(c.lease, Commit(outcome=r.Complete(output=None)), at(1))
    with pytest.raises(EventRejected):
        store.offer_event("e1", "go", None, at(2))
    store.create(NewExecution(id="e2", task_name="t"), T0)
    store.cancel("e2", at(1))
    with pytest.raises(EventRejected):
        store.offer_event("e2", "go", None, at(2))


def test_children_complete_into_parent_log_and_last_one_wakes_parent(store: Any) -> None:
    c = fan_out(store, 3)
    names = ("c0", "c1", "c2")
    assert store.commit(c.lease, Commit(outcome=r.Suspend(children=names)), at(2)) is True
    assert store.get("p").status == r.WAITING
    kids = store.claim(worker="w", tasks=["child"], now=at(3), lease=LEASE, limit=10)
    assert sorted(k.record.id for k in kids) == ["p:c0", "p:c1", "p:c2"]
    assert {k.record.parent_id for k in kids} == {"p"}
    by_id = {k.record.id: k for k in kids}
    store.commit(by_id["p:c0"].lease, Commit(outcome=r.Complete(output="zero")), at(4))
    store.commit(
        by_id["p:c1"].lease,
        Commit(outcome=r.Fail(error={"type": "app.Nope", "fields": {}}, business=True)),
        at(4),
    )
    assert store.get("p").status == r.WAITING
    assert store.claim(worker="w", tasks=["t"], now=at(5), lease=LEASE, limit=10) == []
    store.commit(by_id["p:c2"].lease, Commit(outcome=r.Fail(error={"type": "E"})), at(6))
    parent = store.get("p")
    assert parent.status == r.PENDING and parent.wake_at == at(6)
    log = store.load("p").records
    assert (log["c0"].status, log["c0"].result) == (r.R_COMPLETED, "zero")
    assert (log["c1"].status, log["c1"].error) == (r.R_ERROR, {"type": "app.Nope", "fields": {}})
    assert log["c2"].status == r.R_FAILED
    assert [e.id for e in store.list(parent_id="p", limit=10)] != []


def test_suspend_on_children_already_done_stays_due(store: Any) -> None:
    c = fan_out(store, 1)
    (kid,) = store.claim(worker="w", tasks=["child"], now=at(2), lease=LEASE, limit=1)
    store.commit(kid.lease, Commit(outcome=r.Complete(output=1)), at(3))
    assert store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0",))), at(4)) is False
    assert store.get("p").status == r.PENDING


def test_children_ids_are_not_created_twice(store: Any) -> None:
    c = fan_out(store, 1)
    kid = NewExecution(id="p:c0", task_name="child", input="again", parent_id="p", parent_step="c0")
    store.commit(c.lease, Commit(children=(kid,)), at(2))
    assert store.get("p:c0").input == 0


def test_cancel_cascades_and_fences(store: Any) -> None:
    c = fan_out(store, 2)
    store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0", "c1"))), at(2))
    kids = store.claim(worker="w", tasks=["child"], now=at(3), lease=LEASE, limit=1)
    assert store.cancel("p", at(4)) is True
    assert store.cancel("p", at(5)) is False
    assert {e.status for e in store.list(parent_id="p")} == {r.CANCELLED}
    assert store.get("p").status == r.CANCELLED
    with pytest.raises(LeaseLost):
        store.commit(kids[0].lease, Commit(outcome=r.Complete(output=1)), at(5))
    assert store.claim(worker="w", tasks=None, now=at(100), lease=LEASE, limit=10) == []


def test_cancelled_child_wakes_waiting_parent(store: Any) -> None:
    c = fan_out(store, 1)
    store.commit(c.lease, Commit(outcome=r.Suspend(children=("c0",))), at(2))
    store.cancel("p:c0", at(3))
    assert store.get("p").status == r.PENDING
    assert store.load("p").records["c0"].status == r.R_CANCELLED


def test_release_gives_work_back(store: Any) -> None:
    store.create(NewExecution(id="e1", task_name="t"), T0)
    c = claim_one(store)
    store.release(c.lease, at(1))
    rec = store.get("e1")
    assert rec.status == r.PENDING and rec.wake_at == at(1) and rec.attempt == 0
    store.release(c.lease, at(2))  # a stale release is a no-op
    assert claim_one(store, now=at(1)).lease.token != c.lease.token


def test_list_filters_and_pages(store: Any) -> None:
    for i in range(5):
        store.create(NewExecution(id=f"a{i}", task_name="a"), at(i))
    store.create(NewExecution(id="b0", task_name="b"), at(10))
    assert [e.id for e in store.list(task="a", limit=2)] == ["a4", "a3"]
    assert [e.id for e in store.list(task="a", limit=2, offset=2)] == ["a2", "a1"]
    assert [e.id for e in store.list(limit=1)] == ["b0"]
    assert store.list(status=r.FAILED) == []


def test_json_values_round_trip(store: Any) -> None:
    value = {"s": "é\u2603", "n": [1, 2.5, None, True], "nested": {"k": {"x": "y"}}}
    store.create(NewExecution(id="e1", task_name="t", input=value), T0)
    c = claim_one(store)
    store.commit(
        c.lease, Commit(records=(step_write("s", value),), outcome=r.Complete(output=value)), at(1)
    )
    assert store.get("e1").input == value
    assert store.get("e1").output == value
    assert store.load("e1").records["s"].result == value


# Documents a JSON store could rewrite: jsonb sorts keys (shortest first) and
# keeps numbers as numeric, so 1e16 came back as an int and -0.0 as 0.0.
AWKWARD = {
    "zeta": 1e16,
    "alpha": -0.0,
    "": [1.0, 2, 1e308, 5e-324, 1.5e-07, -1e16],
    "b": {"yy": 2**80, "x": None, "aa": 0.1},
}


def _exact(doc: Any) -> Any:
    """``doc`` with each number's type and repr (floats: sign of zero too)
    and each object's key order: what ``==`` alone would not tell apart."""
    if isinstance(doc, dict):
        return [(k, _exact(v)) for k, v in doc.items()]
    if isinstance(doc, list):
        return [_exact(v) for v in doc]
    return (type(doc).__name__, repr(doc))


def test_documents_read_back_as_written(store: Any) -> None:
    store.create(NewExecution(id="e1", task_name="t", input=AWKWARD), T0)
    assert _exact(store.get("e1").input) == _exact(AWKWARD)
    c = claim_one(store)
    store.offer_event("e1", "go", AWKWARD, at(1))
    record = step_write("s", AWKWARD)
    failed = RecordWrite(
        name="f", kind=r.K_STEP, status=r.R_ERROR, seq=2, attempts=1, error={"fields": AWKWARD}
    )
    store.commit(c.lease, Commit(records=(record, failed), state=AWKWARD), at(2))
    log = store.load("e1")
    assert _exact(log.records["s"].result) == _exact(AWKWARD)
    assert _exact(log.records["f"].error) == _exact({"fields": AWKWARD})
    assert _exact(log.events["go"]) == _exact(AWKWARD)
    assert _exact(store.history("e1")[0].result) == _exact(AWKWARD)
    assert _exact(store.get("e1").state) == _exact(AWKWARD)
    store.commit(c.lease, Commit(outcome=r.Complete(output=AWKWARD)), at(3))
    assert _exact(store.get("e1").output) == _exact(AWKWARD)

    store.create(NewExecution(id="e2", task_name="t"), at(4))
    c2 = claim_one(store, at(4))
    store.commit(c2.lease, Commit(outcome=r.Fail(error={"fields": AWKWARD})), at(5))
    assert _exact(store.get("e2").error) == _exact({"fields": AWKWARD})
