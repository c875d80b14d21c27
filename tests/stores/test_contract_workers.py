"""The store contract: live workers record themselves, beat, and leave."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.stores.scenario import T0, ManualClock, at
from zart.records import WorkerInfo


def _info(wid: str, tasks: tuple[str, ...] = ("a",), lease: float = 30) -> WorkerInfo:
    return WorkerInfo(
        id=wid,
        host="box",
        pid=42,
        tasks=tasks,
        concurrency=4,
        started_at=T0,
        heartbeat_at=T0,
        expires_at=T0 + timedelta(seconds=lease),
    )


def test_a_worker_records_itself_beats_and_leaves(store: Any, clock: ManualClock) -> None:
    store.register_worker(_info("w1", ("a", "b")))
    clock.to(5)
    store.register_worker(_info("w2"))
    [w1, w2] = store.workers()
    assert (w1.id, w1.host, w1.pid, w1.tasks, w1.concurrency) == ("w1", "box", 42, ("a", "b"), 4)
    assert w1.started_at == T0 and w1.expires_at == at(30) and w1.alive
    assert w2.started_at == at(5) and w2.expires_at == at(35)
    clock.to(20)
    assert store.beat_worker("w1", 3, timedelta(seconds=30)) is True
    [w1, _] = store.workers()
    assert w1.heartbeat_at == at(20) and w1.expires_at == at(50) and w1.inflight == 3
    store.remove_worker("w1")
    assert [w.id for w in store.workers()] == ["w2"]
    assert store.beat_worker("w1", 0, timedelta(seconds=30)) is False


def test_a_worker_past_its_lease_counts_as_dead_and_goes_a_day_later(
    store: Any, clock: ManualClock
) -> None:
    store.register_worker(_info("w1"))
    clock.to(31)
    [w1] = store.workers()
    assert not w1.alive
    clock.to(86400 + 31)
    store.register_worker(_info("w2"))  # registering sweeps rows dead for a day
    assert [w.id for w in store.workers()] == ["w2"]


def test_registering_again_replaces_the_row(store: Any, clock: ManualClock) -> None:
    store.register_worker(_info("w1", ("a",)))
    clock.to(3)
    store.register_worker(_info("w1", ("b",)))
    [w1] = store.workers()
    assert w1.tasks == ("b",) and w1.started_at == at(3)
