"""Which statements a store sends, named after its query files.

Every statement of the SQLite store that has a name goes through
``SqliteStore._run(conn, name, params)``, every statement of the
PostgreSQL store through ``PostgresStore._exec(conn, name, params)``, and
every round trip of the MySQL store through ``MySQLStore._send(conn,
steps)``: the tracers wrap those hooks for the names. What runs past them (transaction
control, the SQLite step upsert the store executes itself) is caught below
them, by sqlite3's trace callback on this thread's connection, and by
wrapping psycopg's ``Cursor.execute`` (every thread of this process).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class Trace(list[str]):
    """Statements a store sent (labels, in order), with the seconds each
    label's calls took where known (PostgreSQL) and, on SQLite, how many
    write transactions they made (each BEGIN IMMEDIATE, and each writing
    statement run in autocommit)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.writes = 0

    def work(self) -> list[str]:
        """The statements, without markers such as ``<pipeline>``."""
        return [x for x in self if not x.startswith("<")]


def shape(text: str) -> str:
    """A statement without its values, so that repeats count as one kind."""
    text = re.sub(r"'(?:[^']|'')*'", "?", " ".join(text.split()))
    text = re.sub(r"\b\d+\b", "?", text)
    cut = re.search(r" (WHERE|VALUES|SET|ON|\()", text[7:])
    return (text[: 7 + cut.start()] if cut else text)[:40].strip()


def _plain(text: str) -> str:
    lines = (ln for ln in text.splitlines() if not ln.strip().startswith("--"))
    return " ".join(" ".join(lines).split())


def _prefixes(queries: dict[str, str]) -> list[tuple[str, str]]:
    """Each statement's text up to its first parameter, longest first: a
    traced statement (values filled in) starts with its own."""
    found = []
    for name, text in queries.items():
        plain = _plain(text)
        cut = re.search(r"[:%]\(?\w", plain)
        found.append((plain[: cut.start()] if cut else plain, name))
    return sorted(found, key=lambda item: -len(item[0]))


class _SqliteTracer:
    """The trace callback of one sqlite3 connection, labelling statements."""

    def __init__(self, seen: Trace, queries: dict[str, str]) -> None:
        self.seen = seen
        self.prefixes = _prefixes(queries)
        self.named = threading.local()
        self.in_transaction = False

    def label(self, text: str) -> str:
        name = getattr(self.named, "name", None)
        if name is not None:
            self.named.name = None
            return str(name)
        plain = " ".join(text.split())
        for prefix, found in self.prefixes:
            if len(prefix) > 12 and plain.startswith(prefix):
                return found
        return shape(text)

    def __call__(self, text: str) -> None:
        head = text.lstrip().split(None, 1)[0].upper() if text.strip() else ""
        if head == "BEGIN":
            self.in_transaction = True
            self.seen.writes += "IMMEDIATE" in text.upper()
        elif head in ("COMMIT", "END", "ROLLBACK"):
            self.in_transaction = False
        elif head in _WRITES and not self.in_transaction:
            self.seen.writes += 1
        self.seen.append(self.label(text))


@contextlib.contextmanager
def sqlite_statements(store: Any) -> Iterator[Trace]:
    """Statements the SQLite store runs on this thread's connection."""
    from zart.stores.sqlite import SqliteStore
    from zart.stores.sqlite.connection import Q

    seen = Trace()
    tracer = _SqliteTracer(seen, Q)
    original = SqliteStore._run

    def run(self: Any, conn: Any, name: str, params: dict[str, Any]) -> Any:
        tracer.named.name = name
        try:
            return original(self, conn, name, params)
        finally:
            tracer.named.name = None

    conn = store._db.get()
    conn.set_trace_callback(tracer)
    SqliteStore._run = run  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        SqliteStore._run = original  # type: ignore[method-assign]
        conn.set_trace_callback(None)


