"""MySQL plumbing: the URL, the driver, one connection's statements, and
running an operation on a pooled connection with its retries.

The driver is mysqlclient (``MySQLdb``, libmariadb/libmysqlclient under a
thin C layer): bench/README.md has the figures that chose it over PyMySQL.
Parameters are interpolated by the driver (escaped literals, as both
drivers always do), which lets several statements travel in one packet:
connections run with ``MULTI_STATEMENTS``, and a store operation sends its
statements together, reading one result per statement. ``FOUND_ROWS`` makes
an UPDATE count the rows it matched, not only those it changed, so a fenced
write that sets a row to what it was still counts as done.

Every connection runs in autocommit with READ COMMITTED: a claim's
``FOR UPDATE SKIP LOCKED`` then locks the rows it takes and no gaps, so
inserts and other claimers never wait on it.
"""

from __future__ import annotations

import logging
import re
import select
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs
import MySQLdb as driver
from MySQLdb.constants import CLIENT

from ... import settings
from ...errors import StoreError, WriteRejected
from ..connect import redact
from .pool import Pool, PoolTimeout

log = logging.getLogger("zart")
T = TypeVar("T")
Conn = Any  # a driver connection: MySQLdb ships no type hints

SCHEMES = ("mysql://", "mariadb://")
OWN_PARAMS = ("prefix", "max_payload", "connect_timeout", "unix_socket")
FLAGS = CLIENT.MULTI_STATEMENTS | CLIENT.FOUND_ROWS
CONFLICT_RETRIES = 5
# Server and client error numbers, by what zart does about them.
DUPLICATE_KEY = 1062
INTERRUPTED = 1317  # KILL QUERY ended the statement (a wake-up, see wake.py)
# A deadlock rolls the whole transaction back: running it again is safe.
# A lock wait timeout rolls back the statement; the operation rolls back
# the rest and runs again.
CONFLICTS = frozenset({1213, 1205})
# The connection is gone: server gone away, lost during a query, killed,
# the server shutting down, closed for inactivity.
LOST = frozenset({2006, 2013, 2055, 1927, 1053, 4031, 2002, 2003})
# The server refuses the values themselves; the same write would be refused
# again: too long, bad text, out of range, bad date, a CHECK (JSON_VALID)
# failed, a row or packet too large.
REFUSED = frozenset({1406, 1366, 1264, 1292, 4025, 3819, 3140, 1118, 1153, 1301})
# A table name in a statement: {executions}; {{ and }} are literal braces.
_PLACEHOLDER = re.compile(r"(?<!\{)\{(\w+)\}(?!\})")
_IDENTIFIER = 64  # characters in a MySQL table or index name


@attrs.frozen(kw_only=True)
class Target:
    """Where to connect, from the URL."""

    host: str
    port: int
    user: str | None
    password: str | None
    database: str
    unix_socket: str | None = None
    connect_timeout: float = 10.0

    def options(self) -> dict[str, Any]:
        given: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "database": self.database,
            "connect_timeout": max(1, round(self.connect_timeout)),
        }
        if self.user is not None:
            given["user"] = self.user
        if self.password is not None:
            given["password"] = self.password
        if self.unix_socket is not None:
            given["unix_socket"] = self.unix_socket
        return given


def parse_url(url: str) -> tuple[Target, dict[str, str]]:
    """``mysql://user:pass@host:3306/db?prefix=z_``: the target, and zart's
    own parameters (``prefix``, ``max_payload``); ValueError if malformed."""
    if not url.startswith(SCHEMES):
        raise ValueError("a MySQL URL starts with mysql:// or mariadb://")
    parts = urlsplit(url)
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise ValueError("name the database: mysql://user@host:3306/DATABASE")
    given: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in OWN_PARAMS:
            raise ValueError(f"unknown parameter {key!r} (it takes {', '.join(OWN_PARAMS)})")
        if key in given:
            raise ValueError(f"{key} is given twice")
        given[key] = value
    try:
        port = parts.port or 3306
    except ValueError:
        raise ValueError(
            f"the port is not a number in {parts.netloc.rpartition('@')[2]!r}"
        ) from None
    timeout = given.get("connect_timeout")
    target = Target(
        host=parts.hostname or "localhost",
        port=port,
        user=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        database=database,
        unix_socket=given.get("unix_socket") or None,
        connect_timeout=10.0
        if timeout is None
        else settings.parse_seconds("connect_timeout", timeout),
    )
    return target, given


