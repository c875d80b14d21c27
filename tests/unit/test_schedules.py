"""The pure rules of recurring schedules: ticks (cron in a time zone across
both daylight-saving changes, intervals), the checks of create_schedule's
arguments, and what a firing does under each overlap policy."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from zart import records as r
from zart import schedules as s

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def ticks(when: s.When, start: datetime, n: int) -> list[datetime]:
    out, moment = [], start
    for _ in range(n):
        moment = when.next_after(moment)
        out.append(moment)
    return out


def paris(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=PARIS, fold=fold).astimezone(UTC)


def test_a_wall_clock_time_skipped_by_spring_forward_fires_once_right_after() -> None:
    nightly = s.When(cron="30 2 * * *", every=None, timezone="Europe/Paris")
    got = ticks(nightly, paris(2026, 3, 27, 12, 0), 4)
    # 2026-03-29: 02:00 jumps to 03:00, so 02:30 does not exist that night.
    assert got == [
        paris(2026, 3, 28, 2, 30),
        paris(2026, 3, 29, 3, 0),
        paris(2026, 3, 30, 2, 30),
        paris(2026, 3, 31, 2, 30),
    ]


def test_a_wall_clock_time_repeated_by_fall_back_fires_once() -> None:
    nightly = s.When(cron="30 2 * * *", every=None, timezone="Europe/Paris")
    got = ticks(nightly, paris(2026, 10, 23, 12, 0), 3)
    # 2026-10-25: 03:00 goes back to 02:00, so 02:30 happens twice; it fires
    # at the first, and the next tick is the next night's.
    assert got == [
        paris(2026, 10, 24, 2, 30),
        paris(2026, 10, 25, 2, 30),
        paris(2026, 10, 26, 2, 30),
    ]
    assert got[2] - got[1] == timedelta(hours=25)


def test_an_hourly_cron_keeps_real_hours_through_both_changes() -> None:
    hourly = s.When(cron="0 * * * *", every=None, timezone="Europe/Paris")
    spring = ticks(hourly, paris(2026, 3, 29, 0, 30), 4)
    assert [b - a for a, b in itertools.pairwise(spring)] == [timedelta(hours=1)] * 3
    fall = ticks(hourly, paris(2026, 10, 25, 0, 30), 5)
    assert [b - a for a, b in itertools.pairwise(fall)] == [timedelta(hours=1)] * 4
    assert paris(2026, 10, 25, 2, 0, fold=1) in fall  # the repeated hour ticks too: it is real


def test_intervals_tick_on_multiples_since_the_epoch() -> None:
    every = s.When(cron=None, every=timedelta(minutes=10), timezone="UTC")
    assert ticks(every, datetime(2030, 1, 1, 12, 3, 7, tzinfo=UTC), 2) == [
        datetime(2030, 1, 1, 12, 10, tzinfo=UTC),
        datetime(2030, 1, 1, 12, 20, tzinfo=UTC),
    ]
    on_the_tick = datetime(2030, 1, 1, 12, 10, tzinfo=UTC)
    assert every.next_after(on_the_tick) == datetime(2030, 1, 1, 12, 20, tzinfo=UTC)


GOOD: dict[str, Any] = {
    "cron": "0 2 * * *",
    "every": None,
    "timezone": "UTC",
    "overlap": "skip",
    "catchup": timedelta(0),
    "jitter": None,
}


@pytest.mark.parametrize(
    ("changes", "error", "says"),
    [
        ({"cron": "61 2 * * *"}, ValueError, "bad cron expression '61 2 \\* \\* \\*'"),
        ({"cron": "every day"}, ValueError, "bad cron expression 'every day'"),
        ({"cron": 5}, TypeError, "cron must be a cron expression"),
        ({"cron": None}, ValueError, "exactly one of cron= and every="),
        ({"every": timedelta(hours=1)}, ValueError, "exactly one of cron= and every="),
        ({"timezone": "Mars/Olympus"}, ValueError, "unknown time zone 'Mars/Olympus'"),
        ({"timezone": "../etc/passwd"}, ValueError, "unknown time zone"),
        ({"timezone": None}, TypeError, "timezone must be"),
        ({"overlap": "queue"}, ValueError, "unknown overlap policy 'queue': one of skip"),
        ({"catchup": timedelta(seconds=-1)}, ValueError, "catchup must not be negative, got -1 s"),
        ({"catchup": "1h"}, TypeError, "catchup must be a timedelta or seconds"),
        ({"jitter": timedelta(seconds=-5)}, ValueError, "jitter must not be negative"),
        ({"paused": "yes"}, TypeError, "paused must be True or False, not 'yes'"),
        ({"cron": "x" * 100_000}, ValueError, r"bad cron expression 'x{56}\.\.\.: Wrong number"),
    ],
)
def test_bad_arguments_name_what_is_wrong(changes: dict[str, Any], error: type, says: str) -> None:
    with pytest.raises(error, match=says):
        s.check(**{**GOOD, **changes})


@pytest.mark.parametrize(
    ("every", "says"),
    [
        (timedelta(0), "every must be more than zero"),
        (0, "every must be more than zero"),
        (timedelta(seconds=-1), "every must not be negative, got -1 s"),
        (float("nan"), "every must be finite"),
    ],
)
def test_an_interval_must_be_positive(every: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        s.check(**{**GOOD, "cron": None, "every": every})


def test_durations_may_be_seconds() -> None:
    given = s.check(**{**GOOD, "cron": None, "every": 90, "catchup": 60, "jitter": 1.5})
    assert given.when.every == timedelta(seconds=90)
    assert (given.catchup, given.jitter) == (timedelta(minutes=1), timedelta(seconds=1.5))


def test_tick_ids_and_jitter_are_the_same_everywhere() -> None:
    tick = datetime(2030, 1, 2, 2, 0, tzinfo=UTC)
    assert s.tick_id("nightly", tick) == "nightly@2030-01-02T02:00:00Z"
    shares = {s.fire_at(f"s{i}", tick, timedelta(minutes=10)) - tick for i in range(50)}
    assert len(shares) > 40 and all(timedelta(0) <= d < timedelta(minutes=10) for d in shares)
    assert s.fire_at("s1", tick, timedelta(minutes=10)) == s.fire_at(
        "s1", tick, timedelta(minutes=10)
    )
    assert s.fire_at("s1", tick, timedelta(0)) == tick


def schedule(**changes: Any) -> r.ScheduleRecord:
    base: dict[str, Any] = {
        "id": "hourly",
        "task_name": "report",
        "every": timedelta(hours=1),
        "next_tick": T0,
        "next_fire_at": T0,
        "created_at": T0,
        "updated_at": T0,
    }
    return r.ScheduleRecord(**{**base, **changes})


HOUR = timedelta(hours=1)


def test_a_due_tick_starts_and_the_next_one_is_an_interval_later() -> None:
    firing = s.fire(schedule(), None, T0 + timedelta(seconds=2))
    assert firing.start == (T0,) and firing.skipped == 0 and not firing.cancel_last
    assert (firing.next_tick, firing.next_fire_at, firing.last_tick) == (T0 + HOUR, T0 + HOUR, T0)


def test_ticks_missed_while_no_worker_ran_start_only_within_catchup() -> None:
    later = T0 + 5 * HOUR + timedelta(minutes=30)  # six ticks came due
    assert s.fire(schedule(), None, later).start == ()
    assert s.fire(schedule(), None, later).skipped == 6
    caught = s.fire(schedule(overlap="allow_all", catchup=3 * HOUR), None, later)
    assert caught.start == (T0 + 3 * HOUR, T0 + 4 * HOUR, T0 + 5 * HOUR) and caught.skipped == 3
    on_time = s.fire(schedule(), None, T0 + 5 * HOUR + timedelta(seconds=40))
    assert on_time.start == (T0 + 5 * HOUR,) and on_time.next_tick == T0 + 6 * HOUR


@pytest.mark.parametrize(
    ("overlap", "running", "start", "cancel", "buffered"),
    [
        ("skip", True, (), False, None),
        ("skip", False, (T0,), False, None),
        ("allow_all", True, (T0,), False, None),
        ("cancel_other", True, (T0,), True, None),
        ("cancel_other", False, (T0,), False, None),
        ("buffer_one", True, (), False, T0),
        ("buffer_one", False, (T0,), False, None),
    ],
)
def test_overlap_policies(
    overlap: str, running: bool, start: tuple[datetime, ...], cancel: bool, buffered: Any
) -> None:
    firing = s.fire(schedule(overlap=overlap), "running" if running else "completed", T0)
    assert (firing.start, firing.cancel_last, firing.buffered) == (start, cancel, buffered)


def test_buffer_one_keeps_only_the_newest_tick_and_starts_it_once_free() -> None:
    held = s.fire(schedule(overlap="buffer_one", buffered_tick=T0 - HOUR), "running", T0)
    assert held.start == () and held.buffered == T0 and held.skipped == 1
    assert held.next_fire_at == T0 + s.BUFFER_CHECK  # it looks again soon
    free = s.fire(
        schedule(overlap="buffer_one", buffered_tick=T0, next_tick=T0 + HOUR),
        "completed",
        T0 + timedelta(minutes=5),
    )
    assert free.start == (T0,) and free.buffered is None and free.next_tick == T0 + HOUR


def test_the_next_tick_of_a_repeated_local_hour_follows_its_own_instant() -> None:
    # 02:30 twice on 2030-10-27 in Paris: fold 0 is 00:30Z, fold 1 is 01:30Z.
    # They compare equal as datetimes, so the cached answer of one must
    # not serve the other.
    hourly = s.When(cron="0 * * * *", every=None, timezone="Europe/Paris")
    first = datetime(2030, 10, 27, 2, 30, tzinfo=PARIS)
    second = first.replace(fold=1)
    assert hourly.next_after(first) == datetime(2030, 10, 27, 1, 0, tzinfo=UTC)
    assert hourly.next_after(second) == datetime(2030, 10, 27, 2, 0, tzinfo=UTC)
