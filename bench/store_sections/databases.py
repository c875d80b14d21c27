"""The databases under test and their baselines.

A fresh SQLite file in a temporary directory, opened with the store's
pragmas (WAL, the store's ``synchronous``), a fresh PostgreSQL schema or a
fresh MySQL database, dropped at the end. The baseline is the cheapest
durable write there is: one small JSON row inserted and committed per
transaction, in the store's own column type (``TEXT`` on SQLite, ``json``
on PostgreSQL, ``LONGTEXT`` checked by ``JSON_VALID`` on MySQL).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import zart
from bench.store_sections.tracing import (
    Trace,
    mysql_statements,
    postgres_statements,
    sqlite_statements,
)

DOC = {"kind": "step", "status": "completed", "result": 42, "attempts": 1}


class Database:
    """One store under test plus the raw connections its baseline uses."""

    name = ""
    url = ""
    flush_flag = ""  # the setting that turns the flush off
    count_unit = "statements"  # what (b) counts per client.run
    wake_mechanism = "LISTEN/NOTIFY"  # how (d)'s idle worker is woken
    warm_up = 0  # untimed commits a baseline connection makes first

    def open_store(self) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        """The settings that decide what a commit costs."""
        raise NotImplementedError

    def baseline(self, commits: int, durable: bool = True) -> float:
        """Seconds for ``commits`` single-row INSERT+COMMIT on one connection
        (``durable=False``: without waiting for the flush, for diagnosis)."""
        raise NotImplementedError

    def baseline_concurrent(self, threads: int, per_thread: int) -> float:
        """Seconds for ``threads`` connections doing ``per_thread`` single-row
        INSERT+COMMITs each, all at once."""
        conns = [self._connect() for _ in range(threads)]
        try:
            for c in conns:
                self._loop(c, self.warm_up)
            return run_threads([functools.partial(self._loop, c, per_thread) for c in conns])
        finally:
            for c in conns:
                c.close()

    def _connect(self) -> Any:
        raise NotImplementedError

    def _loop(self, conn: Any, commits: int) -> None:
        raise NotImplementedError

    def unflushed_store(self) -> Any:
        """The store on the same database, committing without waiting for
        the flush (synchronous=OFF / synchronous_commit=off), for diagnosis."""
        raise NotImplementedError

    def cleanup(self) -> None:
        raise NotImplementedError

    def wal_bytes(self, run: Callable[[], object]) -> int:
        """Bytes of write-ahead log that ``run()`` wrote."""
        raise NotImplementedError

    def server_cpu(self) -> float | None:
        """CPU seconds the database server has used so far (None: no server)."""
        return None

    def count_statements(self, store: Any) -> contextlib.AbstractContextManager[Trace]:
        raise NotImplementedError


def run_threads(jobs: Sequence[Callable[[], None]]) -> float:
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


# -- SQLite ---------------------------------------------------------------------------


class SqliteDatabase(Database):
    name = "SQLite"
    flush_flag = "synchronous=OFF"
    count_unit = "write transactions"

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="zart-bench-")
        self.path = os.path.join(self.dir, "zart.db")
        self.url = "sqlite:///" + self.path
        self.synchronous = "FULL"
        self.busy_timeout = 30.0

    def open_store(self) -> Any:
        store = zart.connect(self.url)  # SQLite: created and migrated
        # The store's settings, for the baseline's connections (not public).
        self.synchronous = store._db.synchronous  # type: ignore[attr-defined]
        self.busy_timeout = store._db.busy_timeout  # type: ignore[attr-defined]
        with contextlib.closing(self._connect()) as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS bench_baseline (id INTEGER PRIMARY KEY, doc TEXT)"
            )
        return store

    def describe(self) -> str:
        return (
            f"SQLite {sqlite3.sqlite_version}, journal_mode=WAL, "
            f"synchronous={self.synchronous}, file in {self.dir}"
        )

    def _connect(self, durable: bool = True) -> sqlite3.Connection:
        # The store's pragmas (zart.stores.sqlite.connection.Connections._open).
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        assert mode == "wal", mode
        conn.execute(f"PRAGMA synchronous={self.synchronous if durable else 'OFF'}")
        return conn

    def unflushed_store(self) -> Any:
        from zart.stores.sqlite import SqliteStore

        return SqliteStore(self.path, synchronous="OFF", busy_timeout=self.busy_timeout)

    def wal_bytes(self, run: Callable[[], object]) -> int:
        """Frames appended to an emptied WAL (keep ``run`` under the 1,000-page
        auto-checkpoint), times the frame size."""
        with contextlib.closing(self._connect()) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            run()
            _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            (page,) = conn.execute("PRAGMA page_size").fetchone()
            return int(frames) * (int(page) + 24)

    def _loop(self, conn: sqlite3.Connection, commits: int) -> None:
        doc = json.dumps(DOC)
        for _ in range(commits):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO bench_baseline (doc) VALUES (?)", (doc,))
            conn.execute("COMMIT")

    def baseline(self, commits: int, durable: bool = True) -> float:
        with contextlib.closing(self._connect(durable)) as conn:
            self._loop(conn, 5)
            start = time.perf_counter()
            self._loop(conn, commits)
            return time.perf_counter() - start

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def count_statements(self, store: Any) -> contextlib.AbstractContextManager[Trace]:
        return sqlite_statements(store)


# -- PostgreSQL -----------------------------------------------------------------------


def _postgres_processes() -> dict[int, list[str]]:
    """The /proc/<pid>/stat fields (after the command) of local postgres processes."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        if text[text.index("(") + 1 : text.rindex(")")] == "postgres":
            found[int(entry)] = text[text.rindex(")") + 2 :].split()
    return found


