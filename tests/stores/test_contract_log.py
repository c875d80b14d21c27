"""The store contract: what a commit writes to the log, and reads back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.stores.scenario import LEASE, T0, ManualClock, at, claim_one, step_write
from zart import records as r
from zart.errors import LeaseLost
from zart.records import AttemptError, Commit, NewExecution, RecordWrite


def test_commit_records_in_order_and_load_in_one_read(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    b, a = step_write("b", 1, seq=1), step_write("a", {"x": 2}, seq=2)
    store.commit(c.lease, Commit(records=(b, a)))
    store.commit(c.lease, Commit(records=(step_write("c", [3], seq=3),)))
    log = store.load("e1")
    assert list(log.records) == ["b", "a", "c"]
    assert log.records["a"].result == {"x": 2} and log.records["c"].result == [3]
    assert [s.seq for s in store.history("e1")] == [1, 2, 3]
    assert log.events == {} and log.messages == {} and log.last_seq == 3


def test_commit_upserts_by_name_keeping_seq(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    clock.to(1)
    failed_once = (AttemptError(attempt=1, type="ValueError", message="x", at=at(1)),)
    retrying = RecordWrite(
        name="s",
        kind=r.K_STEP,
        status=r.R_RETRYING,
        seq=1,
        attempts=1,
        error={"type": "ValueError", "message": "x"},
        errors=failed_once,
        wake_at=at(5),
        started_at=at(0.5),
    )
    store.commit(c.lease, Commit(records=(retrying,)))
    store.commit(c.lease, Commit(records=(step_write("t", 0, seq=2),)))
    clock.to(2)
    # A known name is sent with its seq: the record is updated where it stands.
    done = step_write("s", 7, seq=1, attempts=2, errors=failed_once, started_at=at(1.5))
    store.commit(c.lease, Commit(records=(done,)))
    hist = store.history("e1")
    assert [(h.name, h.seq, h.status, h.attempts) for h in hist] == [
        ("s", 1, r.R_COMPLETED, 2),
        ("t", 2, r.R_COMPLETED, 0),
    ]
    s = hist[0]
    assert s.result == 7 and s.error is None and s.wake_at is None
    assert s.errors == failed_once and s.started_at == at(1.5)
    assert s.created_at == at(1) and s.updated_at == at(2)


def test_a_record_keeps_the_attempt_that_wrote_it(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    store.commit(c.lease, Commit(records=(step_write("s", 1, execution_attempt=3),)))
    assert store.history("e1")[0].execution_attempt == 3


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
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    for seq, value in enumerate(SCALARS, 1):
        store.commit(c.lease, Commit(records=(step_write(f"s{seq}", value, seq=seq),)))
    got = [rec.result for rec in store.load("e1").records.values()]
    assert got == SCALARS
    assert [type(v) for v in got] == [type(v) for v in SCALARS]


def test_json_values_round_trip(store: Any) -> None:
    value = {"s": "é\u2603", "n": [1, 2.5, None, True], "nested": {"k": {"x": "y"}}}
    store.create(NewExecution(id="e1", task_name="t", input=value))
    c = claim_one(store)
    store.commit(
        c.lease, Commit(records=(step_write("s", value),), outcome=r.Complete(output=value))
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
    """``doc`` with each number's type and repr and each object's key order."""
    if isinstance(doc, dict):
        return [(k, _exact(v)) for k, v in doc.items()]
    if isinstance(doc, list):
        return [_exact(v) for v in doc]
    return (type(doc).__name__, repr(doc))


def test_documents_read_back_as_written(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t", input=AWKWARD))
    assert _exact(store.get("e1").input) == _exact(AWKWARD)
    c = claim_one(store)
    store.offer_event("e1", "go", AWKWARD)
    store.send("e1", "q", AWKWARD)
    record = step_write("s", AWKWARD)
    failed = RecordWrite(
        name="f", kind=r.K_STEP, status=r.R_ERROR, seq=2, attempts=1, error={"fields": AWKWARD}
    )
    store.commit(c.lease, Commit(records=(record, failed), state=r.SetState(value=AWKWARD)))
    log = store.load("e1")
    assert _exact(log.records["s"].result) == _exact(AWKWARD)
    assert _exact(log.records["f"].error) == _exact({"fields": AWKWARD})
    assert _exact(log.events["go"]) == _exact(AWKWARD)
    assert _exact(log.messages["q"][0].payload) == _exact(AWKWARD)
    assert _exact(store.get("e1").state) == _exact(AWKWARD)
    store.commit(c.lease, Commit(outcome=r.Complete(output=AWKWARD)))
    assert _exact(store.get("e1").output) == _exact(AWKWARD)
    store.create(NewExecution(id="e2", task_name="t"))
    c2 = claim_one(store)
    store.commit(c2.lease, Commit(outcome=r.Fail(error={"fields": AWKWARD})))
    assert _exact(store.get("e2").error) == _exact({"fields": AWKWARD})


def test_state_is_written_with_commit(store: Any) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    store.commit(c.lease, Commit(state=r.SetState(value={"progress": 1})))
    assert store.get("e1").state == {"progress": 1}
    store.commit(c.lease, Commit(state=r.SetState(value=None)))
    assert store.get("e1").state is None
    store.commit(c.lease, Commit(state=r.SetState(value=[2]), outcome=r.Complete(output=None)))
    assert store.get("e1").state == [2]


def test_updated_at_follows_the_status_not_the_log(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    clock.to(1)
    c = claim_one(store)
    assert store.get("e1").updated_at == at(1)
    clock.to(2)
    store.commit(c.lease, Commit(records=(step_write("s", 1),), state=r.SetState(value={"k": 1})))
    assert store.get("e1").updated_at == at(1)  # a step commit leaves the row alone
    clock.to(3)
    store.commit(c.lease, Commit(outcome=r.Suspend(wake_at=at(10))))
    assert store.get("e1").updated_at == at(3)
    clock.to(10)
    c = claim_one(store)
    clock.to(11)
    store.commit(c.lease, Commit(outcome=r.RetryExecution(error={"type": "E"}, wake_at=at(20))))
    assert store.get("e1").updated_at == at(11)


def test_a_wake_time_at_the_end_of_the_calendar_round_trips(store: Any, clock: ManualClock) -> None:
    last = datetime.max.replace(tzinfo=UTC)
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    sleep = RecordWrite(name="nap", kind=r.K_SLEEP, status=r.R_WAITING, seq=1, wake_at=last)
    assert store.commit(c.lease, Commit(records=(sleep,), outcome=r.Suspend(wake_at=last)))
    assert store.get("e1").wake_at == last
    assert store.load("e1").records["nap"].wake_at == last
    assert store.next_wake(None) == last
    clock.to(10**6)
    assert store.claim(worker="w", tasks=None, lease=LEASE, limit=5) == []


def test_a_record_under_a_lost_lease_writes_nothing(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    store.cancel("e1")
    with pytest.raises(LeaseLost):
        store.commit(c.lease, Commit(records=(step_write("s", 1),)))
    assert store.history("e1") == []
    assert store.get("e1").created_at == T0
