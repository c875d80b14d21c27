"""(f) Resume: a long workflow whose host dies (an ``after_commit`` hook
raises) just before its last step; once the lease expires, the timing of
``store.load``, of the pure replay, and of the whole resume."""

from __future__ import annotations

import time
from datetime import timedelta

import attrs

from bench import _common as app
from bench.store_sections.harness import Context, Crash, fmt_ms, median, progress, summarize
from bench.store_sections.tracing import Trace
from zart.decisions import RunStep
from zart.host import Host
from zart.interpreter import Interpreter
from zart.records import Commit

LEASE = timedelta(seconds=1)


@attrs.frozen
class Timings:
    build: float  # seconds to build the log, up to the crash
    loads: list[float]
    replays: list[float]
    total: float  # the whole resume


def crash_before_last_step(cx: Context, n: int) -> tuple[str, float]:
    """A new ``n``-step chain run until the commit that records step n-2
    (the last before the last step), where its host dies; its id and how
    long that took."""
    last_recorded = f"noop-{n - 2}"

    def after_commit(commit: Commit) -> None:
        if any(w.name == last_recorded for w in commit.records):
            raise Crash(last_recorded)

    eid = cx.client.schedule(app.chain, n)
    host = Host(cx.store, app.registry, lease=LEASE, after_commit=after_commit)
    start = time.perf_counter()
    try:
        host.tick(limit=1, under=eid)
        raise AssertionError("the crash hook did not fire")
    except Crash:
        pass
    return eid, time.perf_counter() - start


def replay(cx: Context, eid: str, n: int) -> list[float]:
    """Seconds of three pure replays of the log, up to the last step."""
    record = cx.store.get(eid)
    log = cx.store.load(eid)
    assert len(log.records) == n - 1, len(log.records)
    handler = app.registry.get(record.task_name)
    times = []
    for _ in range(3):
        interp = Interpreter(handler, record, log, max_payload=cx.store.max_payload)
        t0 = time.perf_counter()
        decision = interp.start(cx.store.now())
        times.append(time.perf_counter() - t0)
        assert isinstance(decision, RunStep), decision
        assert decision.step.name == f"noop-{n - 1}", decision.step.name
    return times


def run(cx: Context) -> None:
    n = cx.sizes.resume_steps
    progress(f"(f) resume: building a {n}-step log, crash before the last step")
    eid, build = crash_before_last_step(cx, n)
    assert len(cx.store.load(eid).records) == n - 1
    time.sleep(max(0.0, LEASE.total_seconds() + 0.05 - build))  # the lease expires
    progress("(f) resume: timing load, replay and the resume")
    loads = []
    for _ in range(5):
        t0 = time.perf_counter()
        cx.store.load(eid)
        loads.append(time.perf_counter() - t0)
    with cx.db.count_statements(cx.store) as load_statements:
        cx.store.load(eid)
    replays = replay(cx, eid, n)
    with cx.db.count_statements(cx.store) as resume_statements:
        t0 = time.perf_counter()
        ran = Host(cx.store, app.registry).tick(limit=1, under=eid)
        total = time.perf_counter() - t0
    record = cx.store.get(eid)
    assert len(ran) == 1 and record.status == "completed" and record.output == n, record
    report(cx, Timings(build, loads, replays, total), load_statements, resume_statements)


def report(cx: Context, t: Timings, load_statements: Trace, resume_statements: Trace) -> None:
    n = cx.sizes.resume_steps
    cx.report.row(
        f"(f) resume {n}-step wf: load {n - 1} records",
        fmt_ms(median(t.loads)),
        f"{len(load_statements.work())} statement(s)",
    )
    cx.report.row(
        f"(f) resume {n}-step wf: replay {n - 1} steps (pure CPU)",
        fmt_ms(median(t.replays)),
        f"{median(t.replays) / (n - 1) * 1e6:.1f} us / step",
    )
    cx.report.row(
        "(f) resume: claim + load + replay + last step + commit",
        fmt_ms(t.total),
        f"{len(resume_statements.work())} statements",
    )
    cx.report.note(
        f"(f) building the {n - 1}-record log took {t.build:.2f} s; resume sent: "
        f"{summarize(resume_statements)}"
    )
