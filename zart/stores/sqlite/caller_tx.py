"""``SqliteStore.create_in``: an execution written through the caller's own
``sqlite3`` connection, inside the caller's transaction, so it exists only
if that transaction commits. Workers in any process see the file change
once it does (the doorbell watches the file)."""

from __future__ import annotations

import os
import sqlite3
from typing import TYPE_CHECKING, Any

from ... import records as r
from ...errors import ExecutionAlreadyExists
from .. import rows
from .connection import Q

if TYPE_CHECKING:
    from . import SqliteStore


def create_in(store: SqliteStore, connection: Any, new: r.NewExecution) -> None:
    """Insert ``new`` through ``connection`` (not committed here); refuse,
    writing nothing, a connection of another kind or to another file."""
    if not isinstance(connection, sqlite3.Connection):
        raise TypeError(
            f"connection= must be a sqlite3.Connection to this store's database "
            f"({store.url}), not {type(connection).__module__}.{type(connection).__name__}"
        )
    if store._db.memory:
        raise ValueError("a SQLite store in memory shares no database with another connection")
    theirs = _main_file(connection)
    if theirs is None or os.path.realpath(theirs) != os.path.realpath(store.path):
        raise ValueError(
            f"connection= is a connection to {theirs or 'an in-memory database'!r}, "
            f"not to this store's database {os.path.realpath(store.path)!r}"
        )
    store._db.check_schema(connection)
    params = {**rows.new_params(new), "now": rows.micros(store.now())}
    if connection.execute(Q["insert_execution"], params).fetchone() is None:
        status = connection.execute(Q["status_of"], {"id": new.id}).fetchone()
        raise ExecutionAlreadyExists(new.id, status[0] if status else None)


def _main_file(connection: sqlite3.Connection) -> str | None:
    for _, name, path in connection.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return str(path) or None
    return None
