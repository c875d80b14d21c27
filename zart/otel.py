"""OpenTelemetry traces of zart runs (``pip install 'zart-durable[otel]'``).

``Tracing()`` is a host observer: pass it to a worker
(``zart.Worker(store, registry, observers=[Tracing()])``). It records

- one span per run of an execution by a host (``zart.run <task>``): from
  its claim until the commit that suspends, ends or retries it, with the
  execution id, task, run number, attempt and outcome as attributes;
- one span per step attempt (``zart.step <step>``) under it, with the step,
  its attempt and outcome (``completed``, ``error``, ``timed_out``).

Creating ``Tracing`` also makes ``Client.schedule`` store the caller's
trace context with each execution it creates (W3C ``traceparent``), and
children take their parent run's: a run joins its caller's trace even
when it runs hours later on another machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, Status, StatusCode

from . import records as r
from . import tracecontext
from .decisions import RunStep, StepOutcome
from .records import Claimed, Commit, ExecutionRecord

_OUTCOMES = {
    r.Suspend: "suspended",
    r.Complete: "completed",
    r.Fail: "failed",
    r.RetryExecution: "retrying",
    r.Stall: "stalled",
    r.ContinueAsNew: "continued",
}


class Tracing:
    """The host observer that turns runs and step attempts into spans."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self.tracer = trace.get_tracer("zart", tracer_provider=tracer_provider)
        self._runs: dict[str, Span] = {}
        self._lock = threading.Lock()
        tracecontext.install(_capture, self._of_run)

    # -- the observer ------------------------------------------------------
    def claimed(self, items: Sequence[Claimed], now: datetime) -> None:
        for item in items:
            record = item.record
            parent = propagate.extract(record.trace or {})
            span = self.tracer.start_span(
                f"zart.run {record.task_name}",
                context=parent,
                attributes={
                    "zart.execution_id": record.id,
                    "zart.task": record.task_name,
                    "zart.run": record.run,
                    "zart.attempt": record.attempt,
                },
            )
            with self._lock:
                stale = self._runs.pop(record.id, None)  # a run whose lease was lost
                self._runs[record.id] = span
            if stale is not None:
                stale.set_attribute("zart.outcome", "lease lost")
                stale.end()

    def stepped(
        self, record: ExecutionRecord, decision: RunStep, outcome: StepOutcome, seconds: float
    ) -> None:
        ended = time.time_ns()
        with self._lock:
            run = self._runs.get(record.id)
        parent = trace.set_span_in_context(run) if run is not None else None
        span = self.tracer.start_span(
            f"zart.step {decision.step.name}",
            context=parent,
            start_time=ended - int(seconds * 1e9),
            attributes={
                "zart.execution_id": record.id,
                "zart.task": record.task_name,
                "zart.step": decision.step.name,
                "zart.attempt": decision.attempt,
                "zart.outcome": _step_outcome(outcome),
            },
        )
        if outcome.error is not None:
            span.set_status(Status(StatusCode.ERROR, str(outcome.error)[:200]))
        span.end(end_time=ended)

    def committed(self, record: ExecutionRecord, commit: Commit) -> None:
        outcome = commit.outcome
        if outcome is None:
            return
        with self._lock:
            span = self._runs.pop(record.id, None)
        if span is None:
            return
        span.set_attribute("zart.outcome", _OUTCOMES.get(type(outcome), type(outcome).__name__))
        if isinstance(outcome, r.Fail | r.Stall):
            span.set_status(Status(StatusCode.ERROR, str(outcome.error.get("message", ""))[:200]))
        span.end()

    # -- trace context for the executions a run creates ----------------------
    def _of_run(self, execution_id: str) -> dict[str, str] | None:
        with self._lock:
            span = self._runs.get(execution_id)
        if span is None:
            return None
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        return carrier or None

    def close(self) -> None:
        """Stop capturing trace contexts (spans in flight are dropped)."""
        tracecontext.uninstall()


def _capture() -> dict[str, str] | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=otel_context.get_current())
    return carrier or None


def _step_outcome(outcome: StepOutcome) -> str:
    if outcome.timed_out:
        return "timed_out"
    return "error" if outcome.error is not None else "completed"
