"""HTTP API benchmarks: what going through the API costs over calling the
client directly, and how fast an event POSTed to it resumes a workflow.

    python bench/http.py [--db postgres|sqlite|both] [--quick] [--strict]

The API runs under ``zart.http.server.serve`` (waitress, 8 threads) in a
process of its own, as ``zart serve`` runs it; the clients are 8 threads of
this process, each with one keep-alive ``http.client`` connection. Every
figure is set beside a baseline measured in the same run on the same store:
8 threads of this process calling the client directly.

  (a) GET /api/v1/executions/{id}: requests/s, p50/p99, against ``client.get``
      (target: the API's rate >= 30% of the direct rate)
  (b) POST /api/v1/events/{id}/{name}: a new event per request, against
      ``client.offer_event`` (reported)
  (c) event POST -> workflow resumed: an idle ``zart worker`` process (poll
      interval 5 s) runs ``bench-latency``, which waits for an event; the time
      from the POST to the step after the wait entered, p50/p99, beside the
      same with ``client.offer_event`` (target: p50 < 15 ms on PostgreSQL)

``--quick`` shrinks the sizes for a smoke run. Missed targets are MISS; the
exit status is 1 only with ``--strict``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder heads sys.path, where this file would
# stand in for the standard library's ``http`` package: take it out first.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import quote, urlsplit  # noqa: E402

import attrs  # noqa: E402

import zart  # noqa: E402
from bench import _common as app  # noqa: E402
from bench.store_sections import d_latency  # noqa: E402
from bench.store_sections.databases import (  # noqa: E402
    Database,
    PostgresDatabase,
    SqliteDatabase,
)
from bench.store_sections.harness import (  # noqa: E402
    PG_URL,
    Report,
    WorkerProcess,
    fmt_ms,
    percentile,
    progress,
    spawn_worker,
    verdict,
    wait_for,
)
from zart.http import make_app  # noqa: E402

CLIENTS = 8
TARGET_GET_SHARE = 0.30
TARGET_RESUME_P50 = 0.015  # seconds, PostgreSQL


@attrs.frozen(kw_only=True)
class Sizes:
    requests: int  # per client thread, for (a) and (b)
    warmup: int  # per client thread, untimed
    executions: int  # the executions (a) reads and (b) offers events to
    latency_samples: int  # (c), per way of offering


FULL = Sizes(requests=600, warmup=30, executions=64, latency_samples=60)
QUICK = Sizes(requests=80, warmup=10, executions=16, latency_samples=10)

# The server process: serve() on a free port of 127.0.0.1, its URL on stdout.
SERVER = """
import sys
import zart
from zart.http.server import serve

store = zart.connect(sys.argv[1])
serve(zart.Client(store), port=0, threads=8, ready=lambda s: print(s.url, flush=True))
"""
# The ceiling: waitress with serve()'s settings and an app that answers
# every request with the same bytes (an execution document's size) at once.
EMPTY_SERVER = """
import sys
import waitress

body = b"x" * int(sys.argv[1])

def app(environ, start_response):
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response("200 OK", headers)
    return [body]

server = waitress.create_server(app, host="127.0.0.1", port=0, threads=8)
print(f"http://127.0.0.1:{server.effective_port}", flush=True)
server.run()
"""


@attrs.frozen
class Server:
    url: str
    process: WorkerProcess

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 80


def start_server(code: str, argument: str) -> Server:
    """``python -c code argument``, once it printed the URL it serves."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop_server
    proc = subprocess.Popen(
        [sys.executable, "-c", code, argument],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()  # blocks until it listens (or dies)
    if not line.startswith("http://"):
        proc.kill()
        log.seek(0)
        raise RuntimeError(f"the server did not start: {log.read().decode()[-2000:]}")
    return Server(line, WorkerProcess(proc, log))


def stop_server(server: Server) -> None:
    server.process.proc.terminate()
    server.process.proc.wait(30)
    server.process.log.close()


# -- running requests ---------------------------------------------------------------


@attrs.frozen
class Run:
    seconds: float  # wall time, all threads
    latencies: list[float]  # each call's

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def summary(self) -> str:
        p50, p99 = percentile(self.latencies, 50), percentile(self.latencies, 99)
        return f"{self.rate:,.0f} req/s, p50 {fmt_ms(p50)}, p99 {fmt_ms(p99)}"


Call = Callable[[], object]


def timed_threads(jobs: Sequence[Callable[[], list[Call]]], warmup: int) -> Run:
    """Each job (on a thread of its own) builds its calls; the first
    ``warmup`` run untimed, then all threads start the timed ones together."""
    barrier = threading.Barrier(len(jobs) + 1)
    latencies: list[list[float]] = [[] for _ in jobs]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            calls = jobs[index]()
            for call in calls[:warmup]:
                call()
        except BaseException as exc:
            errors.append(exc)
        barrier.wait()
        try:
            mine = latencies[index]
            for call in calls[warmup:]:
                started = time.perf_counter()
                call()
                mine.append(time.perf_counter() - started)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return Run(seconds, [x for mine in latencies for x in mine])


class Connection:
    """One keep-alive connection; ``call`` checks the status it expects."""

    def __init__(self, server: Server) -> None:
        self.conn = http.client.HTTPConnection(*server.address, timeout=60)

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> bytes:
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, data, headers)
        response = self.conn.getresponse()
        text = response.read()
        if response.status != expect:
            raise RuntimeError(f"{method} {path}: {response.status} {text[:300]!r}")
        return text


