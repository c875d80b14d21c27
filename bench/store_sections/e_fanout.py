"""(e) Fan-out: one parent scheduling step children then ``wait_all``,
against as many independent one-step executions, both on an in-process
``zart.Worker`` of eight threads; pairs of runs, the median pair's ratio;
the parent must be claimed exactly twice (resumed once) in every fan-out."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import attrs

import zart
from bench import _common as app
from bench.store_sections.databases import PostgresDatabase
from bench.store_sections.harness import (
    Context,
    Patched,
    create_many,
    fmt_ms,
    median,
    percentile,
    progress,
    summarize,
    verdict,
)
from bench.store_sections.tracing import Trace
from zart.host import Host
from zart.records import Commit, Lease

TARGET = 1.5  # fan-out time / independent time
CONFIG = zart.WorkerConfig(concurrency=8, poll_interval=0.5)
Commits = list[tuple[float, float, str, str]]  # start, end, execution, outcome


@attrs.define
class Counting:
    """The store with its claims counted and its commits timed."""

    store: Any
    claims: Counter[str] = attrs.field(factory=Counter)
    commits: Commits = attrs.field(factory=list)
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def claim(self, **kw: Any) -> Any:
        got = self.store.claim(**kw)
        with self.lock:
            self.claims.update(c.record.id for c in got)
        return got

    def commit(self, lease: Lease, c: Commit) -> bool:
        t0 = time.perf_counter()
        try:
            return bool(self.store.commit(lease, c))
        finally:
            kind = type(c.outcome).__name__ if c.outcome is not None else "-"
            with self.lock:
                self.commits.append((t0, time.perf_counter(), lease.execution_id, kind))

    def worker(self) -> zart.Worker:
        counted = Patched(self.store, claim=self.claim, commit=self.commit)
        return zart.Worker(counted, app.registry, CONFIG)

    def taken(self) -> Commits:
        """The commits timed so far, emptied."""
        with self.lock:
            taken, self.commits = self.commits, []
        return taken


@attrs.frozen
class FanOut:
    took: float
    cpu: str
    parent: str
    entries: int  # times the parent's body was entered
    commits: Commits
    claims: int  # of the parent


@attrs.frozen
class Independent:
    took: float
    cpu: str
    created: float  # seconds their schedules took
    commits: Commits


def cpu_since(cx: Context, start: tuple[float, float | None]) -> str:
    own = time.process_time() - start[0]
    server = cx.db.server_cpu()
    text = f"{own:.2f} s this process"
    if server is not None and start[1] is not None:
        text += f" + {server - start[1]:.2f} s server"
    return text


def fan_out(cx: Context, counting: Counting) -> FanOut:
    n = cx.sizes.fanout
    app.fanout_entries = 0
    worker = counting.worker()
    cpu = time.process_time(), cx.db.server_cpu()
    start = time.perf_counter()
    parent = cx.client.schedule(app.fanout, n)
    worker.run_until_idle()
    took = time.perf_counter() - start
    used = cpu_since(cx, cpu)
    record = cx.store.get(parent)
    assert record.status == "completed" and record.output == n, record
    commits = counting.taken()
    return FanOut(took, used, parent, app.fanout_entries, commits, counting.claims[parent])


def independent(cx: Context, counting: Counting) -> Independent:
    n = cx.sizes.fanout
    start = time.perf_counter()
    ids = create_many(cx.store, cx.client, app.one, [None] * n)
    created = time.perf_counter() - start
    worker = counting.worker()
    cpu = time.process_time(), cx.db.server_cpu()
    start = time.perf_counter()
    worker.run_until_idle()
    took = time.perf_counter() - start
    used = cpu_since(cx, cpu)
    done = sum(cx.store.get(eid).status == "completed" for eid in ids)
    assert done == n, f"{n - done} independent executions did not complete"
    return Independent(took, used, created, counting.taken())


def run(cx: Context) -> None:
    n = cx.sizes.fanout
    progress(f"(e) fan-out: 1 parent x {n} step children vs {n} independent executions")
    counting = Counting(cx.store)
    # Alternating runs, each pair in the same state of the tables and caches
    # (the first run on a fresh schema pays its warm-up): the median pair.
    pairs = [
        (fan_out(cx, counting), independent(cx, counting)) for _ in range(cx.sizes.fanout_reps)
    ]
    ratios = [fan.took / solo.took for fan, solo in pairs]
    fan, solo = median_pair(pairs, ratios)
    report_pairs(cx, pairs, ratios)
    report_resumes(cx, pairs, fan, solo)
    phases(cx, fan, solo)
    if isinstance(cx.db, PostgresDatabase):
        parent_wakes(cx)
    statements_by_run(cx)


Pairs = list[tuple[FanOut, Independent]]


def median_pair(pairs: Pairs, ratios: list[float]) -> tuple[FanOut, Independent]:
    """The pair whose ratio is the median (the last of an even number)."""
    return pairs[ratios.index(median(ratios))] if len(ratios) % 2 else pairs[-1]


def report_pairs(cx: Context, pairs: Pairs, ratios: list[float]) -> None:
    n = cx.sizes.fanout
    fan, solo = median_pair(pairs, ratios)
    ratio = median(ratios)
    cx.report.row(
        f"(e) fan-out: 1 parent + {n} step children, in-process Worker x 8"
        + (f" (median of {len(ratios)})" if len(ratios) > 1 else ""),
        f"{fmt_ms(fan.took)} vs {fmt_ms(solo.took)} for {n} independent",
        f"{ratio:.2f}x (<= {TARGET}x)",
        verdict(ratio <= TARGET),
    )
    if len(ratios) > 1:
        cx.report.note(
            "(e) per pair, fan-out then independent: "
            + ", ".join(
                f"{fmt_ms(f.took)} vs {fmt_ms(s.took)} = {f.took / s.took:.2f}x" for f, s in pairs
            )
        )


def report_resumes(cx: Context, pairs: Pairs, fan: FanOut, solo: Independent) -> None:
    resumed = [f.claims - 1 for f, _ in pairs]
    cx.report.row(
        "(e) parent resumed once (claims of the parent - 1)",
        ", ".join(f"{r} resume(s)" for r in resumed) + f" in {len(resumed)} fan-out(s)",
        "== 1",
        "PASS" if set(resumed) == {1} else "FAIL",
    )
    cx.report.note(
        f"(e) parent body entered {fan.entries}x (first run, resume, and replays that rebuilt "
        f"a child's step when the step cache missed); the {cx.sizes.fanout} independent "
        f"executions took {fmt_ms(solo.created)} to schedule, not counted above "
        f"(with it: {fan.took / (solo.took + solo.created):.2f}x)"
    )


def phases(cx: Context, fan: FanOut, solo: Independent) -> None:
    """Where the fan-out's time goes, from its commit log, and commit latencies."""
    commits, parent = fan.commits, fan.parent
    t0 = min(c[0] for c in commits)
    first = next(c for c in commits if c[2] == parent)
    suspend_end = next(c[1] for c in commits if c[2] == parent and c[3] == "Suspend")
    kids = [c for c in commits if c[2].startswith(parent + ":")]
    last_kid = max(c[1] for c in kids)
    final = next(c for c in commits if c[2] == parent and c[3] == "Complete")
    kid_done = [c[1] - c[0] for c in kids if c[3] == "Complete"]
    solo_done = [c[1] - c[0] for c in solo.commits if c[3] == "Complete"]
    cx.report.note(
        f"(e) fan-out phases: parent's first run up to its suspend commit (inserts "
        f"{cx.sizes.fanout} children) {fmt_ms(suspend_end - t0)} (that commit alone "
        f"{fmt_ms(first[1] - first[0])}); children {fmt_ms(last_kid - suspend_end)}; parent "
        f"resume to completion {fmt_ms(final[1] - last_kid)} (its commit "
        f"{fmt_ms(final[1] - final[0])}); completion commit p50 {fmt_ms(median(kid_done))} / "
        f"p99 {fmt_ms(percentile(kid_done, 99))} for a child vs p50 "
        f"{fmt_ms(median(solo_done))} / p99 {fmt_ms(percentile(solo_done, 99))} for an "
        f"independent execution; CPU {fan.cpu} (fan-out) vs {solo.cpu} (independent)"
    )


