"""Store benchmarks: what a durable step, a workflow and a wake-up cost.

    python bench/stores.py [--db sqlite|postgres|both] [--quick] [--profile] [--strict]

Every figure is compared with a baseline measured in the same run on the same
database: a fresh SQLite file in a temporary directory opened with the store's
pragmas (WAL, synchronous as the store sets it), or a fresh PostgreSQL schema
that is dropped at the end. The baseline is the cheapest durable write there
is: one small JSON row inserted and committed per transaction.

Sections (see bench/README.md for what each one proves):
  (a) baseline commits/s, one connection and eight
  (b) per-step overhead of a 1,000-step workflow driven by ``Host`` in-process
  (c) throughput of 2,000 three-step workflows through ``zart worker``
      subprocesses (one, then two)
  (d) wake-up latency of an idle worker whose poll interval is 5 s
  (e) fan-out of 1,000 step children against 1,000 independent executions
  (f) resuming a 10,000-step workflow after a crash at its last step

``--quick`` shrinks every size for a smoke run. Missed targets are reported
as MISS; the exit status is 1 only for broken invariants (or for misses with
``--strict``).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import itertools
import json
import math
import os
import pstats
import random
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import zart  # noqa: E402
from bench import _common as app  # noqa: E402
from zart.clock import utcnow  # noqa: E402
from zart.decisions import RunStep  # noqa: E402
from zart.host import Host  # noqa: E402
from zart.interpreter import interpreter_for  # noqa: E402
from zart.records import Commit, Complete, NewExecution, RecordWrite  # noqa: E402
from zart.serde import to_json  # noqa: E402

PG_URL = os.environ.get(
    "ZART_BENCH_POSTGRES_URL",
    os.environ.get("ZART_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
APP = "bench._common:registry"
DOC = {"kind": "step", "status": "completed", "result": 42, "attempts": 1}


# -- sizes ------------------------------------------------------------------------


@attrs.frozen
class Sizes:
    baseline_commits: int  # per repetition, one connection
    baseline_reps: int
    conc_per_thread: int  # per thread, eight connections
    conc_reps: int
    chain_steps: int  # (b)
    chain_reps: int
    workflows: int  # (c)
    latency_samples: int  # (d)
    fanout: int  # (e)
    fanout_reps: int
    resume_steps: int  # (f)


FULL = Sizes(1000, 5, 500, 3, 1000, 5, 2000, 100, 1000, 3, 10_000)
QUICK = Sizes(200, 3, 60, 2, 200, 1, 200, 12, 200, 1, 1000)


# -- helpers ----------------------------------------------------------------------


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


class Trace(list[str]):
    """Statements a store sent (labels), with seconds per label where known."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: Counter[str] = Counter()

    def work(self) -> list[str]:
        return [x for x in self if not x.startswith("<")]


class Crash(BaseException):
    """The host dies here, as a SIGKILLed worker would (see zart.testing)."""


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


def progress(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


# -- databases ----------------------------------------------------------------------


class Database:
    """One store under test plus the raw connections its baseline uses."""

    name = ""
    url = ""

    def open_store(self) -> Any:
        store = zart.connect(self.url)
        store.migrate()
        return store

    def baseline(self, commits: int, durable: bool = True) -> float:
        """Seconds for ``commits`` single-row INSERT+COMMIT on one connection
        (``durable=False``: without waiting for the flush, for diagnosis)."""
        raise NotImplementedError

    def unflushed_store(self) -> Any:
        """The store on the same database, committing without waiting for the
        flush (synchronous=OFF / synchronous_commit=off), for diagnosis."""
        raise NotImplementedError

    def baseline_concurrent(self, threads: int, per_thread: int) -> float:
        raise NotImplementedError

    def cleanup(self) -> None:
        raise NotImplementedError

    def wal_bytes(self, run: Callable[[], object]) -> int:
        """Bytes of write-ahead log that ``run()`` wrote."""
        raise NotImplementedError

    def server_cpu(self) -> float | None:
        """CPU seconds the database server has used so far (None: no server)."""
        return None

    @contextlib.contextmanager
    def count_statements(self, store: Any) -> Iterator[Trace]:
        raise NotImplementedError
        yield Trace()


class SqliteDatabase(Database):
    name = "SQLite"

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="zart-bench-")
        self.path = os.path.join(self.dir, "zart.db")
        self.url = "sqlite:///" + self.path
        self.synchronous = "FULL"
        self.busy_timeout = 30.0

    def open_store(self) -> Any:
        store = super().open_store()
        self.synchronous = store.synchronous
        self.busy_timeout = store.busy_timeout
        conn = self._connect()
        conn.execute("CREATE TABLE IF NOT EXISTS bench_baseline (id INTEGER PRIMARY KEY, doc TEXT)")
        conn.close()
        return store

    def _connect(self, durable: bool = True) -> sqlite3.Connection:
        # The store's pragmas (zart.sqlite.SqliteStore._open).
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        assert mode == "wal", mode
        conn.execute(f"PRAGMA synchronous={self.synchronous if durable else 'OFF'}")
        return conn

    def unflushed_store(self) -> Any:
        from zart.sqlite import SqliteStore

        return SqliteStore(self.path, synchronous="OFF", busy_timeout=self.busy_timeout)

    def wal_bytes(self, run: Callable[[], object]) -> int:
        """Frames appended to an emptied WAL (keep ``run`` under the 1,000-page
        auto-checkpoint), times the frame size."""
        conn = self._connect()
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            run()
            _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            (page,) = conn.execute("PRAGMA page_size").fetchone()
            return int(frames) * (int(page) + 24)
        finally:
            conn.close()

    def _loop(self, conn: sqlite3.Connection, commits: int) -> None:
        doc = json.dumps(DOC)
        for _ in range(commits):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO bench_baseline (doc) VALUES (?)", (doc,))
            conn.execute("COMMIT")

    def baseline(self, commits: int, durable: bool = True) -> float:
        conn = self._connect(durable)
        try:
            self._loop(conn, 5)
            start = time.perf_counter()
            self._loop(conn, commits)
            return time.perf_counter() - start
        finally:
            conn.close()

    def baseline_concurrent(self, threads: int, per_thread: int) -> float:
        conns = [self._connect() for _ in range(threads)]
        try:
            return _run_threads([lambda c=c: self._loop(c, per_thread) for c in conns])
        finally:
            for c in conns:
                c.close()

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    @contextlib.contextmanager
    def count_statements(self, store: Any) -> Iterator[Trace]:
        """Statements run on this thread's store connection (sqlite3 tracing)."""
        seen = Trace()
        conn = store._conn()

        def trace(text: str) -> None:
            seen.append(_shape(text))

        conn.set_trace_callback(trace)
        try:
            yield seen
        finally:
            conn.set_trace_callback(None)


