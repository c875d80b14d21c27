"""``PostgresStore.create_in``: an execution written through the caller's
own psycopg connection, inside the caller's transaction, so it exists only
if that transaction commits. The statement notifies the workers' channel,
and PostgreSQL delivers a notification only when its transaction commits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg

from ... import records as r
from ...errors import ExecutionAlreadyExists

if TYPE_CHECKING:
    from . import PostgresStore

# The executions table as this connection resolves it: the same table (the
# same oid in the same database) or another database.
_WHICH = "SELECT current_database(), to_regclass(%(table)s)::oid"


def create_in(store: PostgresStore, connection: Any, new: r.NewExecution) -> None:
    """Insert ``new`` through ``connection`` (not committed here); refuse,
    writing nothing, a connection of another kind or to another database."""
    from . import _new

    if not isinstance(connection, psycopg.Connection):
        raise TypeError(
            "connection= must be a psycopg (3) Connection to this store's database, not "
            f"{type(connection).__module__}.{type(connection).__name__}"
        )
    which = {"table": store.table_name}
    theirs: tuple[Any, ...] = connection.execute(_WHICH, which).fetchone() or ("?", None)
    ours: tuple[Any, ...] = store._run("which", lambda conn: conn.execute(_WHICH, which).fetchone())
    if theirs != ours:
        raise ValueError(
            f"connection= is a connection to database {theirs[0]!r}, where "
            f"{store.table_name} is {'missing' if theirs[1] is None else 'another table'}: "
            f"not to this store's database {ours[0]!r}"
        )
    row = connection.execute(store._q["create"], store._base(**_new(new))).fetchone()
    if row is None:
        status = connection.execute(store._q["status_of"], {"id": new.id}).fetchone()
        raise ExecutionAlreadyExists(new.id, status[0] if status else None)
