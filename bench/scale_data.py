"""The table ``bench/scale.py`` measures: N executions built in SQL, fast.

Row ``i`` (1..N) gets its shape from ``i`` alone, so both stores hold the
same mix (for N = 1,000,000):

| rows | what | task |
|---|---|---|
| i % 10 = 0 (100,000) | pending, due since it was created | other |
| i % 10 = 2 (100,000) | child of row i-1 (its root), awaited; completed, 1% running | any |
| i % 50 = 1 (20,000) | failed | any |
| i % 200 = 3 (5,000) | cancelled | any |
| i % 1000 = 5 (1,000) | stalled | any |
| i % 50 = 7 (20,000) | sleeping, due within a day | any |
| i % 100 = 9 (10,000) | waiting for an event, half of them with a deadline | any |
| i % 1000 = 11 (1,000) | running, its lease ends in 10 minutes | any |
| i % 1000 = 21 (1,000) | waiting for its child (row i+1, one of the running) | any |
| the rest (~742,000) | completed | any |

"any" is ``other`` when i % 7 = 0, else ``task-<i % 13>``; no row is of
task ``mine``. Creation times run over the last 31 days in the order of
``i``. Every row i % 10 = 1 has a log of three records: a step, the
schedule of its child (row i+1) and another step.

Indexes are dropped for the insert and created again from their own
definitions afterwards (one sort per index instead of a million inserts
into each), then the tables are analyzed.
"""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from psycopg import sql

from zart.stores.postgres.connection import render

SPAN = timedelta(days=30)
AGE = timedelta(days=31)

# -- SQLite -------------------------------------------------------------------------

_SQLITE_EXECUTIONS = """
WITH RECURSIVE g (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < :n),
shaped AS (
    SELECT i, printf('e%08d', i) AS id, printf('e%08d', i - 1) AS up,
           CASE
               WHEN i % 10 = 2 THEN CASE WHEN i % 1000 = 22 THEN 'running' ELSE 'completed' END
               WHEN i % 10 = 0 THEN 'pending'
               WHEN i % 50 = 1 THEN 'failed'
               WHEN i % 200 = 3 THEN 'cancelled'
               WHEN i % 1000 = 5 THEN 'stalled'
               WHEN i % 50 = 7 THEN 'sleeping'
               WHEN i % 100 = 9 THEN 'waiting'
               WHEN i % 1000 = 11 THEN 'running'
               WHEN i % 1000 = 21 THEN 'waiting'
               ELSE 'completed'
           END AS status,
           :t0 + i * :step AS created_at
      FROM g
)
INSERT INTO executions (id, num, task_name, kind, status, input, output, error, parent_id,
                        parent_step, root_id, record_status, awaited, created_at, updated_at,
                        wake_at, waiting_for, token, owner, format_version)
SELECT id, i,
       CASE WHEN i % 10 = 0 OR i % 7 = 0 THEN 'other' ELSE 'task-' || (i % 13) END,
       CASE WHEN i % 10 = 2 THEN 'step' ELSE 'workflow' END,
       status, '{"n": ' || i || '}',
       CASE WHEN status = 'completed' THEN '{"ok": true}' END,
       CASE WHEN status IN ('failed', 'cancelled', 'stalled')
            THEN '{"type": "Boom", "message": "boom"}' END,
       CASE WHEN i % 10 = 2 THEN up END,
       CASE WHEN i % 10 = 2 THEN 'c' END,
       CASE WHEN i % 10 = 2 THEN up END,
       CASE WHEN i % 10 = 2 AND status = 'completed' THEN 'completed' END,
       i % 10 = 2,
       created_at, created_at,
       CASE status
           WHEN 'pending' THEN created_at
           WHEN 'sleeping' THEN :now + (i % 1000 + 1) * 60000000
           WHEN 'running' THEN :now + 600000000
           WHEN 'waiting' THEN CASE WHEN i % 200 = 109 THEN :now + 86400000000 END
       END,
       CASE WHEN status = 'waiting' THEN CASE WHEN i % 1000 = 21 THEN 'children' ELSE 'go' END
       END,
       CASE WHEN status = 'running' THEN 1 ELSE 0 END,
       CASE WHEN status = 'running' THEN 'gone' END,
       2
  FROM shaped
"""

_SQLITE_STEPS = """
WITH RECURSIVE g (i) AS (SELECT 1 UNION ALL SELECT i + 10 FROM g WHERE i + 10 <= :n),
log (seq, name, kind) AS (
    SELECT 1, 'a', 'step' UNION ALL SELECT 2, 'c', 'schedule' UNION ALL SELECT 3, 'b', 'step'
)
INSERT INTO steps (key, execution_id, name, seq, kind, status, step, result, attempts, child_id,
                   created_at, updated_at, run, execution_attempt)
SELECT (i << 32) + seq, printf('e%08d', i), name, seq, kind,
       CASE WHEN kind = 'step' THEN 'completed' ELSE 'pending' END,
       CASE WHEN kind = 'step' THEN 'bench.' || name ELSE 'child' END,
       CASE WHEN kind = 'step' THEN '42' END,
       CASE WHEN kind = 'step' THEN 1 ELSE 0 END,
       CASE WHEN kind = 'schedule' THEN printf('e%08d', i + 1) END,
       :t0 + i * :step, :t0 + i * :step, 1, 1
  FROM g, log
"""


def _micros(when: datetime) -> int:
    return (when - datetime(1970, 1, 1, tzinfo=when.tzinfo)) // timedelta(microseconds=1)


