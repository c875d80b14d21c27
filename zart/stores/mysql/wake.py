"""Waking idle workers on MySQL, which has no LISTEN/NOTIFY.

An idle waiter blocks on the server, in ``SELECT SLEEP(n)`` (the ``wait``
statement), on a connection of its own. After a commit that makes work
due (a new execution, an event or message that wakes one, a child that
wakes its parent, a timer set, a lease given back), the writer's process
rings: it bumps a counter (the one-row ``bell`` table), finds the
waiters sleeping in this store's wait statement in the process list, and
ends their sleep with ``KILL QUERY`` (a user may kill its own connections'
statements). No waiter polls: an idle worker costs one statement per
wait slice.

The bell closes the gap a kill alone would leave. A waiter's statement
first compares the counter with the value it read before its worker last
looked for work (``seen``); it sleeps only if they are equal. A ringer bumps
the counter before it reads the process list. So work committed after a
worker's last look is either counted before the waiter's statement reads
the counter (it returns at once), or the statement is already in the
process list when the ringer looks (it is killed).

Rings are sent by a thread of the writer's process, after the commit, so a
commit never waits for them; a burst of commits makes one ring, not one
each. Commits of this process also wake its own waiters directly: those
waiting on the condition at once, the one on the server by the same kill.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ...errors import StoreError
from ..waiting import OneWatcher
from .connection import INTERRUPTED, BatchError, Conn, Result, errno

log = logging.getLogger("zart")
Send = Callable[[Conn, list[tuple[str, dict[str, Any] | None]]], list[Result]]
UNKNOWN_THREAD = 1094  # KILL of a connection that ended meanwhile
FLUSH_TIMEOUT = 2.0  # seconds close() gives a ring still to send


class Listener(OneWatcher):
    """The waiting side: one connection, one thread at a time on it.

    One thread blocks on the server; the others wait on it (``OneWatcher``),
    or on a ring of this process. Whenever the connection is (re)opened,
    what rang while nobody listened is unknown, so ``wait`` returns at once:
    the caller's next claim looks for itself.
    """

    def __init__(self, connect: Callable[[], Conn], send: Send, where: str) -> None:
        super().__init__()
        self._connect = connect
        self._send = send
        self._where = where
        self._conn: Conn | None = None
        self._seen: int | None = None  # the bell as read before the last look for work

    def _watch(self, deadline: float, seen: int) -> bool:
        """Sleep on the server until rung or ``deadline``; whether rung."""
        if self._conn is None:
            try:
                self._conn = self._connect()
                self._seen = self._bell(self._conn)
            except (StoreError, BatchError) as exc:
                log.warning("zart: cannot wait for wake-ups on %s: %s", self._where, exc)
                self._release()
                self._hold(deadline, seen)
                return False
            return True
        params = {"seen": self._seen, "seconds": round(max(0.0, deadline - time.monotonic()), 6)}
        try:
            ((woke, rung),) = self._send(self._conn, [("wait", params)])[0].rows
        except BatchError as exc:
            if errno(exc.cause) != INTERRUPTED:
                log.info("zart: wake-up connection lost, reconnecting next time: %s", exc)
                self._release()
                return True
            woke, rung = 1, self._seen  # killed by a ringer (MariaDB's answer)
        if not woke:
            return False
        # Rung: the value to compare with next time is the one now, read
        # before the caller looks for work again. MySQL answers a killed
        # SLEEP with 1 instead of an error; either way the counter moved.
        self._seen = rung if rung != self._seen else self._reread()
        return True

    def _bell(self, conn: Conn) -> int:
        return int(self._send(conn, [("bell", None)])[0].rows[0][0])

    def _reread(self) -> int | None:
        """The bell now; None (the next wait returns at once) if a late kill
        of a ringer ends this read too, or the connection fails."""
        if self._conn is None:
            return None
        try:
            return self._bell(self._conn)
        except BatchError as exc:
            if errno(exc.cause) != INTERRUPTED:
                self._release()
            return None

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


class Ringer:
    """The ringing side: a thread that rings after commits, coalesced."""

    def __init__(
        self, run: Callable[[str, Callable[[Conn], Any]], Any], send: Send, head: str
    ) -> None:
        self._run = run
        self._send = send
        # How the wait statement starts: what marks a waiter in the process list.
        self._head = {"head": head, "length": len(head)}
        self._cond = threading.Condition()
        self._pending = False
        self._ringing = False
        self._closing = False
        self._failing = False
        self._thread: threading.Thread | None = None

    def ring(self) -> None:
        """Ask for a ring; returns at once."""
        with self._cond:
            if self._closing:
                return
            self._pending = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="zart-ringer", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return
                self._pending, self._ringing = False, True
            try:
                self._ring_once()
            finally:
                with self._cond:
                    self._ringing = False
                    self._cond.notify_all()

    def _ring_once(self) -> None:
        try:
            self._run("ring", self._ring_on)
        except StoreError as exc:
            if not self._failing:
                log.warning("zart: could not wake waiting workers: %s", exc)
            self._failing = True
            return
        if self._failing:
            log.info("zart: waking waiting workers works again")
        self._failing = False

    def _ring_on(self, conn: Conn) -> None:
        waiters = self._send(conn, [("ring", None), ("waiters", self._head)])[1].rows
        kills: list[tuple[str, dict[str, Any] | None]] = [
            ("wake_waiter", {"id": int(row[0])}) for row in waiters
        ]
        while kills:
            try:
                self._send(conn, kills)
                return
            except BatchError as exc:
                if errno(exc.cause) != UNKNOWN_THREAD:  # not a waiter gone meanwhile
                    raise exc.cause from None
                kills = kills[exc.index + 1 :]

    def close(self) -> None:
        """Send a ring still asked for (within ``FLUSH_TIMEOUT``), then stop:
        a process that schedules and exits must still wake the workers."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(FLUSH_TIMEOUT)
        with self._cond:
            self._thread = None
            self._closing = False
            self._pending = False
