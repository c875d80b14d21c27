"""The store contract: events and messages, and the waits they end."""

from __future__ import annotations

from typing import Any

import pytest

from tests.stores.scenario import ManualClock, at, claim_all, claim_one
from zart import records as r
from zart.errors import EventRejected, ExecutionNotFound, MessageRejected
from zart.records import Commit, NewExecution


def test_event_before_wait_is_kept_and_prevents_suspend(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    clock.to(1)
    assert store.offer_event("e1", "go", {"ok": True}) is True
    assert store.offer_event("e1", "go", {"ok": False}) is False  # the first one wins
    assert store.load("e1").events == {"go": {"ok": True}}
    clock.to(2)
    assert store.commit(c.lease, Commit(outcome=r.Suspend(event="go", wake_at=at(50)))) is False
    rec = store.get("e1")
    assert rec.status == r.PENDING and rec.wake_at == at(2)
    assert claim_one(store).record.id == "e1"


def test_event_wakes_waiting_execution(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    assert store.commit(c.lease, Commit(outcome=r.Suspend(event="go"))) is True
    rec = store.get("e1")
    assert rec.status == r.WAITING and rec.wake_at is None and rec.waiting_for == "event:go"
    store.offer_event("e1", "other", 1)
    assert store.get("e1").status == r.WAITING
    clock.to(3)
    store.offer_event("e1", "go", 2)
    rec = store.get("e1")
    assert rec.status == r.PENDING and rec.wake_at == at(3) and rec.waiting_for is None
    assert claim_one(store).log.events == {"other": 1, "go": 2}


def test_event_wait_deadline_makes_it_due(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    store.commit(c.lease, Commit(outcome=r.Suspend(event="go", wake_at=at(60))))
    clock.to(59)
    assert claim_all(store) == []
    clock.to(60)
    assert claim_one(store).record.id == "e1"


def test_events_and_messages_to_unknown_or_final_executions_are_rejected(store: Any) -> None:
    with pytest.raises(ExecutionNotFound):
        store.offer_event("nope", "go", None)
    with pytest.raises(ExecutionNotFound):
        store.send("nope", "q", None)
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    store.commit(c.lease, Commit(outcome=r.Complete(output=None)))
    with pytest.raises(EventRejected) as info:
        store.offer_event("e1", "go", None)
    assert info.value.status == r.COMPLETED
    with pytest.raises(MessageRejected) as sent:
        store.send("e1", "q", 1)
    assert sent.value.topic == "q" and sent.value.status == r.COMPLETED
    store.create(NewExecution(id="e2", task_name="t"))
    store.cancel("e2")
    with pytest.raises(EventRejected):
        store.offer_event("e2", "go", None)
    assert store.load("e1").messages == {}


def test_messages_queue_per_topic_in_order(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    ids = [store.send("e1", "a", 1), store.send("e1", "b", "x"), store.send("e1", "a", 2)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    log = store.load("e1")
    assert [m.payload for m in log.messages["a"]] == [1, 2]
    assert [m.payload for m in log.messages["b"]] == ["x"]
    assert [m.id for m in log.messages["a"]] == [ids[0], ids[2]]


def test_consumed_messages_are_gone_from_the_next_load(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    first = store.send("e1", "a", 1)
    store.send("e1", "a", 2)
    c = claim_one(store)
    store.commit(c.lease, Commit(consumed=(first,)))
    assert [m.payload for m in store.load("e1").messages["a"]] == [2]


def test_a_send_tried_again_with_its_key_stores_the_message_once(
    store: Any, clock: ManualClock
) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    store.create(NewExecution(id="e2", task_name="t"))
    first = store.send("e1", "a", 1, "k1")
    assert store.send("e1", "a", 1, "k1") == first  # the answer was lost: sent again
    second = store.send("e1", "a", 2, "k2")
    unkeyed = [store.send("e1", "a", 3), store.send("e1", "a", 3)]  # no key: each one stored
    other = store.send("e2", "a", 1, "k1")  # a key is the execution's own
    assert len({first, second, *unkeyed, other}) == 5
    assert [m.payload for m in store.load("e1").messages["a"]] == [1, 2, 3, 3]
    assert [m.id for m in store.load("e2").messages["a"]] == [other]


def test_a_key_used_again_on_another_topic_is_refused_and_stores_nothing(
    store: Any, clock: ManualClock
) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    store.send("e1", "cart", "pen", "k1")
    with pytest.raises(ValueError, match="idempotency_key 'k1' was used for a message on topic"):
        store.send("e1", "checkout", "go", "k1")
    assert list(store.load("e1").messages) == ["cart"]


def test_a_keyed_send_stored_before_the_execution_ended_is_no_error(
    store: Any, clock: ManualClock
) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    sent = store.send("e1", "a", "checkout", "last")
    c = claim_one(store)
    store.commit(c.lease, Commit(consumed=(sent,), outcome=r.Complete(output=None)))
    assert store.send("e1", "a", "checkout", "last") == sent  # it got there: nothing to refuse
    with pytest.raises(MessageRejected):
        store.send("e1", "a", "more", "new")
    with pytest.raises(ExecutionNotFound):
        store.send("nope", "a", 1, "last")


def test_a_message_wakes_an_execution_waiting_on_its_topic(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    c = claim_one(store)
    assert store.commit(c.lease, Commit(outcome=r.Suspend(topic="a", wake_at=at(100))))
    rec = store.get("e1")
    assert rec.status == r.WAITING and rec.waiting_for == "topic:a"
    store.send("e1", "b", 1)
    assert store.get("e1").status == r.WAITING
    clock.to(5)
    store.send("e1", "a", 2)
    rec = store.get("e1")
    assert rec.status == r.PENDING and rec.wake_at == at(5)


def test_a_wait_on_a_topic_with_a_message_there_stays_due(store: Any, clock: ManualClock) -> None:
    store.create(NewExecution(id="e1", task_name="t"))
    store.send("e1", "a", 1)
    c = claim_one(store)
    assert store.commit(c.lease, Commit(outcome=r.Suspend(topic="a"))) is False
    assert store.get("e1").status == r.PENDING


def test_an_event_named_like_another_kind_of_wait_wakes_only_event_waits(
    store: Any, clock: ManualClock
) -> None:
    """An event called "children" or "topic:q" is an event: a parent waiting
    on its children, or an execution waiting on topic q, sleeps on."""
    store.create(NewExecution(id="e1", task_name="t"))
    store.create(NewExecution(id="e2", task_name="t"))
    first, second = claim_all(store)
    store.commit(first.lease, Commit(outcome=r.Suspend(topic="q")))
    store.commit(second.lease, Commit(outcome=r.Suspend(event="children")))
    assert store.get("e1").waiting_for == "topic:q"
    assert store.get("e2").waiting_for == "event:children"
    store.offer_event("e1", "topic:q", None)
    assert store.get("e1").status == r.WAITING
    store.offer_event("e2", "children", None)
    assert store.get("e2").status == r.PENDING
