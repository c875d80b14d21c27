"""Interpreter and host-loop throughput on the in-memory store.

    python bench/interpreter.py [--runs 5] [--profile]

Measures, as the median of several runs (setup excluded):
- first run: a workflow of N no-op steps (``for i in range(n): yield s(i)``)
  driven to completion by one ``Host.tick`` on a ``MemoryStore``;
- resume: the same execution after the worker died just after recording
  step N-2 (the last record written before the one that completes it): a new
  host claims it, loads the log, replays N-1 steps and runs the last one;
- pure replay: ``zart.verify.check``'s replay of the finished execution from
  its log (the determinism check: interpreter only, no store writes).
Both for N = 1,000 and 10,000, with the growth factor between them.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Generator
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import zart
from zart import records
from zart.host import Host
from zart.stores.memory import MemoryStore
from zart.verify import check

SIZES = (1_000, 10_000)
TARGET_STEPS_PER_SECOND = 50_000
TARGET_GROWTH = 12.0


@zart.step("s-{i}")
def noop(i: int) -> int:
    return i


@zart.durable("loop")
def loop(n: int) -> Generator[Any, Any, int]:
    for i in range(n):
        yield noop(i)
    return n


class Crash(BaseException):
    """The worker dies (as under SIGKILL) right after a commit."""


def crash_after(name: str) -> Callable[[records.Commit], None]:
    def check(commit: records.Commit) -> None:
        if any(w.name == name for w in commit.records):
            raise Crash(name)

    return check


def fresh(n: int) -> tuple[MemoryStore, zart.TaskRegistry, str]:
    store = MemoryStore()
    registry = zart.TaskRegistry([loop])
    eid = zart.Client(store, registry).schedule(loop, n)
    return store, registry, eid


# Each measure does its setup, then returns the part to time.
Timed = Callable[[], None]


def first_run(n: int) -> Timed:
    store, registry, eid = fresh(n)
    host = Host(store, registry, lease=timedelta(hours=1))

    def timed() -> None:
        host.tick(limit=1)
        assert store.get(eid).output == n

    return timed


def resume(n: int) -> Timed:
    store, registry, eid = fresh(n)
    dying = Host(store, registry, after_commit=crash_after(f"s-{n - 2}"))
    try:
        dying.tick(limit=1)
        raise AssertionError("the worker did not crash")
    except Crash:
        pass
    assert len(store.history(eid)) == n - 1
    store.expire_leases()  # a new process: the dead worker's lease is void
    host = Host(store, registry, lease=timedelta(hours=1))

    def timed() -> None:
        host.tick(limit=1)
        assert store.get(eid).output == n

    return timed


def pure_replay(n: int) -> Timed:
    store, registry, eid = fresh(n)
    Host(store, registry).tick(limit=1)
    record, log, handler = store.get(eid), store.load(eid), registry.get("loop")

    def timed() -> None:
        check(handler, record, log, store.now())

    return timed


def clock(measure: Callable[[int], Timed], n: int) -> float:
    timed = measure(n)
    gc.collect()  # garbage from setup or earlier runs is not this run's cost
    start = time.perf_counter()
    timed()
    return time.perf_counter() - start


def median(measure: Callable[[int], Timed], n: int, runs: int) -> float:
    clock(measure, n)  # warm up (imports, caches)
    return statistics.median(clock(measure, n) for _ in range(runs))


def profile(measure: Callable[[int], Timed], n: int, top: int = 15) -> None:
    timed = measure(n)
    profiler = cProfile.Profile()
    profiler.enable()
    timed()
    profiler.disable()
    print(f"\n--- cProfile: {measure.__name__}({n:,}), top {top} by own time ---")
    pstats.Stats(profiler).strip_dirs().sort_stats("tottime").print_stats(top)


Row = tuple[float, float, float]  # first run, resume, pure replay: seconds


def print_table(rows: dict[int, Row], runs: int) -> list[float]:
    """The table, and the growth of each measure from the small size to the big one."""
    print(f"zart interpreter benchmark: in-memory host, median of {runs} runs\n")
    print(
        f"{'steps':>8} | {'first run':>10} | {'steps/s':>9} | {'resume':>10} | "
        f"{'resume/first':>12} | {'pure replay':>11} | {'replay/first':>12}"
    )
    print("-" * 93)
    for n, (first, res, pure) in rows.items():
        print(
            f"{n:>8,} | {first * 1e3:>8.1f}ms | {n / first:>9,.0f} | {res * 1e3:>8.1f}ms | "
            f"{res / first:>12.2f} | {pure * 1e3:>9.1f}ms | {pure / first:>12.2f}"
        )
    small, big = rows[SIZES[0]], rows[SIZES[1]]
    growth = [b / s for b, s in zip(big, small, strict=True)]
    print(
        f"\ncost({SIZES[1]:,}) / cost({SIZES[0]:,}): first run {growth[0]:.1f}x, "
        f"resume {growth[1]:.1f}x, pure replay {growth[2]:.1f}x"
    )
    return growth


def print_targets(big: Row, growth: list[float]) -> bool:
    """PASS/MISS per target; whether all were met."""
    rate = SIZES[1] / big[0]
    checks = [
        (
            f"> {TARGET_STEPS_PER_SECOND:,} steps/s (10,000-step first run)",
            rate > TARGET_STEPS_PER_SECOND,
            f"{rate:,.0f}",
        ),
        (
            "replay cheaper than the first run (resume/first < 1)",
            big[1] < big[0],
            f"{big[1] / big[0]:.2f}",
        ),
        (
            f"cost(10,000)/cost(1,000) within {TARGET_GROWTH:g}x",
            max(growth) <= TARGET_GROWTH,
            f"{max(growth):.1f}x",
        ),
    ]
    print("\ntargets:")
    for what, ok, value in checks:
        print(f"  [{'PASS' if ok else 'MISS'}] {what}: {value}")
    return all(ok for _, ok, _ in checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile the 10,000-step runs")
    args = parser.parse_args()
    rows = {
        n: (
            median(first_run, n, args.runs),
            median(resume, n, args.runs),
            median(pure_replay, n, args.runs),
        )
        for n in SIZES
    }
    growth = print_table(rows, args.runs)
    met = print_targets(rows[SIZES[1]], growth)
    if args.profile or not met:
        profile(first_run, SIZES[1])
        profile(resume, SIZES[1])


if __name__ == "__main__":
    main()
