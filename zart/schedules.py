"""Recurring schedules, the pure part: checking what a user asks for, the
ticks of a cron expression or an interval, and what a firing does.

Every store keeps a schedule as a row (``records.ScheduleRecord``) and fires
it by asking ``fire`` what to do with the ticks that came due, inside the
transaction that writes the answer; each tick started is one execution
with the id ``"{schedule_id}@{tick}"`` (ISO 8601 UTC), created only if it
does not exist, so a tick starts once however many workers fire it.

Cron expressions are parsed by ``cronsim`` in the schedule's time zone: a
wall-clock time skipped by a spring-forward change fires at the first
instant after it (02:30 on the night 02:00 jumps to 03:00 fires at 03:00),
and one repeated by a fall-back change fires once (the first 02:30).
Intervals (``every``) tick at whole multiples of the interval since the
Unix epoch, so ``every=timedelta(hours=1)`` ticks on the hour.
"""

from __future__ import annotations

import functools
import hashlib
import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from cronsim import CronSim, CronSimError

from . import records as r
from .retry import to_timedelta

SKIP, BUFFER_ONE, ALLOW_ALL, CANCEL_OTHER = "skip", "buffer_one", "allow_all", "cancel_other"
OVERLAPS = (SKIP, BUFFER_ONE, ALLOW_ALL, CANCEL_OTHER)
# A tick started less than this late is on time, whatever ``catchup`` says:
# the latest due tick is one a worker was simply busy for, not one missed
# while no worker ran.
ON_TIME = timedelta(minutes=1)
# How soon a schedule holding a buffered tick looks again whether the
# execution it waits for has ended.
BUFFER_CHECK = timedelta(seconds=1)
# At most this many due ticks are looked at in one firing (a schedule
# ticking every second that no worker fired for a day is not walked tick
# by tick: the ones past ``catchup`` are skipped in one step).
MOST_DUE = 1_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@attrs.frozen(kw_only=True)
class When:
    """When a schedule ticks: a cron expression in a time zone, or an interval."""

    cron: str | None
    every: timedelta | None
    timezone: str

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after ``moment``, in UTC."""
        if self.every is not None:
            steps = math.floor((moment - _EPOCH) / self.every) + 1
            return _EPOCH + self.every * steps
        assert self.cron is not None
        # In UTC: two local times a fold apart compare equal, one instant each.
        return _next_cron(self.cron, self.timezone, moment.astimezone(UTC))


# Many schedules share an expression and come due at the same tick (every
# per-minute schedule at each minute): a worker firing them computes the
# next tick once, not once per schedule.
@functools.lru_cache(maxsize=1024)
def _next_cron(cron: str, timezone: str, moment: datetime) -> datetime:
    local = moment.astimezone(ZoneInfo(timezone)).replace(microsecond=0)
    tick: datetime = next(iter(CronSim(cron, local)))
    while tick <= moment:  # the same second, or an older fold
        tick = next(iter(CronSim(cron, tick)))
    return tick.astimezone(UTC)


@attrs.frozen(kw_only=True)
class Checked:
    """``create_schedule``'s arguments, checked and in their stored form."""

    when: When
    catchup: timedelta
    jitter: timedelta
    paused: bool


