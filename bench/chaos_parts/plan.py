"""What a chaos run does: the jobs (an execution each, with a script of what
an operator or another service does to it), and the outcome an undisturbed
run of the same jobs gives (``reference``), computed on a TestEnv.

Scripts:
- ``event-early``: the event is offered right after the schedule, before the
  wait is reached; ``event-during``: once the execution waits for it;
  ``event-late``: once its 1 s deadline has passed (so it is not received);
- ``cancel``: cancelled while it waits (with children open);
- ``admin-retry``: it fails for good; an operator retries it once;
- ``messages``: items sent on its "cart" topic one by one, then "checkout";
- none: nothing from outside.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import attrs

from zart import records as r
from zart.testing import TestEnv

from .app import registry

EVENT_TIMEOUT = 120.0  # seconds: far past any delay the chaos can cause
LATE_TIMEOUT = 1.0

# task, script, weight
MIX: list[tuple[str, str | None, int]] = [
    ("chaos-seq", None, 30),
    ("chaos-event", "event-early", 7),
    ("chaos-event", "event-during", 7),
    ("chaos-event", "event-late", 6),
    ("chaos-fanout", None, 3),
    ("chaos-parent", None, 10),
    ("chaos-business", None, 12),
    ("chaos-retried", "admin-retry", 10),
    ("chaos-cancelled", "cancel", 10),
    ("chaos-cart", "messages", 8),
]
CART_ITEMS = 4  # messages before "checkout"


@attrs.frozen(kw_only=True)
class Job:
    eid: str
    task: str
    input: Any
    script: str | None


@attrs.frozen(kw_only=True)
class Outcome:
    """How an execution ended, as the checks compare it: its status, output
    and error type, and its log (each record's name, status and result),
    except for a cancelled one, whose log depends on when it was cancelled."""

    status: str
    output: Any
    error_type: str | None
    log: tuple[tuple[str, str, Any], ...]

    @classmethod
    def of(cls, record: r.ExecutionRecord, history: list[r.StepRecord]) -> Outcome:
        error = record.error or {}
        kept = record.status == r.FAILED
        log = (
            ()
            if record.status == r.CANCELLED
            else tuple((s.name, s.status, s.result) for s in history)
        )
        return cls(
            status=record.status,
            output=record.output,
            error_type=error.get("type") if kept else None,
            log=log,
        )


def jobs(count: int, seed: int) -> list[Job]:
    rng = random.Random(seed)
    weights = [w for _, _, w in MIX]
    out = []
    for n in range(count):
        task, script, _ = rng.choices(MIX, weights)[0]
        value = rng.randrange(1_000_000)
        data: Any = value
        if task == "chaos-event":
            timeout = LATE_TIMEOUT if script == "event-late" else EVENT_TIMEOUT
            data = {"value": value, "timeout": timeout}
        out.append(Job(eid=f"job-{seed}-{n:05d}", task=task, input=data, script=script))
    return out


def payload(job: Job) -> dict[str, str]:
    return {"for": job.eid}


def messages(job: Job) -> list[str]:
    """What a ``messages`` job is sent, in order."""
    return [f"{job.eid}/item-{n}" for n in range(CART_ITEMS)] + ["checkout"]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The failures an undisturbed run injects are planned: not news."""
    logger = logging.getLogger("zart")
    level, logger.level = logger.level, logging.CRITICAL
    try:
        yield
    finally:
        logger.setLevel(level)


def reference(plan: list[Job]) -> dict[str, Outcome]:
    """The outcome of each job in an undisturbed run (no kills, no faults)."""
    with quiet(), TestEnv(registry) as env:
        start(env, plan)
        act_until_ended(env, plan)
        return {job.eid: Outcome.of(env.get(job.eid), env.history(job.eid)) for job in plan}


def start(env: TestEnv, plan: list[Job]) -> None:
    """Schedule the jobs, with what comes at once: early events, messages."""
    for job in plan:
        env.schedule(job.task, job.input, execution_id=job.eid)
        if job.script == "event-early":
            env.offer_event(job.eid, "go", payload(job))
        for message in messages(job) if job.script == "messages" else ():
            env.send(job.eid, "cart", message)


def act_until_ended(env: TestEnv, plan: list[Job]) -> None:
    """Run the scheduled jobs to their end: the virtual clock moves a second
    at a time, and each script acts as soon as its moment has come, as the
    harness's operator does."""
    waiting = [job for job in plan if job.script in ACTED]
    for _ in range(3_600):
        env.run_until_idle()
        waiting = [job for job in waiting if not _act(env, job)]
        counts = env.client.counts()
        if not any(n for status, n in counts.items() if status not in r.FINAL_STATUSES):
            return
        env.advance(timedelta(seconds=1))
    raise AssertionError("the jobs did not end within an hour of virtual time")


ACTED = frozenset({"event-during", "admin-retry", "cancel"})


def _act(env: TestEnv, job: Job) -> bool:
    """Do the job's script if its moment has come; True once done."""
    record = env.get(job.eid)
    if job.script == "event-during" and record.waiting_for == "event:go":
        env.offer_event(job.eid, "go", payload(job))
        return True
    if job.script == "admin-retry" and record.status == r.FAILED:
        env.retry(job.eid)
        return True
    if job.script == "cancel" and record.status == r.WAITING:
        env.cancel(job.eid)
        return True
    return False