def build_sqlite(path: str, n: int, now: datetime, *, analyze: bool = True) -> None:
    """Fill a migrated, empty SQLite file. No store may have it open: the
    build switches the journal off (and back to WAL) for its own speed.
    ``analyze=False`` leaves the file without statistics, as zart leaves
    its own files (it never runs ANALYZE)."""
    params = {
        "n": n,
        "now": _micros(now),
        "t0": _micros(now - AGE),
        "step": SPAN // timedelta(microseconds=1) // n,
    }
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")  # 256 MiB
        conn.execute("BEGIN")
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            " AND tbl_name IN ('executions', 'steps')"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute(_SQLITE_EXECUTIONS, params)
        conn.execute(_SQLITE_STEPS, params)
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        if analyze:
            conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode=WAL")


# -- PostgreSQL ------------------------------------------------------------------------

_PG_EXECUTIONS = """
INSERT INTO {executions} (id, task_name, kind, status, input, output, error, parent_id,
                          parent_step, root_id, record_status, awaited, created_at, updated_at,
                          wake_at, waiting_for, token, owner, format_version)
SELECT id,
       CASE WHEN i %% 10 = 0 OR i %% 7 = 0 THEN 'other' ELSE 'task-' || (i %% 13) END,
       CASE WHEN i %% 10 = 2 THEN 'step' ELSE 'workflow' END,
       status, json_build_object('n', i),
       CASE WHEN status = 'completed' THEN '{{"ok": true}}'::json END,
       CASE WHEN status IN ('failed', 'cancelled', 'stalled')
            THEN '{{"type": "Boom", "message": "boom"}}'::json END,
       CASE WHEN i %% 10 = 2 THEN up END,
       CASE WHEN i %% 10 = 2 THEN 'c' END,
       CASE WHEN i %% 10 = 2 THEN up END,
       CASE WHEN i %% 10 = 2 AND status = 'completed' THEN 'completed' END,
       i %% 10 = 2,
       created_at, created_at,
       CASE status
           WHEN 'pending' THEN created_at
           WHEN 'sleeping' THEN %(now)s + (i %% 1000 + 1) * interval '1 minute'
           WHEN 'running' THEN %(now)s + interval '10 minutes'
           WHEN 'waiting' THEN CASE WHEN i %% 200 = 109 THEN %(now)s + interval '1 day' END
       END,
       CASE WHEN status = 'waiting' THEN CASE WHEN i %% 1000 = 21 THEN 'children' ELSE 'go' END
       END,
       CASE WHEN status = 'running' THEN 1 ELSE 0 END,
       CASE WHEN status = 'running' THEN 'gone' END,
       2
  FROM (
    SELECT i, 'e' || lpad(i::text, 8, '0') AS id, 'e' || lpad((i - 1)::text, 8, '0') AS up,
           CASE
               WHEN i %% 10 = 2 THEN CASE WHEN i %% 1000 = 22 THEN 'running' ELSE 'completed' END
               WHEN i %% 10 = 0 THEN 'pending'
               WHEN i %% 50 = 1 THEN 'failed'
               WHEN i %% 200 = 3 THEN 'cancelled'
               WHEN i %% 1000 = 5 THEN 'stalled'
               WHEN i %% 50 = 7 THEN 'sleeping'
               WHEN i %% 100 = 9 THEN 'waiting'
               WHEN i %% 1000 = 11 THEN 'running'
               WHEN i %% 1000 = 21 THEN 'waiting'
               ELSE 'completed'
           END AS status,
           %(t0)s + i * %(step)s AS created_at
      FROM generate_series(1, %(n)s) AS i
  ) AS shaped
"""

_PG_RECORDS = """
INSERT INTO {records} (execution_id, name, seq, kind, status, step, result, attempts, child_id,
                       created_at, updated_at, run, execution_attempt)
SELECT 'e' || lpad(i::text, 8, '0'), log.name, log.seq, log.kind,
       CASE WHEN log.kind = 'step' THEN 'completed' ELSE 'pending' END,
       CASE WHEN log.kind = 'step' THEN 'bench.' || log.name ELSE 'child' END,
       CASE WHEN log.kind = 'step' THEN '42'::json END,
       CASE WHEN log.kind = 'step' THEN 1 ELSE 0 END,
       CASE WHEN log.kind = 'schedule' THEN 'e' || lpad((i + 1)::text, 8, '0') END,
       %(t0)s + i * %(step)s, %(t0)s + i * %(step)s, 1, 1
  FROM generate_series(1, %(n)s, 10) AS i,
       (VALUES (1, 'a', 'step'), (2, 'c', 'schedule'), (3, 'b', 'step')) AS log (seq, name, kind)
"""

_PG_INDEXES = """
SELECT indexname, indexdef FROM pg_indexes
 WHERE schemaname = %(schema)s AND tablename IN ('executions', 'records')
   AND indexname NOT IN (SELECT conname FROM pg_constraint
                          WHERE connamespace = %(schema)s::regnamespace)
"""


def build_postgres(conn: Any, schema: str, n: int, now: datetime) -> None:
    """Fill a migrated, empty schema on an autocommit connection."""
    params = {"n": n, "now": now, "t0": now - AGE, "step": SPAN / n}
    with conn.transaction():
        conn.execute("SET LOCAL synchronous_commit = off")
        conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        indexes = conn.execute(_PG_INDEXES, {"schema": schema}).fetchall()
        for name, _ in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, name)))
        conn.execute(render(_PG_EXECUTIONS, schema, ""), params)
        conn.execute(render(_PG_RECORDS, schema, ""), params)
        for _, definition in indexes:
            conn.execute(definition)
    conn.execute(render("VACUUM (ANALYZE) {executions}", schema, ""))
    conn.execute(render("VACUUM (ANALYZE) {records}", schema, ""))
