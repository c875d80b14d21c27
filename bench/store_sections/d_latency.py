"""(d) Wake-up latency and idle cost of a worker in another process.

A ``zart worker`` process with ``--poll-interval 5``, idle between samples:
schedule -> first step entered, and event offered -> the step after the
wait entered, p50/p99 (the steps stamp ``time.time()`` on entry, read back
from the store). Then a worker with nothing due, its CPU over a few seconds
as a share of one core (from /proc/<pid>/task/*/schedstat, start-up
excluded).
"""

from __future__ import annotations

import random
import signal
import time

from bench import _common as app
from bench.store_sections.databases import SqliteDatabase
from bench.store_sections.harness import (
    Context,
    WorkerProcess,
    finish_worker,
    fmt_ms,
    percentile,
    progress,
    spawn_worker,
    verdict,
    wait_for,
)

TARGET_P50 = 0.010  # seconds, both stores
TARGET_IDLE = 2.0  # percent of one core


def run(cx: Context) -> None:
    s = cx.sizes
    progress(f"(d) latency: {s.latency_samples} samples, idle worker polling every 5 s")
    starts, resumes = samples(cx, s.latency_samples)
    how = cx.db.wake_mechanism
    if isinstance(cx.db, SqliteDatabase):
        how = cx.store.wake_mechanism
        cx.report.note(
            f"(d) SqliteStore.wake_mechanism: {how} (read in this process; the worker "
            "opens the same file on the same machine)"
        )
    for label, values in (("schedule -> first step", starts), ("event -> resumed step", resumes)):
        p50, p99 = percentile(values, 50), percentile(values, 99)
        cx.report.row(
            f"(d) {label}, idle worker, poll 5 s (n={len(values)})",
            f"p50 {fmt_ms(p50)}, p99 {fmt_ms(p99)}",
            f"p50 < {TARGET_P50 * 1000:g} ms ({how})",
            verdict(p50 < TARGET_P50),
        )
    idle_cpu(cx)


def stop(worker: WorkerProcess) -> None:
    """SIGTERM; the worker notices it between slices of its idle wait (0.5 s)."""
    worker.proc.send_signal(signal.SIGTERM)
    finish_worker(worker, timeout=15)


def sample(cx: Context) -> tuple[float, float]:
    """One execution of bench-latency: (schedule -> first step, event -> resumed step)."""
    time.sleep(random.uniform(0.02, 0.07))  # the worker settles into wait()
    t_schedule = time.time()
    eid = cx.client.schedule(app.latency, None)
    wait_for(lambda: cx.store.get(eid).status == "waiting", 30, f"{eid} to wait")
    time.sleep(random.uniform(0.02, 0.07))
    t_offer = time.time()
    cx.client.offer_event(eid, "go", None)
    wait_for(lambda: cx.store.get(eid).status == "completed", 30, f"{eid} to finish")
    out = cx.store.get(eid).output
    return out["started"] - t_schedule, out["resumed"] - t_offer


def samples(cx: Context, n: int) -> tuple[list[float], list[float]]:
    worker = spawn_worker(cx.db.url, concurrency=4, until_idle=False, poll=5.0)
    try:
        for _ in range(3):  # warm-up: process start, imports, the listening connection
            sample(cx)
        pairs = [sample(cx) for _ in range(n)]
    finally:
        stop(worker)
    return [a for a, _ in pairs], [b for _, b in pairs]


def idle_cpu(cx: Context) -> None:
    """A worker (CLI defaults: poll interval 1 s) with nothing due: its CPU
    over ``idle_seconds``, from after its start-up."""
    seconds = cx.sizes.idle_seconds
    progress(f"(d) idle worker CPU over {seconds:g} s")
    worker = spawn_worker(cx.db.url, concurrency=4, until_idle=False, verbose=True)

    def started() -> bool:  # it logged its start (-v), or it died
        return worker.proc.poll() is not None or " worker " in worker.output()

    try:
        wait_for(started, 60, "the worker to start", pause=0.05)
        time.sleep(1.0)  # its first claim and housekeeping
        cpu, start = worker.cpu(), time.monotonic()
        time.sleep(seconds)
        used, wall = worker.cpu() - cpu, time.monotonic() - start
    finally:
        stop(worker)
    share = used / wall * 100
    cx.report.row(
        f"(d) idle worker CPU, nothing due, poll 1 s ({wall:.1f} s)",
        f"{share:.2f}% of one core ({used * 1000:.1f} ms CPU)",
        f"< {TARGET_IDLE:g}% of a core",
        verdict(share < TARGET_IDLE),
    )
