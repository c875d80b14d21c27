"""How a store's threads wait for work: one watches, the rest wait on it.

Every store that can be woken from outside the process watches the
database with something only one thread may block on at a time: a LISTEN
connection (PostgreSQL), a ``SLEEP`` on the server (MySQL), a file watch
(SQLite). ``OneWatcher`` lets any number of threads call ``wait``: one of
them watches, the others wait on a condition and return with it when it
hears something, or when this process rings (its own commit). What the
watcher holds is let go (``_release``) only while no thread watches with it.
"""

from __future__ import annotations

import abc
import threading
import time


class OneWatcher(abc.ABC):
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._news = 0  # bumped when anything happened, so waiters see it
        self._watching = False
        self._release_pending = False

    def ring(self) -> None:
        """This process committed something: every waiter returns."""
        with self._cond:
            self._news += 1
            self._cond.notify_all()

    def wait(self, timeout: float) -> None:
        """Return when something may be new, or after ``timeout`` seconds."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            seen = self._news
            while self._watching and self._news == seen:
                if not self._cond.wait(max(0.0, deadline - time.monotonic())):
                    return
            if self._news != seen:
                return
            self._watching = True
        heard = False
        try:
            heard = self._watch(deadline, seen)
        finally:
            with self._cond:
                self._watching = False
                self._news += heard
                if self._release_pending:
                    self._release_pending = False
                    self._release()
                self._cond.notify_all()

    def close(self) -> None:
        """Wake every waiter; let go now, or when the watching thread returns
        (closing what a thread blocks on under it is unsafe)."""
        with self._cond:
            self._news += 1
            self._cond.notify_all()
            if self._watching:
                self._release_pending = True
            else:
                self._release()

    def _hold(self, deadline: float, seen: int) -> None:
        """Keep the caller until ``deadline`` or a ring: a watch that cannot
        start (the server away) must not let a worker loop spin."""
        with self._cond:
            while self._news == seen and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)

    @abc.abstractmethod
    def _watch(self, deadline: float, seen: int) -> bool:
        """Block until the database says something may be new (True), a ring
        of this process (``self._news != seen``), or ``deadline``."""

    @abc.abstractmethod
    def _release(self) -> None:
        """Let go of what the watch holds (a connection, a descriptor)."""
