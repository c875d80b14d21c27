"""Scale: what reads, claims and an idle worker cost on a large table.

    python bench/scale.py [--db sqlite|postgres|both] [--rows N] [--runs N] [--idle SECONDS]

Each store gets ``--rows`` executions (1,000,000 by default) built in SQL
(``bench/scale_data.py`` holds the mix: most completed, some failed, 100,000
due and pending of task ``other`` per million, sleeping, waiting, running
rows, children with their parents and roots), then ANALYZE. A fresh SQLite
file in a temporary directory, or a fresh PostgreSQL schema dropped at the
end (server from ``ZART_BENCH_POSTGRES_URL``, else ``ZART_TEST_POSTGRES_URL``,
else ``postgresql://postgres@127.0.0.1:5432/test``).

Every store call is timed in this process: the median of ``--runs`` runs
after a few warm-up runs (PostgreSQL plans a prepared statement generically
after five). Then a real ``zart.Worker`` (threads) serving only task
``mine``, which matches none of the due rows, runs for ``--idle`` seconds:
its database time per second is the time spent in the store's statements,
measured by wrapping ``SqliteStore._run`` / ``PostgresStore._exec`` with
timers in this process (pg_stat_statements is not loaded on the server),
plus its periodic statements (housekeeping every 30 s, its heartbeat every
``heartbeat_interval``) at their rates. The time in the store's methods
(everything but ``wait``) is printed beside it.

Targets (issue 24): claim, next_wake and filtered ``list`` under 5 ms each;
an idle worker under 5 ms of database time a second. A missed target prints
MISS; the exit status is 1 only for a broken invariant.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import zart  # noqa: E402
from bench.scale_data import build_postgres, build_sqlite  # noqa: E402
from bench.scale_meter import Meter, instrument  # noqa: E402
from bench.store_sections.harness import (  # noqa: E402
    PG_URL,
    Report,
    fmt_ms,
    median,
    progress,
    verdict,
)
from zart.loop import HOUSEKEEPING_INTERVAL, WorkerConfig  # noqa: E402

TARGET = 0.005  # seconds: claim, next_wake, filtered list
TARGET_IDLE = 0.005  # seconds of database time per second, an idle worker
LEASE = timedelta(seconds=30)
WARMUP = 6  # past the five custom plans PostgreSQL makes before a generic one


@zart.durable("mine")
def mine(data: Any) -> Any:
    """The only task of the idle worker: nothing of it is ever due."""
    yield zart.sleep("nap", timedelta(seconds=1))
    return data


REGISTRY = zart.TaskRegistry([mine])


# -- measures ------------------------------------------------------------------------


def timed(call: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """The median seconds of ``runs`` calls after the warm-up, and the last answer."""
    answer = None
    for _ in range(WARMUP):
        answer = call()
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        answer = call()
        seconds.append(time.perf_counter() - start)
    return median(seconds), answer


def measures(store: Any, loaded: str) -> list[tuple[str, Callable[[], Any], float | None]]:
    """(label, call, target) of every measure; target None: reported only."""

    def claim(tasks: list[str]) -> Callable[[], Any]:
        return lambda: store.claim(worker="bench", tasks=tasks, lease=LEASE, limit=10)

    return [
        ("claim(tasks=['mine'], limit=10): none due", claim(["mine"]), TARGET),
        ("claim(tasks=['other'], limit=10): 10 taken", claim(["other"]), TARGET),
        ("next_wake(['mine'])", lambda: store.next_wake(["mine"]), TARGET),
        ("next_wake(['other'])", lambda: store.next_wake(["other"]), TARGET),
        ("list(status='failed')", lambda: store.list(status="failed"), TARGET),
        ("list(task='other')", lambda: store.list(task="other"), TARGET),
        (
            "list(status='pending', task='other')",
            lambda: store.list(status="pending", task="other"),
            TARGET,
        ),
        ("list(), newest first", lambda: store.list(), None),
        ("counts()", lambda: store.counts(), None),
        ("status_counts()", lambda: store.status_counts(), None),
        ("unknown_tasks(['mine'])", lambda: store.unknown_tasks(["mine"]), None),
        ("wake_stranded()", lambda: store.wake_stranded(), None),
        ("load(a 3-record log)", lambda: store.load(loaded), None),
        ("history(the same)", lambda: store.history(loaded), None),
    ]


def expected(label: str, answer: Any) -> str | None:
    """What is wrong with an answer, for the measures whose answer is known."""
    if label.startswith("claim(tasks=['mine']") and answer:
        return f"claimed {len(answer)} of task mine"
    if label.startswith("claim(tasks=['other']") and len(answer) != 10:
        return f"claimed {len(answer)}, not 10"
    if label.startswith("unknown_tasks") and answer != ["other"]:
        return f"answered {answer}"
    if label.startswith("load") and len(answer.records) != 3:
        return f"read {len(answer.records)} records"
    return None


def run_measures(store: Any, report: Report, runs: int, loaded: str) -> dict[str, float]:
    """Every measure's row; the median seconds by label."""
    found = {}
    for label, call, target in measures(store, loaded):
        seconds, answer = timed(call, runs)
        found[label] = seconds
        wrong = expected(label, answer)
        if wrong:
            report.row(label, wrong, "", "FAIL")
            continue
        goal = f"< {target * 1000:g} ms" if target else "reported"
        report.row(label, fmt_ms(seconds), goal, verdict(seconds < target) if target else "")
    return found