def parent_wakes(cx: Context) -> None:
    """PostgreSQL: a finishing child whose parent awaits it runs wake_parent,
    a statement of its own after its commit."""
    n = cx.sizes.fanout
    eid = cx.client.schedule(app.fanout, n)
    worker = zart.Worker(cx.store, app.registry, CONFIG)
    with cx.db.count_statements(cx.store) as counted:
        worker.run_until_idle()
    assert cx.store.get(eid).status == "completed"
    cx.report.note(
        f"(e) a {n}-child fan-out again, untimed, its statements counted: "
        f"{counted.count('wake_parent')} wake_parent statement(s) for {n} children (one per "
        f"awaited child, after its commit_end); {len(counted.work())} statements in all: "
        f"{summarize(counted)}"
    )


def statements_by_run(cx: Context) -> None:
    """What each kind of run sends, in-process on a 3-child fan-out."""
    eid = cx.client.schedule(app.fanout, 3)
    host = Host(cx.store, app.registry)
    runs: dict[str, Trace] = {}
    for label in ("parent first run", "child", "child2", "child3", "parent resume"):
        [item] = host.claim(1, under=eid)
        with cx.db.count_statements(cx.store) as trace:
            host.process(item)
        runs[label] = trace
    assert cx.store.get(eid).status == "completed"
    one = cx.client.schedule(app.one, None)
    [item] = host.claim(1, under=one)
    with cx.db.count_statements(cx.store) as solo:
        host.process(item)
    cx.report.note(
        f"(e) statements on a 3-child fan-out: the parent's first run "
        f"{len(runs['parent first run'].work())} ({summarize(runs['parent first run'])}); a "
        f"step child {len(runs['child'].work())} ({summarize(runs['child'])}); an independent "
        f"one-step execution {len(solo.work())} ({summarize(solo)}); the parent's resume "
        f"{len(runs['parent resume'].work())} ({summarize(runs['parent resume'])})"
    )
