"""zart.otel: a span per run of an execution and per step attempt, joined to
the trace of the code that scheduled it, children included, however much
later and wherever they run (here: a store shared by separate hosts)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import zart
from zart import tracecontext
from zart.otel import Tracing
from zart.stores.sqlite import SqliteStore


@zart.step("reserve")
def reserve(n: int) -> int:
    return n


@zart.step("charge", retry="fixed(1, 0s)")
def charge(n: int) -> int:
    if zart.context().current_attempt == 0:
        raise ConnectionError("gateway timeout")
    return n


@zart.durable("notify")
def notify(n: int):  # type: ignore[no-untyped-def]
    return (yield zart.call("send", lambda: n))


@zart.durable("order")
def order(n: int):  # type: ignore[no-untyped-def]
    yield reserve(n)
    yield zart.wait_event("paid")
    yield charge(n)
    return (yield notify(n).named("notify"))


REGISTRY = zart.TaskRegistry([order, notify])


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    tracecontext.uninstall()


def _named(found: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in found if s.name == name]


def test_runs_and_steps_join_the_schedulers_trace(
    spans: tuple[TracerProvider, InMemorySpanExporter], tmp_path: Path
) -> None:
    provider, exporter = spans
    tracing = Tracing(provider)
    path = str(tmp_path / "zart.db")
    client = zart.Client(zart.connect(f"sqlite:///{path}"), REGISTRY)
    with provider.get_tracer("shop").start_as_current_span("POST /orders") as request:
        eid = client.schedule(order, 7)
    caller = request.get_span_context()
    assert client.get(eid).trace is not None  # stored with the execution

    def work() -> None:  # each a fresh host on its own store: as another machine
        zart.Worker(SqliteStore(path), REGISTRY, observers=[tracing]).run_until_idle()

    work()
    client.offer_event(eid, "paid")
    work()
    assert client.result(eid) == 7
    found = list(exporter.get_finished_spans())
    runs = _named(found, "zart.run order")
    assert [r.attributes["zart.outcome"] for r in runs] == ["suspended", "suspended", "completed"]
    for span in found:
        assert span.context.trace_id == caller.trace_id, span.name
    assert all(r.parent is not None and r.parent.span_id == caller.span_id for r in runs)
    first = runs[0]
    [reserve_span] = _named(found, "zart.step reserve")
    assert reserve_span.parent is not None and reserve_span.parent.span_id == first.context.span_id
    attributes: dict[str, Any] = dict(reserve_span.attributes or {})
    assert attributes == {
        "zart.execution_id": eid,
        "zart.task": "order",
        "zart.step": "reserve",
        "zart.attempt": 0,
        "zart.outcome": "completed",
    }
    failed, passed = _named(found, "zart.step charge")
    assert failed.status.status_code == StatusCode.ERROR and failed.attributes["zart.attempt"] == 0
    assert (
        passed.attributes["zart.outcome"] == "completed" and passed.attributes["zart.attempt"] == 1
    )
    [child] = _named(found, "zart.run notify")
    scheduling_run = next(r for r in runs if r.start_time <= child.start_time)
    assert child.parent is not None
    assert child.parent.span_id in {r.context.span_id for r in runs}
    assert scheduling_run.attributes["zart.execution_id"] == eid
    assert child.attributes["zart.execution_id"] == f"{eid}:notify"


def test_without_tracing_nothing_is_captured(tmp_path: Path) -> None:
    client = zart.Client(zart.connect(f"sqlite:///{tmp_path / 'zart.db'}"), REGISTRY)
    eid = client.schedule(order, 1)
    assert client.get(eid).trace is None
