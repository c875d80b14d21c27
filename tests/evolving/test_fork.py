"""client.fork: a new execution that replays the log before a step and runs
that step and everything after it anew, on every store."""

from __future__ import annotations

from typing import Any

import pytest

import zart
from tests.engine import Engine

calls: list[str] = []


@zart.step("reserve")
def reserve(order: int) -> str:
    calls.append("reserve")
    return f"r-{order}"


@zart.step("charge")
def charge(reservation: str) -> str:
    calls.append("charge")
    if reservation.startswith("r-"):
        raise ValueError("card declined: the charge code had a bug")
    return reservation


@zart.step("charge")
def charge_fixed(reservation: str) -> str:
    calls.append("charge-fixed")
    return f"paid {reservation}"


@zart.step("ship")
def ship(receipt: str) -> str:
    calls.append("ship")
    return f"shipped after {receipt}"


@zart.durable("order", max_retries=0)
def order(n: int):  # type: ignore[no-untyped-def]
    reservation = yield reserve(n)
    approval = yield zart.wait_event("approval")
    receipt = yield charge(reservation)
    return (yield ship(f"{receipt} {approval['by']}"))


@zart.durable("order", max_retries=0)
def order_fixed(n: int):  # type: ignore[no-untyped-def]
    reservation = yield reserve(n)
    approval = yield zart.wait_event("approval")
    receipt = yield charge_fixed(reservation)
    return (yield ship(f"{receipt} {approval['by']}"))


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    calls.clear()


def _failed_order(engine: Engine) -> str:
    client = engine.deploy(order)
    eid = client.schedule("order", 7, execution_id="order-7")
    engine.run()
    client.offer_event(eid, "approval", {"by": "ann"})
    engine.run()
    assert engine.status(eid) == "failed" and calls == ["reserve", "charge"]
    calls.clear()
    return eid


def test_a_fork_replays_what_came_before_the_step_and_reruns_the_rest(engine: Engine) -> None:
    eid = _failed_order(engine)
    before, history = engine.client.get(eid), engine.client.history(eid)
    client = engine.deploy(order_fixed)
    new = client.fork(eid, from_step="charge", execution_id="order-7-again")
    assert new == "order-7-again"
    engine.run()
    assert client.result(new) == "shipped after paid r-7 ann"
    # reserve replayed and the approval came along; charge and ship ran.
    assert calls == ["charge-fixed", "ship"]
    assert [s.name for s in client.history(new)] == ["reserve", "approval", "charge", "ship"]
    assert client.get(eid) == before and client.history(eid) == history


def test_a_fork_from_an_earlier_step_reruns_it_too(engine: Engine) -> None:
    eid = _failed_order(engine)
    client = engine.deploy(order_fixed)
    new = client.fork(eid, from_step="reserve")
    engine.run()
    # Nothing is copied: the approval event is, so the wait passes at once.
    assert client.result(new) == "shipped after paid r-7 ann"
    assert calls == ["reserve", "charge-fixed", "ship"]
    assert len(new) == 32 and new != eid


def test_bad_forks_are_refused_and_write_nothing(engine: Engine) -> None:
    eid = _failed_order(engine)
    client = engine.client
    with pytest.raises(zart.ForkRefused, match="no record named 'refund'"):
        client.fork(eid, from_step="refund")
    with pytest.raises(zart.ExecutionNotFound):
        client.fork("order-8", from_step="charge")
    with pytest.raises(zart.ExecutionAlreadyExists):
        client.fork(eid, from_step="charge", execution_id=eid)
    with pytest.raises(ValueError, match="from_step"):
        client.fork(eid, from_step="")
    with pytest.raises(ValueError, match="execution_id"):
        client.fork(eid, from_step="charge", execution_id="x" * 256)
    assert [r.id for r in client.list()] == [eid]


@zart.step("child-{i}")
def child_step(i: int) -> int:
    calls.append(f"child-{i}")
    return i * 10


@zart.step("total")
def total(values: list[int]) -> int:
    calls.append("total")
    return sum(values)


@zart.durable("fan", max_retries=0)
def fan(_: Any):  # type: ignore[no-untyped-def]
    handles = []
    for i in range(3):
        handles.append((yield zart.schedule(child_step(i))))
    values = yield zart.wait_all(handles)
    return (yield total(values))


def test_children_before_the_cut_are_shared_and_never_rerun(engine: Engine) -> None:
    client = engine.deploy(fan)
    eid = client.schedule("fan", execution_id="fan-1")
    engine.run()
    assert client.result(eid) == 30
    calls.clear()
    new = client.fork(eid, from_step="total")
    engine.run()
    assert client.result(new) == 30 and calls == ["total"]
    assert client.list(parent_id=new) == []
    assert len(client.list(parent_id=eid)) == 3
