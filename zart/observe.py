"""What a host tells of the work it does, to whoever watches it.

Every host reports to its observers: the executions it claimed, each step it
ran and how long it took, and each commit it wrote. ``LogReport`` (every
host has one) tells an operator through the ``zart`` logger; ``zart.metrics``
turns the same reports into Prometheus metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from . import records as r
from .decisions import RunStep, StepOutcome
from .records import Claimed, Commit, ExecutionRecord

log = logging.getLogger("zart")


class Observer(Protocol):
    """What a host reports. Each call happens in the host's own thread, after
    the fact; an observer must not raise."""

    def claimed(self, items: Sequence[Claimed], now: datetime) -> None: ...

    def stepped(
        self, record: ExecutionRecord, decision: RunStep, outcome: StepOutcome, seconds: float
    ) -> None: ...

    def committed(self, record: ExecutionRecord, commit: Commit) -> None: ...


class LogReport:
    """Tells an operator what commits mean: failed attempts (WARNING), retry
    timers (INFO), executions failed (ERROR, with the traceback), stalled
    (ERROR) or retried (WARNING)."""

    def claimed(self, items: Sequence[Claimed], now: datetime) -> None:
        for item in items:
            log.debug("claimed %s (%s)", item.record.id, item.record.task_name)

    def stepped(
        self, record: ExecutionRecord, decision: RunStep, outcome: StepOutcome, seconds: float
    ) -> None:
        return None  # the commit that records the outcome tells the rest

    def committed(self, record: ExecutionRecord, commit: Commit) -> None:
        execution_id = record.id
        for write in commit.records:
            if write.kind == r.K_STEP and write.status in (r.R_RETRYING, r.R_FAILED):
                _report_attempt(execution_id, write)
        outcome = commit.outcome
        if isinstance(outcome, r.Fail):
            error = outcome.error
            trace = error.get("traceback") or ""
            log.error(
                "execution %s failed: %s: %s%s",
                execution_id,
                error.get("type"),
                error.get("message"),
                f"\n{trace}" if trace else "",
            )
        elif isinstance(outcome, r.RetryExecution):
            log.warning(
                "execution %s attempt failed (%s: %s); retrying at %s",
                execution_id,
                outcome.error.get("type"),
                outcome.error.get("message"),
                outcome.wake_at.isoformat(),
            )
        elif isinstance(outcome, r.Stall):
            log.error("execution %s stalled: %s", execution_id, outcome.error.get("message"))


def _report_attempt(execution_id: str, write: r.RecordWrite) -> None:
    error: dict[str, Any] = write.error or {}
    last = write.errors[-1] if write.errors else None
    kind = last.type if last is not None else error.get("error_type", error.get("type"))
    message = last.message if last is not None else error.get("message")
    log.warning(
        "execution %s: step %r attempt %d failed: %s: %s",
        execution_id,
        write.name,
        write.attempts,
        kind,
        message,
    )
    if write.status == r.R_RETRYING and write.wake_at is not None:
        log.info(
            "execution %s: step %r retries at %s",
            execution_id,
            write.name,
            write.wake_at.isoformat(),
        )


LOG_REPORT = LogReport()