ApiCall = Callable[[int, Connection, int], Call]


def api_jobs(server: Server, api: ApiCall, count: int) -> list[Callable[[], list[Call]]]:
    """One job per client: its connection, and ``count`` calls over it."""

    def job(n: int) -> Callable[[], list[Call]]:
        def build() -> list[Call]:
            conn = Connection(server)
            return [api(n, conn, i) for i in range(count)]

        return build

    return [job(n) for n in range(CLIENTS)]


# -- (a) and (b) ------------------------------------------------------------------------


def compare(
    report: Report,
    label: str,
    api: ApiCall,
    direct: Callable[[int, int], Call],
    server: Server,
    sizes: Sizes,
    target: float | None,
) -> None:
    """The API's run and the direct one, as one row each and their ratio."""
    count = sizes.warmup + sizes.requests

    def direct_job(n: int) -> Callable[[], list[Call]]:
        return lambda: [direct(n, i) for i in range(count)]

    progress(f"{label}: {CLIENTS} clients x {sizes.requests} requests")
    over_http = timed_threads(api_jobs(server, api, count), sizes.warmup)
    directly = timed_threads([direct_job(n) for n in range(CLIENTS)], sizes.warmup)
    share = over_http.rate / directly.rate
    wanted = "" if target is None else f" (target >= {target:.0%})"
    result = "" if target is None else verdict(share >= target)
    report.row(f"{label}, over HTTP ({CLIENTS} clients)", over_http.summary())
    report.row(f"{label}, direct ({CLIENTS} threads)", directly.summary())
    report.row(f"{label}: HTTP rate / direct rate", f"{share:.0%}", wanted.strip(), result)


def reads_and_events(cx: Context, server: Server) -> None:
    client, eids = cx.client, cx.eids

    def get_api(n: int, conn: Connection, i: int) -> Call:
        path = "/api/v1/executions/" + quote(eids[(n + i) % len(eids)], safe="")
        return lambda: conn.call("GET", path)

    def get_direct(n: int, i: int) -> Call:
        eid = eids[(n + i) % len(eids)]
        return lambda: client.get(eid)

    compare(cx.report, "(a) GET execution", get_api, get_direct, server, cx.sizes, TARGET_GET_SHARE)
    ceiling(cx, server, get_api)
    in_process(cx)

    def event_api(n: int, conn: Connection, i: int) -> Call:
        path = f"/api/v1/events/{quote(eids[(n + i) % len(eids)], safe='')}/h-{n}-{i}"
        return lambda: conn.call("POST", path, {"n": i})

    def event_direct(n: int, i: int) -> Call:
        eid = eids[(n + i) % len(eids)]
        return lambda: client.offer_event(eid, f"d-{n}-{i}", {"n": i})

    compare(cx.report, "(b) POST event", event_api, event_direct, server, cx.sizes, None)


def ceiling(cx: Context, server: Server, get_api: ApiCall) -> None:
    """The same clients against an empty waitress app, then the API again
    right after: what the server and the clients cost on this machine before
    the API does anything."""
    size = len(Connection(server).call("GET", "/api/v1/executions/" + quote(cx.eids[0], safe="")))
    empty = start_server(EMPTY_SERVER, str(size))
    count = cx.sizes.warmup + cx.sizes.requests
    try:
        bare = timed_threads(
            api_jobs(empty, lambda n, conn, i: lambda: conn.call("GET", "/"), count),
            cx.sizes.warmup,
        )
    finally:
        stop_server(empty)
    api = timed_threads(api_jobs(server, get_api, count), cx.sizes.warmup)
    cx.report.row(f"(a) an empty waitress app, same clients ({size} B answers)", bare.summary())
    cx.report.row("(a) GET execution over HTTP, again right after", api.summary())
    cx.report.row("(a) GET execution over HTTP / the empty app", f"{api.rate / bare.rate:.0%}")


