"""The recurring schedules of a chaos run: a few schedules ticking every
2 s while the workers are killed, checked at the end for ticks that never
started (a gap) or started twice (one id each, so a duplicate is a tick
not recorded as started), and for ticks that did not end as an undisturbed
run of their task does."""

from __future__ import annotations

from datetime import datetime, timedelta

import zart
from zart.testing import TestEnv

from .app import registry
from .plan import Outcome, quiet

EVERY = timedelta(seconds=2)
PREFIX = "chaos-tick-"


def _input(n: int) -> int:
    return 1_000 + n


def is_tick(execution_id: str) -> bool:
    return execution_id.startswith(PREFIX)


def create(client: zart.Client, count: int) -> None:
    # allow_all and a long catchup: no tick may be left out, even one a
    # killed worker fired late, so every tick between the first and the
    # last must be there.
    for n in range(count):
        client.create_schedule(
            f"{PREFIX}{n}",
            "chaos-seq",
            _input(n),
            every=EVERY,
            overlap="allow_all",
            catchup=timedelta(hours=1),
        )


def delete(client: zart.Client) -> None:
    for schedule in client.list_schedules():
        if is_tick(schedule.id):
            client.delete_schedule(schedule.id)


def expected() -> dict[int, Outcome]:
    """What each schedule's ticks end with, undisturbed (chaos-seq's output
    depends on its input only)."""
    with quiet(), TestEnv(registry) as env:
        out = {}
        for n in range(10):
            eid = env.schedule("chaos-seq", _input(n))
            env.advance(timedelta(minutes=5))
            record = env.get(eid)
            out[n] = Outcome(status=record.status, output=record.output, error_type=None, log=())
        return out


def check(records: dict[str, zart.ExecutionRecord]) -> tuple[int, list[str]]:
    """How many ticks ran, and what is wrong with them."""
    wanted = expected()
    by_schedule: dict[int, list[datetime]] = {}
    problems = []
    for eid, rec in records.items():
        if not is_tick(eid):
            continue
        sid, _, tick = eid.partition("@")
        n = int(sid.removeprefix(PREFIX))
        by_schedule.setdefault(n, []).append(datetime.fromisoformat(tick.replace("Z", "+00:00")))
        got = Outcome(status=rec.status, output=rec.output, error_type=None, log=())
        if got != wanted[n]:
            problems.append(f"{eid}: {got} != {wanted[n]}")
    for n, times in by_schedule.items():
        times.sort()
        span = int((times[-1] - times[0]) / EVERY) + 1
        if len(times) != span:
            problems.append(f"{PREFIX}{n}: {len(times)} ticks from {times[0]} to {times[-1]}")
    return sum(len(t) for t in by_schedule.values()), problems
