"""A chaos run: the jobs scheduled over the run's length while a random
worker is SIGKILLed every 1-3 s (and, on PostgreSQL, the server restarted,
the workers' connections terminated and an outage held), the operator's
scripts acted out as the executions reach their moments, then everything
left to finish and checked (``checks``)."""

from __future__ import annotations

import contextlib
import logging
import random
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import attrs

import zart
from zart import records as r

from . import audit, checks, plan
from .app import registry
from .cluster import Cluster, PostgresFaults, every
from .databases import database

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


def run(settings: Settings) -> checks.Report:
    jobs = plan.jobs(settings.executions, settings.seed)
    quiet = logging.getLogger("zart")
    level, quiet.level = quiet.level, logging.CRITICAL  # the reference's failures are planned
    try:
        expected = plan.reference(jobs)
    finally:
        quiet.setLevel(level)
    with tempfile.TemporaryDirectory(prefix="zart-chaos-") as tmp:
        folder = Path(tmp)
        with database(settings.store, folder) as (url, faults):
            return _run(settings, jobs, expected, url, faults, folder)


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
        operator.schedule_all(settings.spread)
        ended = operator.act_until_done(settings.deadline)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    codes = cluster.stop()
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


class Operator:
    """What the world does to the jobs: schedules them, offers their events,
    cancels and retries them, each at its moment, whatever the database is
    going through (a call that fails is tried again)."""

    def __init__(self, client: zart.Client, jobs: list[plan.Job], seed: int) -> None:
        self.client = client
        self.jobs = jobs
        self.rng = random.Random(seed + 1)
        self.pending: dict[str, tuple[plan.Job, float]] = {}

    def schedule_all(self, spread: float) -> None:
        start = time.monotonic()
        for n, job in enumerate(self.jobs):
            due = start + spread * n / max(len(self.jobs), 1)
            while time.monotonic() < due:
                self.act()
                time.sleep(0.05)
            self._schedule(job)

    def _schedule(self, job: plan.Job) -> None:
        with contextlib.suppress(zart.ExecutionAlreadyExists):  # a retry after a lost answer
            patient(lambda: self.client.schedule(job.task, job.input, execution_id=job.eid))
        if job.script == "event-early":
            patient(lambda: self.client.offer_event(job.eid, "go", plan.payload(job)))
        elif job.script is not None:
            self.pending[job.eid] = (job, time.monotonic() + self.rng.uniform(0.5, 3.0))

    def act_until_done(self, deadline: float) -> bool:
        """Act until every execution has ended; False past ``deadline`` s."""
        until = time.monotonic() + deadline
        while time.monotonic() < until:
            self.act()
            if not self.pending and not patient(self.open_count):
                return True
            time.sleep(0.1)
        return False

    def open_count(self) -> int:
        counts = self.client.counts()
        return sum(n for status, n in counts.items() if status not in r.FINAL_STATUSES)

    def act(self) -> None:
        for eid, (job, not_before) in list(self.pending.items()):
            if time.monotonic() >= not_before and patient(lambda: self._act(job)):
                del self.pending[eid]

    def _act(self, job: plan.Job) -> bool:
        record = self.client.get(job.eid)
        if job.script == "cancel":
            self.client.cancel(job.eid)
            return True
        if job.script == "admin-retry" and record.status == r.FAILED:
            self.client.retry(job.eid)
            return True
        if job.script == "event-during" and record.waiting_for == "go":
            self.client.offer_event(job.eid, "go", plan.payload(job))
            return True
        if job.script == "event-late" and _timed_out(self.client, job.eid, record):
            with contextlib.suppress(zart.EventRejected):  # it has ended meanwhile
                self.client.offer_event(job.eid, "go", plan.payload(job))
            return True
        return False


def _timed_out(client: zart.Client, eid: str, record: r.ExecutionRecord) -> bool:
    if record.is_final:
        return True
    wait = next((s for s in client.history(eid) if s.name == "go"), None)
    return wait is not None and wait.status == r.R_TIMED_OUT


def patient(call: Callable[[], T], seconds: float = 120.0) -> T:
    """``call()``, tried again while the store cannot be reached."""
    until = time.monotonic() + seconds
    while True:
        try:
            return call()
        except zart.StoreError:
            if time.monotonic() > until:
                raise
            time.sleep(0.5)
