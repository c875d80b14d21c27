"""(c) Throughput: three-step workflows through ``zart worker`` processes of
eight threads each, one process then two, over the active window (first
step record written -> last completion, both timestamps from the store)."""

from __future__ import annotations

import os
import time

import attrs

from bench import _common as app
from bench.store_sections.databases import PostgresDatabase
from bench.store_sections.harness import (
    Context,
    children_cpu,
    create_many,
    finish_worker,
    fmt_ms,
    median,
    progress,
    spawn_worker,
    summarize,
    verdict,
)
from zart.host import Host

TARGET = 0.4  # PostgreSQL, two processes: wf/s x 4 >= this x baseline commits/s on 8 conns


@attrs.frozen
class Pass:
    """One pass: ``n`` workflows drained by ``procs`` worker processes."""

    procs: int
    rate: float  # workflows per second over the active window
    active: float
    wall: float
    scheduled: float  # seconds the schedules took
    cpu_workers: float
    cpu_server: float | None


def run(cx: Context) -> None:
    idle_cpu = idle_worker(cx)
    for procs in (1, 2):
        drained = one_pass(cx, procs, idle_cpu)
        if drained is not None:
            report_pass(cx, drained)
    statements_per_workflow(cx)


def idle_worker(cx: Context) -> float:
    """What a worker process costs with nothing to do (imports, connecting,
    one claim): subtracted from the CPU figures."""
    cpu, wall = children_cpu(), time.perf_counter()
    finish_worker(spawn_worker(cx.db.url, concurrency=8, until_idle=True), timeout=60)
    cpu, wall = children_cpu() - cpu, time.perf_counter() - wall
    cx.report.note(
        f"(c) an idle worker process (start, connect, one claim, exit): {wall:.2f} s "
        f"wall, {cpu:.2f} s CPU; subtracted from the CPU figures below"
    )
    return cpu


def one_pass(cx: Context, procs: int, idle_cpu: float) -> Pass | None:
    n = cx.sizes.workflows
    progress(f"(c) throughput: {n} three-step workflows, {procs} worker process(es) x 8")
    start = time.perf_counter()
    ids = create_many(cx.store, cx.client, app.three, [None] * n)
    scheduled = time.perf_counter() - start
    wall_start, cpu_start, server_start = time.time(), children_cpu(), cx.db.server_cpu()
    workers = [spawn_worker(cx.db.url, concurrency=8, until_idle=True) for _ in range(procs)]
    for w in workers:
        finish_worker(w, timeout=600)
    wall = time.time() - wall_start
    cpu_workers = children_cpu() - cpu_start - procs * idle_cpu
    server_end = cx.db.server_cpu()
    cpu_server = None if server_end is None else server_end - (server_start or 0.0)
    records = [cx.store.get(eid) for eid in ids]
    not_done = [r for r in records if r.status != "completed"]
    if not_done:
        cx.report.row(f"(c) {procs} proc: all completed", f"{len(not_done)} not", "", "FAIL")
        return None
    end = max(r.updated_at for r in records).timestamp()
    firsts = [cx.store.history(eid)[0].created_at.timestamp() for eid in ids[:16]]
    active = end - min(firsts)
    return Pass(procs, n / active, active, wall, scheduled, cpu_workers, cpu_server)


def versus_baseline(cx: Context, rate: float) -> tuple[str, str]:
    """The ratio column of the two-process pass, against the 8-connection
    baseline measured again right after it (the machine may be shared)."""
    s = cx.sizes
    again = [
        8 * s.conc_per_thread / cx.db.baseline_concurrent(8, s.conc_per_thread)
        for _ in range(s.conc_reps)
    ]
    base8 = median([cx.base8_rate, *again])
    share = rate * 4 / base8
    cx.report.note(
        f"(c) baseline 8 conns re-measured after the 2-process run: "
        f"{', '.join(f'{x:,.0f}' for x in again)} commits/s; the ratio uses the "
        f"median with (a): {base8:,.0f} commits/s"
    )
    ratio = f"wf/s x 4 = {share:.2f}x baseline 8 conns"
    if isinstance(cx.db, PostgresDatabase):
        return ratio + f" (>= {TARGET}x)", verdict(share >= TARGET)
    return ratio + " (report only)", ""


def report_pass(cx: Context, p: Pass) -> None:
    n = cx.sizes.workflows
    ratio, result = versus_baseline(cx, p.rate) if p.procs == 2 else ("", "")
    cx.report.row(
        f"(c) {n} x 3-step wf, {p.procs} proc x 8 threads",
        f"{p.rate:,.0f} wf/s, {3 * p.rate:,.0f} steps/s",
        ratio,
        result,
    )
    server = ""
    if p.cpu_server is not None:
        server = (
            f", server {p.cpu_server:.2f} s ({p.cpu_server / n * 1000:.2f} ms/wf, other "
            "sessions included)"
        )
    cx.report.note(
        f"(c) {p.procs} proc: active {p.active:.2f} s (first step record -> last completion), "
        f"wall {p.wall:.2f} s with process start-up; {n} schedules took {p.scheduled:.2f} s "
        f"({n / p.scheduled:,.0f}/s); CPU: worker processes {p.cpu_workers:.2f} s "
        f"({p.cpu_workers / n * 1000:.2f} ms/wf){server}, against {p.active:.2f} s active x "
        f"{os.cpu_count()} CPUs"
    )


def statements_per_workflow(cx: Context) -> None:
    """What one workflow sends to the database, and (PostgreSQL) how long
    each statement waits: k workflows run in-process, one at a time."""
    k = min(cx.sizes.workflows, 100)
    ids = []
    host = Host(cx.store, app.registry)
    with cx.db.count_statements(cx.store) as trace:
        t0 = time.perf_counter()
        for _ in range(k):
            ids.append(cx.client.schedule(app.three, None))
            host.tick(limit=1)  # the workers' claim (nothing else is due now)
        seconds = time.perf_counter() - t0
    assert all(cx.store.get(eid).status == "completed" for eid in ids)
    text = (
        f"(c) one 3-step workflow, schedule to completion in-process: "
        f"{len(trace.work()) / k:g} statements ({summarize(trace[: len(trace) // k])}); "
        f"{fmt_ms(seconds / k)} per workflow run alone"
    )
    if trace.seconds:
        text += "; mean wait per statement: " + ", ".join(
            f"{label} {fmt_ms(total / max(1, trace.count(label)))}"
            for label, total in sorted(trace.seconds.items(), key=lambda item: -item[1])
        )
    cx.report.note(text)
