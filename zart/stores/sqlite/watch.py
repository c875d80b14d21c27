"""Waking a waiting worker when another process commits to the same file.

SQLite has no LISTEN/NOTIFY. Every commit in WAL mode appends to the
``-wal`` file beside the database, so on Linux an inotify watch on the
file's folder hears a commit of any process the moment it is written, and
an idle worker costs nothing while nobody commits. Elsewhere (or when the
kernel refuses a watch) the waiter polls ``PRAGMA data_version``, which
moves when another connection commits, every few milliseconds.

Commits of this process ring the bell directly (``ring``). A wake-up means
only that work may be new: the worker looks, and finds out.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import select
import struct
import sys
import time
from collections.abc import Callable

from ..waiting import OneWatcher

log = logging.getLogger("zart")

POLL_INTERVAL = 0.005  # seconds between data_version reads, without inotify
_IN_MODIFY, _IN_CLOSE_WRITE, _IN_MOVED_TO, _IN_CREATE = 0x2, 0x8, 0x80, 0x100
_EVENT = struct.Struct("iIII")


class _Inotify:
    """An inotify watch on one folder, for the names of one database's files."""

    def __init__(self, path: str) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        folder = os.path.dirname(os.path.abspath(path)) or "."
        mask = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_MOVED_TO | _IN_CREATE
        if libc.inotify_add_watch(self.fd, os.fsencode(folder), mask) < 0:
            errno = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(errno, f"inotify_add_watch on {folder!r} failed")
        base = os.fsencode(os.path.basename(path))
        self.names = {base, base + b"-wal"}

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; whether the database was written."""
        deadline = time.monotonic() + timeout
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while (left := deadline - time.monotonic()) > 0:
            if not poller.poll(left * 1000):
                return False
            if self._drain():
                return True
        return False

    def _drain(self) -> bool:
        written = False
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.fd, 65536):
                offset = 0
                while offset < len(chunk):
                    _, _, _, length = _EVENT.unpack_from(chunk, offset)
                    start = offset + _EVENT.size
                    name = chunk[start : start + length].rstrip(b"\0")
                    written = written or name in self.names
                    offset = start + length
        return written

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class Doorbell(OneWatcher):
    """What ``SqliteStore.wait`` waits on: this process's commits (rung
    directly) and other processes' (heard through the file). One waiting
    thread at a time watches the file; the others wait on it (``OneWatcher``)."""

    def __init__(self, path: str | None, data_version: Callable[[], int]) -> None:
        super().__init__()
        self._data_version = data_version
        self._inotify: _Inotify | None = None
        if path is not None and sys.platform.startswith("linux"):
            try:
                self._inotify = _Inotify(path)
            except OSError as exc:
                log.info("SQLite %s: no inotify (%s); polling data_version instead", path, exc)
        # Without a watch, a wait compares against the version its previous
        # wait ended at (or this one), not the version when it began: a
        # commit between a look and the wait after it then ends the wait.
        self._version = None if self._inotify is not None else data_version()

    @property
    def mechanism(self) -> str:
        return "inotify" if self._inotify is not None else "data_version polling"

    def _watch(self, deadline: float, seen: int) -> bool:
        """Wait for a commit of another process (or a ring) until ``deadline``."""
        if self._inotify is not None:
            # Slices: a ring of this process ends the wait within one.
            while (left := deadline - time.monotonic()) > 0:
                if self._inotify.wait(min(left, 0.05)):
                    return True
                if self._news != seen:
                    return False
            return False
        while True:
            if (version := self._data_version()) != self._version:
                self._version = version
                return True
            if deadline - time.monotonic() <= 0:
                return False
            with self._cond:
                if self._news != seen:
                    return False
                self._cond.wait(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))

    def _release(self) -> None:
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
