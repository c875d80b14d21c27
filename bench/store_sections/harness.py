"""What every section of ``bench/stores.py`` shares: the sizes, the report
table, percentiles, the run's context, and the ``zart worker`` processes
the sections start (with what they cost in CPU).
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import attrs

import zart
from bench.store_sections.databases import Database

REPO = Path(__file__).resolve().parents[2]
APP = "bench._common:registry"
PG_URL = os.environ.get(
    "ZART_BENCH_POSTGRES_URL",
    os.environ.get("ZART_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
MYSQL_URL = os.environ.get(
    "ZART_BENCH_MYSQL_URL",
    os.environ.get("ZART_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
)


# -- sizes ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Sizes:
    baseline_commits: int  # per repetition, one connection
    baseline_reps: int
    conc_per_thread: int  # per thread, eight connections
    conc_reps: int
    chain_steps: int  # (b)
    chain_reps: int
    client_runs: int  # (b) client.run, per workflow shape
    workflows: int  # (c)
    latency_samples: int  # (d)
    idle_seconds: float  # (d) the idle worker's CPU, measured over this long
    fanout: int  # (e)
    fanout_reps: int
    resume_steps: int  # (f)


FULL = Sizes(
    baseline_commits=1000,
    baseline_reps=5,
    conc_per_thread=500,
    conc_reps=3,
    chain_steps=1000,
    chain_reps=5,
    client_runs=300,
    workflows=2000,
    latency_samples=100,
    idle_seconds=5.0,
    fanout=1000,
    fanout_reps=3,
    resume_steps=10_000,
)
QUICK = Sizes(
    baseline_commits=200,
    baseline_reps=3,
    conc_per_thread=60,
    conc_reps=2,
    chain_steps=200,
    chain_reps=1,
    client_runs=40,
    workflows=200,
    latency_samples=12,
    idle_seconds=3.0,
    fanout=200,
    fanout_reps=1,
    resume_steps=1000,
)


# -- figures ----------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.3f} ms" if ms < 10 else f"{ms:.1f} ms" if ms < 1000 else f"{seconds:.2f} s"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def summarize(statements: Sequence[str]) -> str:
    """``3x name, other``: statements by kind, in order of first use."""
    counts = Counter(statements)
    return ", ".join(f"{n}x {s}" if n > 1 else s for s, n in counts.items())


def progress(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


# -- the report ---------------------------------------------------------------------


@attrs.define
class Report:
    store: str
    rows: list[tuple[str, str, str, str]] = attrs.field(factory=list)
    notes: list[str] = attrs.field(factory=list)
    misses: list[str] = attrs.field(factory=list)
    failures: list[str] = attrs.field(factory=list)

    def row(self, what: str, value: str, ratio: str = "", result: str = "") -> None:
        self.rows.append((what, value, ratio, result))
        if result == "MISS":
            self.misses.append(what)
        elif result == "FAIL":
            self.failures.append(what)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def print(self) -> None:
        heads = ("measure", "value", "ratio / target", "")
        widths = [max(len(str(r[i])) for r in [heads, *self.rows]) for i in range(4)]
        line = "  ".join("-" * w for w in widths)
        print()
        print(f"=== {self.store} ===")
        print("  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip())
        print(line)
        for r in self.rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        print(line)
        for n in self.notes:
            print(f"  * {n}")
        sys.stdout.flush()


@attrs.define
class Context:
    """What a section runs against, and the baseline (a) measured for the others."""

    db: Database
    store: Any
    client: zart.Client
    sizes: Sizes
    report: Report
    profile: bool
    base_commit: float = 0.0  # seconds per baseline commit, one connection
    base8_rate: float = 0.0  # commits/s, eight connections


class Crash(BaseException):
    """The host dies here, as a SIGKILLed worker would (see zart.testing)."""


class Patched:
    """The store with some methods replaced (for counting and timing)."""

    def __init__(self, store: Any, **methods: Callable[..., Any]) -> None:
        self._store = store
        self.__dict__.update(methods)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, pause: float = 0.001
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(pause)


def create_many(store: Any, client: zart.Client, task: Any, inputs: Sequence[Any]) -> list[str]:
    """Schedule executions; eight threads on PostgreSQL (SQLite has one writer)."""
    if getattr(store, "path", None) is not None:
        return [client.schedule(task, data) for data in inputs]
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda data: client.schedule(task, data), inputs))


# -- worker processes ---------------------------------------------------------------


class WorkerFailed(RuntimeError):
    def __init__(self, summary: str, log: str) -> None:
        super().__init__(summary)
        self.log = log


@attrs.define
class WorkerProcess:
    """A ``zart worker`` subprocess and the file its output goes to."""

    proc: subprocess.Popen[bytes]
    log: IO[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        """What it printed so far (read without moving the file offset the
        child writes at)."""
        size = os.fstat(self.log.fileno()).st_size
        return os.pread(self.log.fileno(), size, 0).decode(errors="replace")

    def cpu(self) -> float:
        """CPU seconds it used so far: the run time of its live threads in
        nanoseconds (/proc/<pid>/task/*/schedstat), else user + system time
        in clock ticks (/proc/<pid>/stat, 10 ms steps)."""
        try:
            total = 0
            for task in os.listdir(f"/proc/{self.pid}/task"):
                with open(f"/proc/{self.pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            return total / 1e9
        except (OSError, ValueError, IndexError):
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's reaped children."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def spawn_worker(
    url: str, *, concurrency: int, until_idle: bool, poll: float = 1.0, verbose: bool = False
) -> WorkerProcess:
    args = [sys.executable, "-m", "zart.cli", "--db", url, "worker", "--app", APP]
    args += ["--concurrency", str(concurrency), "--poll-interval", str(poll)]
    if until_idle:
        args.append("--until-idle")
    if verbose:
        args.append("-v")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by finish_worker
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    return WorkerProcess(proc, log)


def finish_worker(worker: WorkerProcess, timeout: float) -> None:
    """Wait for the worker to exit; WorkerFailed unless it exited cleanly."""
    try:
        code: int | str = worker.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        worker.proc.kill()
        worker.proc.wait()
        code = "killed after timeout"
    text = worker.output()
    worker.log.close()
    if code != 0 or "Traceback" in text or " ERROR " in text:
        lines = [ln for ln in text.splitlines() if ln.strip() and " INFO " not in ln]
        raise WorkerFailed(f"worker exited with {code}: {lines[-1] if lines else '?'}", text)
