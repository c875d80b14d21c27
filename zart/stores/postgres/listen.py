"""Waking waiting workers on PostgreSQL: LISTEN on the store's channel.

Whatever makes work due now also ``pg_notify``s a channel named after the
store's schema and prefix, in the same transaction; ``Listener.wait``
returns when a notification arrives.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from psycopg import sql

log = logging.getLogger("zart")
Conn = psycopg.Connection[tuple[object, ...]]


class Listener:
    """LISTEN on one connection for every thread of the store that waits.

    One thread at a time blocks in ``notifies()`` (psycopg holds the
    connection's lock there); the others wait on a condition and return with
    it when it hears something. Whenever the connection is (re)opened, what
    was sent while nobody listened is lost, so ``wait`` returns at once: the
    caller's next claim looks for itself.
    """

    def __init__(self, conninfo: str, channel: str, where: str) -> None:
        self._conninfo = conninfo
        self._channel = channel
        self._where = where
        self._cond = threading.Condition()
        self._news = 0  # bumped when anything happened, so waiters see it
        self._busy = False
        self._drop_pending = False
        self._conn: Conn | None = None

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            seen = self._news
            while self._busy and self._news == seen:
                if not self._cond.wait(max(0.0, deadline - time.monotonic())):
                    return
            if self._news != seen:
                return
            self._busy = True
        heard = False
        try:
            heard = self._listen(deadline, seen)
        finally:
            with self._cond:
                self._busy = False
                self._news += heard
                if self._drop_pending:
                    self._drop()
                self._cond.notify_all()

    def _listen(self, deadline: float, seen: int) -> bool:
        if self._conn is None:
            try:
                self._conn = psycopg.connect(self._conninfo, autocommit=True)
                self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            except psycopg.Error as exc:
                log.warning("zart: cannot listen on %s: %s", self._where, exc)
                self._drop()
                # Hold the caller for its timeout rather than let a worker
                # loop spin on connection errors while the server is away.
                with self._cond:
                    while self._news == seen and (left := deadline - time.monotonic()) > 0:
                        self._cond.wait(left)
                return False
            return True
        try:
            remaining = max(0.0, deadline - time.monotonic())
            return any(True for _ in self._conn.notifies(timeout=remaining, stop_after=1))
        except psycopg.Error as exc:
            log.info("zart: listening connection lost, reconnecting next time: %s", exc)
            self._drop()
            return True

    def _drop(self) -> None:
        self._drop_pending = False
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Wake every waiter; close the connection now, or when the thread
        blocked on it returns (closing it under that thread is unsafe)."""
        with self._cond:
            self._news += 1
            self._cond.notify_all()
            if self._busy:
                self._drop_pending = True
            else:
                self._drop()