class PostgresDatabase(Database):
    name = "PostgreSQL"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.schema = f"zart_bench_{uuid.uuid4().hex[:10]}"
        sep = "&" if "?" in base_url else "?"
        self.url = f"{base_url}{sep}schema={self.schema}"
        self._table = f'"{self.schema}".bench_baseline'

    @staticmethod
    def reachable(url: str) -> str | None:
        try:
            import psycopg

            with psycopg.connect(url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        except Exception as exc:
            return str(exc).strip()
        return None

    def server_cpu(self) -> float | None:
        """All local ``postgres`` processes' CPU, plus what the postmaster's
        reaped children (closed backends) used; None if the server is remote."""
        from urllib.parse import urlsplit

        if urlsplit(self.base_url).hostname not in ("127.0.0.1", "localhost", "::1"):
            return None
        tick = os.sysconf("SC_CLK_TCK")
        total, found = 0.0, False
        pids = set()
        stats = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    text = f.read()
            except OSError:
                continue
            comm = text[text.index("(") + 1 : text.rindex(")")]
            if comm != "postgres":
                continue
            fields = text[text.rindex(")") + 2 :].split()
            pids.add(int(entry))
            stats[int(entry)] = fields
        for fields in stats.values():
            found = True
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            if int(fields[1]) not in pids:  # the postmaster: add its reaped children
                total += (int(fields[13]) + int(fields[14])) / tick  # cutime, cstime
        return total if found else None

    @staticmethod
    def server_start(url: str) -> Any:
        """When the server started (None while it is unreachable), waiting up
        to 60 s for a restarting server to come back."""
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(url, connect_timeout=3) as conn:
                    return conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
            except psycopg.Error:
                if time.monotonic() > deadline:
                    return None
                time.sleep(1)

    def _connect(self, durable: bool = True) -> Any:
        import psycopg

        options = {} if durable else {"options": "-c synchronous_commit=off"}
        return psycopg.connect(self.base_url, autocommit=True, **options)

    def unflushed_store(self) -> Any:
        from psycopg.conninfo import make_conninfo

        from zart.postgres import PostgresStore

        # A key=value DSN, not a URL: the store re-encodes a URL's query with
        # '+' for spaces, which libpq does not read back as spaces.
        dsn = make_conninfo(self.base_url, options="-c synchronous_commit=off")
        return PostgresStore(dsn, schema=self.schema)

    def open_store(self) -> Any:
        store = super().open_store()
        with self._connect() as conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self._table} "
                "(id bigserial PRIMARY KEY, doc json NOT NULL)"
            )
        return store

    def _loop(self, conn: Any, commits: int) -> None:
        from psycopg.types.json import Json

        query = f"INSERT INTO {self._table} (doc) VALUES (%s)".encode()
        for _ in range(commits):
            # Autocommit: the INSERT is its own transaction, committed (and
            # flushed, synchronous_commit permitting) before the reply.
            conn.execute(query, (Json(DOC),))

    def baseline(self, commits: int, durable: bool = True) -> float:
        with self._connect(durable) as conn:
            self._loop(conn, 10)  # past psycopg's prepare threshold, as the store is
            start = time.perf_counter()
            self._loop(conn, commits)
            return time.perf_counter() - start

    def baseline_libpq(self, commits: int) -> float:
        """The same loop through libpq's PQexecPrepared, as the store sends
        its step commit (zart.postgres_wire): for comparison, not the target."""
        with self._connect() as conn:
            pg = conn.pgconn
            done = pg.prepare(
                b"bench_insert", f"INSERT INTO {self._table} (doc) VALUES ($1)".encode()
            )
            assert done.status == 1, done.error_message  # COMMAND_OK
            doc = [json.dumps(DOC, separators=(",", ":")).encode()]
            for _ in range(10):
                pg.exec_prepared(b"bench_insert", doc)
            start = time.perf_counter()
            for _ in range(commits):
                res = pg.exec_prepared(b"bench_insert", doc)
                assert res.status == 1, res.error_message
            return time.perf_counter() - start

    def baseline_concurrent(self, threads: int, per_thread: int) -> float:
        conns = [self._connect() for _ in range(threads)]
        try:
            for c in conns:
                self._loop(c, 10)
            return _run_threads([lambda c=c: self._loop(c, per_thread) for c in conns])
        finally:
            for c in conns:
                c.close()

    def settings(self) -> str:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('fsync', 'synchronous_commit', 'wal_sync_method', 'commit_delay') ORDER BY name"
            ).fetchall()
            version = conn.execute("SHOW server_version").fetchone()[0]
        return f"server {version}; " + ", ".join(f"{n}={s}" for n, s in rows)

    def cleanup(self) -> None:
        # The server may be restarting (tests on a shared server do that): retry a while.
        deadline = time.monotonic() + 30
        while True:
            try:
                with self._connect() as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    print(f"could not drop schema {self.schema}: {exc}", file=sys.stderr)
                    return
                time.sleep(1)

    def wal_bytes(self, run: Callable[[], object]) -> int:
        """The server's WAL position before and after (other sessions on the
        server count too, so this is an upper bound on a shared server)."""
        query = "SELECT pg_current_wal_lsn() - '0/0'"
        with self._connect() as conn:
            before = int(conn.execute(query).fetchone()[0])
            run()
            return int(conn.execute(query).fetchone()[0]) - before

    @contextlib.contextmanager
    def count_statements(self, store: Any) -> Iterator[Trace]:
        """Statements sent by this process, named after the store's query table
        (raw SQL as ``sql:...``), with the seconds each ``execute`` waited;
        transactions and pipelines are marked too (psycopg patched meanwhile)."""
        import psycopg

        names = {text: name for name, text in store._q.items()}
        wired = {id(stmt): names[text] for text, stmt in store._wired.items()}
        seen = Trace()
        lock = threading.Lock()
        cursor_execute = psycopg.Cursor.execute
        conn_transaction = psycopg.Connection.transaction
        conn_pipeline = psycopg.Connection.pipeline

        def execute(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
            label = names.get(query)
            if label is None:
                text = query.decode() if isinstance(query, bytes) else str(query)
                label = "sql:" + " ".join(text.split())[:36]
            t0 = time.perf_counter()
            try:
                return cursor_execute(self, query, params, **kw)
            finally:
                with lock:
                    seen.append(label)
                    seen.seconds[label] += time.perf_counter() - t0

        def transaction(self: Any, *a: Any, **kw: Any) -> Any:
            seen.append("<transaction>")
            return conn_transaction(self, *a, **kw)

        @contextlib.contextmanager
        def pipeline(self: Any, *a: Any, **kw: Any) -> Iterator[Any]:
            seen.append("<pipeline>")
            t0 = time.perf_counter()
            try:
                with conn_pipeline(self, *a, **kw) as p:
                    yield p
            finally:
                with lock:
                    seen.seconds["<pipeline> (whole block)"] += time.perf_counter() - t0

        from zart.postgres import PostgresStore

        store_send = PostgresStore._send

        def send(self: Any, conn: Any, stmt: Any, params: Any) -> Any:
            # The step commit's statements through libpq (zart.postgres_wire).
            label = wired.get(id(stmt), "sql:?") + " (libpq)"
            t0 = time.perf_counter()
            try:
                return store_send(self, conn, stmt, params)
            finally:
                with lock:
                    seen.append(label)
                    seen.seconds[label] += time.perf_counter() - t0

        psycopg.Cursor.execute = execute  # type: ignore[method-assign]
        PostgresStore._send = send  # type: ignore[method-assign]
        psycopg.Connection.transaction = transaction  # type: ignore[method-assign]
        psycopg.Connection.pipeline = pipeline  # type: ignore[method-assign]
        try:
            yield seen
        finally:
            psycopg.Cursor.execute = cursor_execute  # type: ignore[method-assign]
            PostgresStore._send = store_send  # type: ignore[method-assign]
            psycopg.Connection.transaction = conn_transaction  # type: ignore[method-assign]
            psycopg.Connection.pipeline = conn_pipeline  # type: ignore[method-assign]


def _shape(text: str) -> str:
    """A traced statement without its values, so repeats count as one kind."""
    text = re.sub(r"'(?:[^']|'')*'", "?", " ".join(text.split()))
    text = re.sub(r"\b\d+\b", "?", text)
    cut = re.search(r" (WHERE|VALUES|SET|ON|\()", text[7:])
    return (text[: 7 + cut.start()] if cut else text)[:40].strip()


def _run_threads(jobs: Sequence[Callable[[], None]]) -> float:
    """Start every job on its own thread at once; seconds until all are done."""
    barrier = threading.Barrier(len(jobs) + 1)
    errors: list[BaseException] = []

    def run(job: Callable[[], None]) -> None:
        barrier.wait()
        try:
            job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start


def summarize(statements: Sequence[str]) -> str:
    counts = Counter(statements)
    return ", ".join(f"{n}x {s}" if n > 1 else s for s, n in counts.items())


# -- worker processes ---------------------------------------------------------------


def worker_cpu() -> float:
    """CPU seconds (user + system) of this process's reaped children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def spawn_worker(url: str, *, concurrency: int, until_idle: bool, poll: float = 1.0) -> Any:
    args = [
        sys.executable,
        "-m",
        "zart.cli",
        "--db",
        url,
        "worker",
        "--app",
        APP,
        "--concurrency",
        str(concurrency),
        "--poll-interval",
        str(poll),
    ]
    if until_idle:
        args.append("--until-idle")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by finish_worker
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.bench_log = log  # type: ignore[attr-defined]
    return proc


class WorkerFailed(RuntimeError):
    def __init__(self, summary: str, log: str) -> None:
        super().__init__(summary)
        self.log = log


def finish_worker(proc: Any, timeout: float) -> None:
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = "killed after timeout"
    log = proc.bench_log
    log.seek(0)
    text = log.read().decode(errors="replace")
    log.close()
    if code != 0 or "Traceback" in text or "ERROR" in text:
        lines = [ln for ln in text.splitlines() if ln.strip() and " INFO " not in ln]
        raise WorkerFailed(f"worker exited with {code}: {lines[-1] if lines else '?'}", text)


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


# -- the sections -------------------------------------------------------------------


@attrs.define
class Context:
    db: Database
    store: Any
    client: zart.Client
    sizes: Sizes
    report: Report
    profile: bool
    base_commit: float = 0.0  # seconds per baseline commit, one connection
    base8_rate: float = 0.0  # commits/s, eight connections


def section_baseline(cx: Context) -> None:
    s = cx.sizes
    progress("(a) baseline")
    times = [cx.db.baseline(s.baseline_commits) for _ in range(s.baseline_reps)]
    cx.base_commit = median(times) / s.baseline_commits
    cx.report.row(
        f"(a) baseline INSERT+COMMIT, 1 conn ({s.baseline_reps}x{s.baseline_commits})",
        f"{1 / cx.base_commit:,.0f} commits/s",
        f"{fmt_ms(cx.base_commit)} / commit",
    )
    rates = []
    cpu = time.process_time(), cx.db.server_cpu()
    for _ in range(s.conc_reps):
        seconds = cx.db.baseline_concurrent(8, s.conc_per_thread)
        rates.append(8 * s.conc_per_thread / seconds)
    total = 8 * s.conc_per_thread * s.conc_reps
    client_cpu = (time.process_time() - cpu[0]) / total
    server = cx.db.server_cpu()
    cx.report.note(
        f"(a) CPU per baseline commit on 8 connections: {client_cpu * 1000:.3f} ms client"
        + (
            ""
            if server is None or cpu[1] is None
            else f" + {(server - cpu[1]) / total * 1000:.3f} ms server (other sessions included)"
        )
    )
    cx.base8_rate = median(rates)
    cx.report.row(
        f"(a) baseline INSERT+COMMIT, 8 conns ({s.conc_reps}x8x{s.conc_per_thread})",
        f"{cx.base8_rate:,.0f} commits/s",
        f"{cx.base8_rate * cx.base_commit:.2f}x 1 conn",
    )


def section_steps(cx: Context) -> None:
    s = cx.sizes
    n = s.chain_steps
    progress(f"(b) step overhead: {s.chain_reps}x {n} steps")
    times, baselines, ratios = [], [], []
    cpu_steps, cpu_base = [], []  # this thread's CPU seconds per step and per commit
    profiler = cProfile.Profile() if cx.profile else None
    for _ in range(s.chain_reps):
        # A baseline of as many commits right before each run: the ratio pairs
        # measurements taken seconds apart, which matters on a shared machine.
        cpu = time.thread_time()
        baselines.append(cx.db.baseline(n) / n)
        cpu_base.append((time.thread_time() - cpu) / n)
        eid = cx.client.schedule(app.chain, n)
        host = Host(cx.store, app.registry)
        start, cpu = time.perf_counter(), time.thread_time()
        if profiler:
            profiler.enable()
        while host.tick(limit=1, under=eid):
            pass
        if profiler:
            profiler.disable()
        times.append((time.perf_counter() - start) / n)
        cpu_steps.append((time.thread_time() - cpu) / n)
        ratios.append(times[-1] / baselines[-1])
        record = cx.store.get(eid)
        assert record.status == "completed" and record.output == n, record
    per_step = median(times)
    ratio = median(ratios)
    floors = [bare_steps(cx, n) / n for _ in range(3)]
    cx.report.row(
        f"(b) step overhead, {n} no-op steps, Host in-process (median of {s.chain_reps})",
        f"{fmt_ms(per_step)} / step",
        f"{ratio:.2f}x baseline commit (<= 1.3x)",
        verdict(ratio <= 1.3),
    )
    cx.report.note(
        "(b) per run: "
        + ", ".join(
            f"{fmt_ms(t)}/step vs {fmt_ms(b)}/commit = {t / b:.2f}x"
            for t, b in zip(times, baselines, strict=True)
        )
        + " (each against a baseline of as many commits run just before it)"
    )
    cx.report.note(
        f"(b) CPU of this thread (user + kernel, medians): {fmt_ms(median(cpu_steps))}/step vs "
        f"{fmt_ms(median(cpu_base))}/baseline commit; compare the synchronous-off run below, "
        "where the same work runs without sleeping on a flush between steps"
    )
    if isinstance(cx.db, PostgresDatabase):
        raw = median([cx.db.baseline_libpq(n) / n for _ in range(3)])
        cx.report.note(
            f"(b) the baseline INSERT sent through libpq's PQexecPrepared, as the store sends "
            f"its step commit (zart.postgres_wire), medians of 3x{n}: {fmt_ms(raw)}/commit; "
            f"a step is {per_step / raw:.2f}x that (for comparison: the target is against "
            "psycopg's execute, the way an application writes a row)"
        )
    cx.report.note(
        f"(b) the same steps with no interpreter and no host (the generator, the step "
        f"function, to_json and store.commit of each record), medians of 3x{n}: "
        f"{fmt_ms(median(floors))}/step, {median(floors) / median(baselines):.2f}x baseline: "
        "what the store's step commit costs on its own"
    )
    if isinstance(cx.db, SqliteDatabase):
        raw = [raw_upserts(cx, n) / n for _ in range(3)]
        cx.report.note(
            f"(b) the store's step statement alone (sqlite3's execute of the fenced upsert, "
            f"its parameters built beforehand), medians of 3x{n}: {fmt_ms(median(raw))}/step, "
            f"{median(raw) / median(baselines):.2f}x baseline: the SQL's share; the rest of "
            "the ratio is Python run between flushes"
        )

    # Where a step's time goes: one instrumented run (the wrappers cost a little).
    m = min(n, 200)
    eid = cx.client.schedule(app.chain, m)
    host = Host(cx.store, app.registry)
    commits: list[tuple[float, float, list[str]]] = []  # start, end, statements
    with cx.db.count_statements(cx.store) as trace:
        original = cx.store.commit

        def commit(lease: Any, c: Commit, now: Any) -> bool:
            mark, t0 = len(trace), time.perf_counter()
            try:
                return bool(original(lease, c, now))
            finally:
                commits.append((t0, time.perf_counter(), trace[mark:]))

        host.store = _Patched(cx.store, commit=commit)
        t0 = time.perf_counter()
        host.tick(limit=1, under=eid)
        run = time.perf_counter() - t0
    # Medians, so that a preemption by another process does not smear over all steps.
    in_commit = median([end - start for start, end, _ in commits[:-1]])
    between = median([b[0] - a[1] for a, b in itertools.pairwise(commits)])
    shape = commits[len(commits) // 2][2]
    shape_work = [x for x in shape if not x.startswith("<")]
    text = (
        f"(b) where a step goes ({m} steps, instrumented, medians): "
        f"{fmt_ms(in_commit)} in store.commit + {fmt_ms(between)} between commits (host, "
        f"interpreter, step body) [mean {fmt_ms(run / m)}/step]; one step commit = "
        f"{len(shape_work)} statement(s): {summarize(shape)}"
    )
    if trace.seconds and shape_work:
        label = shape_work[0]
        calls = trace.count(label)
        text += (
            f"; {label} waits {fmt_ms(trace.seconds[label] / calls)} (mean) on the server "
            f"vs {fmt_ms(baselines[-1])} for the baseline INSERT"
        )
    k = 50  # small enough for SQLite's WAL to hold it all before a checkpoint
    eid = cx.client.schedule(app.chain, k)
    wal_step = cx.db.wal_bytes(lambda: Host(cx.store, app.registry).tick(1, under=eid)) / k
    wal_base = cx.db.wal_bytes(lambda: cx.db.baseline(k)) / k
    text += f"; WAL {wal_step:,.0f} B/step vs {wal_base:,.0f} B/baseline commit"
    cx.report.note(text)
    cx.report.note(f"(b) the whole {m}-step run sent: {summarize(trace)}")

    # The same without waiting for the flush: what is left is statement work and Python.
    loose = cx.db.unflushed_store()
    try:
        loose_client = zart.Client(loose, app.registry)
        loose_steps, loose_base, loose_cpu = [], [], []
        for _ in range(3):
            loose_base.append(cx.db.baseline(m, durable=False) / m)
            eid = loose_client.schedule(app.chain, m)
            host = Host(loose, app.registry)
            t0, cpu = time.perf_counter(), time.thread_time()
            host.tick(limit=1, under=eid)
            loose_steps.append((time.perf_counter() - t0) / m)
            loose_cpu.append((time.thread_time() - cpu) / m)
    finally:
        loose.close()
    flag = "synchronous=OFF" if isinstance(cx.db, SqliteDatabase) else "synchronous_commit=off"
    step_nf, base_nf = median(loose_steps), median(loose_base)
    cx.report.note(
        f"(b) with {flag} (no flush wait), medians of 3x{m}: {fmt_ms(step_nf)}/step vs "
        f"{fmt_ms(base_nf)}/baseline commit ({step_nf / base_nf:.2f}x); so the flush costs "
        f"about {fmt_ms(max(0.0, median(baselines) - base_nf))} per commit here, and a step "
        f"costs {fmt_ms(step_nf - base_nf)} more than a bare INSERT before any flush; "
        f"CPU of this thread {fmt_ms(median(loose_cpu))}/step (against "
        f"{fmt_ms(median(cpu_steps))} when each step waits on its flush)"
    )
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
        cx.report.note("(b) profile (tottime):\n" + out.getvalue())


def claim_chain(cx: Context, n: int) -> Any:
    """The lease of a new ``n``-step chain, claimed for a loop that writes its
    records itself (the floors under section (b))."""
    eid = cx.client.schedule(app.chain, n)
    (claimed,) = cx.store.claim(
        worker="bench", tasks=None, now=utcnow(), lease=timedelta(minutes=5), limit=1, under=eid
    )
    return claimed.lease


def bare_steps(cx: Context, n: int) -> float:
    """Seconds for the chain workflow's ``n`` steps driven by a bare loop:
    send to the generator, call the step function, store.commit its record.
    No interpreter, no host: the floor under section (b)."""
    lease = claim_chain(cx, n)
    gen = app.chain.run(None, n)
    value: Any = None
    seq = 0
    start = time.perf_counter()
    try:
        while True:
            cmd = gen.send(value)
            value = cmd.fn(*cmd.args, **cmd.kwargs)
            seq += 1
            doc = to_json(value, cmd.name)
            record = RecordWrite(
                name=cmd.name,
                kind="step",
                status="completed",
                seq=seq,
                step=cmd.step_id,
                attempts=1,
                result=doc,
                first=True,  # a new name, as the interpreter marks it
            )
            cx.store.commit(lease, Commit(records=(record,)), utcnow())
    except StopIteration:
        pass
    took = time.perf_counter() - start
    cx.store.commit(lease, Commit(outcome=Complete(output=n)), utcnow())
    return took


def raw_upserts(cx: Context, n: int) -> float:
    """Seconds for ``n`` step records of one execution written by the SQLite
    store's own upsert statement, straight through ``execute``: no Python of
    zart's between the flushes, only the statement and its fence."""
    from zart.sqlite import _upsert

    lease = claim_chain(cx, n)
    now = utcnow()
    statements = [
        _upsert(lease, RecordWrite(f"noop-{i}", "step", "completed", i, "noop", i, attempts=1), now)
        for i in range(1, n + 1)
    ]
    conn = cx.store._conn()
    start = time.perf_counter()
    for query, params in statements:
        if conn.execute(query, params).rowcount != 1:
            raise AssertionError("the fenced upsert wrote nothing")
    took = time.perf_counter() - start
    cx.store.commit(lease, Commit(outcome=Complete(output=n)), utcnow())
    return took


class _Patched:
    """The store with some methods replaced (for counting)."""

    def __init__(self, store: Any, **methods: Any) -> None:
        self._store = store
        self.__dict__.update(methods)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def section_throughput(cx: Context) -> None:
    s = cx.sizes
    n = s.workflows
    is_pg = isinstance(cx.db, PostgresDatabase)
    # What a worker process costs with nothing to do (imports, connecting, one claim).
    idle_cpu, idle_wall = worker_cpu(), time.perf_counter()
    finish_worker(spawn_worker(cx.db.url, concurrency=8, until_idle=True), timeout=60)
    idle_cpu, idle_wall = worker_cpu() - idle_cpu, time.perf_counter() - idle_wall
    cx.report.note(
        f"(c) an idle worker process (start, connect, one claim, exit): {idle_wall:.2f} s "
        f"wall, {idle_cpu:.2f} s CPU; subtracted from the CPU figures below"
    )
    for procs in (1, 2):
        progress(f"(c) throughput: {n} three-step workflows, {procs} worker process(es) x 8")
        start = time.perf_counter()
        ids = create_many(cx.store, cx.client, app.three, [None] * n)
        created = time.perf_counter() - start
        wall_start = time.time()
        cpu_start = worker_cpu(), cx.db.server_cpu()
        workers = [spawn_worker(cx.db.url, concurrency=8, until_idle=True) for _ in range(procs)]
        for w in workers:
            finish_worker(w, timeout=600)
        wall = time.time() - wall_start
        cpu_workers = worker_cpu() - cpu_start[0] - procs * idle_cpu
        server_end = cx.db.server_cpu()
        cpu_server = None if server_end is None else server_end - (cpu_start[1] or 0.0)
        records = [cx.store.get(eid) for eid in ids]
        not_done = [r for r in records if r.status != "completed"]
        if not_done:
            cx.report.row(f"(c) {procs} proc: all completed", f"{len(not_done)} not", "", "FAIL")
            continue
        end = max(r.updated_at for r in records).timestamp()
        firsts = [cx.store.history(eid)[0].created_at.timestamp() for eid in ids[:16]]
        active = end - min(firsts)
        rate = n / active
        label = f"(c) {n} x 3-step wf, {procs} proc x 8 threads"
        ratio = ""
        result = ""
        if procs == 2:
            # The 8-connection baseline again, right after: the ratio compares
            # measurements taken seconds apart (the machine may be shared).
            again = [
                8 * s.conc_per_thread / cx.db.baseline_concurrent(8, s.conc_per_thread)
                for _ in range(s.conc_reps)
            ]
            base8 = median([cx.base8_rate, *again])
            share = rate * 4 / base8
            ratio = f"wf/s x 4 = {share:.2f}x baseline 8 conns"
            cx.report.note(
                f"(c) baseline 8 conns re-measured after the 2-process run: "
                f"{', '.join(f'{x:,.0f}' for x in again)} commits/s; the ratio uses the "
                f"median with (a): {base8:,.0f} commits/s"
            )
            if is_pg:
                ratio += " (>= 0.4x)"
                result = verdict(share >= 0.4)
            else:
                ratio += " (report only)"
        cx.report.row(label, f"{rate:,.0f} wf/s, {3 * rate:,.0f} steps/s", ratio, result)
        cx.report.note(
            f"(c) {procs} proc: active {active:.2f} s (first step record -> last completion), "
            f"wall {wall:.2f} s with process start-up; {n} schedules took {created:.2f} s "
            f"({n / created:,.0f}/s); CPU: worker processes {cpu_workers:.2f} s "
            f"({cpu_workers / n * 1000:.2f} ms/wf)"
            + (
                ""
                if cpu_server is None
                else f", server {cpu_server:.2f} s ({cpu_server / n * 1000:.2f} ms/wf, other "
                "sessions included)"
            )
            + f", against {active:.2f} s active x {os.cpu_count()} CPUs"
        )
    # What one workflow sends to the database, and (PostgreSQL) how long each
    # statement waits: k workflows run in-process, one at a time.
    k = min(n, 100)
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
            f"{label} {fmt_ms(total / max(1, trace.count(label.split(' ')[0])))}"
            for label, total in trace.seconds.most_common()
        )
    cx.report.note(text)


