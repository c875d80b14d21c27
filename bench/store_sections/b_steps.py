"""(b) What a durable step costs: one workflow of sequential no-op steps
driven by ``zart.host.Host`` in-process, time per step against one baseline
commit; the floors under it (a bare loop of ``store.commit``, and on SQLite
the store's upsert statement alone); where a step's time goes; the same
without the flush; and ``zart.Client.run`` of short workflows, its
statements (PostgreSQL) or write transactions (SQLite) per run.
"""

from __future__ import annotations

import cProfile
import io
import itertools
import pstats
import time
from datetime import timedelta
from typing import Any, cast

import attrs

import zart
from bench import _common as app
from bench.store_sections.databases import SqliteDatabase
from bench.store_sections.harness import (
    Context,
    Patched,
    fmt_ms,
    median,
    progress,
    summarize,
    verdict,
)
from bench.store_sections.tracing import Trace
from zart.host import Host
from zart.records import Commit, Complete, Lease, RecordWrite
from zart.serde import to_json

TARGET = 1.3  # a step costs at most this many baseline commits


@attrs.define
class Runs:
    """Whole runs of the chain, each paired with a baseline run just before it."""

    times: list[float] = attrs.field(factory=list)  # seconds per step
    baselines: list[float] = attrs.field(factory=list)  # seconds per baseline commit
    cpu_steps: list[float] = attrs.field(factory=list)  # this thread's CPU per step
    cpu_base: list[float] = attrs.field(factory=list)  # ... per baseline commit

    @property
    def ratios(self) -> list[float]:
        return [t / b for t, b in zip(self.times, self.baselines, strict=True)]


def run(cx: Context) -> None:
    s = cx.sizes
    n = s.chain_steps
    progress(f"(b) step overhead: {s.chain_reps}x {n} steps")
    profiler = cProfile.Profile() if cx.profile else None
    runs = whole_runs(cx, n, profiler)
    report_runs(cx, runs, n)
    floors(cx, runs, n)
    where_steps_go(cx, runs.baselines[-1], min(n, 200))
    unflushed(cx, runs, min(n, 200))
    progress("(b) client.run")
    for steps in (0, 3):
        client_run(cx, steps)
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
        cx.report.note("(b) profile (tottime):\n" + out.getvalue())


def drive(store: Any, eid: str) -> None:
    """Run the execution to its end with a Host in this thread."""
    host = Host(store, app.registry)
    while host.tick(limit=1, under=eid):
        pass


def whole_runs(cx: Context, n: int, profiler: cProfile.Profile | None) -> Runs:
    runs = Runs()
    for _ in range(cx.sizes.chain_reps):
        # A baseline of as many commits right before each run: the ratio pairs
        # measurements taken seconds apart, which matters on a shared machine.
        cpu = time.thread_time()
        runs.baselines.append(cx.db.baseline(n) / n)
        runs.cpu_base.append((time.thread_time() - cpu) / n)
        eid = cx.client.schedule(app.chain, n)
        start, cpu = time.perf_counter(), time.thread_time()
        if profiler:
            profiler.enable()
        drive(cx.store, eid)
        if profiler:
            profiler.disable()
        runs.times.append((time.perf_counter() - start) / n)
        runs.cpu_steps.append((time.thread_time() - cpu) / n)
        record = cx.store.get(eid)
        assert record.status == "completed" and record.output == n, record
    return runs


def report_runs(cx: Context, runs: Runs, n: int) -> None:
    ratio = median(runs.ratios)
    cx.report.row(
        f"(b) step overhead, {n} no-op steps, Host in-process (median of {len(runs.times)})",
        f"{fmt_ms(median(runs.times))} / step",
        f"{ratio:.2f}x baseline commit (<= {TARGET}x)",
        verdict(ratio <= TARGET),
    )
    pairs = zip(runs.times, runs.baselines, strict=True)
    cx.report.note(
        "(b) per run: "
        + ", ".join(f"{fmt_ms(t)}/step vs {fmt_ms(b)}/commit = {t / b:.2f}x" for t, b in pairs)
        + " (each against a baseline of as many commits run just before it)"
    )
    cx.report.note(
        f"(b) CPU of this thread (user + kernel, medians): {fmt_ms(median(runs.cpu_steps))}/step "
        f"vs {fmt_ms(median(runs.cpu_base))}/baseline commit; compare the unflushed run below, "
        "where the same work runs without sleeping on a flush between steps"
    )


# -- the floors under a step -----------------------------------------------------------


