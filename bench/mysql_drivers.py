"""The MySQL store on each candidate driver: section (b)'s workload.

    python bench/mysql_drivers.py [--steps 1000] [--reps 5]

The MySQL store is written against mysqlclient (``MySQLdb``); PyMySQL offers
the same DB-API surface (connect arguments, client flags, ``mogrify``,
``nextset``, error numbers), so the store runs on it unchanged once the
driver module is swapped (and the idle-connection check, which needs the
socket, is pointed at PyMySQL's). For each driver: one workflow of N
sequential no-op steps driven by ``Host`` in this process, each run paired
with a baseline of N single-row INSERT+COMMIT through the same driver, run
just before it; the median time per step, the ratio, and this thread's CPU
per step. bench/README.md records the figures and the choice they made.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import zart  # noqa: E402
from bench import _common as app  # noqa: E402
from bench.store_sections.b_steps import drive  # noqa: E402
from bench.store_sections.databases import DOC, MySQLDatabase  # noqa: E402
from bench.store_sections.harness import MYSQL_URL  # noqa: E402
from zart.serde import dumps  # noqa: E402
from zart.stores.mysql import connection  # noqa: E402


def _pymysql_stale(conn: Any) -> bool:
    import select

    try:
        poller = select.poll()
        poller.register(conn._sock.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return True


@contextmanager
def driven_by(name: str) -> Iterator[Any]:
    """The store's driver module swapped for ``name``'s while inside."""
    saved = connection.driver, connection.stale
    if name == "pymysql":
        import pymysql

        connection.driver, connection.stale = pymysql, _pymysql_stale
    try:
        yield connection.driver
    finally:
        connection.driver, connection.stale = saved


def baseline(driver: Any, db: MySQLDatabase, n: int) -> float:
    """Seconds per single-row INSERT+COMMIT (autocommit) through ``driver``."""
    target, _ = connection.parse_url(db.url)
    conn = driver.connect(**target.options(), charset="utf8mb4", autocommit=True)
    try:
        cursor = conn.cursor()
        doc = dumps(DOC)
        for _ in range(10):
            cursor.execute("INSERT INTO bench_baseline (doc) VALUES (%s)", (doc,))
        start = time.perf_counter()
        for _ in range(n):
            cursor.execute("INSERT INTO bench_baseline (doc) VALUES (%s)", (doc,))
        return (time.perf_counter() - start) / n
    finally:
        conn.close()


def measure(name: str, steps: int, reps: int) -> dict[str, float]:
    db = MySQLDatabase(MYSQL_URL)
    try:
        with driven_by(name) as driver:
            store = db.open_store()
            client = zart.Client(store, app.registry)
            times, bases, cpus = [], [], []
            drive(store, client.schedule(app.chain, 20))  # warm: pool, statements
            for _ in range(reps):
                bases.append(baseline(driver, db, steps))
                eid = client.schedule(app.chain, steps)
                start, cpu = time.perf_counter(), time.thread_time()
                drive(store, eid)
                times.append((time.perf_counter() - start) / steps)
                cpus.append((time.thread_time() - cpu) / steps)
            store.close()
    finally:
        db.cleanup()
    ratios = [t / b for t, b in zip(times, bases, strict=True)]
    return {
        "step_ms": statistics.median(times) * 1000,
        "base_ms": statistics.median(bases) * 1000,
        "ratio": statistics.median(ratios),
        "cpu_ms": statistics.median(cpus) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"{args.reps}x {args.steps} steps per driver, each run against its own baseline")
    for name in ("mysqlclient", "pymysql"):
        got = measure(name, args.steps, args.reps)
        print(
            f"{name:12s} {got['step_ms']:.3f} ms/step vs {got['base_ms']:.3f} ms/commit = "
            f"{got['ratio']:.2f}x (median of runs); CPU {got['cpu_ms']:.3f} ms/step"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
