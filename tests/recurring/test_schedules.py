"""Recurring schedules end to end: workers fire them on every store, each
tick one execution; TestEnv fires them on its virtual clock, across both
daylight-saving changes of a zone that has them; bad arguments are refused
at create_schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import zart
from tests.engine import Engine
from zart.testing import TestEnv

ran: list[Any] = []


@zart.durable("report")
def report(kind: str):  # type: ignore[no-untyped-def]
    ran.append((zart.context().execution_id, kind))
    yield zart.call("write", lambda: kind)
    return kind


@zart.durable("slow-report")
def slow_report(kind: str):  # type: ignore[no-untyped-def]
    yield zart.sleep("take-your-time", timedelta(minutes=90))
    return kind


@pytest.fixture(autouse=True)
def _fresh() -> None:
    ran.clear()


def test_workers_start_each_tick_once_on_every_store(engine: Engine) -> None:
    client = engine.deploy(report)
    schedule = client.create_schedule("hourly", report, "sales", every=timedelta(hours=1))
    assert schedule.next_tick == datetime(2030, 1, 1, 13, 0, tzinfo=UTC)
    engine.run()
    assert ran == []
    engine.advance(timedelta(hours=1))
    engine.run()  # a second worker's look finds the tick started already
    assert ran == [("hourly@2030-01-01T13:00:00Z", "sales")]
    assert client.result("hourly@2030-01-01T13:00:00Z") == "sales"
    engine.advance(timedelta(hours=1))
    assert [eid for eid, _ in ran] == ["hourly@2030-01-01T13:00:00Z", "hourly@2030-01-01T14:00:00Z"]
    listed = client.get_schedule("hourly")
    assert listed.last_execution_id == "hourly@2030-01-01T14:00:00Z"
    assert listed.next_tick == datetime(2030, 1, 1, 15, 0, tzinfo=UTC)


def test_pause_resume_trigger_and_delete(engine: Engine) -> None:
    client = engine.deploy(report)
    client.create_schedule("hourly", "report", "sales", every=timedelta(hours=1))
    client.pause_schedule("hourly")
    engine.advance(timedelta(hours=3))
    assert ran == []
    triggered = client.trigger_schedule("hourly")  # runs now, paused or not
    engine.run()
    assert ran == [(triggered, "sales")] and triggered.startswith("hourly@2030-01-01T15:00:00")
    resumed = client.resume_schedule("hourly")
    assert resumed.next_tick == datetime(2030, 1, 1, 16, 0, tzinfo=UTC)  # no catching up
    assert client.delete_schedule("hourly") and not client.delete_schedule("hourly")
    engine.advance(timedelta(hours=2))
    assert len(ran) == 1 and client.list_schedules() == []
    with pytest.raises(zart.ScheduleNotFound):
        client.trigger_schedule("hourly")


def test_skip_leaves_out_ticks_while_the_last_runs_and_allow_all_does_not(
    engine: Engine,
) -> None:
    client = engine.deploy(slow_report)
    client.create_schedule("skipping", "slow-report", "a", every=timedelta(hours=1))
    client.create_schedule(
        "overlapping", "slow-report", "b", every=timedelta(hours=1), overlap="allow_all"
    )
    for _ in range(6):  # every half hour, so 13:00's 90-minute sleep ends at 14:30
        engine.advance(timedelta(minutes=30))
    started = {rec.id for rec in client.list(task="slow-report")}
    assert {eid for eid in started if eid.startswith("skipping@")} == {
        "skipping@2030-01-01T13:00:00Z",
        "skipping@2030-01-01T15:00:00Z",  # 14:00 came while 13:00 still slept
    }
    assert len([eid for eid in started if eid.startswith("overlapping@")]) == 3


def test_a_schedule_of_a_task_nobody_serves_waits_and_is_shown_so(engine: Engine) -> None:
    client = engine.deploy(report)
    client.create_schedule("hourly", report, "sales", every=timedelta(hours=1))
    assert not client.served("report")  # no live worker recorded yet


PARIS = ZoneInfo("Europe/Paris")


def _local_days(env: TestEnv, task: str) -> list[str]:
    return sorted(
        datetime.fromisoformat(rec.id.split("@")[1].replace("Z", "+00:00"))
        .astimezone(PARIS)
        .strftime("%m-%d %H:%M")
        for rec in env.list(task=task)
    )


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # 2026-03-29 02:00 jumps to 03:00: that night's 02:30 fires at 03:00.
        (
            datetime(2026, 3, 27, 12, tzinfo=UTC),
            ["03-28 02:30", "03-29 03:00", "03-30 02:30", "03-31 02:30"],
        ),
        # 2026-10-25 03:00 goes back to 02:00: 02:30 happens twice, fires once.
        (
            datetime(2026, 10, 23, 12, tzinfo=UTC),
            ["10-24 02:30", "10-25 02:30", "10-26 02:30", "10-27 02:30"],
        ),
    ],
)
def test_testenv_fires_a_nightly_cron_across_daylight_saving_changes(
    start: datetime, expected: list[str]
) -> None:
    with TestEnv(zart.TaskRegistry([report]), start=start) as env:
        env.client.create_schedule(
            "nightly", "report", "ops", cron="30 2 * * *", timezone="Europe/Paris"
        )
        env.advance(timedelta(days=4))
        assert _local_days(env, "report") == expected
        assert all(rec.status == "completed" for rec in env.list(task="report"))


def test_catchup_starts_missed_ticks_within_it_and_skips_older_ones() -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    with TestEnv(zart.TaskRegistry([report]), start=start) as env:
        env.client.create_schedule(
            "hourly",
            "report",
            "x",
            every=timedelta(hours=1),
            overlap="allow_all",
            catchup=timedelta(hours=2, minutes=30),
        )
        env.clock.move_to(start + timedelta(hours=6, minutes=10))  # no worker ran meanwhile
        env.run_until_idle()
        assert [eid.split("@")[1] for eid, _ in ran] == [
            "2030-01-01T04:00:00Z",
            "2030-01-01T05:00:00Z",
            "2030-01-01T06:00:00Z",
        ]


@pytest.mark.parametrize(
    ("options", "error", "says"),
    [
        ({"cron": "0 25 * * *"}, ValueError, "bad cron expression"),
        ({"cron": "0 2 * * *", "timezone": "Europe/Atlantis"}, ValueError, "unknown time zone"),
        ({"every": timedelta(minutes=-5)}, ValueError, "every must not be negative"),
        ({"every": timedelta(hours=1), "overlap": "whenever"}, ValueError, "unknown overlap"),
        ({}, ValueError, "exactly one of cron= and every="),
        ({"every": timedelta(hours=1), "catchup": timedelta(-1)}, ValueError, "catchup"),
    ],
)
def test_bad_arguments_are_refused_at_create_schedule_and_store_nothing(
    options: dict[str, Any], error: type, says: str
) -> None:
    with TestEnv(zart.TaskRegistry([report])) as env:
        with pytest.raises(error, match=says):
            env.client.create_schedule("bad", "report", "x", **options)
        with pytest.raises(zart.UnknownTaskError):
            env.client.create_schedule("bad", "nope", every=timedelta(hours=1))
        with pytest.raises(ValueError, match="schedule_id"):
            env.client.create_schedule("", "report", every=timedelta(hours=1))
        assert env.client.list_schedules() == []
