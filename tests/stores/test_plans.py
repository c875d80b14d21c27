"""The plans of the statements that must stay fast on a large table.

Claims, wake-ups, listings, counts, the housekeeping statements and a log's
reads run against tables of a million executions (``bench/scale.py``
measures them there). Here each SQL store gets 30,000 executions, built in
SQL with the bench's own mix (``bench/scale_data.py``: most completed, a
backlog of due rows of task ``other``, none of task ``mine``, sleeping,
waiting and running rows, children), so that the planner chooses as it
does on a real table. EXPLAIN then shows, for each statement as the store
runs it (read from the store's own query table), that

- executions is never read whole through the table: an index range or an
  index walk in the statement's order (a count reads a whole index);
- the index meant for the statement is the one it uses;
- no sort runs where an index gives the order; the sorts left are over a
  bounded input, each named below with why.

SQLite is checked with statistics (ANALYZE) and without (zart never runs
ANALYZE, so a file in use has none). PostgreSQL is checked with the plans
for common values (the backlog's task) and for rare ones (a task with no
row), and with the generic plan of the prepared statement: psycopg
prepares a statement after five runs, and the server may then keep one
plan for any values. The generic plan is where a filter on a list of
tasks used to walk every due row of other tasks; listings, whose best plan
depends on the values, are never prepared (``PLANNED_EACH_TIME``).
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from bench.scale_data import build_postgres, build_sqlite
from tests.pg import postgres_url_or_skip, scratch_schema
from zart.stores import rows
from zart.stores.postgres import FINAL, PLANNED_EACH_TIME, PostgresStore
from zart.stores.sqlite import SqliteStore
from zart.stores.sqlite.connection import Q

ROWS = 30_000
NOW = datetime(2030, 1, 1, tzinfo=UTC)
LOGGED = "e00015031"  # a row i % 10 = 1: a log of three records, its child open or ended

# The index each statement must read executions (or the log's tables) through.
SQLITE_INDEXES = {
    "due": "executions_due",
    "due_of_tasks": "executions_task_due",
    "next_wake": "executions_due",
    "next_wake_of_tasks": "executions_task_due",
    "list_all": "executions_created",
    "list_by_status": "executions_status",
    "list_by_task": "executions_task",
    "list_by_status_and_task": "executions_task_status",
    "counts": "executions_status",
    "counts_of_task": "executions_task_status",
    "status_counts": "executions_task_status",
    "unknown_tasks": "executions_task_due",
    "wake_stranded": "executions_waiting_children",
    "load_head": "sqlite_autoindex_executions_1",
    "load_records": "sqlite_autoindex_executions_1",
    "load_events": "sqlite_autoindex_events_1",
    "load_messages": "messages_open",
}
# Sorts over a bounded input: the statement's own temporary B-tree.
SQLITE_BOUNDED_SORTS = {
    "due_of_tasks",  # at most :limit rows per task given (SQLITE_SHAPES), and the names
    "unknown_tasks",  # the distinct task names of due rows
    "load_events",  # one execution's events
    "load_messages",  # one execution's open messages
}

# How a statement over a list of tasks reads each task's range on its own.
SQLITE_SHAPES = {
    "due_of_tasks": "CORRELATED LIST SUBQUERY",
    "next_wake_of_tasks": "CORRELATED SCALAR SUBQUERY",
}

PG_INDEXES = {
    "claim": "executions_due",
    "claim_of_tasks": "executions_task_due",
    "next_wake": "executions_due",
    "next_wake_of_tasks": "executions_task_due",
    "list_all": "executions_created",
    "list_by_status": "executions_status",
    # list_by_task: for a common task, a walk of executions_created finds a
    # page as soon; for a rare one, executions_task (see PG_RARE_INDEXES).
    "list_by_status_and_task": "executions_task_status",
    "counts_of_task": "executions_task_status",
    "unknown_tasks": "executions_task_due",
    "wake_stranded": "executions_awaiting_children",
    "load_head": "executions_pkey",
    "load_records": "records_pkey",
}
# For a task with no row, any index led by the task finds nothing at once
# (list_by_status_and_task may take executions_task as well).
PG_RARE_INDEXES = {
    **{k: v for k, v in PG_INDEXES.items() if k != "list_by_status_and_task"},
    "list_by_task": "executions_task",
}
PG_BOUNDED_SORTS = {
    "unknown_tasks",  # the distinct task names of due rows
    "load_records",  # the records of the logs asked for
    "load_events",
    "load_messages",
}
# Counting reads every row, through an index or the table: PostgreSQL takes
# whichever costs less (here, rows this narrow, the table).
PG_WHOLE_READS = {"counts", "status_counts"}


# -- SQLite ------------------------------------------------------------------------------

_KEYWORDS = {"where", "set", "indexed", "group", "order", "limit", "join", "on", "left"}


def _aliases(text: str) -> set[str]:
    """The names executions goes by in a statement."""
    found = re.findall(r"\bexecutions\s+(?:AS\s+)?(\w+)", text, re.IGNORECASE)
    return {"executions"} | {a for a in found if a.lower() not in _KEYWORDS}


@pytest.fixture(scope="module", params=[True, False], ids=["analyzed", "no-statistics"])
def sqlite_file(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sqlite3.Connection]:
    path = str(tmp_path_factory.mktemp("plans") / "zart.db")
    store = SqliteStore(path)
    store.migrate()
    store.close()
    build_sqlite(path, ROWS, NOW, analyze=request.param)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        yield conn


def _sqlite_params() -> dict[str, Any]:
    return {
        "now": rows.micros(NOW),
        "limit": 10,
        "offset": 0,
        "tasks": json.dumps(["mine", "other"]),
        "known": json.dumps(["mine"]),
        "under": None,
        "status": "failed",
        "task": "other",
        "id": LOGGED,
        "num": 15031,
        "run": 1,
    }


@pytest.mark.parametrize("name", sorted(SQLITE_INDEXES))
def test_sqlite_statements_read_through_their_index(
    sqlite_file: sqlite3.Connection, name: str
) -> None:
    plan = [
        row[3] for row in sqlite_file.execute("EXPLAIN QUERY PLAN " + Q[name], _sqlite_params())
    ]
    whole = [
        line
        for line in plan
        if (m := re.fullmatch(r"SCAN (\w+)", line)) and m.group(1) in _aliases(Q[name])
    ]
    assert not whole, (name, plan)
    assert any(f"INDEX {SQLITE_INDEXES[name]}" in line for line in plan), (name, plan)
    assert SQLITE_SHAPES.get(name, "") in "\n".join(plan), (name, plan)
    if name not in SQLITE_BOUNDED_SORTS:
        assert not [line for line in plan if "TEMP B-TREE" in line], (name, plan)


def test_sqlite_claims_and_wake_ups_answer_on_the_large_table(
    sqlite_file: sqlite3.Connection,
) -> None:
    params = _sqlite_params()
    mine = {**params, "tasks": json.dumps(["mine"])}
    assert sqlite_file.execute(Q["due_of_tasks"], mine).fetchall() == []
    assert sqlite_file.execute(Q["next_wake_of_tasks"], mine).fetchone() == (None,)
    due = [eid for eid, _ in sqlite_file.execute(Q["due_of_tasks"], params)]
    assert due == [f"e{i:08d}" for i in range(10, 110, 10)]  # the backlog, oldest first


# -- PostgreSQL ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg() -> Iterator[tuple[psycopg.Connection[Any], PostgresStore]]:
    url = postgres_url_or_skip()
    with scratch_schema(url) as schema:
        store = PostgresStore(url, schema=schema)
        store.migrate()
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                build_postgres(conn, schema, ROWS, NOW)
                yield conn, store
        finally:
            store.close()


def _pg_params(store: PostgresStore, rare: bool = False) -> dict[str, Any]:
    if rare:
        return {**_pg_params(store), "tasks": ["mine"], "status": "stalled", "task": "mine"}
    return {
        "now": NOW,
        "until": NOW,
        "worker": "w",
        "limit": 10,
        "offset": 0,
        "tasks": ["mine", "other"],
        "known": ["mine"],
        "under": None,
        "final": FINAL,
        "channel": store.channel,
        "status": "failed",
        "task": "other",
        "id": LOGGED,
        "ids": [LOGGED],
        "runs": [1],
    }


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(_nodes(child))
    return found


def _custom_plan(conn: psycopg.Connection[Any], text: bytes, params: dict[str, Any]) -> Any:
    with conn.transaction(force_rollback=True):
        row = conn.execute(b"EXPLAIN (FORMAT JSON) " + text, params).fetchone()
    assert row is not None
    return row[0][0]["Plan"]


def _generic_plan(conn: psycopg.Connection[Any], text: bytes, params: dict[str, Any]) -> Any:
    """The plan the server keeps for a prepared statement whatever its values."""
    names: list[str] = []

    def number(match: re.Match[bytes]) -> bytes:
        name = match.group(1).decode()
        if name not in names:
            names.append(name)
        return b"$%d" % (names.index(name) + 1)

    prepared = re.sub(rb"%\((\w+)\)s", number, text).replace(b"%%", b"%")
    args = f"({', '.join(['%s'] * len(names))})" if names else ""
    conn.execute("SET plan_cache_mode = force_generic_plan")
    conn.execute(b"PREPARE zart_plan AS " + prepared)
    try:
        with conn.transaction(force_rollback=True):
            explain = f"EXPLAIN (FORMAT JSON) EXECUTE zart_plan{args}"
            cursor = psycopg.ClientCursor(conn)  # the values as literals of EXECUTE
            row = cursor.execute(explain, [params[n] for n in names]).fetchone()
    finally:
        conn.execute("DEALLOCATE zart_plan")
        conn.execute("RESET plan_cache_mode")
    assert row is not None
    return row[0][0]["Plan"]


def _unbounded(node: dict[str, Any]) -> bool:
    """Whether rows of executions reach ``node`` with no Limit or Aggregate
    between: a sort above it sorts as many rows as the table holds."""
    if node["Node Type"] in ("Limit", "Aggregate"):
        return False
    if node.get("Relation Name") == "executions" and "Scan" in node["Node Type"]:
        return True
    return any(_unbounded(child) for child in node.get("Plans", []))


def _sorts_rows(node: dict[str, Any]) -> bool:
    """A sort of executions' rows: not of the values given, of groups an
    aggregate made, or of the rows a Limit cut (each task's range)."""
    if node["Node Type"] not in ("Sort", "Incremental Sort"):
        return False
    return any(_unbounded(child) for child in node.get("Plans", []))


def _pg_cases() -> list[tuple[str, str]]:
    names = sorted({*PG_INDEXES, "list_by_task", *PG_WHOLE_READS})
    kinds = ("common values", "rare values", "generic")
    return [
        (name, kind)
        for name in names
        for kind in kinds
        if not (kind == "generic" and name in PLANNED_EACH_TIME)
    ]


@pytest.mark.postgres
@pytest.mark.parametrize(("name", "kind"), _pg_cases())
def test_postgres_statements_read_through_their_index(
    pg: tuple[psycopg.Connection[Any], PostgresStore], name: str, kind: str
) -> None:
    conn, store = pg
    explain = _generic_plan if kind == "generic" else _custom_plan
    nodes = _nodes(explain(conn, store._q[name], _pg_params(store, kind == "rare values")))
    reads = [
        n for n in nodes if n.get("Relation Name") == "executions" and "Scan" in n["Node Type"]
    ]
    assert reads, (name, nodes)
    if name not in PG_WHOLE_READS:
        assert all("Index" in n["Node Type"] for n in reads), (name, nodes)
    indexes = PG_RARE_INDEXES if kind == "rare values" else PG_INDEXES
    if name in indexes:
        assert indexes[name] in {n.get("Index Name") for n in nodes}, (name, nodes)
    if name not in PG_BOUNDED_SORTS:
        assert not [n for n in nodes if _sorts_rows(n)], (name, nodes)


@pytest.mark.postgres
def test_postgres_claims_and_wake_ups_answer_on_the_large_table(
    pg: tuple[psycopg.Connection[Any], PostgresStore],
) -> None:
    conn, store = pg
    params = _pg_params(store)
    mine = {**params, "tasks": ["mine"]}
    with conn.transaction(force_rollback=True):
        assert conn.execute(store._q["claim_of_tasks"], mine).fetchall() == []
        assert conn.execute(store._q["next_wake_of_tasks"], mine).fetchone() == (None,)
        taken = conn.execute(store._q["claim_of_tasks"], params).fetchall()
    assert sorted(row[0] for row in taken) == [f"e{i:08d}" for i in range(10, 110, 10)]