def floors(cx: Context, runs: Runs, n: int) -> None:
    base = median(runs.baselines)
    bare = median([bare_steps(cx, n) / n for _ in range(3)])
    cx.report.note(
        f"(b) the same steps with no interpreter and no host (the generator, the step "
        f"function, to_json and store.commit of each record), medians of 3x{n}: "
        f"{fmt_ms(bare)}/step, {bare / base:.2f}x baseline: what the store's step commit "
        "costs on its own"
    )
    if isinstance(cx.db, SqliteDatabase):
        raw = median([raw_upserts(cx, n) / n for _ in range(3)])
        cx.report.note(
            f"(b) the store's step statement alone (sqlite3's execute of upsert_record_fenced, "
            f"its parameters built beforehand), medians of 3x{n}: {fmt_ms(raw)}/step, "
            f"{raw / base:.2f}x baseline: the SQL's share; the rest of the ratio is Python "
            "run between flushes"
        )


def claim_chain(cx: Context, n: int) -> Lease:
    """The lease of a new ``n``-step chain, claimed for a loop that writes its
    records itself (the floors under section (b))."""
    eid = cx.client.schedule(app.chain, n)
    (claimed,) = cx.store.claim(
        worker="bench", tasks=None, lease=timedelta(minutes=5), limit=1, under=eid
    )
    return cast(Lease, claimed.lease)


def bare_steps(cx: Context, n: int) -> float:
    """Seconds for the chain workflow's ``n`` steps driven by a bare loop:
    send to the generator, call the step function, store.commit its record.
    No interpreter, no host: the floor under section (b)."""
    lease = claim_chain(cx, n)
    gen = app.chain.run(cast(Any, None), n)
    value: Any = None
    seq = 0
    start = time.perf_counter()
    try:
        while True:
            cmd = gen.send(value)
            started = cx.store.now()  # the host reads the store's clock once a step
            value = cmd.fn(*cmd.args, **cmd.kwargs)
            seq += 1
            record = RecordWrite(
                name=cmd.name,
                kind="step",
                status="completed",
                seq=seq,
                step=cmd.step_id,
                attempts=1,
                result=to_json(value, cmd.name),
                started_at=started,
            )
            cx.store.commit(lease, Commit(records=(record,)))
    except StopIteration:
        pass
    took = time.perf_counter() - start
    cx.store.commit(lease, Commit(outcome=Complete(output=n)))
    return took


def raw_upserts(cx: Context, n: int) -> float:
    """Seconds for ``n`` step records of one execution written by the SQLite
    store's own upsert statement, straight through ``execute``: no Python of
    zart's between the flushes, only the statement and its fence."""
    from zart.stores import rows
    from zart.stores.sqlite.connection import Q

    lease = claim_chain(cx, n)
    now = rows.micros(cx.store.now())
    batch = []
    for i in range(1, n + 1):
        write = RecordWrite(
            name=f"noop-{i}", kind="step", status="completed", seq=i, step="noop-{i}", result=i
        )
        params = rows.record_params(write, rows.micros)
        batch.append({**params, "id": lease.execution_id, "token": lease.token, "now": now})
    conn, query = cx.store._db.get(), Q["upsert_record_fenced"]
    start = time.perf_counter()
    for params in batch:
        if conn.execute(query, params).rowcount != 1:
            raise AssertionError("the fenced upsert wrote nothing")
    took = time.perf_counter() - start
    cx.store.commit(lease, Commit(outcome=Complete(output=n)))
    return took


# -- where a step's time goes -------------------------------------------------------


Timed = tuple[float, float, list[str]]  # a commit's start, end, statements


def traced_run(cx: Context, m: int) -> tuple[list[Timed], Trace, float]:
    """One instrumented run of ``m`` steps: each store.commit timed with the
    statements it sent (the wrappers cost a little)."""
    eid = cx.client.schedule(app.chain, m)
    commits: list[Timed] = []
    with cx.db.count_statements(cx.store) as trace:
        original = cx.store.commit

        def commit(lease: Lease, c: Commit) -> bool:
            mark, t0 = len(trace), time.perf_counter()
            try:
                return bool(original(lease, c))
            finally:
                commits.append((t0, time.perf_counter(), trace[mark:]))

        t0 = time.perf_counter()
        drive(Patched(cx.store, commit=commit), eid)
        took = time.perf_counter() - t0
    return commits, trace, took


