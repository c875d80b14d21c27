"""``MySQLStore.create_in``: an execution written through the caller's own
mysqlclient connection, inside the caller's transaction, so it exists only
if that transaction commits.

MySQL tells nobody when another session commits, so the store cannot ring
right after the caller's COMMIT: it rings a few times over the next second
instead (``RINGS_AFTER``). A caller that commits later than that leaves the
execution to the workers' next look (their poll interval)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import MySQLdb
from MySQLdb.connections import Connection

from ... import records as r
from ...errors import ExecutionAlreadyExists
from .. import rows
from .connection import DUPLICATE_KEY, errno

if TYPE_CHECKING:
    from . import MySQLStore

RINGS_AFTER = (0.05, 0.25, 1.0)  # seconds after the insert
# Which server and database a connection is on, and whether the executions
# table is there.
_WHICH = (
    "SELECT DATABASE(), @@hostname, @@port, COUNT(*) FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %(table)s"
)


def create_in(store: MySQLStore, connection: Any, new: r.NewExecution) -> None:
    """Insert ``new`` through ``connection`` (not committed here); refuse,
    writing nothing, a connection of another kind or to another database."""
    from .values import naive as _t

    if not isinstance(connection, Connection):
        raise TypeError(
            "connection= must be a mysqlclient (MySQLdb) Connection to this store's database, "
            f"not {type(connection).__module__}.{type(connection).__name__}"
        )
    which = {"table": store.prefix + "executions"}
    theirs = _which(connection, which)
    ours = store._run("which", lambda conn: _which(conn, which))
    if theirs != ours:
        raise ValueError(
            f"connection= is a connection to database {theirs[0]!r} on {theirs[1]}:{theirs[2]}, "
            f"where {which['table']} is {'missing' if not theirs[3] else 'another table'}: "
            f"not to this store's database {ours[0]!r} on {ours[1]}:{ours[2]}"
        )
    params = {**rows.new_params(new), "now": _t(store.now())}
    cursor = connection.cursor()
    try:
        cursor.execute(store._q["create"], params)
    except MySQLdb.IntegrityError as exc:
        if errno(exc) != DUPLICATE_KEY:
            raise
        cursor.execute(store._q["status_of"], {"id": new.id})
        found = cursor.fetchone()
        raise ExecutionAlreadyExists(new.id, found[0] if found else None) from None
    finally:
        cursor.close()
    for delay in RINGS_AFTER:
        timer = threading.Timer(delay, store._ring)
        timer.daemon = True
        timer.start()


def _which(conn: Any, params: dict[str, str]) -> tuple[Any, ...]:
    cursor = conn.cursor()
    try:
        cursor.execute(_WHICH, params)
        return tuple(cursor.fetchone())
    finally:
        cursor.close()
