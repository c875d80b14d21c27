"""(a) The baseline every other figure is a ratio to: single-row
INSERT+COMMIT on one connection (median of several runs), and on eight
threads with a connection each."""

from __future__ import annotations

import time

from bench.store_sections.harness import Context, fmt_ms, median, progress


def run(cx: Context) -> None:
    s = cx.sizes
    progress("(a) baseline")
    times = [cx.db.baseline(s.baseline_commits) for _ in range(s.baseline_reps)]
    cx.base_commit = median(times) / s.baseline_commits
    cx.report.row(
        f"(a) baseline INSERT+COMMIT, 1 conn ({s.baseline_reps}x{s.baseline_commits})",
        f"{1 / cx.base_commit:,.0f} commits/s",
        f"{fmt_ms(cx.base_commit)} / commit",
    )
    concurrent(cx)


def concurrent(cx: Context) -> None:
    """Eight connections at once, with the CPU a commit costs on each side."""
    s = cx.sizes
    rates = []
    cpu, server = time.process_time(), cx.db.server_cpu()
    for _ in range(s.conc_reps):
        seconds = cx.db.baseline_concurrent(8, s.conc_per_thread)
        rates.append(8 * s.conc_per_thread / seconds)
    total = 8 * s.conc_per_thread * s.conc_reps
    client_cpu = (time.process_time() - cpu) / total
    server_end = cx.db.server_cpu()
    text = f"(a) CPU per baseline commit on 8 connections: {client_cpu * 1000:.3f} ms client"
    if server is not None and server_end is not None:
        text += f" + {(server_end - server) / total * 1000:.3f} ms server (other sessions included)"
    cx.report.note(text)
    cx.base8_rate = median(rates)
    cx.report.row(
        f"(a) baseline INSERT+COMMIT, 8 conns ({s.conc_reps}x8x{s.conc_per_thread})",
        f"{cx.base8_rate:,.0f} commits/s",
        f"{cx.base8_rate * cx.base_commit:.2f}x 1 conn",
    )
