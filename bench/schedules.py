"""What recurring schedules and messages cost.

    .venv/bin/python bench/schedules.py [--db sqlite|postgres|both] [--quick]

(a) tick start: 2,000 due schedules fired by ``store.fire_schedules`` (each
    tick an execution created and its schedule moved on), per tick, against
    ``client.schedule`` of as many executions on the same store, per call;
(b) send -> resume: an idle ``zart worker`` process, an execution waiting in
    ``zart.receive``; ``client.send`` -> the step after the receive entered,
    p50 and p99 of 50 (target: p50 < 10 ms);
(c) 10,000 schedules with per-minute crons on one ``zart worker`` process:
    the lag of each tick's start (its execution's ``created_at`` - its tick
    time) over two minute boundaries; the target is every tick within 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import zart
from bench import _common as app
from bench.store_sections.databases import Database, PostgresDatabase, SqliteDatabase
from bench.store_sections.harness import PG_URL, finish_worker, spawn_worker
from zart import records as r


def _due(store: Any, n: int, prefix: str) -> None:
    now = store.now()
    for i in range(n):
        store.create_schedule(
            r.ScheduleRecord(
                id=f"{prefix}{i:05d}",
                task_name="bench-one",
                input=i,
                every=timedelta(hours=1),
                next_tick=now - timedelta(seconds=1),
                next_fire_at=now - timedelta(seconds=1),
                created_at=now,
                updated_at=now,
            )
        )


def tick_cost(db: Database, n: int) -> tuple[float, float]:
    """Seconds per tick started, and per client.schedule."""
    store = db.open_store()
    client = zart.Client(store, app.registry)
    _due(store, n, "tick-")
    started = time.perf_counter()
    fired = 0
    while fired < n:
        fired += len(store.fire_schedules(None, 500).started)
    per_tick = (time.perf_counter() - started) / n
    started = time.perf_counter()
    for i in range(n):
        client.schedule("bench-one", i)
    per_schedule = (time.perf_counter() - started) / n
    store.close()
    return per_tick, per_schedule


def _until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("waited too long")
        time.sleep(0.002)


def send_latency(db: Database, samples: int) -> list[float]:
    store = db.open_store()
    client = zart.Client(store, app.registry)
    worker = spawn_worker(db.url, concurrency=4, until_idle=False, poll=5.0)
    lags = []
    try:
        for _ in range(samples):
            eid = client.schedule("bench-inbox")
            _until(lambda eid=eid: client.get(eid).status == "waiting")  # type: ignore[misc]
            sent = time.time()
            client.send(eid, "in", "go")
            _until(lambda eid=eid: client.get(eid).is_final)  # type: ignore[misc]
            lags.append(client.get(eid).output["resumed"] - sent)
    finally:
        worker.proc.terminate()
        finish_worker(worker, 30)
        store.close()
    return lags


def tick_lag(db: Database, n: int) -> list[float]:
    """Seconds between each tick and its execution's start, two minutes of
    n per-minute schedules on one worker."""
    store = db.open_store()
    client = zart.Client(store, app.registry)
    now = store.now()
    for i in range(n):
        tick = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        store.create_schedule(
            r.ScheduleRecord(
                id=f"minute-{i:05d}",
                task_name="bench-one",
                input=i,
                cron="* * * * *",
                next_tick=tick,
                next_fire_at=tick,
                created_at=now,
                updated_at=now,
            )
        )
    worker = spawn_worker(db.url, concurrency=8, until_idle=False, poll=1.0)
    try:
        first = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        wait = (first + timedelta(minutes=2, seconds=5) - datetime.now(UTC)).total_seconds()
        time.sleep(max(0.0, wait))
    finally:
        for schedule in client.list_schedules():
            client.delete_schedule(schedule.id)
        worker.proc.terminate()
        finish_worker(worker, 120)
    lags = []
    for record in _all(client):
        if record.id.startswith("minute-"):
            tick = datetime.fromisoformat(record.id.split("@")[1].replace("Z", "+00:00"))
            lags.append((record.created_at - tick).total_seconds())
    store.close()
    return lags


def _all(client: zart.Client) -> list[zart.ExecutionRecord]:
    out: list[zart.ExecutionRecord] = []
    for status in r.STATUSES:
        offset = 0
        while page := client.list(status=status, limit=5_000, offset=offset):
            out += page
            offset += len(page)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(db: Database, quick: bool) -> None:
    print(f"\n== {db.name}")
    per_tick, per_schedule = tick_cost(db, 500 if quick else 2_000)
    print(
        f"(a) tick start {per_tick * 1e3:.3f} ms, client.schedule {per_schedule * 1e3:.3f} ms: "
        f"{per_tick / per_schedule:.2f}x"
    )
    lags = send_latency(db, 20 if quick else 50)
    p50 = statistics.median(lags) * 1e3
    verdict = "PASS" if p50 < 10 else "MISS"
    print(
        f"(b) send -> resume p50 {p50:.1f} ms, p99 {percentile(lags, 0.99) * 1e3:.1f} ms: {verdict}"
    )
    if quick:
        return
    ticks = tick_lag(db, 10_000)
    within = sum(lag <= 1.0 for lag in ticks) / max(len(ticks), 1)
    print(
        f"(c) {len(ticks)} ticks: lag p50 {percentile(ticks, 0.5):.3f} s, "
        f"p90 {percentile(ticks, 0.9):.3f} s, p99 {percentile(ticks, 0.99):.3f} s, "
        f"max {max(ticks):.3f} s; within 1 s: {within:.1%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        db: Database = SqliteDatabase()
        try:
            run(db, args.quick)
        finally:
            db.cleanup()
    if args.db in ("postgres", "both"):
        db = PostgresDatabase(PG_URL)
        try:
            run(db, args.quick)
        finally:
            db.cleanup()


if __name__ == "__main__":
    main()
