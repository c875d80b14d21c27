"""What the thread and asyncio workers share: their configuration and the
policy of their loop (how much to claim, how long to idle, how to ride out
a database that went away, what to tell an operator).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import timedelta
from typing import Any

import attrs

from . import settings
from .errors import SchemaNewer, SchemaOutdated, StoreError
from .host import Host
from .observe import Observer
from .records import Lease, WorkerInfo
from .retry import to_timedelta
from .stores.protocol import Store, check_store
from .tasks import TaskRegistry, check_registry

log = logging.getLogger("zart")
# How soon an idle worker notices stop(), and the longest pause after a
# database error.
_STOP_CHECK = 0.5
_MOST_BACKOFF = 30.0
# How often a worker looks for due work no handler of its serves, and for
# parents a dead worker left waiting on children that all ended: each is a
# query an idle worker would otherwise make on every turn.
HOUSEKEEPING_INTERVAL = 30.0
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
    """What the thread and asyncio workers share: config, identity, policy."""

    def __init__(
        self,
        store: Store,
        registry: TaskRegistry,
        config: WorkerConfig | None = None,
        *,
        worker_id: str | None = None,
        observers: Sequence[Observer] = (),
    ) -> None:
        where = type(self).__name__
        self.store = check_store(where, store)
        self.registry = check_registry(where, registry)
        if config is not None and not isinstance(config, WorkerConfig):
            raise TypeError(
                f"{where} takes a zart.WorkerConfig, got {type(config).__name__} {config!r:.80}"
            )
        self.config = config or WorkerConfig()
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:8]}"
        self.host = Host(
            store, registry, lease=self.config.lease, worker_id=self.worker_id, observers=observers
        )
        self.processed = 0
        self._warned: set[str] = set()
        self._next_housekeeping = 0.0

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
        wake = self.store.next_wake(self.host.task_names())
        # The next schedule to fire (or the next look for new ones) cuts it short.
        limit = min(self.config.poll_interval, self.host.schedules.seconds_to_check())
        if wake is None:
            return limit
        return max(0.0, min(limit, (wake - self.store.now()).total_seconds()))

    def pause_after(self, exc: StoreError, failures: int, reached: bool, until_idle: bool) -> float:
        """How long the loop waits after a store error, the ``failures``-th
        in a row; or ``exc`` raised, to end the worker.

        The database may be away for a while (restarting, locked by a backup,
        unreachable): in-flight runs fail their own commits and their leases
        expire, and a running worker waits and tries again rather than ending.
        A store never reached (``reached`` False: a wrong URL), a schema of
        another version, or a run until idle (a script, a test) reports the
        error instead. One line per outage, not one per failed call.
        """
        if not reached or until_idle or isinstance(exc, _FOR_GOOD):
            raise exc
        pause = min(self.config.poll_interval * failures, _MOST_BACKOFF)
        if failures == 1:
            log.error(
                "worker %s: the store failed: %s; retrying until it answers", self.worker_id, exc
            )
        else:
            log.debug("worker %s: still failing (%d): %s", self.worker_id, failures, exc)
        return pause

    def recovered(self, failures: int) -> None:
        if failures:
            log.warning(
                "worker %s: the store answers again after %d failure(s)", self.worker_id, failures
            )

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

    # -- the worker's own row, and its heartbeat ---------------------------
    def info(self, inflight: int = 0) -> WorkerInfo:
        """How this worker records itself in the store (``client.workers()``)."""
        now = self.store.now()
        return WorkerInfo(
            id=self.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            tasks=tuple(self.host.task_names()),
            concurrency=self.config.concurrency,
            started_at=now,
            heartbeat_at=now,
            expires_at=now + self.config.lease,
            inflight=inflight,
        )

    def announce(self) -> None:
        """Record this worker as live (a store that does not answer: logged,
        tried again at the next heartbeat)."""
        try:
            self.store.register_worker(self.info())
        except StoreError as exc:
            log.warning("worker %s could not record itself: %s", self.worker_id, exc)

    def retire(self) -> None:
        """Take this worker's row away on a clean stop."""
        try:
            self.store.remove_worker(self.worker_id)
        except StoreError as exc:
            log.warning("worker %s could not remove its row: %s", self.worker_id, exc)

    def heartbeat(self, done: threading.Event, held: Callable[[], Collection[Lease]]) -> None:
        """On a thread of its own, every ``heartbeat_interval`` until ``done``:
        renew this worker's row and the leases it ``held``, whatever the
        steps or the event loop do. One log line per outage."""
        interval = self.config.heartbeat_interval.total_seconds()
        reported: set[Lease] = set()
        failing = False
        while not done.wait(interval):
            leases = set(held())
            try:
                if not self.store.beat_worker(self.worker_id, len(leases), self.config.lease):
                    self.store.register_worker(self.info(len(leases)))
                pending = [x for x in leases if x not in reported]
                lost = self.store.heartbeat(pending, self.config.lease) if pending else []
            except Exception as exc:
                if not failing:
                    log.error("heartbeat failed: %s; retrying every %g s", exc, interval)
                failing = True
                continue
            if failing:
                log.warning("heartbeat of worker %s works again", self.worker_id)
                failing = False
            self.report_lost(lost, set(held()), reported)

    def report_lost(self, lost: Sequence[Lease], held: Collection[Lease], seen: set[Lease]) -> None:
        """Log each lease a heartbeat found lost, once: only those still
        ``held`` (a run that finished meanwhile gave its lease back), and
        not those already in ``seen``, which keeps what is still held."""
        seen.intersection_update(held)
        for lease in lost:
            if lease in held and lease not in seen:
                seen.add(lease)
                log.warning("lease on %s lost; its next write will be refused", lease.execution_id)

    def housekeeping(self, force: bool = False) -> None:
        """Now and then (every ``HOUSEKEEPING_INTERVAL`` s, or when ``force``):
        warn of due work no handler here serves, and wake parents that a
        dead worker left waiting on children that all ended."""
        if not force and time.monotonic() < self._next_housekeeping:
            return
        self._next_housekeeping = time.monotonic() + HOUSEKEEPING_INTERVAL
        woken = self.store.wake_stranded()
        if woken:
            log.info(
                "worker %s: woke %d parent(s) whose children had all ended", self.worker_id, woken
            )
        names = self.host.task_names()
        for name in self.store.unknown_tasks(names):
            if name not in self._warned:
                self._warned.add(name)
                log.warning(
                    "due executions of task %r wait: no handler for it in this "
                    "worker's registry (%s)",
                    name,
                    ", ".join(names),
                )