def render(template: str, prefix: str, fill: dict[str, str] | None = None) -> str:
    """A statement with its table names filled in: ``{t}`` becomes the
    quoted table ``<prefix>t``, ``{name_x}`` the bare name ``<prefix>x``
    (indexes, constraints); ``fill`` gives other words (the collation, the
    wake-up channel: letters, digits and underscores only)."""
    words = fill or {}

    def name(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in words:
            return words[key]
        if key.startswith("name_"):
            return _quoted(prefix + key.removeprefix("name_"))
        return _quoted(prefix + key)

    return _PLACEHOLDER.sub(name, template).replace("{{", "{").replace("}}", "}")


def _quoted(identifier: str) -> str:
    if len(identifier) > _IDENTIFIER:
        raise StoreError(f"MySQL names hold {_IDENTIFIER} characters at most: {identifier!r}")
    return "`" + identifier.replace("`", "``") + "`"


def errno(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


@attrs.frozen
class Result:
    """What one statement of a batch answered: rows matched (or inserted),
    and the rows it returned."""

    rowcount: int
    rows: tuple[tuple[Any, ...], ...]

    def first(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


class BatchError(Exception):
    """A statement of a batch failed: ``index`` tells which, ``done`` holds
    the results of those before it (statements after it never ran)."""

    def __init__(self, index: int, done: list[Result], cause: BaseException) -> None:
        super().__init__(str(cause))
        self.index, self.done, self.cause = index, done, cause


def send(conn: Conn, statements: Sequence[tuple[str, dict[str, Any] | None]]) -> list[Result]:
    """Run statements in one round trip; one ``Result`` each, in order."""
    if not statements:
        return []
    cursor = conn.cursor()
    try:
        if len(statements) == 1:
            text, params = statements[0]
            _execute(cursor, 0, [], text, params)
        else:
            joined = ";\n".join(
                text if params is None else cursor.mogrify(text, params)
                for text, params in statements
            )
            _execute(cursor, 0, [], joined, None)
        results = [Result(cursor.rowcount, tuple(cursor.fetchall()))]
        while len(results) < len(statements):
            try:
                cursor.nextset()
            except driver.Error as exc:
                raise BatchError(len(results), results, exc) from exc
            results.append(Result(cursor.rowcount, tuple(cursor.fetchall())))
        return results
    finally:
        cursor.close()


def script(conn: Conn, text: str) -> None:
    """Run a script of several statements (a schema, a migration), reading
    every result; BatchError names the statement that failed."""
    cursor = conn.cursor()
    index = 0
    try:
        _execute(cursor, 0, [], text, None)
        while True:
            index += 1
            try:
                if not cursor.nextset():
                    return
            except driver.Error as exc:
                raise BatchError(index, [], exc) from exc
    finally:
        cursor.close()


def _execute(
    cursor: Any, index: int, done: list[Result], text: str, params: dict[str, Any] | None
) -> None:
    try:
        cursor.execute(text, params)
    except driver.Error as exc:
        raise BatchError(index, done, exc) from exc


def stale(conn: Conn) -> bool:
    """Whether the server hung up on an idle connection (a restart, a KILL,
    wait_timeout): a zero-wait poll spots it with no round trip."""
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError, driver.Error):
        return True


class Database:
    """The store's connections: the pool, and operations run on it."""

    def __init__(
        self,
        target: Target,
        url: str,
        session: Sequence[str],
        sizes: tuple[int, float],
    ) -> None:
        self.target = target
        self._url = url
        self._session = list(session)  # statements every new connection runs first
        max_size, pool_timeout = sizes
        self.pool = Pool(self.direct, max_size, pool_timeout, stale)

    def direct(self) -> Conn:
        """A new connection, outside the pool's count (migrations, checks,
        the wake-up listener)."""
        try:
            conn = driver.connect(
                **self.target.options(), charset="utf8mb4", autocommit=True, client_flag=FLAGS
            )
        except driver.Error as exc:
            raise self.error("cannot connect to", exc) from exc
        try:
            send(conn, [(text, None) for text in self._session])
        except BatchError as exc:
            conn.close()
            raise self.error("cannot set up a connection to", exc.cause) from exc.cause
        return conn

    def close(self) -> None:
        self.pool.close()

    def error(
        self, what: str, exc: BaseException, kind: type[StoreError] = StoreError
    ) -> StoreError:
        text = str(exc)
        if self.target.password:
            text = text.replace(self.target.password, "***")
        return kind(f"MySQL store {what} {redact(self._url)}: {text}")

    def run(
        self,
        what: str,
        op: Callable[[Conn], T],
        *,
        retry: bool = True,
        reconnecting: Callable[[], None] | None = None,
    ) -> T:
        """Run ``op`` on a pooled connection. A lost connection is retried
        once on a fresh one when ``retry`` (the operation is fenced or
        read-only, so a repeat is harmless), after calling ``reconnecting``;
        deadlocks and lock wait timeouts, rolled back, a few times."""
        conflicts = 0
        reconnected = False
        while True:
            try:
                return self._once(op)
            except PoolTimeout as exc:
                raise self.error(f"{what} got no connection to", exc) from exc
            except driver.Error as exc:
                code = errno(exc)
                if code in CONFLICTS:
                    conflicts += 1
                    if conflicts < CONFLICT_RETRIES:
                        continue
                    raise self.error(f"{what} kept conflicting on", exc) from exc
                if code in REFUSED or isinstance(exc, driver.DataError):
                    raise self.error(f"{what} was refused by", exc, WriteRejected) from exc
                if code not in LOST and not isinstance(exc, driver.InterfaceError):
                    raise self.error(f"{what} failed on", exc) from exc
                if not retry or reconnected:
                    raise self.error(f"{what} lost its connection to", exc) from exc
                log.info("zart: %s lost its connection, retrying once: %s", what, exc)
                reconnected = True
                if reconnecting is not None:
                    reconnecting()

    def _once(self, op: Callable[[Conn], T]) -> T:
        """``op`` on a connection from the pool, given back clean: an error
        rolls back what the operation left open, or drops the connection."""
        conn = self.pool.get()
        try:
            result = op(conn)
        except BatchError as exc:
            self._give_back_after(conn, exc.cause)
            raise exc.cause from None
        except BaseException as exc:
            self._give_back_after(conn, exc)
            raise
        self.pool.put(conn)
        return result

    def _give_back_after(self, conn: Conn, exc: BaseException) -> None:
        if errno(exc) in LOST or isinstance(exc, driver.InterfaceError):
            self.pool.put(conn, broken=True)
            return
        try:
            conn.rollback()
        except driver.Error:
            self.pool.put(conn, broken=True)
            return
        self.pool.put(conn)
