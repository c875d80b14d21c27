"""Prometheus metrics: what workers did, and what the store holds.

``Metrics(store)`` is two things. As an observer (``zart.observe``) handed
to a worker, it counts what the worker's host reports: steps run, failed and
retried, how long they took, how long due executions waited for a claim,
and executions finished by outcome. As a collector, it reads gauges from the
store at each scrape: executions by task and status, live workers.

Each ``Metrics`` has a ``CollectorRegistry`` of its own, never
prometheus_client's global one: two of them in one process (tests, or a
worker and an API server) do not collide. Step labels are the step's
identity, its template (``charge-{order}``), never its formatted name: a
label per order id would grow without bound.

Serve it with ``wsgi_app()`` (the API mounts it at ``/metrics``) or
``serve(port)`` (``zart worker --metrics-port``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import attrs
from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder, start_http_server

from . import records as r
from .decisions import RunStep, StepOutcome
from .errors import ZartError
from .records import Claimed, Commit, ExecutionRecord
from .stores.protocol import Store

log = logging.getLogger("zart")

# Seconds: from a no-op step (a millisecond) to a long call (five minutes).
DURATION_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0,
)  # fmt: skip
# Seconds a due execution waited for a worker: from an idle worker's wake-up
# (milliseconds) to a backlog (minutes).
CLAIM_BUCKETS = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
    1800.0,
)  # fmt: skip

# What a finishing commit's outcome is called in ``zart_executions_finished_total``.
_OUTCOMES: dict[type, str] = {
    r.Complete: "completed",
    r.Fail: "failed",
    r.Stall: "stalled",
    r.ContinueAsNew: "continued",
}


class Metrics:
    """Prometheus metrics of one store: an observer to pass to workers
    (``Worker(..., observers=[metrics])``) and the store's gauges, read at
    each scrape."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.registry = CollectorRegistry()
        step = ["task", "step"]
        self.steps_run = Counter(
            "zart_steps_run", "Step attempts run.", step, registry=self.registry
        )
        self.steps_failed = Counter(
            "zart_steps_failed",
            "Step attempts that raised or timed out.",
            step,
            registry=self.registry,
        )
        self.steps_retried = Counter(
            "zart_steps_retried",
            "Step attempts that ran as a retry of a failed one.",
            step,
            registry=self.registry,
        )
        self.step_seconds = Histogram(
            "zart_step_duration_seconds",
            "How long step attempts ran.",
            step,
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.claim_seconds = Histogram(
            "zart_claim_latency_seconds",
            "How long due executions waited before a worker claimed them.",
            ["task"],
            buckets=CLAIM_BUCKETS,
            registry=self.registry,
        )
        self.finished = Counter(
            "zart_executions_finished",
            "Executions (runs, for continued) that ended, by outcome.",
            ["task", "outcome"],
            registry=self.registry,
        )
        self.registry.register(StoreGauges(store))

    # -- the observer ------------------------------------------------------------
    def claimed(self, items: Sequence[Claimed], now: datetime) -> None:
        for item in items:
            if item.due_at is not None:
                waited = max(0.0, (now - item.due_at).total_seconds())
                self.claim_seconds.labels(item.record.task_name).observe(waited)

    def stepped(
        self, record: ExecutionRecord, decision: RunStep, outcome: StepOutcome, seconds: float
    ) -> None:
        labels = (record.task_name, decision.step.step_id)
        self.steps_run.labels(*labels).inc()
        self.step_seconds.labels(*labels).observe(seconds)
        if decision.attempt > 0:
            self.steps_retried.labels(*labels).inc()
        if outcome.error is not None or outcome.timed_out:
            self.steps_failed.labels(*labels).inc()

    def committed(self, record: ExecutionRecord, commit: Commit) -> None:
        outcome = _OUTCOMES.get(type(commit.outcome))
        if outcome is not None:
            self.finished.labels(record.task_name, outcome).inc()

    # -- serving -------------------------------------------------------------------
    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The metrics as text in the format ``accept`` asks for (Prometheus
        text by default, OpenMetrics when asked), and its content type."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    def wsgi_app(self) -> Callable[..., Iterable[bytes]]:
        """A WSGI app answering every path with the metrics."""
        app: Callable[..., Iterable[bytes]] = make_wsgi_app(self.registry)
        return app

    def serve(self, port: int, host: str = "127.0.0.1") -> MetricsServer:
        """Serve the metrics over HTTP on a thread of their own (a daemon:
        it ends with the process); ``port`` 0 picks a free one."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        running = MetricsServer(server=server, thread=thread)
        log.info("metrics on %s", running.url)
        return running


@attrs.frozen
class MetricsServer:
    """A running metrics server: where it listens, and ``close()``."""

    server: Any
    thread: threading.Thread

    @property
    def port(self) -> int:
        port: int = self.server.server_port
        return port

    @property
    def url(self) -> str:
        host = self.server.server_address[0]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class StoreGauges:
    """A collector reading the store at each scrape. A store that cannot be
    read gives ``zart_store_up 0`` instead of failing the whole scrape."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def describe(self) -> Iterator[Metric]:
        # Described without reading the store: registering must not touch it.
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        executions, workers, inflight, up = self._families()
        try:
            counts = self.store.status_counts()
            live = [w for w in self.store.workers() if w.alive]
        except ZartError as exc:
            log.warning("metrics: cannot read the store: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        for (task, status), count in sorted(counts.items()):
            executions.add_metric([task, status], count)
        workers.add_metric([], len(live))
        inflight.add_metric([], sum(w.inflight for w in live))
        up.add_metric([], 1)
        yield from (executions, workers, inflight, up)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                "zart_executions",
                "Executions in the store, by task and status.",
                labels=["task", "status"],
            ),
            GaugeMetricFamily("zart_workers", "Live workers (heartbeat not expired)."),
            GaugeMetricFamily(
                "zart_workers_inflight", "Executions the live workers held at their last beat."
            ),
            GaugeMetricFamily("zart_store_up", "1 when the store could be read at this scrape."),
        )