# -- the idle worker --------------------------------------------------------------------


@attrs.frozen
class IdleRun:
    """What an idle worker's statements and store calls took in a window."""

    window: float  # seconds
    statements: dict[str, float]  # seconds by statement name
    calls: dict[str, float]  # seconds by store method
    counts: dict[str, int]  # runs by statement name
    beat: float  # seconds of one beat_worker, measured apart
    heartbeat_interval: float


def run_idle(store: Any, seconds: float) -> IdleRun:
    """A real worker serving only ``mine``, timed for ``seconds`` after its start."""
    config = WorkerConfig()
    meter = Meter()
    worker = zart.Worker(store, REGISTRY, config, worker_id=f"bench-idle-{uuid.uuid4().hex[:6]}")
    thread = threading.Thread(target=worker.run, name="bench-idle", daemon=True)
    with instrument(store, meter):
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while not meter.calls.get("register_worker") and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(1.0)  # start-up and the first housekeeping stay out of the window
            meter.reset()
            started = time.perf_counter()
            time.sleep(seconds)
            window = time.perf_counter() - started
            statements, calls, counts = meter.snapshot()
            beat = timed(lambda: store.beat_worker(worker.worker_id, 0, config.lease), 5)[0]
        finally:
            worker.stop()
            thread.join(30)
    interval = config.heartbeat_interval.total_seconds()
    return IdleRun(window, statements, calls, counts, beat, interval)


def idle_worker(store: Any, report: Report, seconds: float, found: dict[str, float]) -> None:
    """The idle worker's database time a second: the statements of its turns
    in the window, plus its periodic statements at their rates."""
    run = run_idle(store, seconds)
    periodic = {  # name: (seconds of one, every so many seconds)
        "unknown_tasks": (found["unknown_tasks(['mine'])"], HOUSEKEEPING_INTERVAL),
        "wake_stranded": (found["wake_stranded()"], HOUSEKEEPING_INTERVAL),
        "beat_worker": (run.beat, run.heartbeat_interval),
    }
    steady = {k: v for k, v in run.statements.items() if k not in periodic}
    per_second = sum(steady.values()) / run.window + sum(t / n for t, n in periodic.values())
    in_calls = sum(v for k, v in run.calls.items() if k not in periodic) / run.window
    report.row(
        f"idle worker, tasks=['mine'], {run.window:.1f} s: database time / s",
        fmt_ms(per_second),
        f"< {TARGET_IDLE * 1000:g} ms",
        verdict(per_second < TARGET_IDLE),
    )
    turns = ", ".join(
        f"{k} {run.counts[k] / run.window:.1f}/s ({fmt_ms(v / run.window)}/s)"
        for k, v in sorted(steady.items())
    )
    every = ", ".join(f"{k} {fmt_ms(t)} every {n:g} s" for k, (t, n) in periodic.items())
    report.note(f"idle worker, statements in the window: {turns}; periodic: {every}")
    report.note(
        f"idle worker: {fmt_ms(in_calls)}/s in the store's methods other than wait() "
        "(statements plus what runs around them: transaction control, building rows)"
    )


