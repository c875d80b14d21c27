"""``zart.Worker``: claims due executions and runs them on a thread pool.

The loop: claim up to the free slots, hand each claim to a thread running
the shared ``Host``, and when nothing is due sleep until the store says work
may be new (LISTEN/NOTIFY on PostgreSQL) or the next timer is due, whichever
is first; ``poll_interval`` only bounds that wait. A heartbeat thread keeps
the leases of in-flight executions alive. SIGINT/SIGTERM stop claiming, let
in-flight work finish for up to ``shutdown_timeout``, then give back what
is left so another worker takes it at once.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

import attrs

from . import settings
from .clock import checked_clock, utcnow
from .errors import SchemaNewer, SchemaOutdated, StoreError
from .host import Clock, Host
from .records import Claimed, Lease
from .retry import to_timedelta
from .store import Store
from .tasks import TaskRegistry

log = logging.getLogger("zart")
# How soon an idle worker notices stop(), and the longest pause after a
# database error.
_STOP_CHECK = 0.5
_MOST_BACKOFF = 30.0
# Store errors that waiting does not cure.
_FOR_GOOD = (SchemaOutdated, SchemaNewer)


# One named converter per field (mypy's attrs plugin takes no closures), so
# that a bad value is reported under its field's name.
def _lease(value: Any) -> timedelta:
    return _duration(value, "lease")


def _heartbeat_interval(value: Any) -> timedelta:
    return _duration(value, "heartbeat_interval")


def _shutdown_timeout(value: Any) -> timedelta:
    return _duration(value, "shutdown_timeout")


def _duration(value: Any, field: str) -> timedelta:
    # ValueError for a value of the wrong type too, as the other fields say.
    try:
        return to_timedelta(value, f"WorkerConfig.{field}")
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def _a_third_of_the_lease(config: WorkerConfig) -> timedelta:
    return config.lease / 3


def _count(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None and attribute.name == "batch_size":
        return  # None: a batch of ``concurrency``
    settings.count(f"WorkerConfig.{attribute.name}", value, least=1)


# Worker timings are seconds to hours (settings.seconds bounds them at a
# day): ``now + lease`` past the year 9999 would fail every claim of a worker
# that otherwise looks healthy.
def _seconds(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    given = value.total_seconds() if isinstance(value, timedelta) else value
    zero = attribute.name == "shutdown_timeout"  # 0: do not wait
    settings.seconds(f"WorkerConfig.{attribute.name}", given, zero=zero)


@attrs.frozen(kw_only=True)
class WorkerConfig:
    concurrency: int = attrs.field(default=4, validator=_count)
    poll_interval: float = attrs.field(default=1.0, validator=_seconds)
    lease: timedelta = attrs.field(
        default=timedelta(seconds=30), converter=_lease, validator=_seconds
    )
    # A third of the lease unless given: two heartbeats may fail before it ends.
    heartbeat_interval: timedelta = attrs.field(
        default=attrs.Factory(_a_third_of_the_lease, takes_self=True),
        converter=_heartbeat_interval,
        validator=_seconds,
    )
    shutdown_timeout: timedelta = attrs.field(
        default=timedelta(seconds=30), converter=_shutdown_timeout, validator=_seconds
    )
    batch_size: int | None = attrs.field(default=None, validator=_count)

    def __attrs_post_init__(self) -> None:
        if self.heartbeat_interval >= self.lease:
            # The lease would run out between heartbeats: another worker, or
            # this one, would claim executions still running here.
            raise ValueError(
                f"WorkerConfig.heartbeat_interval ({self.heartbeat_interval.total_seconds():g} s) "
                f"must be shorter than WorkerConfig.lease ({self.lease.total_seconds():g} s)"
            )

    @property
    def claim_batch(self) -> int:
        return self.batch_size or self.concurrency


class WorkerBase:
    """What the thread and asyncio workers share: config, identity, waiting."""

    def __init__(
        self,
        store: Store,
        registry: TaskRegistry,
        config: WorkerConfig | None = None,
        *,
        clock: Clock = utcnow,
        worker_id: str | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.config = config or WorkerConfig()
        self.clock = checked_clock(clock, type(self).__name__)
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:8]}"
        self.host = Host(
            store, registry, clock=clock, lease=self.config.lease, worker_id=self.worker_id
        )
        self.processed = 0
        self._warned: set[str] = set()

    def claim_room(self, inflight: int) -> int:
        """How many executions to claim now, with ``inflight`` claimed and unfinished.

        A worker claims up to one batch ahead of its slots: a busy worker then
        claims half a batch or more at a time, not one execution per freed
        slot (each claim is a statement, and a commit). Queued executions keep
        their leases through the heartbeat and are given back, not run, once
        the worker stops. A free slot always claims.
        """
        concurrency, batch = self.config.concurrency, self.config.claim_batch
        room = concurrency + batch - inflight
        if inflight < concurrency or room >= max(1, batch // 2):
            return max(0, min(room, batch))
        return 0

    def idle_wait(self) -> float:
        """Seconds to wait for work: until the next timer, at most poll_interval."""
        wake: datetime | None = self.store.next_wake(self.registry.names())
        limit = self.config.poll_interval
        if wake is None:
            return limit
        return max(0.0, min(limit, (wake - self.clock()).total_seconds()))

    def pause_after(self, exc: StoreError, failures: int, reached: bool, until_idle: bool) -> float:
        """How long the loop waits after a store error, the ``failures``-th
        in a row; or ``exc`` raised, to end the worker.

        The database may be away for a while (restarting, locked by a backup,
        unreachable): in-flight runs fail their own commits and their leases
        expire, and a running worker waits and tries again rather than ending.
        A store never reached (``reached`` False: a wrong URL), a schema of
        another version, or a run until idle (a script, a test) reports the
        error instead.
        """
        if not reached or until_idle or isinstance(exc, _FOR_GOOD):
            raise exc
        pause = min(self.config.poll_interval * failures, _MOST_BACKOFF)
        log.error("worker %s: %s; trying again in %.1f s", self.worker_id, exc, pause)
        return pause

    def idle_slices(self, seconds: float, stopping: Callable[[], bool]) -> Iterator[float]:
        """The pieces to wait on the store for, together up to ``seconds``:
        a store's wait cannot be interrupted, so a long one is taken in
        slices of ``_STOP_CHECK`` and ``stop()`` is noticed between them. A
        wait that returns early (the store saw a change) ends the series."""
        deadline = time.monotonic() + seconds
        while not stopping() and (left := deadline - time.monotonic()) > 0:
            piece = min(left, _STOP_CHECK)
            started = time.monotonic()
            yield piece  # the caller waits on the store for this long
            if time.monotonic() - started < piece * 0.9:
                return  # woken before its time: work may be new

    def report_lost(self, lost: Sequence[Lease], held: Collection[Lease], seen: set[Lease]) -> None:
        """Log each lease a heartbeat found lost, once: only those still
        ``held`` (a run that finished meanwhile gave its lease back), and
        not those already in ``seen``, which keeps what is still held."""
        seen.intersection_update(held)
        for lease in lost:
            if lease in held and lease not in seen:
                seen.add(lease)
                log.warning("lease on %s lost; its next write will be refused", lease.execution_id)

    def warn_unknown(self) -> None:
        for name in self.store.unknown_tasks(self.registry.names(), self.clock()):
            if name not in self._warned:
                self._warned.add(name)
                log.warning(
                    "due executions of task %r wait: no handler for it in this "
                    "worker's registry (%s)",
                    name,
                    ", ".join(self.registry.names()),
                )


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
        beat = threading.Thread(target=self._heartbeat, name="zart-heartbeat", daemon=True)
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
                failures, reached = 0, True
                if idle:
                    break
        finally:
            self._stopping.set()
            try:
                self._drain(pool)
            finally:
                self._drained.set()

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
        self.warn_unknown()
        if until_idle:
            return True  # nothing ran, nothing was due: idle
        for piece in self.idle_slices(self.idle_wait(), self._stopping.is_set):
            self.store.wait(piece)
        return False

    def _run_one(self, item: Claimed) -> None:
        try:
            if self._stopping.is_set():  # claimed ahead, never started: give it back
                self.store.release(item.lease, self.clock())
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
            self.store.release(lease, self.clock())
        pool.shutdown(wait=False, cancel_futures=True)

    def _heartbeat(self) -> None:
        interval = self.config.heartbeat_interval.total_seconds()
        reported: set[Lease] = set()
        while not self._drained.wait(interval):
            with self._lock:
                leases = [x for x in self._inflight.values() if x not in reported]
            if not leases:
                continue
            try:
                lost = self.store.heartbeat(leases, self.clock(), self.config.lease)
            except Exception:
                log.exception("heartbeat failed; retrying in %ss", interval)
                continue
            with self._lock:
                held = set(self._inflight.values())
            self.report_lost(lost, held, reported)

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