def check(
    *,
    cron: Any,
    every: Any,
    timezone: Any,
    overlap: Any,
    catchup: Any,
    jitter: Any,
    paused: Any = False,
) -> Checked:
    """What ``create_schedule`` was given, checked: ``ValueError`` (or
    ``TypeError`` for a wrong type) naming the argument that is wrong.
    Durations are a ``timedelta`` or seconds."""
    if (cron is None) == (every is None):
        raise ValueError("create_schedule needs exactly one of cron= and every=")
    if not isinstance(timezone, str):
        raise TypeError(f"timezone must be a time zone name (str), not {timezone!r}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        named = "an IANA name like 'Europe/Paris'"
        raise ValueError(f"unknown time zone {_shown(timezone)} ({named})") from None
    if cron is not None:
        _check_cron(cron)
    interval = None if every is None else to_timedelta(every, "every")
    if interval is not None and not interval:
        raise ValueError("every must be more than zero")
    if overlap not in OVERLAPS:
        raise ValueError(f"unknown overlap policy {_shown(overlap)}: one of {', '.join(OVERLAPS)}")
    if not isinstance(paused, bool):
        raise TypeError(f"paused must be True or False, not {_shown(paused)}")
    return Checked(
        when=When(cron=cron, every=interval, timezone=timezone),
        catchup=to_timedelta(catchup, "catchup"),
        jitter=timedelta(0) if jitter is None else to_timedelta(jitter, "jitter"),
        paused=paused,
    )


def _shown(value: Any) -> str:
    """A value as an error message quotes it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _check_cron(cron: Any) -> None:
    if not isinstance(cron, str):
        raise TypeError(f"cron must be a cron expression (str), not {_shown(cron)}")
    try:
        CronSim(cron, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise ValueError(f"bad cron expression {_shown(cron)}: {exc}") from None


def tick_id(schedule_id: str, tick: datetime) -> str:
    """The id of the execution a tick starts: ``nightly@2030-01-02T02:00:00Z``
    (with the fraction of a second when it has one: a tick triggered by hand)."""
    utc = tick.astimezone(UTC)
    shown = utc.strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{utc.microsecond:06d}" if utc.microsecond else ""
    )
    return f"{schedule_id}@{shown}Z"


def fire_at(schedule_id: str, tick: datetime, jitter: timedelta) -> datetime:
    """When a tick is started: its time plus its share of ``jitter``, the
    same in every process (a hash of the schedule and the tick)."""
    if not jitter:
        return tick
    digest = hashlib.blake2b(tick_id(schedule_id, tick).encode(), digest_size=8).digest()
    return tick + jitter * (int.from_bytes(digest, "big") / 2**64)


@attrs.frozen(kw_only=True)
class Firing:
    """What a firing does: the ticks to start (oldest first), whether to
    cancel the execution of the last tick first, the tick left buffered,
    how many came due and were skipped, and the schedule's next tick."""

    start: tuple[datetime, ...]
    cancel_last: bool
    buffered: datetime | None
    skipped: int
    last_tick: datetime | None
    next_tick: datetime
    next_fire_at: datetime


def fire(schedule: r.ScheduleRecord, last_status: str | None, now: datetime) -> Firing:
    """What to do with the ticks of ``schedule`` due at ``now``, given the
    status of the execution its last tick started (None: none, or gone)."""
    when = When(cron=schedule.cron, every=schedule.every, timezone=schedule.timezone)
    due: list[datetime] = []
    tick = schedule.next_tick
    while tick <= now and len(due) < MOST_DUE:
        due.append(tick)
        tick = when.next_after(tick)
    if tick <= now:  # more than MOST_DUE came due: jump to now
        tick = when.next_after(now)
    kept = [t for t in due if now - t <= schedule.catchup]
    if due and due[-1] not in kept and now - due[-1] <= ON_TIME:
        kept.append(due[-1])
    running = last_status is not None and last_status not in r.FINAL_STATUSES
    start, cancel, buffered = _overlap(schedule, kept, running)
    # A tick is skipped when it came due (or sat in the buffer) and is
    # neither started now nor kept in the buffer.
    waiting = len(due) + (schedule.buffered_tick is not None)
    upcoming = fire_at(schedule.id, tick, schedule.jitter)
    if buffered is not None:
        upcoming = min(upcoming, now + BUFFER_CHECK)
    return Firing(
        start=tuple(start),
        cancel_last=cancel,
        buffered=buffered,
        skipped=waiting - len(start) - (buffered is not None),
        last_tick=due[-1] if due else schedule.last_tick,
        next_tick=tick,
        next_fire_at=upcoming,
    )


def fired(
    schedule: r.ScheduleRecord, firing: Firing, started: list[str], now: datetime
) -> r.ScheduleRecord:
    """The schedule after ``firing``, which started the executions
    ``started`` (those of its ticks that did not exist yet)."""
    return attrs.evolve(
        schedule,
        next_tick=firing.next_tick,
        next_fire_at=firing.next_fire_at,
        last_tick=firing.last_tick,
        last_execution_id=started[-1] if started else schedule.last_execution_id,
        buffered_tick=firing.buffered,
        updated_at=now,
    )


def _overlap(
    schedule: r.ScheduleRecord, kept: list[datetime], running: bool
) -> tuple[list[datetime], bool, datetime | None]:
    """The ticks to start, whether to cancel the running one, and the tick
    to keep buffered, under the schedule's overlap policy."""
    policy = schedule.overlap
    if policy == ALLOW_ALL:
        return kept, False, None
    if policy == CANCEL_OTHER:
        return kept[-1:], running and bool(kept), None
    if policy == SKIP:
        return ([] if running else kept[-1:]), False, None
    waiting = [t for t in (schedule.buffered_tick, *kept) if t is not None]
    if running:
        return [], False, (waiting[-1] if waiting else None)
    return waiting[:1], False, (waiting[-1] if len(waiting) > 1 else None)


def first(
    when: When, schedule_id: str, jitter: timedelta, now: datetime
) -> tuple[datetime, datetime]:
    """A new (or resumed) schedule's next tick after ``now``, and when it fires."""
    tick = when.next_after(now)
    return tick, fire_at(schedule_id, tick, jitter)


def paused(schedule: r.ScheduleRecord, pause: bool, now: datetime) -> r.ScheduleRecord:
    """The schedule paused, or resumed: from its next tick after ``now``
    (the ticks that came due while it was paused are not caught up)."""
    changed = attrs.evolve(schedule, paused=pause, updated_at=now)
    if schedule.paused and not pause:
        when = When(cron=schedule.cron, every=schedule.every, timezone=schedule.timezone)
        tick, fire_at = first(when, schedule.id, schedule.jitter, now)
        changed = attrs.evolve(changed, next_tick=tick, next_fire_at=fire_at)
    return changed


def tick_execution(schedule: r.ScheduleRecord, tick: datetime) -> r.NewExecution:
    """The execution a tick starts."""
    return r.NewExecution(
        id=tick_id(schedule.id, tick), task_name=schedule.task_name, input=schedule.input
    )
