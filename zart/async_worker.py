"""``zart.AsyncWorker``: the worker for asyncio services.

It runs the same ``Host`` driver as the thread worker; only the waiting
differs. Async steps run on the event loop; sync steps on a pool of their
own (or, with a timeout, on a thread of their own); store calls (sync
drivers) on another pool, so that a commit never queues behind user code.
Heartbeats run on a thread, so that neither a busy pool nor a step that
blocks the event loop can starve them and lose the leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .decisions import Finish
from .errors import StoreError
from .host import SETTLED
from .loop import WorkerBase
from .records import Claimed, Lease
from .steps import run_step_async

log = logging.getLogger("zart")
T = TypeVar("T")


class AsyncWorker(WorkerBase):
    """``await AsyncWorker(store, registry).run()`` inside an asyncio service."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stopping = asyncio.Event()
        self._tasks: dict[str, tuple[asyncio.Task[None], Lease]] = {}
        # Claims run ahead of the slots (see claim_room); this bounds what runs.
        self._slots = asyncio.Semaphore(self.config.concurrency)
        self._held: dict[str, Lease] = {}  # what the heartbeat thread renews
        self._held_lock = threading.Lock()
        self._store_pool: ThreadPoolExecutor | None = None
        self._step_pool: ThreadPoolExecutor | None = None

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Run until ``stop()``, SIGINT or SIGTERM."""
        self._stopping.clear()
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.stop)
                installed.append(sig)
        try:
            await self._loop(until_idle=False)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    async def run_until_idle(self) -> int:
        self._stopping.clear()
        before = self.processed
        await self._loop(until_idle=True)
        return self.processed - before

    async def _store(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the store's own pool, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._store_pool, fn, *args)

    async def _loop(self, until_idle: bool) -> None:
        concurrency = self.config.concurrency
        self._store_pool = ThreadPoolExecutor(concurrency + 2, thread_name_prefix="zart-store")
        self._step_pool = ThreadPoolExecutor(concurrency, thread_name_prefix="zart-step")
        await self._store(self.announce)
        beating = threading.Event()
        beat = threading.Thread(
            target=self.heartbeat,
            args=(beating, self._held_leases),
            name="zart-heartbeat",
            daemon=True,
        )
        beat.start()
        failures, reached = 0, False  # see WorkerBase.pause_after
        try:
            while not self._stopping.is_set():
                try:
                    idle = await self._turn(until_idle)
                except StoreError as exc:
                    failures += 1
                    pause = self.pause_after(exc, failures, reached, until_idle)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), pause)
                    continue
                self.recovered(failures)
                failures, reached = 0, True
                if idle:
                    break
        finally:
            # Set here too when the task running this loop was cancelled, so
            # that executions claimed ahead are given back, not started.
            self._stopping.set()
            try:
                await self._drain()
            finally:
                beating.set()  # only now: the drained runs kept their leases
                await self._store(self.retire)
                self._store_pool.shutdown(wait=False)
                self._step_pool.shutdown(wait=False, cancel_futures=True)

    async def _turn(self, until_idle: bool) -> bool:
        """Claim and start what is due, or wait; True when idle and ``until_idle``."""
        busy = len(self._tasks)
        room = self.claim_room(busy)
        claimed = await self._store(self.host.claim, room) if room else []
        for item in claimed:
            self._hold(item.lease)
            task = asyncio.create_task(self._run_one(item))
            self._tasks[item.record.id] = (task, item.lease)
        if claimed:
            return False
        if busy:
            # Runs may all have ended while the claim was out: then
            # there is nothing to wait for, and the loop looks again.
            running = [t for t, _ in self._tasks.values()]
            if running:
                await asyncio.wait(
                    running, timeout=self.config.poll_interval, return_when=asyncio.FIRST_COMPLETED
                )
            return False
        await self._store(self.housekeeping, until_idle)
        if until_idle:
            return True
        wait = await self._store(self.idle_wait)
        # In slices: a cancelled run() must not wait out a long store wait
        # in its thread either.
        for piece in self.idle_slices(wait, self._stopping.is_set):
            await self._store(self.store.wait, piece)
        return False

    async def _run_one(self, item: Claimed) -> None:
        try:
            async with self._slots:
                if self._stopping.is_set():  # claimed ahead, never started: give it back
                    await self._store(self.store.release, item.lease)
                    return
                await self._process(item)
        finally:
            # Only this run's entry (see Worker._run_one).
            if self._tasks.get(item.record.id, (None, None))[1] == item.lease:
                del self._tasks[item.record.id]
            self._release_hold(item.lease)
            self.processed += 1

    async def _process(self, item: Claimed) -> None:
        """``Host.process``, awaiting the store and the steps."""
        host = self.host
        try:
            walk = host.decisions(await self._store(host.begin, item))
            decision = next(walk)
            while True:
                await self._store(host.write, item, decision)
                if isinstance(decision, Finish):
                    return
                started = time.monotonic()
                outcome = await run_step_async(decision, host.overrides, self._step_pool)
                host.ran(item, decision, outcome, time.monotonic() - started)
                decision = walk.send(outcome)
        except SETTLED as exc:
            await self._store(host.settle, item, exc)
        except Exception:
            log.exception("worker failed on %s; its lease will expire", item.record.id)

    async def _drain(self) -> None:
        if self._tasks:
            await asyncio.wait(
                [t for t, _ in self._tasks.values()],
                timeout=self.config.shutdown_timeout.total_seconds(),
            )
        for task, lease in list(self._tasks.values()):
            task.cancel()
            await self._store(self.store.release, lease)

    def _hold(self, lease: Lease) -> None:
        with self._held_lock:
            self._held[lease.execution_id] = lease

    def _release_hold(self, lease: Lease) -> None:
        with self._held_lock:
            if self._held.get(lease.execution_id) == lease:
                del self._held[lease.execution_id]

    def _held_leases(self) -> list[Lease]:
        with self._held_lock:
            return list(self._held.values())
