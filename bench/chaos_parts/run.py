"""A chaos run: the jobs scheduled over the run's length while a random
worker is SIGKILLed every 1-3 s (and, on PostgreSQL, the server restarted,
the workers' connections terminated and an outage held), the operator's
scripts acted out as the executions reach their moments, then everything
left to finish and checked (``checks``)."""

from __future__ import annotations

import logging
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TypeVar

import attrs

import zart

from . import audit, checks, plan, ticks
from .app import registry
from .cluster import Cluster, PostgresFaults, every
from .databases import database
from .operator import Operator

T = TypeVar("T")
log = logging.getLogger("chaos")


@attrs.frozen(kw_only=True)
class Settings:
    store: str = "sqlite"
    executions: int = 60
    spread: float = 0.0  # seconds over which the jobs are scheduled
    workers: int = 3
    lease: float = 2.0
    seed: int = 1
    kills: bool = True
    db_faults: bool = False  # PostgreSQL only: restarts, terminations, an outage
    restarts: int = 1
    outage: float = 5.0  # seconds; 0: none
    deadline: float = 600.0  # seconds for everything to end once scheduled
    schedules: int = 2  # recurring schedules ticking every 2 s meanwhile


def run(settings: Settings) -> checks.Report:
    jobs = plan.jobs(settings.executions, settings.seed)
    expected = plan.reference(jobs)
    with tempfile.TemporaryDirectory(prefix="zart-chaos-") as tmp:
        folder = Path(tmp)
        with database(settings.store, folder) as (url, faults):
            report = _run(settings, jobs, expected, url, faults, folder)
        if not report.ok:  # what the workers said goes with the verdict
            kept = Path(tempfile.mkdtemp(prefix="zart-chaos-logs-"))
            for log in folder.glob("worker-*.log"):
                shutil.copy(log, kept / log.name)
            report.logs = str(kept)
        return report


def _run(
    settings: Settings,
    jobs: list[plan.Job],
    expected: dict[str, plan.Outcome],
    url: str,
    faults: PostgresFaults | None,
    folder: Path,
) -> checks.Report:
    audit_path = str(folder / "audit.db")
    audit.create(audit_path)
    cluster = Cluster(url, settings.workers, folder, audit_path, settings.lease)
    store = zart.connect(url)
    client = zart.Client(store, registry)
    stop = threading.Event()
    started = time.monotonic()
    cluster.start()
    threads = []
    if settings.kills:
        rng = random.Random(settings.seed)
        threads.append(every(1.0, 3.0, lambda: cluster.kill_one(rng), stop, settings.seed))
    if settings.db_faults and faults is not None:
        threads.append(_fault_thread(settings, faults, stop))
    operator = Operator(client, jobs, settings.seed)
    try:
        ticks.create(client, settings.schedules)
        operator.schedule_all(settings.spread)
        ended = operator.act_until_done(settings.deadline)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        codes = cluster.stop()  # no worker outlives a harness that failed
    took = time.monotonic() - started
    report = checks.check(
        client, jobs, expected, audit_path, cluster, faults, ended=ended, took=took
    )
    report.worker_exit_codes = codes
    store.close()
    return report


def _fault_thread(
    settings: Settings, faults: PostgresFaults, stop: threading.Event
) -> threading.Thread:
    """Terminations every 5-15 s; the restarts and the outage spread over
    the scheduling window."""
    window = max(settings.spread, 20.0)
    plan_ = [
        (window * (i + 1) / (settings.restarts + 2), faults.restart)
        for i in range(settings.restarts)
    ]
    if settings.outage:
        plan_.append(
            (
                window * (settings.restarts + 1) / (settings.restarts + 2),
                lambda: faults.outage(settings.outage),
            )
        )
    plan_.sort(key=lambda item: item[0])

    def loop() -> None:
        start, rng = time.monotonic(), random.Random(settings.seed)
        next_kill = rng.uniform(5, 15)
        while not stop.is_set():
            now = time.monotonic() - start
            if plan_ and now >= plan_[0][0]:
                plan_.pop(0)[1]()
            elif now >= next_kill:
                faults.terminate_backends()
                next_kill = now + rng.uniform(5, 15)
            stop.wait(0.2)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread
