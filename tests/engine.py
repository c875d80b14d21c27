"""An engine on each kind of store (memory, a SQLite file, PostgreSQL), whose
code a test can change between runs, as a deploy would."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import zart
from tests.store_kinds import open_store
from tests.stores.scenario import ManualClock


class Engine:
    """A store, the code deployed on it (a registry) and a worker to run it.
    The store's clock stands still until ``advance`` moves it."""

    def __init__(self, store: Any, clock: ManualClock) -> None:
        self.store = store
        self.clock = clock
        self.registry = zart.TaskRegistry()
        self.client = zart.Client(store, self.registry)

    def deploy(self, *handlers: zart.TaskHandler) -> zart.Client:
        """New code: these handlers replace whatever ran before."""
        self.registry = zart.TaskRegistry(handlers)
        self.client = zart.Client(self.store, self.registry)
        return self.client

    def run(self) -> None:
        config = zart.WorkerConfig(concurrency=2, poll_interval=0.05)
        zart.Worker(self.store, self.registry, config).run_until_idle()

    def advance(self, delta: timedelta) -> None:
        self.clock.time += delta
        self.run()

    def status(self, eid: str) -> str:
        return self.client.get(eid).status


@contextlib.contextmanager
def open_engine(kind: str, tmp_path: Path) -> Iterator[Engine]:
    clock = ManualClock()
    with open_store(kind, tmp_path, clock) as store:
        yield Engine(store, clock)
