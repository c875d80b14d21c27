"""The database server's clock, for the stores that keep time by it.

A store on a server (PostgreSQL, MySQL) reads the server's time now and then, from
statements that run anyway (claims, heartbeats), and carries it forward
with this process's monotonic clock in between. Leases, timers and
deadlines then agree across machines whose wall clocks do not, and a local
clock stepped by NTP (or simply wrong) changes nothing. A skew above
``SKEW_WARNING`` between this machine and the server is logged once per
spell.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

log = logging.getLogger("zart")
SKEW_WARNING = 2.0  # seconds between this machine's clock and the server's


class ServerClock:
    """The server's time, carried forward by this process's monotonic clock."""

    def __init__(self, where: str) -> None:
        self._where = where
        self._base: datetime | None = None
        self._base_mono = 0.0
        self._lock = threading.Lock()
        self._warned_skew = False

    @property
    def known(self) -> bool:
        return self._base is not None

    def now(self) -> datetime:
        with self._lock:
            if self._base is None:
                return datetime.now(UTC)
            return self._base + timedelta(seconds=time.monotonic() - self._base_mono)

    def read(self, server_now: datetime, sent_at: float | None = None) -> None:
        """Take the server's time; ``sent_at`` (monotonic), when the
        statement that read it was sent, halves the round trip."""
        arrived = time.monotonic()
        midpoint = arrived if sent_at is None else (sent_at + arrived) / 2
        with self._lock:
            self._base, self._base_mono = server_now, midpoint
        skew = (datetime.now(UTC) - server_now).total_seconds()
        if abs(skew) > SKEW_WARNING and not self._warned_skew:
            self._warned_skew = True
            log.warning(
                "this machine's clock is %+.1f s off the database server's (%s); zart "
                "uses the server's for leases and timers",
                skew,
                self._where,
            )
        elif abs(skew) <= SKEW_WARNING:
            self._warned_skew = False