def section_latency(cx: Context) -> None:
    s = cx.sizes
    progress(f"(d) latency: {s.latency_samples} samples, idle worker polling every 5 s")
    worker = spawn_worker(cx.db.url, concurrency=4, until_idle=False, poll=5.0)
    starts: list[float] = []
    resumes: list[float] = []
    try:

        def sample() -> tuple[float, float]:
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

        for _ in range(3):  # warm-up: process start, imports, LISTEN connection
            sample()
        for _ in range(s.latency_samples):
            a, b = sample()
            starts.append(a)
            resumes.append(b)
    finally:
        worker.send_signal(signal.SIGTERM)
        # The worker sleeps in store.wait() for up to 5 s: wake it with a commit
        # it cannot claim (unknown task), then cancel that execution.
        wake = NewExecution(id=f"bench-wake-{uuid.uuid4().hex[:8]}", task_name="bench-wakeup")
        cx.store.create(wake, _now())
        try:
            finish_worker(worker, timeout=15)
        finally:
            cx.store.cancel(wake.id, _now())
    pg = isinstance(cx.db, PostgresDatabase)
    for label, values in (("schedule -> first step", starts), ("event -> resumed step", resumes)):
        p50, p99 = percentile(values, 50), percentile(values, 99)
        if pg:
            target, result = "p50 < 10 ms", verdict(p50 < 0.010)
        else:
            target, result = "report only (wait() polls data_version)", ""
        cx.report.row(
            f"(d) {label}, idle worker, poll 5 s (n={len(values)})",
            f"p50 {fmt_ms(p50)}, p99 {fmt_ms(p99)}",
            target,
            result,
        )