def where_steps_go(cx: Context, base: float, m: int) -> None:
    commits, trace, took = traced_run(cx, m)
    # Medians, so that a preemption by another process does not smear over all steps.
    in_commit = median([end - start for start, end, _ in commits[:-1]])
    between = median([b[0] - a[1] for a, b in itertools.pairwise(commits)])
    shape = commits[len(commits) // 2][2]
    work = [x for x in shape if not x.startswith("<")]
    text = (
        f"(b) where a step goes ({m} steps, instrumented, medians): "
        f"{fmt_ms(in_commit)} in store.commit + {fmt_ms(between)} between commits (host, "
        f"interpreter, step body) [mean {fmt_ms(took / m)}/step]; one step commit = "
        f"{len(work)} statement(s): {summarize(shape)}"
    )
    if trace.seconds and work:
        label = work[0]
        text += (
            f"; {label} waits {fmt_ms(trace.seconds[label] / trace.count(label))} (mean) on "
            f"the server vs {fmt_ms(base)} for the baseline INSERT"
        )
    k = 50  # small enough for SQLite's WAL to hold it all before a checkpoint
    eid = cx.client.schedule(app.chain, k)
    wal_step = cx.db.wal_bytes(lambda: drive(cx.store, eid)) / k
    wal_base = cx.db.wal_bytes(lambda: cx.db.baseline(k)) / k
    text += f"; WAL {wal_step:,.0f} B/step vs {wal_base:,.0f} B/baseline commit"
    cx.report.note(text)
    cx.report.note(f"(b) the whole {m}-step run sent: {summarize(trace)}")


def unflushed(cx: Context, runs: Runs, m: int) -> None:
    """The same without waiting for the flush: what is left is statement work and Python."""
    loose = cx.db.unflushed_store()
    steps, bases, cpu_steps = [], [], []
    try:
        client = zart.Client(loose, app.registry)
        for _ in range(3):
            bases.append(cx.db.baseline(m, durable=False) / m)
            eid = client.schedule(app.chain, m)
            t0, cpu = time.perf_counter(), time.thread_time()
            drive(loose, eid)
            steps.append((time.perf_counter() - t0) / m)
            cpu_steps.append((time.thread_time() - cpu) / m)
    finally:
        loose.close()
    step_nf, base_nf = median(steps), median(bases)
    cx.report.note(
        f"(b) with {cx.db.flush_flag} (no flush wait), medians of 3x{m}: {fmt_ms(step_nf)}/step "
        f"vs {fmt_ms(base_nf)}/baseline commit ({step_nf / base_nf:.2f}x); so the flush costs "
        f"about {fmt_ms(max(0.0, median(runs.baselines) - base_nf))} per commit here, and a "
        f"step costs {fmt_ms(step_nf - base_nf)} more than a bare INSERT before any flush; "
        f"CPU of this thread {fmt_ms(median(cpu_steps))}/step (against "
        f"{fmt_ms(median(runs.cpu_steps))} when each step waits on its flush)"
    )


# -- client.run -------------------------------------------------------------------------


def client_run(cx: Context, steps: int) -> None:
    """``Client.run`` of a ``steps``-step chain: its statements (PostgreSQL)
    or write transactions (SQLite) per run against N+1 (2 for no step: the
    leased create and the last commit), and its runs per second, each run
    against N+1 baseline commits from a loop of as many run just before."""
    k = cx.sizes.client_runs
    target = max(2, steps + 1)
    trace, counted = count_client_runs(cx, steps)
    base = cx.db.baseline(k * target) / (k * target)  # as many commits as the runs make
    start = time.perf_counter()
    for _ in range(k):
        assert cx.client.run(app.chain, steps) == steps
    per = (time.perf_counter() - start) / k
    sqlite = isinstance(cx.db, SqliteDatabase)
    measured = trace.writes / counted if sqlite else len(trace.work()) / counted
    unit = cx.db.count_unit
    cx.report.row(
        f"(b) client.run, {steps}-step workflow ({k} runs)",
        f"{1 / per:,.0f} runs/s ({fmt_ms(per)}/run)",
        f"{measured:g} {unit}/run (<= {target}); {per / (target * base):.2f}x {target} "
        "baseline commits",
        verdict(measured <= target),
    )
    each = "round trip" if unit == "round trips" else "statement"
    sent = f"{len(trace.work()) / counted:g} {each}(s)"
    if sqlite:
        sent += f" in {trace.writes / counted:g} write transaction(s)"
    one = trace[: len(trace) // counted]
    cx.report.note(f"(b) client.run of a {steps}-step workflow, per run: {sent}: {summarize(one)}")


def count_client_runs(cx: Context, steps: int) -> tuple[Trace, int]:
    """The statements of a few runs (after an untimed one), and how many runs."""
    cx.client.run(app.chain, steps)
    runs = min(10, cx.sizes.client_runs)
    with cx.db.count_statements(cx.store) as trace:
        for _ in range(runs):
            assert cx.client.run(app.chain, steps) == steps
    return trace, runs
