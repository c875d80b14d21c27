"""zart beside DBOS Transact: one workflow of sequential no-op steps, time per step.

    python bench/peers.py [--db sqlite|postgres|both] [--steps N] [--reps R]

Needs ``dbos`` importable next to zart; it is not a zart dependency, so use a
separate virtualenv (see bench/README.md). Each library runs the same
workload on the same database server or directory, against the baseline of
``bench/stores.py`` (one small JSON row inserted and committed per
transaction) measured in the same run: zart in this process, through
``zart.host.Host`` as section (b) of stores.py does; DBOS in a child process,
because a process holds one DBOS instance. Each library uses its own schema
and its own settings as shipped; the notes under the table say what they are.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import _common as app  # noqa: E402
from bench.store_sections.databases import (  # noqa: E402
    Database,
    PostgresDatabase,
    SqliteDatabase,
)
from bench.store_sections.harness import PG_URL, Report, fmt_ms  # noqa: E402
from zart.host import Host  # noqa: E402

# The child that runs DBOS: its workflow mirrors bench._common.chain.
DBOS_CHILD = """
import json, logging, sqlite3, sys, time
from dbos import DBOS

url, steps, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
logging.disable(logging.WARNING)
DBOS(config={"name": "zart-peers", "system_database_url": url, "log_level": "ERROR"})

@DBOS.step()
def noop(i: int) -> int:
    return i

@DBOS.workflow()
def chain(n: int) -> int:
    for i in range(n):
        noop(i)
    return n

DBOS.launch()
# Untimed: the first workflow pays for connections and statement preparation,
# and a fresh SQLite file grows its journal until the first checkpoint.
chain(steps)

def commits():
    # The server's count of this database's committed transactions (its
    # backends report it within a second or so of going idle).
    if not url.startswith("postgresql"):
        return 0
    import psycopg
    time.sleep(1.5)
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()[0]

first = commits()
times = []
for _ in range(reps):
    start = time.perf_counter()
    assert chain(steps) == steps
    times.append((time.perf_counter() - start) / steps)
info = {"times": times, "version": __import__("importlib.metadata").metadata.version("dbos")}
if url.startswith("postgresql"):
    # less the one transaction of the reading connection itself
    info["commits_per_step"] = (commits() - first - 1) / (reps * steps)
DBOS.destroy()
if url.startswith("sqlite:///"):
    conn = sqlite3.connect(url[len("sqlite:///"):])
    info["journal_mode"] = conn.execute("PRAGMA journal_mode").fetchone()[0]
    info["synchronous"] = conn.execute("PRAGMA synchronous").fetchone()[0]
print(json.dumps(info))
"""


def run_dbos(url: str, steps: int, reps: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", DBOS_CHILD, url, str(steps), str(reps)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the DBOS run failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run_zart(db: Database, store: Any, steps: int, reps: int) -> tuple[list[float], list[float]]:
    """Per-step seconds of ``reps`` runs, each with a baseline run just before it."""
    import zart

    client = zart.Client(store, app.registry)
    times, baselines = [], []
    for rep in range(reps + 1):  # the first untimed, as DBOS's (see DBOS_CHILD)
        baselines.append(db.baseline(steps) / steps)
        eid = client.schedule(app.chain, steps)
        host = Host(store, app.registry)
        start = time.perf_counter()
        while host.tick(limit=1, under=eid):
            pass
        took = (time.perf_counter() - start) / steps
        assert store.get(eid).output == steps
        if rep == 0:
            baselines.pop()
        else:
            times.append(took)
    return times, baselines


class _DbosDatabase:
    """Where DBOS keeps its system tables beside the zart run. ``wal``: a
    SQLite file put in WAL mode before DBOS opens it (the mode is kept in
    the file), as zart's is; DBOS leaves its own in rollback-journal mode."""

    def __init__(self, db: Database, wal: bool = False) -> None:
        self.db = db
        self.name = f"zart_peers_{uuid.uuid4().hex[:10]}"
        if isinstance(db, SqliteDatabase):
            path = os.path.join(db.dir, f"dbos-{'wal' if wal else 'default'}.sqlite")
            if wal:
                with contextlib.closing(sqlite3.connect(path)) as conn:
                    conn.execute("PRAGMA journal_mode=WAL")
            self.url = "sqlite:///" + path
        else:  # the bench's server URL, credentials and options kept, another database
            self.url = urlunsplit(urlsplit(PG_URL)._replace(path=f"/{self.name}"))

    def __enter__(self) -> _DbosDatabase:
        if isinstance(self.db, PostgresDatabase):
            self._admin(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *exc: object) -> None:
        if isinstance(self.db, PostgresDatabase):
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    @staticmethod
    def _admin(sql: str) -> None:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.encode())