class _PostgresTracer:
    """Replacements for ``PostgresStore._exec`` (names the statement) and
    psycopg's ``Cursor.execute`` and ``Connection.pipeline`` (record it,
    timed)."""

    def __init__(self, seen: Trace, originals: tuple[Any, Any, Any]) -> None:
        self.seen = seen
        self.originals = originals
        self.lock = threading.Lock()
        self.named = threading.local()

    def exec_(self, store: Any, conn: Any, name: str, params: dict[str, Any]) -> Any:
        self.named.name = name
        try:
            return self.originals[0](store, conn, name, params)
        finally:
            self.named.name = None

    def execute(self, conn: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        label = getattr(self.named, "name", None) or _raw_label(query)
        self.named.name = None
        t0 = time.perf_counter()
        try:
            return self.originals[1](conn, query, params, **kw)
        finally:
            with self.lock:
                self.seen.append(label)
                self.seen.seconds[label] += time.perf_counter() - t0

    @contextlib.contextmanager
    def pipeline(self, conn: Any, *a: Any, **kw: Any) -> Iterator[Any]:
        with self.lock:
            self.seen.append("<pipeline>")
        t0 = time.perf_counter()
        try:
            with self.originals[2](conn, *a, **kw) as p:
                yield p
        finally:
            with self.lock:
                self.seen.seconds["<pipeline>"] += time.perf_counter() - t0


@contextlib.contextmanager
def postgres_statements(store: Any) -> Iterator[Trace]:
    """Statements this process sends to PostgreSQL, with the seconds each
    ``execute`` waited (in pipeline mode, only the queueing: the block is
    timed whole as ``<pipeline>``)."""
    import psycopg

    from zart.stores.postgres import PostgresStore

    seen = Trace()
    conn_class = psycopg.Connection
    # Cursor.execute, not Connection.execute: the store runs most statements
    # on a cursor it keeps, and Connection.execute goes through a cursor too.
    cursor_class = psycopg.Cursor
    originals = (PostgresStore._exec, cursor_class.execute, conn_class.pipeline)
    tracer = _PostgresTracer(seen, originals)

    def exec_(self: Any, conn: Any, name: str, params: dict[str, Any]) -> Any:
        return tracer.exec_(self, conn, name, params)

    def execute(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        return tracer.execute(self, query, params, **kw)

    def pipeline(self: Any, *a: Any, **kw: Any) -> Any:
        return tracer.pipeline(self, *a, **kw)

    targets = ((PostgresStore, "_exec"), (cursor_class, "execute"), (conn_class, "pipeline"))
    for (owner, attr), value in zip(targets, (exec_, execute, pipeline), strict=True):
        setattr(owner, attr, value)
    try:
        yield seen
    finally:
        for (owner, attr), value in zip(targets, originals, strict=True):
            setattr(owner, attr, value)


def _raw_label(query: Any) -> str:
    """A statement sent past ``_exec`` (BEGIN, COMMIT, the schema's DDL)."""
    text = query.decode() if isinstance(query, bytes) else str(query)
    plain = " ".join(text.split())
    return plain if len(plain) <= 12 else "sql:" + plain[:36]


@contextlib.contextmanager
def mysql_statements(store: Any) -> Iterator[Trace]:
    """What this process sends to MySQL: every statement of the MySQL store
    goes through ``MySQLStore._send(conn, steps)``, several named
    statements in one round trip. A round trip is one entry, labelled with
    its statements' names joined by ``+``, and timed (every thread of this
    process)."""
    from zart.stores.mysql import MySQLStore

    seen = Trace()
    lock = threading.Lock()
    original = MySQLStore._send

    def send(self: Any, conn: Any, steps: Any) -> Any:
        label = "+".join(name for name, _ in steps)
        t0 = time.perf_counter()
        try:
            return original(self, conn, steps)
        finally:
            with lock:
                seen.append(label)
                seen.seconds[label] += time.perf_counter() - t0

    MySQLStore._send = send  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        MySQLStore._send = original  # type: ignore[method-assign]
