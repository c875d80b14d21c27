"""``PostgresStore``'s registry of live workers (a part of it)."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ... import records as r
from .. import rows, rules
from .connection import Conn, transaction

if TYPE_CHECKING:
    import psycopg


def _same(when: Any) -> Any:
    return when


class PostgresWorkers:
    """Workers record themselves, beat and leave; dead ones are kept a day."""

    # What the store provides.
    now: Callable[[], datetime]
    _run: Callable[..., Any]
    _one: Callable[[str, dict[str, Any]], Any]
    _all: Callable[[str, dict[str, Any]], builtins.list[Any]]
    _exec: Callable[[Conn, str, dict[str, Any]], psycopg.Cursor[Any]]

    def register_worker(self, info: r.WorkerInfo) -> None:
        now = self.now()
        params = rows.worker_params(info, now, now + rules.worker_lease(info))

        def op(conn: Conn) -> None:
            with transaction(conn):
                self._exec(conn, "drop_dead_workers", {"gone": now - rules.DEAD_WORKERS_KEPT})
                self._exec(conn, "register_worker", params)

        self._run("register_worker", op)

    def beat_worker(self, worker_id: str, inflight: int, lease: timedelta) -> bool:
        now = self.now()
        params = {"id": worker_id, "now": now, "expires_at": now + lease, "inflight": inflight}
        return self._one("beat_worker", params) is not None

    def remove_worker(self, worker_id: str) -> None:
        self._run(
            "remove_worker", lambda conn: self._exec(conn, "remove_worker", {"id": worker_id})
        )

    def workers(self) -> builtins.list[r.WorkerInfo]:
        now = self.now()
        return [rows.worker(row, _same, now) for row in self._all("workers", {})]

    def status_counts(self) -> dict[tuple[str, str], int]:
        return {(task, status): n for task, status, n in self._all("status_counts", {})}
