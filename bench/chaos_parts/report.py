"""``bench/RELIABILITY.md``: the last chaos run on each store, one section
per store, rewritten by ``bench/chaos.py --report``."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

from .checks import Report
from .run import Settings

PATH = Path(__file__).resolve().parents[1] / "RELIABILITY.md"
HEAD = """# Reliability: the last chaos runs

Written by `bench/chaos.py --report` (see its docstring and
`bench/chaos_parts/`): worker processes (threaded and asyncio) SIGKILLed
every 1-3 s under a mixed workload (sequential flaky steps, sleeps, events
before, during and after their deadline, fan-outs of 20 children, child
workflows, business errors, cancellations, operator retries, carts taking
messages until checkout, and recurring schedules ticking every 2 s), then
checked against an undisturbed run of the same jobs. On PostgreSQL with
database faults: the server restarted twice, held down 30 s, and the
workers' connections terminated every 5-15 s. Lost, duplicate records and
stuck must be 0; side effects re-run must stay within what the kills
explain (each kill can re-run at most the steps its worker had in flight).
"""


def write_report(report: Report, settings: Settings) -> None:
    text = PATH.read_text() if PATH.exists() else HEAD
    sections = dict(re.findall(r"(?ms)^## (\w+)\n(.*?)(?=^## |\Z)", text))
    sections[report.store] = _section(report, settings)
    body = "".join(f"## {store}\n{sections[store]}" for store in sorted(sections))
    PATH.write_text(HEAD + "\n" + body)


def _section(report: Report, settings: Settings) -> str:
    day = datetime.date.today().isoformat()
    faults = "with database faults" if settings.db_faults else "without database faults"
    return (
        f"\n{day}: {settings.executions} executions scheduled over {settings.spread:.0f} s, "
        f"{settings.workers} workers, {faults}.\n\n```\n" + "\n".join(report.lines()) + "\n```\n\n"
    )
