"""When a host fires the recurring schedules of its tasks.

A host fires due schedules before it claims (``Host.claim``): at the next
schedule's fire time, and at least every ``CHECK_EVERY`` besides, so a
schedule created by another process is noticed. Times are the store's
clock, so TestEnv fires schedules on its virtual clock. ``Store.
fire_schedules`` makes each tick start once, however many hosts fire.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from .stores.protocol import Store

CHECK_EVERY = timedelta(seconds=1)
BATCH = 500  # schedules fired per round; more are fired in turn


class ScheduleFiring:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.next_fire_at: datetime | None = None  # the next schedule's, as last read
        self._check_at: datetime | None = None

    def due(self) -> bool:
        return self._check_at is None or self.store.now() >= self._check_at

    def fire(self, tasks: Collection[str]) -> int:
        """Start the due ticks of ``tasks``' schedules; how many started."""
        started = 0
        for _ in range(1_000):  # each round takes a batch of due schedules
            fired = self.store.fire_schedules(tasks, BATCH)
            started += len(fired.started)
            now = self.store.now()
            if fired.next_fire_at is None or fired.next_fire_at > now:
                break
        self.next_fire_at = fired.next_fire_at
        later = now + CHECK_EVERY
        self._check_at = later if self.next_fire_at is None else min(later, self.next_fire_at)
        return started

    def seconds_to_check(self) -> float:
        """How long a host may wait before it should fire again."""
        if self._check_at is None:
            return 0.0
        return max(0.0, (self._check_at - self.store.now()).total_seconds())
