"""A small pool of connections, ours.

Why not a library: DBUtils' PooledDB (the well-kept generic one) waits
for a free connection with no timeout, checks a connection with a ping
(a round trip) or not at all, and wraps each connection in proxies that
every statement goes through; PyMySQL's and mysqlclient's pools on PyPI are
small single-author projects. What zart needs is little: at most
``max_size`` connections, a caller waits ``timeout`` seconds for one, a
connection the server hung up on is dropped when it is taken (a poll of its
socket, no round trip), the last one given back is the first taken (warm,
and the others may close on the server's idle timeout), and ``close``
closes the idle ones and any given back later.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any


class PoolTimeout(Exception):
    """No connection came free in time."""


class Pool:
    def __init__(
        self,
        open_: Callable[[], Any],
        max_size: int,
        timeout: float,
        stale: Callable[[Any], bool],
    ) -> None:
        self._open = open_
        self._stale = stale
        self.max_size = max_size
        self._timeout = timeout
        self._cond = threading.Condition()
        self._idle: list[Any] = []
        self._count = 0  # connections open: idle or lent out
        self._generation = 0  # bumped by close: connections of before are not kept

    @property
    def size(self) -> int:
        with self._cond:
            return self._count

    def get(self) -> Any:
        """A connection: an idle one, else a new one while under
        ``max_size``, else the next given back (``PoolTimeout`` after
        ``timeout`` seconds)."""
        deadline = time.monotonic() + self._timeout
        with self._cond:
            while True:
                while self._idle:
                    conn = self._idle.pop()
                    if not self._stale(conn):
                        return conn
                    self._count -= 1
                    _close(conn)
                if self._count < self.max_size:
                    self._count += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PoolTimeout(
                        f"all {self.max_size} connections stayed busy for {self._timeout:g} s"
                    )
                self._cond.wait(left)
        try:
            conn = self._open()
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise
        conn._zart_generation = self._generation
        return conn

    def put(self, conn: Any, *, broken: bool = False) -> None:
        """Give a connection back; ``broken`` ones (and those of before a
        ``close``) are closed instead of kept."""
        with self._cond:
            keep = not broken and getattr(conn, "_zart_generation", None) == self._generation
            if keep:
                self._idle.append(conn)
            else:
                self._count -= 1
            self._cond.notify()
        if not keep:
            _close(conn)

    def close(self) -> None:
        """Close the idle connections; those lent out close when given back.
        The pool stays usable: a later ``get`` opens new ones."""
        with self._cond:
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._generation += 1
            self._cond.notify_all()
        for conn in idle:
            _close(conn)


def _close(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.close()