def in_process(cx: Context) -> None:
    """The app's own cost: ``make_app`` called as a server would call it,
    on one thread of this process, against ``client.get`` on the same thread."""
    wsgi = make_app(cx.client, dashboard=False)
    path = "/api/v1/executions/" + quote(cx.eids[0], safe="")
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": ""}

    def start_response(status: str, headers: object) -> None:
        assert status.startswith("200"), status

    n = cx.sizes.requests * 4
    timings = []
    for call in (
        lambda: b"".join(wsgi(dict(environ), start_response)),
        lambda: cx.client.get(cx.eids[0]),
    ):
        for _ in range(cx.sizes.warmup):
            call()
        started = time.perf_counter()
        for _ in range(n):
            call()
        timings.append((time.perf_counter() - started) / n)
    app_s, get_s = timings
    cx.report.row(
        "(a) GET through make_app in-process (no server), 1 thread",
        f"{fmt_ms(app_s)} per request, client.get {fmt_ms(get_s)}",
        f"{get_s / app_s:.0%} of the direct rate",
    )


# -- (c) ------------------------------------------------------------------------------------


def resume_sample(cx: Context, offer: Callable[[str], object]) -> float:
    """One bench-latency execution: seconds from the offer to the step after
    the wait entered (stamped with time.time() in the worker process)."""
    eid = cx.client.schedule(app.latency, None)
    wait_for(lambda: cx.store.get(eid).status == "waiting", 30, f"{eid} to wait")
    time.sleep(random.uniform(0.02, 0.07))  # the worker settles into its idle wait
    offered = time.time()
    offer(eid)
    wait_for(lambda: cx.store.get(eid).status == "completed", 30, f"{eid} to finish")
    resumed: float = cx.store.get(eid).output["resumed"]
    return resumed - offered


def resume_latency(cx: Context, server: Server) -> None:
    n = cx.sizes.latency_samples
    progress(f"(c) event -> resumed: {n} samples each way, idle worker polling every 5 s")
    conn = Connection(server)

    def over_http(eid: str) -> object:
        return conn.call("POST", f"/api/v1/events/{quote(eid, safe='')}/go", None)

    def directly(eid: str) -> object:
        return cx.client.offer_event(eid, "go", None)

    worker = spawn_worker(cx.db.url, concurrency=4, until_idle=False, poll=5.0)
    try:
        for _ in range(3):  # warm-up: the worker's start, its listening connection
            resume_sample(cx, directly)
        pairs = [(resume_sample(cx, over_http), resume_sample(cx, directly)) for _ in range(n)]
    finally:
        d_latency.stop(worker)
    postgres = isinstance(cx.db, PostgresDatabase)
    for label, values in (
        ("POST event", [a for a, _ in pairs]),
        ("client.offer_event", [b for _, b in pairs]),
    ):
        p50, p99 = percentile(values, 50), percentile(values, 99)
        over = label == "POST event"
        target = f"p50 < {TARGET_RESUME_P50 * 1000:g} ms" if over and postgres else ""
        cx.report.row(
            f"(c) {label} -> workflow resumed, idle worker (n={len(values)})",
            f"p50 {fmt_ms(p50)}, p99 {fmt_ms(p99)}",
            target,
            verdict(p50 < TARGET_RESUME_P50) if target else "",
        )


# -- the run ---------------------------------------------------------------------------------


@attrs.define
class Context:
    db: Database
    store: Any
    client: zart.Client
    sizes: Sizes
    report: Report
    eids: list[str] = attrs.field(factory=list)


def run_store(db: Database, sizes: Sizes) -> Report:
    report = Report(db.name)
    print(f"\n## {db.name}: {db.url}", file=sys.stderr, flush=True)
    store = db.open_store()
    try:
        report.note(db.describe())
        cx = Context(db, store, zart.Client(store, app.registry), sizes, report)
        cx.eids = [cx.client.schedule(app.one, None) for _ in range(sizes.executions)]
        load = os.getloadavg()[0]
        server = start_server(SERVER, db.url)
        try:
            reads_and_events(cx, server)
            resume_latency(cx, server)
            cpu = server.process.cpu()
        finally:
            stop_server(server)
        report.note(f"the server process used {cpu:.1f} s of CPU in all")
        report.note(
            f"load average (1 min) {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the "
            f"end, on {os.cpu_count()} CPUs; server, clients and database share them"
        )
    finally:
        store.close()
        db.cleanup()
    report.print()
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="postgres")
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    reports = []
    if args.db in ("sqlite", "both"):
        reports.append(run_store(SqliteDatabase(), sizes))
    if args.db in ("postgres", "both"):
        problem = PostgresDatabase.reachable(PG_URL)
        if problem is not None:
            print(f"PostgreSQL unreachable at {PG_URL}: {problem}", file=sys.stderr)
            return 2
        reports.append(run_store(PostgresDatabase(PG_URL), sizes))
    print()
    for r in reports:
        print(
            f"{r.store}: "
            + ("all targets met" if not r.misses else "missed: " + "; ".join(r.misses))
        )
    print(f"({'quick' if args.quick else 'full'} run, {time.perf_counter() - started:.1f} s)")
    return 1 if args.strict and any(r.misses for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
