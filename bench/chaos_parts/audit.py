"""The audit table: every step body appends its side effect (execution,
step, attempt, process, outcome) here before it returns, so the harness can
count how often a side effect really happened, whatever the store recorded.

It is a SQLite file of its own (``ZART_CHAOS_AUDIT``), written in autocommit
by every worker process: a process killed mid-write loses at most the row
it was writing, which the check accounts for as a re-run it could not see.
Without the variable (the reference run) nothing is written.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import Counter

ENV = "ZART_CHAOS_AUDIT"

_local = threading.local()

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    execution_id TEXT NOT NULL,
    step         TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    pid          INTEGER NOT NULL,
    outcome      TEXT NOT NULL   -- ok | injected (a failure the workload injects)
)
"""


def create(path: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(SCHEMA)


def connect(path: str) -> sqlite3.Connection:
    """An autocommit connection to the audit file at ``path``."""
    conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=60000")
    return conn


def _conn() -> sqlite3.Connection | None:
    """This thread's connection to the audit file named by ``ZART_CHAOS_AUDIT``."""
    path = os.environ.get(ENV)
    if not path:
        return None
    held: dict[str, sqlite3.Connection] = _local.__dict__.setdefault("conns", {})
    if path not in held:
        held[path] = connect(path)
    return held[path]


def record(execution_id: str, step: str, attempt: int, outcome: str) -> None:
    conn = _conn()
    if conn is not None:
        conn.execute(
            "INSERT INTO audit VALUES (?, ?, ?, ?, ?)",
            (execution_id, step, attempt, os.getpid(), outcome),
        )


def effects(path: str) -> Counter[tuple[str, str]]:
    """How often each (execution, step) body ran to its successful end."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT execution_id, step, count(*) FROM audit WHERE outcome = 'ok' "
            "GROUP BY execution_id, step"
        ).fetchall()
    return Counter({(eid, step): n for eid, step, n in rows})
