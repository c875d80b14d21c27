"""The chaos harness: worker processes SIGKILLed every 1-3 s (and, on
PostgreSQL, the server restarted, connections terminated, an outage held)
under a mixed workload, then checked: nothing lost, nothing recorded twice,
nothing stuck, no child orphaned, no side effect re-run more than the kills
explain.

    .venv/bin/python bench/chaos.py [--db sqlite|postgres|mysql] [--long]
        [--executions N] [--spread S] [--workers N] [--db-faults] [--report]

Short mode (the default, run by tests/chaos/): 60 executions scheduled at
once. Long mode (--long, by hand): 10,000 executions scheduled over 10
minutes, with --db-faults on PostgreSQL (two restarts, terminations, a 30 s
outage). --report writes the run into bench/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.chaos_parts.report import write_report
from bench.chaos_parts.run import Settings, run


def settings(argv: list[str]) -> tuple[Settings, bool]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite", choices=("sqlite", "postgres", "mysql"))
    parser.add_argument("--long", action="store_true", help="10,000 executions over 10 minutes")
    parser.add_argument("--executions", type=int)
    parser.add_argument("--spread", type=float, help="seconds over which jobs are scheduled")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db-faults", action="store_true", help="PostgreSQL: restarts, outage")
    parser.add_argument("--report", action="store_true", help="write bench/RELIABILITY.md")
    args = parser.parse_args(argv)
    long = args.long
    chosen = Settings(
        store=args.db,
        executions=args.executions or (10_000 if long else 60),
        spread=args.spread if args.spread is not None else (600.0 if long else 0.0),
        workers=args.workers,
        seed=args.seed,
        db_faults=args.db_faults,
        restarts=2 if long else 1,
        outage=30.0 if long else 5.0,
        deadline=1800.0 if long else 300.0,
    )
    return chosen, args.report


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    chosen, report_it = settings(argv)
    report = run(chosen)
    print("\n".join(report.lines()))
    if report.logs:
        print(f"worker logs kept in   {report.logs}")
    if report_it:
        write_report(report, chosen)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
