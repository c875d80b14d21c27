"""PostgreSQL plumbing: the URL, the pool, running an operation with its
retries, LISTEN for wake-ups.

The store's clock is the server's (``zart.stores.serverclock``), read from
``clock_timestamp()`` in every claim and heartbeat.
"""

from __future__ import annotations

import contextlib
import logging
import re
import select
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolTimeout

from ... import settings
from ...errors import StoreError, WriteRejected
from ..connect import redact

log = logging.getLogger("zart")
T = TypeVar("T")
Conn = psycopg.Connection[tuple[Any, ...]]

OWN_PARAMS = ("schema", "prefix", "max_payload")
# Deadlocks and serialization failures roll the whole transaction back, so
# running it again is safe; they are rare, so a few tries are plenty.
CONFLICT_RETRIES = 5
OPEN_TX = (TransactionStatus.INTRANS, TransactionStatus.INERROR)
# What the server (or psycopg, before sending) refuses in a write's values:
# data exceptions (SQLSTATE class 22, NUL in text included) and program
# limits (class 54). The same write would be refused again.
REFUSED = (psycopg.DataError, psycopg.errors.ProgramLimitExceeded)
# A table name in a statement: {executions}; {{ and }} are literal braces.
_PLACEHOLDER = re.compile(r"(?<!\{)\{(\w+)\}(?!\})")


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """The URL without zart's own query parameters, and those parameters."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in pairs if k in OWN_PARAMS}
    # libpq decodes %20 but not "+": quote spaces the way it reads them.
    rest = urlencode([(k, v) for k, v in pairs if k not in OWN_PARAMS], quote_via=quote)
    if not parts.scheme:  # a key=value conninfo string: no query to split
        return url, ours
    # Not urlunsplit: it drops the "//" of a URL with no host
    # (postgresql:///db, the local socket), which libpq then cannot read.
    base = f"{parts.scheme}://{parts.netloc}{parts.path}" + (f"?{rest}" if rest else "")
    return base + (f"#{parts.fragment}" if parts.fragment else ""), ours


def url_seconds(url: str, base: str, name: str, default: float) -> float:
    """The seconds parameter ``name`` of ``base`` gives, else ``default``."""
    text = conninfo_to_dict(base).get(name)
    if text is None:
        return default
    try:
        return settings.parse_seconds(name, str(text))
    except ValueError as exc:
        raise StoreError(f"bad PostgreSQL URL {redact(url)}: {exc}") from None


def conninfo(url: str, connect_timeout: float, application_name: str | None) -> str:
    given = conninfo_to_dict(url)
    # Timestamps come back in UTC (as datetime.timezone.utc), whatever the
    # server's TimeZone, without a SET on every new connection.
    options = f"{given.get('options') or ''} -c TimeZone=UTC".strip()
    return make_conninfo(
        url,
        connect_timeout=max(1, round(connect_timeout)),
        application_name=application_name or given.get("application_name") or "zart",
        options=options,
    )


def render(template: str, schema: str | None, prefix: str) -> bytes:
    """Fill a statement's table names with quoted identifiers: ``{schema}``,
    ``{name_x}`` (the bare ``<prefix>x``), and any other ``{t}``, the table
    ``<prefix>t``, schema-qualified when there is a schema."""
    names: dict[str, sql.Composable] = {}
    for key in set(_PLACEHOLDER.findall(template)):
        if key == "schema":
            names[key] = sql.Identifier(schema or "public")
        elif key.startswith("name_"):
            names[key] = sql.Identifier(prefix + key.removeprefix("name_"))
        elif schema:
            names[key] = sql.Identifier(schema, prefix + key)
        else:
            names[key] = sql.Identifier(prefix + key)
    return sql.SQL(template).format(**names).as_bytes(None)


def configure(conn: Conn) -> None:
    """Documents come back as the text stored, read by zart's own codec
    (``serde.loads``), as on every store."""
    conn.adapters.register_loader("json", TextLoader)


def stale(conn: Conn) -> bool:
    """Whether the server hung up on an idle connection (a restart,
    pg_terminate_backend): a zero-wait poll spots that with no round trip.
    (poll, not select: select cannot watch descriptors above 1023.)"""
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError, psycopg.Error):
        return True


@contextlib.contextmanager
def transaction(conn: Conn) -> Iterator[None]:
    """One transaction in pipeline mode on an autocommit connection: BEGIN
    rides with the first statement and COMMIT with the last. The block may
    ``conn.pipeline().sync()`` to read results halfway."""
    try:
        with conn.pipeline():
            conn.execute(b"BEGIN", prepare=False)
            yield
            conn.execute(b"COMMIT", prepare=False)
    except BaseException:
        if conn.pgconn.transaction_status in OPEN_TX:
            with contextlib.suppress(psycopg.Error):
                conn.execute(b"ROLLBACK", prepare=False)
        raise


class _CleanupErrors(logging.Filter):
    """psycopg's "error ignored ..." warnings: a pipeline, transaction or
    rollback whose cleanup failed after the error zart raises anyway."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error ignored ")


