"""The memory store's registry of live workers (a part of ``MemoryStore``)."""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from .. import records as r
from . import rules


class MemoryWorkers:
    """Workers record themselves, beat and leave; dead ones are kept a day."""

    # What the store provides.
    _lock: threading.RLock
    now: Callable[[], datetime]

    def __init__(self) -> None:
        self._workers: dict[str, r.WorkerInfo] = {}

    def register_worker(self, info: r.WorkerInfo) -> None:
        with self._lock:
            now = self.now()
            gone = now - rules.DEAD_WORKERS_KEPT
            self._workers = {k: w for k, w in self._workers.items() if w.expires_at > gone}
            self._workers[info.id] = attrs.evolve(
                info, heartbeat_at=now, started_at=now, expires_at=now + rules.worker_lease(info)
            )

    def beat_worker(self, worker_id: str, inflight: int, lease: timedelta) -> bool:
        with self._lock:
            known = self._workers.get(worker_id)
            if known is None:
                return False
            now = self.now()
            self._workers[worker_id] = attrs.evolve(
                known, heartbeat_at=now, expires_at=now + lease, inflight=inflight
            )
            return True

    def remove_worker(self, worker_id: str) -> None:
        with self._lock:
            self._workers.pop(worker_id, None)

    def workers(self) -> builtins.list[r.WorkerInfo]:
        with self._lock:
            now = self.now()
            return [
                attrs.evolve(w, alive=rules.worker_alive(w.expires_at, now))
                for _, w in sorted(self._workers.items())
            ]
