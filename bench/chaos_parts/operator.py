"""The world around the workers in a chaos run: it schedules the jobs,
acts out their scripts as the executions reach their moments (events,
messages, cancels, operator retries), and keeps the recurring schedules
going until the jobs are done, whatever the database is going through (a
call that fails is tried again)."""

from __future__ import annotations

import contextlib
import functools
import random
import time
from collections.abc import Callable
from typing import TypeVar

import zart
from zart import records as r

from . import plan, ticks

T = TypeVar("T")


class Operator:
    """What the world does to the jobs: schedules them, offers their events,
    cancels and retries them, each at its moment, whatever the database is
    going through (a call that fails is tried again)."""

    def __init__(self, client: zart.Client, jobs: list[plan.Job], seed: int) -> None:
        self.client = client
        self.jobs = jobs
        self.rng = random.Random(seed + 1)
        self.pending: dict[str, tuple[plan.Job, float]] = {}
        self.outbox: dict[str, list[str]] = {}  # messages still to send, by job
        self.retried: set[str] = set()  # jobs whose retry was asked for

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
        elif job.script == "messages":
            self.outbox[job.eid] = plan.messages(job)
            self.pending[job.eid] = (job, time.monotonic())
        elif job.script is not None:
            self.pending[job.eid] = (job, time.monotonic() + self.rng.uniform(0.5, 3.0))

    def act_until_done(self, deadline: float) -> bool:
        """Act until every job has ended, then delete the recurring
        schedules and wait for their last ticks; False past ``deadline`` s."""
        until = time.monotonic() + deadline
        schedules_left = True
        while time.monotonic() < until:
            self.act()
            if not self.pending and schedules_left and not patient(self.open_jobs):
                patient(lambda: ticks.delete(self.client))
                schedules_left = False
            if not schedules_left and not patient(self.open_count):
                return True
            time.sleep(0.1)
        return False

    def open_count(self) -> int:
        counts = self.client.counts()
        return sum(n for status, n in counts.items() if status not in r.FINAL_STATUSES)

    def open_jobs(self) -> int:
        """Unfinished executions other than the schedules' ticks."""
        return sum(
            1
            for status in r.STATUSES
            if status not in r.FINAL_STATUSES
            for rec in self.client.list(status=status, limit=10_000)
            if not ticks.is_tick(rec.id)
        )

    def act(self) -> None:
        for eid, (job, not_before) in list(self.pending.items()):
            if time.monotonic() >= not_before and patient(functools.partial(self._act, job)):
                del self.pending[eid]

    def _act(self, job: plan.Job) -> bool:
        if job.script == "messages":
            return self._send_next(job)
        record = self.client.get(job.eid)
        if job.script == "cancel":
            self.client.cancel(job.eid)
            return True
        if job.script == "admin-retry" and record.status == r.FAILED:
            self.retried.add(job.eid)
            self.client.retry(job.eid)
            return True
        if job.script == "admin-retry" and job.eid in self.retried:
            return True  # the retry got there, its answer did not
        if job.script == "event-during" and record.waiting_for == "event:go":
            self.client.offer_event(job.eid, "go", plan.payload(job))
            return True
        if job.script == "event-late" and _timed_out(self.client, job.eid, record):
            with contextlib.suppress(zart.EventRejected):  # it has ended meanwhile
                self.client.offer_event(job.eid, "go", plan.payload(job))
            return True
        return False

    def _send_next(self, job: plan.Job) -> bool:
        """Send the job's next message, the next one a random while later."""
        queue = self.outbox[job.eid]
        # Keyed by its place in the cart: a send tried again after a lost
        # answer (a terminated connection) stores nothing new.
        key = f"{job.eid}:{len(plan.messages(job)) - len(queue)}"
        self.client.send(job.eid, "cart", queue[0], idempotency_key=key)
        queue.pop(0)
        self.pending[job.eid] = (job, time.monotonic() + self.rng.uniform(0.0, 1.0))
        return not queue


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