def _now() -> datetime:
    return utcnow()


def section_fanout(cx: Context) -> None:
    s = cx.sizes
    n = s.fanout
    progress(f"(e) fan-out: 1 parent x {n} step children vs {n} independent executions")
    claims: Counter[str] = Counter()
    commits: list[tuple[float, float, str, str]] = []  # start, end, execution, outcome
    lock = threading.Lock()

    def instrumented() -> Any:
        claim_orig, commit_orig = cx.store.claim, cx.store.commit

        def claim(**kw: Any) -> Any:
            got = claim_orig(**kw)
            with lock:
                claims.update(c.record.id for c in got)
            return got

        def commit(lease: Any, c: Commit, now: Any) -> bool:
            t0 = time.perf_counter()
            try:
                return bool(commit_orig(lease, c, now))
            finally:
                kind = type(c.outcome).__name__ if c.outcome is not None else "-"
                with lock:
                    commits.append((t0, time.perf_counter(), lease.execution_id, kind))

        return _Patched(cx.store, claim=claim, commit=commit)

    config = zart.WorkerConfig(concurrency=8, poll_interval=0.5)

    def fan_out() -> tuple[float, str, str, int, list[tuple[float, float, str, str]], int]:
        app.fanout_entries = 0
        worker = zart.Worker(instrumented(), app.registry, config)
        cpu = time.process_time(), cx.db.server_cpu()
        start = time.perf_counter()
        parent = cx.client.schedule(app.fanout, n)
        worker.run_until_idle()
        took = time.perf_counter() - start
        used = _cpu_since(cx, cpu)
        record = cx.store.get(parent)
        assert record.status == "completed" and record.output == n, record
        taken, commits[:] = list(commits), []
        return took, used, parent, app.fanout_entries, taken, claims[parent]

    def independent() -> tuple[float, str, float, list[tuple[float, float, str, str]]]:
        start = time.perf_counter()
        ids = create_many(cx.store, cx.client, app.one, [None] * n)
        created = time.perf_counter() - start
        worker = zart.Worker(instrumented(), app.registry, config)
        cpu = time.process_time(), cx.db.server_cpu()
        start = time.perf_counter()
        worker.run_until_idle()
        took = time.perf_counter() - start
        used = _cpu_since(cx, cpu)
        done = sum(cx.store.get(eid).status == "completed" for eid in ids)
        assert done == n, f"{n - done} independent executions did not complete"
        taken, commits[:] = list(commits), []
        return took, used, created, taken

    # Alternating runs, each pair in the same state of the tables and caches
    # (the first run on a fresh schema pays its warm-up): the median pair.
    pairs = []
    for _ in range(s.fanout_reps):
        fan = fan_out()
        pairs.append((fan, independent()))
    ratios = [fan[0] / solo[0] for fan, solo in pairs]
    # The figures below come from the pair whose ratio is the median.
    fan, solo = pairs[ratios.index(median(ratios))] if len(ratios) % 2 else pairs[-1]
    fan_time, fan_cpu, parent, entries, fan_commits, _ = fan
    solo_time, solo_cpu, created, solo_commits = solo
    parent_claims = [fan[5] for fan, _ in pairs]
    ratio = median(ratios)
    cx.report.row(
        f"(e) fan-out: 1 parent + {n} step children, in-process Worker x 8"
        + (f" (median of {len(ratios)})" if len(ratios) > 1 else ""),
        f"{fmt_ms(fan_time)} vs {fmt_ms(solo_time)} for {n} independent",
        f"{ratio:.2f}x (<= 1.5x)",
        verdict(ratio <= 1.5),
    )
    if len(ratios) > 1:
        cx.report.note(
            "(e) per pair, fan-out then independent: "
            + ", ".join(
                f"{fmt_ms(fan[0])} vs {fmt_ms(solo[0])} = {fan[0] / solo[0]:.2f}x"
                for fan, solo in pairs
            )
        )
    resumed = [count - 1 for count in parent_claims]
    cx.report.row(
        "(e) parent resumed once (claims of the parent - 1)",
        ", ".join(f"{r} resume(s)" for r in resumed) + f" in {len(resumed)} fan-out(s)",
        "== 1",
        "PASS" if set(resumed) == {1} else "FAIL",
    )
    cx.report.note(
        f"(e) parent body entered {entries}x (first run, resume, and replays that rebuilt "
        f"a child's step when the step cache missed); the {n} independent executions "
        f"took {fmt_ms(created)} to schedule, not counted above "
        f"(with it: {fan_time / (solo_time + created):.2f}x)"
    )

    # Where the fan-out's time goes: phases from the commit log, commit latencies.
    t0 = min(c[0] for c in fan_commits)
    suspend_end = next(c[1] for c in fan_commits if c[2] == parent and c[3] == "Suspend")
    kids = [c for c in fan_commits if c[2].startswith(parent + ":")]
    last_kid = max(c[1] for c in kids)
    final = next(c for c in fan_commits if c[2] == parent and c[3] == "Complete")
    kid_done = [c[1] - c[0] for c in kids if c[3] == "Complete"]
    solo_done = [c[1] - c[0] for c in solo_commits if c[3] == "Complete"]
    cx.report.note(
        f"(e) fan-out phases: parent's first run up to its suspend commit (inserts {n} "
        f"children) {fmt_ms(suspend_end - t0)} (that commit alone "
        f"{fmt_ms(next(c[1] - c[0] for c in fan_commits if c[2] == parent))}); "
        f"children {fmt_ms(last_kid - suspend_end)}; parent resume to completion "
        f"{fmt_ms(final[1] - last_kid)} (its commit {fmt_ms(final[1] - final[0])}); "
        f"completion commit p50 {fmt_ms(median(kid_done))} / p99 "
        f"{fmt_ms(percentile(kid_done, 99))} for a child vs p50 {fmt_ms(median(solo_done))} "
        f"/ p99 {fmt_ms(percentile(solo_done, 99))} for an independent execution; "
        f"CPU {fan_cpu} (fan-out) vs {solo_cpu} (independent)"
    )

    if isinstance(cx.db, PostgresDatabase):
        # A child checks its parent after its commit unless it held a later
        # sibling open through that commit (see postgres_sql.COMMIT_FINISH).
        eid = cx.client.schedule(app.fanout, n)
        worker = zart.Worker(cx.store, app.registry, config)
        with cx.db.count_statements(cx.store) as counted:
            worker.run_until_idle()
        assert cx.store.get(eid).status == "completed"
        cx.report.note(
            f"(e) a {n}-child fan-out again, untimed, its statements counted: "
            f"{counted.count('WAKE_PARENT_OF')} of the {n} children checked the parent "
            "after their commit; the others held a later sibling open instead"
        )

    # What each kind of run sends, in-process on a 3-child fan-out.
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
    with cx.db.count_statements(cx.store) as solo_trace:
        host.process(item)
    cx.report.note(
        f"(e) statements on a 3-child fan-out: a step child runs {len(runs['child'].work())} "
        f"({summarize(runs['child'])}); an independent one-step execution "
        f"{len(solo_trace.work())} ({summarize(solo_trace)}); the parent's resume "
        f"{len(runs['parent resume'].work())} ({summarize(runs['parent resume'])})"
    )