# -- the stores -------------------------------------------------------------------------


def loaded_id(rows: int) -> str:
    """A row i % 10 = 1 near the middle of the table (it has a 3-record log)."""
    return f"e{(rows // 2000) * 1000 + 31:08d}"


def run_sqlite(rows: int, runs: int, idle: float) -> Report:
    from zart.stores.sqlite import SqliteStore

    report = Report("SQLite")
    folder = tempfile.mkdtemp(prefix="zart-scale-")
    path = os.path.join(folder, "zart.db")
    try:
        store = SqliteStore(path)
        store.migrate()
        now = store.now()
        store.close()
        progress(f"SQLite: building {rows:,} rows in {path}")
        started = time.perf_counter()
        build_sqlite(path, rows, now)
        report.note(
            f"built {rows:,} rows in {time.perf_counter() - started:.1f} s "
            f"({os.path.getsize(path) / 2**20:.0f} MiB); SQLite "
            f"{sqlite3.sqlite_version}, synchronous=FULL, WAL, ANALYZE run"
        )
        store = SqliteStore(path)
        try:
            measure_store(store, report, rows, runs, idle)
        finally:
            store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return report


def run_postgres(rows: int, runs: int, idle: float) -> Report:
    import psycopg

    report = Report("PostgreSQL")
    schema = f"zart_scale_{uuid.uuid4().hex[:10]}"
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    try:
        store = zart.connect(url, migrate=True)
        try:
            progress(f"PostgreSQL: building {rows:,} rows in schema {schema}")
            started = time.perf_counter()
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                build_postgres(conn, schema, rows, store.now())
                version = conn.execute("SHOW server_version").fetchone()
            report.note(
                f"built {rows:,} rows in {time.perf_counter() - started:.1f} s; server "
                f"{version[0] if version else '?'}, VACUUM ANALYZE run"
            )
            measure_store(store, report, rows, runs, idle)
        finally:
            store.close()
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return report


def measure_store(store: Any, report: Report, rows: int, runs: int, idle: float) -> None:
    load = os.getloadavg()[0]
    counts = store.counts()
    report.note("rows by status: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
    progress(f"{report.store}: measures, median of {runs} runs")
    found = run_measures(store, report, runs, loaded_id(rows))
    progress(f"{report.store}: an idle worker for {idle:g} s")
    idle_worker(store, report, idle, found)
    report.note(
        f"load average (1 min) {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end, "
        f"on {os.cpu_count()} CPUs"
    )


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rows", type=int, default=1_000_000, help="executions per store")
    parser.add_argument("--runs", type=int, default=9, help="timed runs per measure")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of the idle worker")
    args = parser.parse_args(argv)
    if args.rows < 2000:
        parser.error("--rows must be at least 2000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    reports = []
    if args.db in ("sqlite", "both"):
        reports.append(run_sqlite(args.rows, args.runs, args.idle))
        reports[-1].print()
    if args.db in ("postgres", "both"):
        reports.append(run_postgres(args.rows, args.runs, args.idle))
        reports[-1].print()
    print()
    code = 0
    for r in reports:
        text = "all targets met" if not r.misses else "missed: " + "; ".join(r.misses)
        if r.failures:
            text += " | FAILED: " + "; ".join(r.failures)
            code = 1
        print(f"{r.store}: {text}")
    return code


if __name__ == "__main__":
    sys.exit(main())
