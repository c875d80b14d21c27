"""``zart.Worker``: claims due executions and runs them on a thread pool.

The loop: claim up to the free slots, hand each claim to a thread running
the shared ``Host``, and when nothing is due sleep until the store says work
may be new (LISTEN/NOTIFY on PostgreSQL, a file watch on SQLite) or the next
timer is due, whichever is first; ``poll_interval`` only bounds that wait. A
heartbeat thread keeps the leases of in-flight executions alive.
SIGINT/SIGTERM stop claiming, let in-flight work finish for up to
``shutdown_timeout``, then give back what is left so another worker takes
it at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import Any

from .errors import StoreError
from .loop import WorkerBase, WorkerConfig
from .records import Claimed, Lease

log = logging.getLogger("zart")

__all__ = ["Worker", "WorkerConfig"]


class Worker(WorkerBase):
    """Runs workflows on ``config.concurrency`` threads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stopping = threading.Event()
        # Set once the drain is over: in-flight runs keep their leases alive
        # until they finish or are released, even after stop().
        self._drained = threading.Event()
        self._lock = threading.Condition()
        self._inflight: dict[str, Lease] = {}
        # Runs still going when the last stop's shutdown timeout ran out:
        # their leases were given back, their threads go on.
        self.abandoned = 0

    def stop(self) -> None:
        """Stop claiming; ``run`` returns once in-flight work is done or released."""
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()

    def run(self) -> None:
        """Run until ``stop()``, SIGINT or SIGTERM."""
        self._stopping.clear()
        restore = self._install_signals()
        try:
            self._loop(until_idle=False)
        finally:
            restore()

    def run_until_idle(self) -> int:
        """Run until nothing is due and nothing is in flight; how many runs.
        SIGINT/SIGTERM stop it as they stop ``run``."""
        self._stopping.clear()
        before = self.processed
        restore = self._install_signals()
        try:
            self._loop(until_idle=True)
        finally:
            restore()
        return self.processed - before

    def _loop(self, until_idle: bool) -> None:
        self._drained.clear()
        self.announce()
        beat = threading.Thread(
            target=self.heartbeat,
            args=(self._drained, self._held),
            name="zart-heartbeat",
            daemon=True,
        )
        beat.start()
        pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="zart-worker")
        failures = 0
        reached = False  # the store answered once: its errors are passing faults
        try:
            while not self._stopping.is_set():
                try:
                    idle = self._turn(pool, until_idle)
                except StoreError as exc:
                    failures += 1
                    self._stopping.wait(self.pause_after(exc, failures, reached, until_idle))
                    continue
                self.recovered(failures)
                failures, reached = 0, True
                if idle:
                    break
        finally:
            self._stopping.set()
            try:
                self._drain(pool)
            finally:
                self._drained.set()
                self.retire()

    def _turn(self, pool: ThreadPoolExecutor, until_idle: bool) -> bool:
        """Claim and start what is due, or wait; True when idle and ``until_idle``."""
        busy = len(self._inflight)
        room = self.claim_room(busy)
        claimed = self.host.claim(room) if room else []
        for item in claimed:
            with self._lock:
                self._inflight[item.record.id] = item.lease
            pool.submit(self._run_one, item)
        if claimed:
            return False
        if busy:
            # Wait for a slot, or for a finished run to make more work due.
            with self._lock:
                if len(self._inflight) == busy:
                    self._lock.wait(self.config.poll_interval)
            return False
        self.housekeeping(force=until_idle)
        if until_idle:
            return True  # nothing ran, nothing was due: idle
        for piece in self.idle_slices(self.idle_wait(), self._stopping.is_set):
            self.store.wait(piece)
        return False

    def _run_one(self, item: Claimed) -> None:
        try:
            if self._stopping.is_set():  # claimed ahead, never started: give it back
                self.store.release(item.lease)
                return
            self.host.process(item)
        except BaseException:
            # A thread of the pool: nothing above it would report this.
            log.exception("worker failed on %s; its lease will expire", item.record.id)
        finally:
            with self._lock:
                # Only this run's entry: a later claim of the same execution
                # (after this run's lease ran out) has its own.
                if self._inflight.get(item.record.id) == item.lease:
                    del self._inflight[item.record.id]
                self.processed += 1
                self._lock.notify_all()

    def _drain(self, pool: ThreadPoolExecutor) -> None:
        deadline = self.config.shutdown_timeout.total_seconds()
        with self._lock:
            self._lock.wait_for(lambda: not self._inflight, timeout=deadline)
            left = list(self._inflight.values())
        self.abandoned = len(left)
        for lease in left:
            log.warning("shutdown: releasing %s unfinished", lease.execution_id)
            self.store.release(lease)
        pool.shutdown(wait=False, cancel_futures=True)

    def _held(self) -> list[Lease]:
        with self._lock:
            return list(self._inflight.values())

    def _install_signals(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handle(signum: int, frame: FrameType | None) -> None:
            log.info("signal %s: finishing in-flight work, then stopping", signum)
            self.stop()

        old = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for sig, previous in old.items():
                signal.signal(sig, previous)

        return restore