Peer = tuple[str, dict[str, Any], float]  # label, DBOS's result, its baseline


def run_all(db: Database, steps: int, reps: int) -> tuple[list[float], list[float], list[Peer]]:
    """zart's runs with their baselines, then DBOS's (twice on SQLite), each
    DBOS run between two baseline runs."""
    store = db.open_store()
    sqlite = isinstance(db, SqliteDatabase)
    peers: list[Peer] = []
    try:
        times, baselines = run_zart(db, store, steps, reps)
        for wal in (False, True) if sqlite else (False,):
            with _DbosDatabase(db, wal) as peer:
                before = db.baseline(steps) / steps
                result = run_dbos(peer.url, steps, reps)
                after = db.baseline(steps) / steps
            label = "" if not sqlite else ", its file in WAL mode" if wal else ", as shipped"
            peers.append((label, result, (before + after) / 2))
    finally:
        store.close()
        db.cleanup()
    return times, baselines, peers


def report_peer(report: Report, peer: Peer, ours: float) -> None:
    label, result, baseline = peer
    theirs = statistics.median(result["times"])
    report.row(
        f"DBOS Transact {result['version']}{label}",
        f"{fmt_ms(theirs)} / step",
        f"{theirs / baseline:.2f}x baseline, {theirs / ours:.1f}x zart",
    )
    if "journal_mode" in result:
        modes = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        sync = modes.get(result["synchronous"], result["synchronous"])
        report.note(f"DBOS{label}: journal_mode={result['journal_mode']}, synchronous={sync}")
    report.note(f"DBOS{label} per run: " + ", ".join(fmt_ms(t) for t in result["times"]))
    if "commits_per_step" in result:
        report.note(
            f"DBOS: {result['commits_per_step']:.2f} committed transactions per step "
            "(pg_stat_database of its scratch database)"
        )


def compare(db: Database, steps: int, reps: int) -> Report:
    report = Report(db.name)
    times, baselines, peers = run_all(db, steps, reps)
    ours = statistics.median(times)
    base = statistics.median([*baselines, *(b for _, _, b in peers)])
    report.row("baseline INSERT+COMMIT, 1 connection", f"{fmt_ms(base)} / commit", "1.00x")
    report.row(
        f"zart, {steps} no-op steps (median of {reps})",
        f"{fmt_ms(ours)} / step",
        f"{statistics.median(t / b for t, b in zip(times, baselines, strict=True)):.2f}x baseline",
    )
    for peer in peers:
        report_peer(report, peer, ours)
    report.note("zart per run: " + ", ".join(fmt_ms(t) for t in times))
    if isinstance(db, SqliteDatabase):
        report.note(f"zart and the baseline: journal_mode=WAL, synchronous={db.synchronous}")
    else:
        report.note(db.describe())
        report.note("DBOS in a scratch database of its own on the same server, dropped at the end")
    report.print()
    return report


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--steps", type=positive, default=1000)
    parser.add_argument("--reps", type=positive, default=3)
    args = parser.parse_args()
    if importlib.util.find_spec("dbos") is None:
        print("bench/peers.py needs dbos: pip install dbos (see bench/README.md)", file=sys.stderr)
        return 2
    if args.db in ("sqlite", "both"):
        compare(SqliteDatabase(), args.steps, args.reps)
    if args.db in ("postgres", "both"):
        problem = PostgresDatabase.reachable(PG_URL)
        if problem is not None:
            print(f"PostgreSQL unreachable at {PG_URL}: {problem}", file=sys.stderr)
            return 2
        compare(PostgresDatabase(PG_URL), args.steps, args.reps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
