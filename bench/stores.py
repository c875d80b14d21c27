"""Store benchmarks: what a durable step, a workflow and a wake-up cost.

    python bench/stores.py [--db sqlite|postgres|mysql|both|all] [--quick] [--profile]
                           [--strict] [--only LETTERS]

Every figure is compared with a baseline measured in the same run on the same
database: a fresh SQLite file in a temporary directory opened with the store's
pragmas (WAL, synchronous as the store sets it), a fresh PostgreSQL schema
or a fresh MySQL database, dropped at the end. ``both`` is SQLite and
PostgreSQL; ``all`` adds MySQL. The baseline is the cheapest durable write there
is: one small JSON row inserted and committed per transaction.

Sections, one module each in bench/store_sections/ (bench/README.md says
what each one proves):
  (a) a_baseline: baseline commits/s, one connection and eight
  (b) b_steps: per-step overhead of a 1,000-step workflow driven by ``Host``
      in-process, and ``Client.run`` of 0- and 3-step workflows
  (c) c_throughput: 2,000 three-step workflows through ``zart worker``
      subprocesses (one, then two)
  (d) d_latency: wake-up latency of an idle worker in another process, and
      the CPU an idle worker uses
  (e) e_fanout: 1,000 step children against 1,000 independent executions
  (f) f_resume: resuming a 10,000-step workflow after a crash at its last step

``--quick`` shrinks every size for a smoke run. Missed targets are reported
as MISS; the exit status is 1 only for broken invariants (or for misses with
``--strict``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import zart  # noqa: E402
from bench import _common as app  # noqa: E402
from bench.store_sections import (  # noqa: E402
    a_baseline,
    b_steps,
    c_throughput,
    d_latency,
    e_fanout,
    f_resume,
)
from bench.store_sections.databases import (  # noqa: E402
    Database,
    MySQLDatabase,
    PostgresDatabase,
    SqliteDatabase,
)
from bench.store_sections.harness import (  # noqa: E402
    FULL,
    MYSQL_URL,
    PG_URL,
    QUICK,
    Context,
    Report,
    Sizes,
    WorkerFailed,
)

SECTIONS: dict[str, Callable[[Context], None]] = {
    "a": a_baseline.run,
    "b": b_steps.run,
    "c": c_throughput.run,
    "d": d_latency.run,
    "e": e_fanout.run,
    "f": f_resume.run,
}


def run_sections(db: Database, sizes: Sizes, report: Report, profile: bool, only: str) -> None:
    store = db.open_store()
    try:
        report.note(db.describe())
        cx = Context(db, store, zart.Client(store, app.registry), sizes, report, profile)
        load = os.getloadavg()[0]
        for letter, section in SECTIONS.items():
            # (a) always runs: every other section is a ratio to its baseline.
            if letter == "a" or letter in only:
                section(cx)
        report.note(
            f"load average (1 min) {load:.2f} at the start, {os.getloadavg()[0]:.2f} at "
            f"the end, on {os.cpu_count()} CPUs (other processes share this machine)"
        )
    finally:
        store.close()


def run_store(db: Database, sizes: Sizes, profile: bool, only: str) -> Report:
    report = Report(db.name)
    print(f"\n## {db.name}: {db.url}", file=sys.stderr, flush=True)
    try:
        run_sections(db, sizes, report, profile, only)
    except Exception as exc:
        traceback.print_exc()
        if isinstance(exc, WorkerFailed):
            print(exc.log[-4000:], file=sys.stderr)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        report.row("run aborted", f"{type(exc).__name__}: {first}"[:110], "", "FAIL")
    finally:
        db.cleanup()
    report.print()
    return report


def run_postgres(sizes: Sizes, profile: bool, only: str) -> Report:
    """A shared server may be restarted under us (durability tests do that):
    such a run measured nothing, so it is run again, up to three times."""
    for attempt in range(1, 4):
        started_at = PostgresDatabase.server_start(PG_URL)
        report = run_store(PostgresDatabase(PG_URL), sizes, profile, only)
        if PostgresDatabase.server_start(PG_URL) == started_at:
            break
        if attempt == 3:
            report.failures.append("the server restarted during every attempt")
            break
        print(f"\nPostgreSQL restarted during attempt {attempt}; running again")
    return report


def summary(reports: Sequence[Report], strict: bool) -> int:
    """One line per store; the exit status."""
    code = 0
    print()
    for r in reports:
        text = "all targets met" if not r.misses else "missed: " + "; ".join(r.misses)
        if r.failures:
            text += " | FAILED: " + "; ".join(r.failures)
            code = 1
        if r.misses and strict:
            code = 1
        print(f"{r.store}: {text}")
    return code


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--db", choices=("sqlite", "postgres", "mysql", "both", "all"), default="both"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--profile", action="store_true", help="cProfile the step overhead run")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--only", default="abcdef", metavar="LETTERS", help="sections, e.g. 'bc' ((a) always)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    reports: list[Report] = []
    if args.db in ("sqlite", "both", "all"):
        reports.append(run_store(SqliteDatabase(), sizes, args.profile, args.only))
    if args.db in ("postgres", "both", "all"):
        problem = PostgresDatabase.reachable(PG_URL)
        if problem is None:
            reports.append(run_postgres(sizes, args.profile, args.only))
        elif args.db == "postgres":
            print(f"PostgreSQL unreachable at {PG_URL}: {problem}", file=sys.stderr)
            return 2
        else:
            print(f"\n=== PostgreSQL: SKIPPED, unreachable at {PG_URL}: {problem} ===")
    if args.db in ("mysql", "all"):
        problem = MySQLDatabase.reachable(MYSQL_URL)
        if problem is None:
            reports.append(run_store(MySQLDatabase(MYSQL_URL), sizes, args.profile, args.only))
        elif args.db == "mysql":
            print(f"MySQL unreachable at {MYSQL_URL}: {problem}", file=sys.stderr)
            return 2
        else:
            print(f"\n=== MySQL: SKIPPED, unreachable at {MYSQL_URL}: {problem} ===")
    code = summary(reports, args.strict)
    print(f"({'quick' if args.quick else 'full'} run, {time.perf_counter() - started:.1f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