def _cpu_since(cx: Context, start: tuple[float, float | None]) -> str:
    own = time.process_time() - start[0]
    server = cx.db.server_cpu()
    text = f"{own:.2f} s this process"
    if server is not None and start[1] is not None:
        text += f" + {server - start[1]:.2f} s server"
    return text


def section_resume(cx: Context) -> None:
    s = cx.sizes
    n = s.resume_steps
    progress(f"(f) resume: building a {n}-step log, crash before the last step")
    last_recorded = f"noop-{n - 2}"  # recorded by the commit that precedes the last step

    def after_commit(commit: Commit) -> None:
        if any(w.name == last_recorded for w in commit.records):
            raise Crash(last_recorded)

    eid = cx.client.schedule(app.chain, n)
    lease = timedelta(seconds=1)
    host = Host(cx.store, app.registry, lease=lease, after_commit=after_commit)
    start = time.perf_counter()
    try:
        host.tick(limit=1, under=eid)
        raise AssertionError("the crash hook did not fire")
    except Crash:
        pass
    build = time.perf_counter() - start
    log_ = cx.store.load(eid)
    assert len(log_.records) == n - 1, len(log_.records)
    time.sleep(max(0.0, lease.total_seconds() + 0.05 - build))  # the lease expires

    progress("(f) resume: timing load, replay and the resume")
    loads = []
    for _ in range(5):
        t0 = time.perf_counter()
        cx.store.load(eid)
        loads.append(time.perf_counter() - t0)
    with cx.db.count_statements(cx.store) as load_statements:
        cx.store.load(eid)

    record = cx.store.get(eid)
    handler = app.registry.get(record.task_name)
    replays = []
    for _ in range(3):
        interp = interpreter_for(handler, record, log_)
        t0 = time.perf_counter()
        decision = interp.start(_now())
        replays.append(time.perf_counter() - t0)
        assert isinstance(decision, RunStep) and decision.name == f"noop-{n - 1}", decision

    resumer = Host(cx.store, app.registry)
    with cx.db.count_statements(cx.store) as resume_statements:
        t0 = time.perf_counter()
        ran = resumer.tick(limit=1, under=eid)
        total = time.perf_counter() - t0
    record = cx.store.get(eid)
    assert ran == 1 and record.status == "completed" and record.output == n, record
    cx.report.row(
        f"(f) resume {n}-step wf: load {n - 1} records",
        f"{fmt_ms(median(loads))}",
        f"{len(load_statements.work())} statement(s)",
    )
    cx.report.row(
        f"(f) resume {n}-step wf: replay {n - 1} steps (pure CPU)",
        f"{fmt_ms(median(replays))}",
        f"{median(replays) / (n - 1) * 1e6:.1f} us / step",
    )
    cx.report.row(
        "(f) resume: claim + load + replay + last step + commit",
        f"{fmt_ms(total)}",
        f"{len(resume_statements.work())} statements",
    )
    cx.report.note(
        f"(f) building the {n - 1}-record log took {build:.2f} s; resume sent: "
        f"{summarize(resume_statements)}"
    )