_CLEANUP_ERRORS = _CleanupErrors()


def _quiet_per_connection_lines() -> None:
    """In an outage psycopg and its pool warn once per connection (each
    dead connection found, each cleanup that failed after the error). zart
    says once per outage that the store failed, and when it answers again.
    The pool's warnings stay quiet unless the application set that logger's
    level; the cleanup lines are filtered out of psycopg's own logger."""
    pool_log = logging.getLogger("psycopg.pool")
    if pool_log.level == logging.NOTSET:
        pool_log.setLevel(logging.ERROR)
    logging.getLogger("psycopg").addFilter(_CLEANUP_ERRORS)  # once, however many stores


class Pool:
    """A psycopg pool of autocommit connections, opened on first use, and
    operations run on it with their retries."""

    def __init__(
        self,
        conninfo_: str,
        url: str,
        sizes: tuple[int, int],
        timeouts: tuple[float, float],
        name: str,
    ) -> None:
        self._conninfo = conninfo_
        self._url = url
        self._sizes = sizes
        self._timeouts = timeouts
        self._name = name
        self._lock = threading.Lock()
        self._pool: ConnectionPool[Conn] | None = None
        _quiet_per_connection_lines()

    def direct(self) -> Conn:
        """A connection outside the pool (migrations, checks)."""
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise self.error("cannot connect to", exc) from exc
        configure(conn)
        return conn

    def ready(self, before_open: Callable[[], None]) -> ConnectionPool[Conn]:
        pool = self._pool
        if pool is not None:
            return pool
        with self._lock:
            if self._pool is None:
                before_open()
                connect_timeout, pool_timeout = self._timeouts
                pool = ConnectionPool(
                    self._conninfo,
                    kwargs={"autocommit": True},
                    configure=configure,
                    min_size=self._sizes[0],
                    max_size=self._sizes[1],
                    timeout=pool_timeout,
                    name=self._name,
                    open=False,
                )
                try:
                    pool.open(wait=True, timeout=connect_timeout)
                except PoolTimeout as exc:
                    pool.close()
                    raise self.error("cannot fill its pool for", exc) from exc
                self._pool = pool
            return self._pool

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def error(
        self, what: str, exc: BaseException, kind: type[StoreError] = StoreError
    ) -> StoreError:
        text = str(exc)
        password = urlsplit(self._url).password
        if password:
            text = text.replace(password, "***")
        return kind(f"PostgreSQL store {what} {redact(self._url)}: {text}")

    def run(
        self,
        what: str,
        op: Callable[[Conn], T],
        before_open: Callable[[], None],
        *,
        retry: bool = True,
        reconnecting: Callable[[], None] | None = None,
    ) -> T:
        """Run ``op`` on a pooled connection. A lost connection is retried
        once on a fresh one when ``retry`` (the operation is fenced or
        read-only, so a repeat is harmless), after calling ``reconnecting``;
        deadlocks and serialization failures, which roll the whole
        transaction back, are retried a few times."""
        conflicts = 0
        reconnected = False
        while True:
            try:
                pool = self.ready(before_open)
                conn = pool.getconn()
                try:
                    for _ in range(pool.max_size):
                        if not stale(conn):
                            break
                        conn.close()  # the pool replaces a closed connection
                        pool.putconn(conn)
                        conn = pool.getconn()
                    return op(conn)
                finally:
                    pool.putconn(conn)
            except psycopg.errors.TransactionRollback as exc:
                conflicts += 1
                if conflicts >= CONFLICT_RETRIES:
                    raise self.error(f"{what} kept conflicting on", exc) from exc
            except PoolTimeout as exc:
                raise self.error(f"{what} got no connection to", exc) from exc
            except REFUSED as exc:
                # Before OperationalError: a program limit is one, and would be retried.
                raise self.error(f"{what} was refused by", exc, WriteRejected) from exc
            except psycopg.OperationalError as exc:
                if not retry or reconnected:
                    raise self.error(f"{what} lost its connection to", exc) from exc
                log.info("zart: %s lost its connection, retrying once: %s", what, exc)
                reconnected = True
                if reconnecting is not None:
                    reconnecting()
            except psycopg.Error as exc:
                raise self.error(f"{what} failed on", exc) from exc