class PostgresDatabase(Database):
    name = "PostgreSQL"
    flush_flag = "synchronous_commit=off"
    warm_up = 10  # past psycopg's prepare threshold, as the store is

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

    @staticmethod
    def server_start(url: str) -> datetime | None:
        """When the server started (None while it is unreachable), waiting up
        to 60 s for a restarting server to come back."""
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(url, connect_timeout=3) as conn:
                    row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
                    return row[0] if row else None
            except psycopg.Error:
                if time.monotonic() > deadline:
                    return None
                time.sleep(1)

    def server_cpu(self) -> float | None:
        """All local ``postgres`` processes' CPU, plus what the postmaster's
        reaped children (closed backends) used; None if the server is remote."""
        from urllib.parse import urlsplit

        if urlsplit(self.base_url).hostname not in ("127.0.0.1", "localhost", "::1"):
            return None
        tick = os.sysconf("SC_CLK_TCK")
        stats = _postgres_processes()
        total = 0.0
        for fields in stats.values():
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            if int(fields[1]) not in stats:  # the postmaster: add its reaped children
                total += (int(fields[13]) + int(fields[14])) / tick  # cutime, cstime
        return total if stats else None

    def _connect(self, durable: bool = True) -> Any:
        import psycopg

        options: dict[str, Any] = {} if durable else {"options": "-c synchronous_commit=off"}
        return psycopg.connect(self.base_url, autocommit=True, **options)

    def unflushed_store(self) -> Any:
        from psycopg.conninfo import make_conninfo

        from zart.stores.postgres import PostgresStore

        dsn = make_conninfo(self.base_url, options="-c synchronous_commit=off")
        return PostgresStore(dsn, schema=self.schema)

    def open_store(self) -> Any:
        store = zart.connect(self.url, migrate=True)
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
            self._loop(conn, self.warm_up)
            start = time.perf_counter()
            self._loop(conn, commits)
            return time.perf_counter() - start

    def describe(self) -> str:
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

    def count_statements(self, store: Any) -> contextlib.AbstractContextManager[Trace]:
        return postgres_statements(store)


# -- MySQL / MariaDB ------------------------------------------------------------------


