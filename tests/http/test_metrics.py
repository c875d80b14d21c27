"""Prometheus metrics: what a worker reports (steps run, failed, retried,
their durations, claim latency, executions finished) and what the store
holds (executions by task and status, live workers), served at /metrics
and on a port of their own."""

from __future__ import annotations

import urllib.request
import uuid
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import zart
from tests.http.support import http_for, registry
from tests.stores.scenario import ManualClock
from zart.errors import StoreError
from zart.metrics import Metrics
from zart.stores.memory import MemoryStore

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def scrape(metrics: Metrics) -> Samples:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    return samples(body.decode())


def work(store: Any, metrics: Metrics) -> None:
    worker = zart.Worker(store, registry(), zart.WorkerConfig(), observers=[metrics])
    worker.run_until_idle()


def test_a_failed_then_retried_step_is_counted() -> None:
    store = MemoryStore()
    metrics = Metrics(store)
    client = zart.Client(store, registry())
    eid = client.schedule("flaky", f"order-{uuid.uuid4().hex}")
    work(store, metrics)
    assert client.get(eid).status == "completed"

    found = scrape(metrics)
    step = {"task": "flaky", "step": "charge-{order}"}  # the template, not the order id
    assert value(found, "zart_steps_run_total", **step) == 2
    assert value(found, "zart_steps_failed_total", **step) == 1
    assert value(found, "zart_steps_retried_total", **step) == 1
    assert value(found, "zart_step_duration_seconds_count", **step) == 2
    assert value(found, "zart_executions_finished_total", task="flaky", outcome="completed") == 1
    assert value(found, "zart_executions", task="flaky", status="completed") == 1
    assert value(found, "zart_workers") == 0  # it has stopped and removed its row
    assert value(found, "zart_store_up") == 1
    assert not [key for key in found if any("order-" in v for _, v in key[1])]


def test_failed_executions_are_counted_by_outcome() -> None:
    store = MemoryStore()
    metrics = Metrics(store)
    client = zart.Client(store, registry())
    client.schedule("boom", None)
    client.schedule("double", 2)
    work(store, metrics)
    found = scrape(metrics)
    assert value(found, "zart_executions_finished_total", task="boom", outcome="failed") == 1
    assert value(found, "zart_executions_finished_total", task="double", outcome="completed") == 1
    assert value(found, "zart_executions", task="boom", status="failed") == 1
    assert value(found, "zart_steps_failed_total", task="boom", step="explode") == 1


def test_claim_latency_is_the_time_from_due_to_claimed() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    metrics = Metrics(store)
    zart.Client(store, registry()).schedule("double", 1)
    clock.to(4.0)  # due at 0, claimed at 4 seconds
    work(store, metrics)
    found = scrape(metrics)
    bucket = "zart_claim_latency_seconds_bucket"
    assert value(found, "zart_claim_latency_seconds_count", task="double") == 1
    assert value(found, "zart_claim_latency_seconds_sum", task="double") == 4.0
    assert value(found, bucket, task="double", le="2.5") == 0
    assert value(found, bucket, task="double", le="5.0") == 1


def test_store_gauges_count_executions_and_live_workers() -> None:
    store = MemoryStore()
    metrics = Metrics(store)
    client = zart.Client(store, registry())
    for i in range(3):
        client.schedule("double", i)
    client.cancel(client.schedule("approval", None))
    worker = zart.Worker(store, registry())
    worker.announce()
    found = scrape(metrics)
    assert value(found, "zart_executions", task="double", status="pending") == 3
    assert value(found, "zart_executions", task="approval", status="cancelled") == 1
    assert value(found, "zart_workers") == 1
    assert value(found, "zart_workers_inflight") == 0
    worker.retire()
    assert value(scrape(metrics), "zart_workers") == 0


class Unreachable(MemoryStore):
    def status_counts(self) -> dict[tuple[str, str], int]:
        raise StoreError("connection refused")


def test_an_unreadable_store_is_store_up_zero_not_a_failed_scrape() -> None:
    found = scrape(Metrics(Unreachable()))
    assert value(found, "zart_store_up") == 0
    assert not [key for key in found if key[0] == "zart_executions"]


def test_each_metrics_has_a_registry_of_its_own() -> None:
    first, second = Metrics(MemoryStore()), Metrics(MemoryStore())
    assert first.registry is not second.registry
    zart.Client(first.store, registry()).schedule("double", 1)
    work(first.store, first)
    finished = (
        "zart_executions_finished_total",
        frozenset({"task": "double", "outcome": "completed"}.items()),
    )
    assert scrape(first)[finished] == 1
    assert finished not in scrape(second)


def test_metrics_are_served_by_the_app_at_slash_metrics() -> None:
    store = MemoryStore()
    metrics = Metrics(store)
    client = zart.Client(store, registry())
    client.schedule("double", 3)
    work(store, metrics)
    answer = http_for(client, metrics=metrics).get("/metrics")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/plain")
    found = samples(answer.body.decode())
    assert value(found, "zart_executions_finished_total", task="double", outcome="completed") == 1


def test_the_app_makes_its_own_metrics_with_the_store_gauges() -> None:
    client = zart.Client(MemoryStore(), registry())
    client.schedule("double", 3)
    found = samples(http_for(client).get("/metrics").body.decode())
    assert value(found, "zart_executions", task="double", status="pending") == 1


def test_openmetrics_is_served_when_asked() -> None:
    body, content_type = Metrics(MemoryStore()).exposition("application/openmetrics-text")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


def test_metrics_serve_on_a_port_of_their_own() -> None:
    store = MemoryStore()
    metrics = Metrics(store)
    zart.Client(store, registry()).schedule("double", 3)
    server = metrics.serve(0)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.url, timeout=10) as response:
            text = response.read().decode()
    finally:
        server.close()
    assert value(samples(text), "zart_executions", task="double", status="pending") == 1


@pytest.mark.parametrize("kind", ["sqlite"])
def test_store_gauges_on_sqlite(tmp_path: Any, kind: str) -> None:
    from tests.store_kinds import open_store

    with open_store(kind, tmp_path) as store:
        metrics = Metrics(store)
        client = zart.Client(store, registry())
        client.schedule("flaky", f"order-{uuid.uuid4().hex}")
        work(store, metrics)
        found = scrape(metrics)
    assert value(found, "zart_executions", task="flaky", status="completed") == 1
    assert value(found, "zart_steps_retried_total", task="flaky", step="charge-{order}") == 1
