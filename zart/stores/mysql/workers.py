"""``MySQLStore``'s registry of live workers (a part of it)."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from ... import records as r
from .. import rows, rules
from .values import aware as _aware
from .values import naive as _t


class MySQLWorkers:
    """Workers record themselves, beat and leave; dead ones are kept a day."""

    # What the store provides.
    now: Callable[[], datetime]
    _do: Callable[..., Any]
    _rows: Callable[[str, dict[str, Any] | None], Sequence[Any]]

    def register_worker(self, info: r.WorkerInfo) -> None:
        now = self.now()
        params = rows.worker_params(info, _t(now), _t(now + rules.worker_lease(info)))
        gone = {"gone": _t(now - rules.DEAD_WORKERS_KEPT)}
        self._do("register_worker", [("drop_dead_workers", gone), ("register_worker", params)])

    def beat_worker(self, worker_id: str, inflight: int, lease: timedelta) -> bool:
        now = self.now()
        params: dict[str, Any] = {"id": worker_id, "now": _t(now), "inflight": inflight}
        params["expires_at"] = _t(now + lease)
        beat: int = self._do("beat_worker", [("beat_worker", params)])[0].rowcount
        return beat > 0

    def remove_worker(self, worker_id: str) -> None:
        self._do("remove_worker", [("remove_worker", {"id": worker_id})])

    def workers(self) -> builtins.list[r.WorkerInfo]:
        now = self.now()
        return [rows.worker(row, _aware, now) for row in self._rows("workers", None)]

    def status_counts(self) -> dict[tuple[str, str], int]:
        return {(task, status): n for task, status, n in self._rows("status_counts", None)}