def _mysql_server_processes() -> list[list[str]]:
    """The /proc/<pid>/stat fields (after the command) of local mariadbd/mysqld."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        if text[text.index("(") + 1 : text.rindex(")")] in ("mariadbd", "mysqld"):
            found.append(text[text.rindex(")") + 2 :].split())
    return found


class MySQLDatabase(Database):
    """A scratch database on a MySQL/MariaDB server, dropped at the end. The
    baseline table keeps its document the way the store does (LONGTEXT
    checked by JSON_VALID), written through the same driver (mysqlclient)
    in autocommit: each INSERT is its own transaction, flushed as
    innodb_flush_log_at_trx_commit says."""

    name = "MySQL"
    flush_flag = "innodb_flush_log_at_trx_commit=2"
    warm_up = 10
    count_unit = "round trips"
    wake_mechanism = "SLEEP + KILL QUERY, bell"

    def __init__(self, base_url: str) -> None:
        from urllib.parse import urlsplit, urlunsplit

        self.base_url = base_url
        self.database = f"zart_bench_{uuid.uuid4().hex[:10]}"
        self.url = urlunsplit(urlsplit(base_url)._replace(path="/" + self.database))
        self._created = False

    @staticmethod
    def _admin(url: str) -> Any:
        """A plain driver connection (autocommit) to ``url``'s database."""
        import MySQLdb

        from zart.stores.mysql.connection import parse_url

        target, _ = parse_url(url)
        return MySQLdb.connect(**target.options(), charset="utf8mb4", autocommit=True)

    @staticmethod
    def reachable(url: str) -> str | None:
        try:
            with MySQLDatabase._admin(url) as conn:
                conn.cursor().execute("SELECT 1")
        except Exception as exc:
            return str(exc).strip()
        return None

    def _connect(self, database: bool = True) -> Any:
        return self._admin(self.url if database else self.base_url)

    def _query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self._connect() as conn:
            cursor = conn.cursor()
            cursor.execute(sql, args or None)
            return list(cursor.fetchall())

    def open_store(self) -> Any:
        with self._connect(database=False) as conn:
            conn.cursor().execute(f"CREATE DATABASE `{self.database}` CHARACTER SET utf8mb4")
        self._created = True
        store = zart.connect(self.url, migrate=True)
        self._query(
            "CREATE TABLE bench_baseline (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
            "doc LONGTEXT NOT NULL CHECK (JSON_VALID(doc))) ENGINE = InnoDB"
        )
        return store

    def describe(self) -> str:
        names = (
            "version",
            "innodb_flush_log_at_trx_commit",
            "innodb_flush_method",
            "sync_binlog",
            "log_bin",
        )
        values = self._query("SELECT " + ", ".join(f"@@{n}" for n in names))[0]
        return ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=True))

    @contextlib.contextmanager
    def _flushing(self, level: int) -> Any:
        """The server's innodb_flush_log_at_trx_commit set to ``level`` for a
        while (a global: only for diagnosis, restored after)."""
        (before,) = self._query("SELECT @@GLOBAL.innodb_flush_log_at_trx_commit")[0]
        self._query("SET GLOBAL innodb_flush_log_at_trx_commit = %s", level)
        try:
            yield
        finally:
            self._query("SET GLOBAL innodb_flush_log_at_trx_commit = %s", before)

    def _loop(self, conn: Any, commits: int) -> None:
        cursor = conn.cursor()
        doc = json.dumps(DOC)
        for _ in range(commits):
            cursor.execute("INSERT INTO bench_baseline (doc) VALUES (%s)", (doc,))

    def baseline(self, commits: int, durable: bool = True) -> float:
        with contextlib.ExitStack() as stack:
            if not durable:
                stack.enter_context(self._flushing(2))
            conn = stack.enter_context(self._connect())
            self._loop(conn, self.warm_up)
            start = time.perf_counter()
            self._loop(conn, commits)
            return time.perf_counter() - start

    def unflushed_store(self) -> Any:
        """The store, with the server not flushing at commit until it is closed."""
        flushing = self._flushing(2)
        flushing.__enter__()
        store = zart.connect(self.url)
        close = store.close

        def closing() -> None:
            close()
            flushing.__exit__(None, None, None)

        store.close = closing  # type: ignore[method-assign]
        return store

    def wal_bytes(self, run: Callable[[], object]) -> int:
        """The redo log's sequence number before and after (MariaDB's
        Innodb_lsn_current; other sessions count too: an upper bound)."""
        query = "SHOW GLOBAL STATUS LIKE 'Innodb_lsn_current'"
        found = self._query(query)
        if not found:
            run()
            return 0
        before = int(found[0][1])
        run()
        return int(self._query(query)[0][1]) - before

    def server_cpu(self) -> float | None:
        """The local server process's CPU (all its threads); None if remote."""
        from urllib.parse import urlsplit

        if urlsplit(self.base_url).hostname not in ("127.0.0.1", "localhost", "::1"):
            return None
        tick = os.sysconf("SC_CLK_TCK")
        stats = _mysql_server_processes()
        return sum((int(f[11]) + int(f[12])) / tick for f in stats) if stats else None

    def cleanup(self) -> None:
        if not self._created:
            return
        try:
            with self._connect(database=False) as conn:
                conn.cursor().execute(f"DROP DATABASE IF EXISTS `{self.database}`")
        except Exception as exc:
            print(f"could not drop database {self.database}: {exc}", file=sys.stderr)

    def count_statements(self, store: Any) -> contextlib.AbstractContextManager[Trace]:
        return mysql_statements(store)