SECTIONS = (
    section_baseline,
    section_steps,
    section_throughput,
    section_latency,
    section_fanout,
    section_resume,
)


def run_store(db: Database, sizes: Sizes, profile: bool, only: str) -> Report:
    report = Report(db.name)
    print(f"\n## {db.name}: {db.url}", file=sys.stderr, flush=True)
    try:
        store = db.open_store()
        try:
            if isinstance(db, PostgresDatabase):
                report.note(db.settings())
            else:
                report.note(
                    f"SQLite {sqlite3.sqlite_version}, journal_mode=WAL, "
                    f"synchronous={db.synchronous}, file in {db.dir}"
                )
            cx = Context(db, store, zart.Client(store, app.registry), sizes, report, profile)
            load = os.getloadavg()[0]
            for letter, section in zip("abcdef", SECTIONS, strict=True):
                # (a) always runs: every other section is a ratio to its baseline.
                if letter == "a" or letter in only:
                    section(cx)
            report.note(
                f"load average (1 min) {load:.2f} at the start, {os.getloadavg()[0]:.2f} at "
                f"the end, on {os.cpu_count()} CPUs (other processes share this machine)"
            )
        finally:
            store.close()
    except Exception as exc:
        import traceback

        traceback.print_exc()
        if isinstance(exc, WorkerFailed):
            print(exc.log[-4000:], file=sys.stderr)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        report.row("run aborted", f"{type(exc).__name__}: {first}"[:110], "", "FAIL")
    finally:
        db.cleanup()
    report.print()
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--profile", action="store_true", help="cProfile the step overhead run")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--only",
        default="abcdef",
        metavar="LETTERS",
        help="sections to run, e.g. 'bc' ((a) always)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    reports: list[Report] = []
    code = 0
    if args.db in ("sqlite", "both"):
        reports.append(run_store(SqliteDatabase(), sizes, args.profile, args.only))
    if args.db in ("postgres", "both"):
        problem = PostgresDatabase.reachable(PG_URL)
        if problem is None:
            for attempt in range(1, 4):
                # A shared server may be restarted under us (durability tests do
                # that): such a run measured nothing, so it is run again.
                started_at = PostgresDatabase.server_start(PG_URL)
                report = run_store(PostgresDatabase(PG_URL), sizes, args.profile, args.only)
                if PostgresDatabase.server_start(PG_URL) == started_at:
                    break
                if attempt == 3:
                    report.failures.append("the server restarted during every attempt")
                    break
                print(f"\nPostgreSQL restarted during attempt {attempt}; running again")
            reports.append(report)
        elif args.db == "postgres":
            print(f"PostgreSQL unreachable at {PG_URL}: {problem}", file=sys.stderr)
            return 2
        else:
            print(f"\n=== PostgreSQL: SKIPPED, unreachable at {PG_URL}: {problem} ===")
    print()
    for r in reports:
        summary = "all targets met" if not r.misses else "missed: " + "; ".join(r.misses)
        if r.failures:
            summary += " | FAILED: " + "; ".join(r.failures)
            code = 1
        if r.misses and args.strict:
            code = 1
        print(f"{r.store}: {summary}")
    print(f"({'quick' if args.quick else 'full'} run, {time.perf_counter() - started:.1f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
