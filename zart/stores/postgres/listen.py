"""Waking waiting workers on PostgreSQL: LISTEN on the store's channel.

Whatever makes work due now also ``pg_notify``s a channel named after the
store's schema and prefix, in the same transaction; ``Listener.wait``
returns when a notification arrives.
"""

from __future__ import annotations

import logging
import time

import psycopg
from psycopg import sql

from ..waiting import OneWatcher

log = logging.getLogger("zart")
Conn = psycopg.Connection[tuple[object, ...]]


class Listener(OneWatcher):
    """LISTEN on one connection for every thread of the store that waits.

    One thread at a time blocks in ``notifies()`` (psycopg holds the
    connection's lock there); the others wait on it (``OneWatcher``).
    Whenever the connection is (re)opened, what was sent while nobody
    listened is lost, so ``wait`` returns at once: the caller's next claim
    looks for itself.
    """

    def __init__(self, conninfo: str, channel: str, where: str) -> None:
        super().__init__()
        self._conninfo = conninfo
        self._channel = channel
        self._where = where
        self._conn: Conn | None = None

    def _watch(self, deadline: float, seen: int) -> bool:
        if self._conn is None:
            try:
                self._conn = psycopg.connect(self._conninfo, autocommit=True)
                self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            except psycopg.Error as exc:
                log.warning("zart: cannot listen on %s: %s", self._where, exc)
                self._release()
                self._hold(deadline, seen)
                return False
            return True
        try:
            remaining = max(0.0, deadline - time.monotonic())
            return any(True for _ in self._conn.notifies(timeout=remaining, stop_after=1))
        except psycopg.Error as exc:
            log.info("zart: listening connection lost, reconnecting next time: %s", exc)
            self._release()
            return True

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
