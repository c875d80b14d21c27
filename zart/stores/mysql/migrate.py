"""Creating and upgrading a MySQL store's schema.

A new database gets ``schema.sql``; an older schema the migrations above
its version, each recorded once it ran. MySQL commits every DDL statement
at once, so a migration is not one transaction: each is recorded right
after it ran, and one that failed half-way is finished by hand.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ...errors import SchemaNewer, StoreError
from .. import sqlfiles
from ..connect import redact
from . import _COMMENT_LINE, COLLATIONS, MIGRATION_LOCK_WAIT, PACKAGE, check_version
from .connection import Conn, render, script

if TYPE_CHECKING:
    from . import MySQLStore

log = logging.getLogger("zart")


def migrate(store: MySQLStore, conn: Conn) -> None:
    """Under the server's named lock: workers that start together take
    turns, and the later ones find the work done."""
    where = f"the MySQL server at {redact(store.url)}"
    ((version,),) = store._send(conn, [("server_version", None)])[0].rows
    kind = check_version(str(version), where)
    lock = {"key": store._lock_key, "seconds": MIGRATION_LOCK_WAIT}
    ((got,),) = store._send(conn, [("migration_lock", lock)])[0].rows
    if got != 1:
        raise StoreError(f"{where}: another migration held the lock for {MIGRATION_LOCK_WAIT} s")
    try:
        _upgrade(store, conn, kind)
    finally:
        store._send(conn, [("migration_unlock", lock)])


def _upgrade(store: MySQLStore, conn: Conn, kind: str) -> None:
    latest = sqlfiles.latest_version(PACKAGE)
    store._send(conn, [("version_table", None)])
    ((found,),) = store._send(conn, [("current_version", None)])[0].rows
    if found > latest:
        raise SchemaNewer(f"MySQL {redact(store.url)}", found, latest)
    fill = {"collation": COLLATIONS[kind]}
    if found == 0 and not _has_tables(store, conn):
        script(conn, _text(sqlfiles.read(PACKAGE, "schema.sql"), store.prefix, fill))
        store._send(conn, [("record_version", {"version": latest})])
        log.info("zart: created the MySQL schema (version %d)", latest)
        found = latest
    for number, text in sqlfiles.migrations(PACKAGE):
        if number > found:
            log.info("zart: applying MySQL migration %04d", number)
            script(conn, _text(text, store.prefix, fill))
            store._send(conn, [("record_version", {"version": number})])
    store._ready = False  # checked again (and the clock read) at the next use


def _has_tables(store: MySQLStore, conn: Conn) -> bool:
    table = {"table": store.prefix + "executions"}
    return bool(store._send(conn, [("has_executions_table", table)])[0].rows[0][0])


def _text(template: str, prefix: str, fill: dict[str, str]) -> str:
    return render(_COMMENT_LINE.sub("", template), prefix, fill)
