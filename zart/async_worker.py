"""``zart.AsyncWorker``: the worker for asyncio services.

It runs the same ``prepare`` and the same interpreter decisions as the thread
worker; only the waiting differs. Async steps run on the event loop, sync
steps in threads, and store calls (sync drivers) in threads so the loop
never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import datetime
from typing import Any

from .decisions import Decision, RunStep
from .errors import StoreError
from .host import SETTLED, prepare
from .interpreter import Interpreter
from .records import NO_WRITES, Claimed, Commit, Lease
from .steps import run_step_async
from .worker import WorkerBase

log = logging.getLogger("zart")


class AsyncWorker(WorkerBase):
    """``await AsyncWorker(store, registry).run()`` inside an asyncio service."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stopping = asyncio.Event()
        self._tasks: dict[str, tuple[asyncio.Task[None], Lease]] = {}
        # Claims run ahead of the slots (see claim_room); this bounds what runs.
        self._slots = asyncio.Semaphore(self.config.concurrency)

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

    async def _loop(self, until_idle: bool) -> None:
        beat = asyncio.create_task(self._heartbeat())
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
                beat.cancel()  # only now: the drained runs kept their leases

    async def _turn(self, until_idle: bool) -> bool:
        """Claim and start what is due, or wait; True when idle and ``until_idle``."""
        busy = len(self._tasks)
        room = self.claim_room(busy)
        claimed = await asyncio.to_thread(self.host.claim, room) if room else []
        for item in claimed:
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
                    running,
                    timeout=self.config.poll_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            return False
        await asyncio.to_thread(self.warn_unknown)
        if until_idle:
            return True
        wait = await asyncio.to_thread(self.idle_wait)
        # In slices: a cancelled run() must not wait out a long store wait
        # in its thread either.
        for piece in self.idle_slices(wait, self._stopping.is_set):
            await asyncio.to_thread(self.store.wait, piece)
        return False

    async def _run_one(self, item: Claimed) -> None:
        try:
            async with self._slots:
                if self._stopping.is_set():  # claimed ahead, never started: give it back
                    await asyncio.to_thread(self.store.release, item.lease, self.clock())
                    return
                await self._process(item)
        finally:
            # Only this run's entry (see Worker._run_one).
            if self._tasks.get(item.record.id, (None, None))[1] == item.lease:
                del self._tasks[item.record.id]
            self.processed += 1

    async def _process(self, item: Claimed) -> None:
        try:
            interp = await asyncio.to_thread(
                prepare, self.store, self.registry, item, self.host.cache
            )
            await self._drive(interp, item.lease)
        except SETTLED as exc:
            await asyncio.to_thread(self.host.settle, item, exc)
        except Exception:
            log.exception("worker failed on %s; its lease will expire", item.record.id)

    async def _drive(self, interp: Interpreter, lease: Lease) -> Decision:
        now = self.clock()  # as in Host.drive: a decision and its commit share one reading
        decision = interp.start(now)
        while isinstance(decision, RunStep):
            if decision.commit is not NO_WRITES:
                await self._commit(interp, lease, decision.commit, now)
            outcome = await run_step_async(decision)
            now = self.clock()
            decision = interp.step_finished(outcome, now)
        await self._commit(interp, lease, decision.commit, now)
        return decision

    async def _commit(
        self, interp: Interpreter, lease: Lease, commit: Commit, now: datetime
    ) -> None:
        await asyncio.to_thread(self.store.commit, lease, commit, now)
        self.host.remember(interp)

    async def _drain(self) -> None:
        if self._tasks:
            await asyncio.wait(
                [t for t, _ in self._tasks.values()],
                timeout=self.config.shutdown_timeout.total_seconds(),
            )
        for task, lease in list(self._tasks.values()):
            task.cancel()
            await asyncio.to_thread(self.store.release, lease, self.clock())

    async def _heartbeat(self) -> None:
        interval = self.config.heartbeat_interval.total_seconds()
        reported: set[Lease] = set()
        while True:
            await asyncio.sleep(interval)
            leases = [lease for _, lease in self._tasks.values() if lease not in reported]
            if not leases:
                continue
            try:
                lost = await asyncio.to_thread(
                    self.store.heartbeat, leases, self.clock(), self.config.lease
                )
            except Exception:
                log.exception("heartbeat failed")
                continue
            self.report_lost(lost, {lease for _, lease in self._tasks.values()}, reported)
