"""``SqliteStore``'s registry of live workers (a part of it)."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ... import records as r
from .. import rows, rules

if TYPE_CHECKING:
    from .connection import Conn, Connections

_t = rows.micros


class SqliteWorkers:
    """Workers record themselves, beat and leave; dead ones are kept a day."""

    # What the store provides.
    _db: Connections
    now: Callable[[], datetime]
    _run: Callable[[Conn, str, dict[str, Any]], Any]

    def register_worker(self, info: r.WorkerInfo) -> None:
        now = self.now()
        params = rows.worker_params(info, _t(now), _t(now + rules.worker_lease(info)))
        with self._db.tx(write=True) as conn:
            self._run(conn, "drop_dead_workers", {"gone": _t(now - rules.DEAD_WORKERS_KEPT)})
            self._run(conn, "register_worker", params)

    def beat_worker(self, worker_id: str, inflight: int, lease: timedelta) -> bool:
        now = self.now()
        params = {
            "id": worker_id,
            "now": _t(now),
            "expires_at": _t(now + lease),
            "inflight": inflight,
        }
        with self._db.tx() as conn:
            return bool(self._run(conn, "beat_worker", params).rowcount)

    def remove_worker(self, worker_id: str) -> None:
        with self._db.tx() as conn:
            self._run(conn, "remove_worker", {"id": worker_id})

    def workers(self) -> builtins.list[r.WorkerInfo]:
        now = self.now()
        with self._db.tx() as conn:
            return [
                rows.worker(row, rows.from_micros, now) for row in self._run(conn, "workers", {})
            ]

    def status_counts(self) -> dict[tuple[str, str], int]:
        with self._db.tx() as conn:
            return {(task, status): n for task, status, n in self._run(conn, "status_counts", {})}
