"""What a chaos run must show when it ends, and the report it prints:
- every job ended as its undisturbed run did (status, output, error type):
  none lost, no event lost;
- nothing stuck: no execution of the store is left unfinished;
- no child orphaned: every child's parent exists, and the child ended;
- each step recorded once: every log holds each name once, and the job's
  log holds what its undisturbed run's does (names, statuses, results);
- side effects re-run no more often than the kills can explain: a step body
  that ran to its end more than once did so because its worker (or its
  connection) died before its result was committed, at most once per kill
  for each step a worker had in flight;
- the workers logged each outage once, not a traceback per connection.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import attrs

import zart
from zart import records as r

from . import audit, plan, ticks
from .cluster import Cluster, PostgresFaults

IN_FLIGHT = 4  # steps a worker runs at once (the workers' concurrency)
OUTAGE_LINE = re.compile(r"the store failed")
# What a worker must not print once per pooled connection in an outage (a
# traceback ends in its exception's line: one of the driver's).
CONNECTION_NOISE = re.compile(
    r"discarding closed connection|^(?:psycopg|MySQLdb)\S*(?:Error|Exception)\b", re.M
)


@attrs.define
class Report:
    store: str = ""
    executions: int = 0  # jobs scheduled
    stored: int = 0  # executions in the store, children included
    kills: int = 0
    restarts: int = 0
    terminated: int = 0
    outages: int = 0
    lost: list[str] = attrs.Factory(list)
    events_lost: list[str] = attrs.Factory(list)
    stuck: list[str] = attrs.Factory(list)
    orphans: list[str] = attrs.Factory(list)
    duplicates: list[str] = attrs.Factory(list)
    ticks: int = 0  # executions the recurring schedules started
    effects_rerun: int = 0
    rerun_bound: int = 0
    outage_lines: int = 0
    connection_noise: int = 0  # lines a worker printed per connection in outages
    took: float = 0.0
    ended: bool = True
    worker_exit_codes: list[int] = attrs.Factory(list)
    logs: str | None = None  # where a failed run's worker logs were kept

    @property
    def ok(self) -> bool:
        return (
            self.ended
            and not (self.lost or self.events_lost or self.stuck or self.orphans)
            and not self.duplicates
            and self.effects_rerun <= self.rerun_bound
            and not self.connection_noise
        )

    def lines(self) -> list[str]:
        def few(items: list[str]) -> str:
            return f"{len(items)}" + (f" ({', '.join(items[:5])}...)" if items else "")

        return [
            f"store                 {self.store}",
            f"executions            {self.executions} jobs, {self.ticks} schedule ticks, "
            f"{self.stored} in the store",
            f"kills                 {self.kills} SIGKILLed workers",
            f"database faults       {self.restarts} restarts, {self.outages} outages, "
            f"{self.terminated} connections terminated",
            f"lost                  {few(self.lost)}",
            f"events lost           {few(self.events_lost)}",
            f"duplicate records     {few(self.duplicates)}",
            f"stuck                 {few(self.stuck)}",
            f"orphaned children     {few(self.orphans)}",
            f"side effects re-run   {self.effects_rerun} "
            f"(kills and faults explain up to {self.rerun_bound})",
            f"outage log lines      {self.outage_lines} "
            f"({self.connection_noise} per-connection lines)",
            f"time taken            {self.took:.1f} s",
            f"verdict               {'PASS' if self.ok else 'FAIL'}",
        ]


def check(
    client: zart.Client,
    jobs: list[plan.Job],
    expected: dict[str, plan.Outcome],
    audit_path: str,
    cluster: Cluster,
    faults: PostgresFaults | None,
    *,
    ended: bool,
    took: float,
) -> Report:
    report = Report(store=client.store.url.split(":", 1)[0], executions=len(jobs), took=took)
    report.ended, report.kills = ended, cluster.kills
    if faults is not None:
        report.restarts, report.outages = faults.restarts, faults.outages
        report.terminated = faults.terminated
    everything = _all_executions(client)
    report.stored = len(everything)
    _outcomes(client, jobs, expected, report)
    report.ticks, wrong_ticks = ticks.check(everything)
    report.lost += wrong_ticks
    _structure(client, everything, report)
    _effects(client, everything, audit_path, report, len(cluster.slots))
    logs = cluster.log_text()
    report.outage_lines = len(OUTAGE_LINE.findall(logs))
    report.connection_noise = len(CONNECTION_NOISE.findall(logs))
    return report


def _all_executions(client: zart.Client) -> dict[str, r.ExecutionRecord]:
    found: dict[str, r.ExecutionRecord] = {}
    for status in r.STATUSES:
        offset = 0
        while page := client.list(status=status, limit=1000, offset=offset):
            found.update((rec.id, rec) for rec in page)
            offset += len(page)
    return found


def _outcomes(
    client: zart.Client, jobs: list[plan.Job], expected: dict[str, plan.Outcome], report: Report
) -> None:
    for job in jobs:
        got = plan.Outcome.of(client.get(job.eid), client.history(job.eid))
        if got != expected[job.eid]:
            report.lost.append(f"{job.eid}: {got} != {expected[job.eid]}")
        if job.script in ("event-early", "event-during") and (
            not isinstance(got.output, list) or got.output[1] != plan.payload(job)
        ):
            report.events_lost.append(job.eid)


def _structure(
    client: zart.Client, everything: dict[str, r.ExecutionRecord], report: Report
) -> None:
    for eid, rec in everything.items():
        if not rec.is_final:
            report.stuck.append(f"{eid} ({rec.status})")
        if rec.parent_id is not None and rec.parent_id not in everything:
            report.orphans.append(f"{eid} (no parent {rec.parent_id})")
        elif rec.parent_id is not None and not rec.is_final:
            report.orphans.append(f"{eid} (open under {rec.parent_id})")
        names = Counter(step.name for step in client.history(eid))
        report.duplicates += [f"{eid}/{name}" for name, n in names.items() if n > 1]


def _effects(
    client: zart.Client,
    everything: dict[str, r.ExecutionRecord],
    audit_path: str,
    report: Report,
    workers: int,
) -> None:
    """Re-runs of step bodies, and whether every recorded step ran."""
    effects = audit.effects(audit_path)
    report.effects_rerun = sum(n - 1 for n in effects.values() if n > 1)
    faults = report.restarts + report.outages + _termination_rounds(report)
    report.rerun_bound = (report.kills + faults * workers) * IN_FLIGHT
    for eid in everything:
        for step in client.history(eid):
            ran = effects[(eid, step.name)] > 0 or _unaudited(step)
            if step.kind == r.K_STEP and step.status == r.R_COMPLETED and not ran:
                report.duplicates.append(f"{eid}/{step.name}: recorded, never ran")


def _termination_rounds(report: Report) -> int:
    return report.terminated  # each terminated connection can fail one commit


def _unaudited(step: Any) -> bool:
    """Steps that record no side effect of their own (``zart.call`` ones)."""
    return not (step.name.startswith(("work-", "child-")) or step.name in ("charge", "fragile"))
