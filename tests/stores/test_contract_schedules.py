"""The store contract: recurring schedules kept, fired once per tick however
many fire them, paused, resumed, triggered and deleted."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import attrs
import pytest

from tests.stores.scenario import T0, ManualClock, at, claim_one
from zart import records as r
from zart.errors import ScheduleAlreadyExists, ScheduleNotFound

MINUTE = timedelta(minutes=1)


def minutely(sid: str = "every-minute", **changes: Any) -> r.ScheduleRecord:
    base: dict[str, Any] = {
        "id": sid,
        "task_name": "report",
        "input": {"kind": "daily"},
        "every": MINUTE,
        "next_tick": T0 + MINUTE,
        "next_fire_at": T0 + MINUTE,
        "created_at": T0,
        "updated_at": T0,
    }
    return r.ScheduleRecord(**{**base, **changes})


def test_schedules_are_kept_read_back_and_deleted(store: Any) -> None:
    nightly = minutely(
        "nightly",
        every=None,
        cron="0 2 * * *",
        timezone="Europe/Paris",
        overlap="buffer_one",
        catchup=timedelta(hours=2),
        jitter=timedelta(seconds=30),
    )
    store.create_schedule(nightly)
    store.create_schedule(minutely())
    assert store.get_schedule("nightly") == nightly
    assert [s.id for s in store.list_schedules()] == ["every-minute", "nightly"]
    with pytest.raises(ScheduleAlreadyExists):
        store.create_schedule(attrs.evolve(nightly, task_name="other"))
    assert store.get_schedule("nightly").task_name == "report"
    assert store.delete_schedule("nightly") is True
    assert store.delete_schedule("nightly") is False
    with pytest.raises(ScheduleNotFound, match="'nightly'"):
        store.get_schedule("nightly")


def test_a_due_tick_starts_one_execution_and_moves_the_schedule_on(
    store: Any, clock: ManualClock
) -> None:
    store.create_schedule(minutely())
    clock.to(59)
    assert store.fire_schedules(None, 10) == r.Fired(started=(), next_fire_at=at(60))
    clock.to(61)
    fired = store.fire_schedules(["report"], 10)
    tick_id = "every-minute@2030-01-01T12:01:00Z"
    assert fired == r.Fired(started=(tick_id,), next_fire_at=at(120))
    record = store.get(tick_id)
    assert (record.task_name, record.input, record.status) == (
        "report",
        {"kind": "daily"},
        "pending",
    )
    schedule = store.get_schedule("every-minute")
    assert (schedule.last_tick, schedule.next_tick, schedule.last_execution_id) == (
        at(60),
        at(120),
        tick_id,
    )
    assert store.fire_schedules(None, 10).started == ()  # once per tick
    assert store.fire_schedules(["other"], 10) == r.Fired(started=(), next_fire_at=None)


def test_concurrent_firings_start_each_tick_once(store: Any, clock: ManualClock) -> None:
    for n in range(20):
        store.create_schedule(minutely(f"s{n:02d}"))
    clock.to(61)
    started: list[str] = []
    lock = threading.Lock()

    def fire() -> None:
        got = store.fire_schedules(None, 5)
        with lock:
            started.extend(got.started)

    for _ in range(3):
        threads = [threading.Thread(target=fire) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(started) == [f"s{n:02d}@2030-01-01T12:01:00Z" for n in range(20)]


def test_a_paused_schedule_fires_nothing_and_resumes_from_now(
    store: Any, clock: ManualClock
) -> None:
    store.create_schedule(minutely())
    clock.to(1)
    assert store.pause_schedule("every-minute", True).paused
    clock.to(300)
    assert store.fire_schedules(None, 10) == r.Fired(started=(), next_fire_at=None)
    resumed = store.pause_schedule("every-minute", False)
    assert not resumed.paused and resumed.next_tick == at(360)  # the missed ticks are gone
    with pytest.raises(ScheduleNotFound):
        store.pause_schedule("nope", True)


def test_trigger_starts_a_tick_now_whatever_the_schedule_says(
    store: Any, clock: ManualClock
) -> None:
    store.create_schedule(minutely(paused=True))
    clock.to(10.5)
    record = store.trigger_schedule("every-minute")
    assert record.id == "every-minute@2030-01-01T12:00:10.500000Z"
    assert record.status == "pending" and record.input == {"kind": "daily"}
    assert store.get_schedule("every-minute").last_execution_id == record.id
    with pytest.raises(ScheduleNotFound):
        store.trigger_schedule("nope")


def test_skip_leaves_out_a_tick_while_the_last_one_runs(store: Any, clock: ManualClock) -> None:
    store.create_schedule(minutely())
    clock.to(60)
    [first] = store.fire_schedules(None, 10).started
    claim_one(store, tasks=["report"])  # it runs
    clock.to(120)
    assert store.fire_schedules(None, 10).started == ()
    assert store.get_schedule("every-minute").last_execution_id == first


def test_cancel_other_cancels_the_running_tick_and_starts_the_new_one(
    store: Any, clock: ManualClock
) -> None:
    store.create_schedule(minutely(overlap="cancel_other"))
    clock.to(60)
    [first] = store.fire_schedules(None, 10).started
    claim_one(store, tasks=["report"])
    clock.to(120)
    [second] = store.fire_schedules(None, 10).started
    assert store.get(first).status == "cancelled" and store.get(second).status == "pending"
