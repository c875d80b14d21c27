"""The store protocol: every durable operation zart needs, each one atomic.

A store keeps its own clock: ``now()``. The memory store reads the clock
it was given (a virtual one under ``zart.testing``); SQLite the clock of the
machine its file is on; PostgreSQL and MySQL the database server's, so that
leases, timers and deadlines agree across machines whose clocks do not.

What each operation does, every store alike (``zart.stores.rules`` holds the
decisions; the memory store is the reference, and the contract suite and a
stateful property test hold the others to it):

- ``create``: a pending execution due now; an existing id raises
  ``ExecutionAlreadyExists`` carrying the id and its status.
  ``create_leased`` creates it already claimed by ``worker`` (one write
  where a schedule and a claim took two: ``Client.run``).
- ``claim``: up to ``limit`` due executions whose task is in ``tasks`` (all
  when None), oldest due first, each with its log. Due means ``wake_at <=
  now`` and not final: pending, sleeping, waiting with a deadline, or running
  with an expired lease. Concurrent claimers never get the same row.
  ``under``: only that execution's tree (its descendants share its root).
- ``load``: the log (the current run's, or ``run``'s), the offered events and
  the messages not consumed yet, in one read.
- ``commit``: apply a ``Commit`` in one transaction, only while the lease
  holds (status running and the same token); otherwise ``LeaseLost`` and
  nothing written. Records are upserted by name; children inserted unless
  their id exists; ``rerun_children`` run again (``rules.rerun``); consumed
  messages marked; the outcome applied (``rules``). Any outcome releases the
  lease. Returns False when a suspend found its wake-up there already.
- ``offer_event``: keep the first payload offered under a name (a later one
  returns False); wake the execution if it waits for it. Unknown ids raise
  ``ExecutionNotFound``; final executions ``EventRejected``.
- ``send``: append a message on a topic (``MessageRejected`` when final);
  wake the execution if it waits on that topic. Returns the message's id.
  A send whose ``idempotency_key`` the execution has seen stores nothing
  and returns the first message's id, even once the execution has ended;
  the same key on another topic raises ``ValueError`` (``rules.sent_before``).
- ``cancel``: the execution and its unfinished descendants end cancelled,
  leases voided. False when it had ended already.
- ``retry``: a failed, cancelled or stalled execution runs again (next
  attempt, due now); anything else raises ``RetryRefused``.
- ``heartbeat`` extends the leases still held and returns those lost;
  ``release`` gives a claimed execution back, due now.
- ``wake_stranded``: parents left waiting on children that have all ended
  (a worker died between a child's write and its wake-up); made due.
- Workers record themselves (``register_worker``), beat (``beat_worker``)
  and leave (``remove_worker``); a row past its ``expires_at`` is a dead
  worker, and rows dead for a day are dropped when a worker registers.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from ..records import (
    Claimed,
    Commit,
    ExecutionRecord,
    Fired,
    Lease,
    Log,
    NewExecution,
    ScheduleRecord,
    StepRecord,
    WorkerInfo,
)


@runtime_checkable
class Store(Protocol):
    url: str
    max_payload: int | None  # bytes of JSON per value; None: no limit

    def migrate(self) -> None: ...

    def close(self) -> None: ...

    def now(self) -> datetime: ...

    def create(self, new: NewExecution) -> ExecutionRecord: ...

    def create_in(self, connection: Any, new: NewExecution) -> None:
        """Write ``new`` through the caller's own open connection to this
        store's database, in the caller's transaction (not committed here):
        it exists only if that transaction commits. A connection of another
        kind (``TypeError``) or to another database (``ValueError``) is
        refused before anything is written."""
        ...

    def create_leased(self, new: NewExecution, *, worker: str, lease: timedelta) -> Claimed: ...

    def claim(
        self,
        *,
        worker: str,
        tasks: Collection[str] | None,
        lease: timedelta,
        limit: int,
        under: str | None = None,
    ) -> list[Claimed]: ...

    def load(self, execution_id: str, run: int | None = None) -> Log: ...

    def commit(self, lease: Lease, commit: Commit) -> bool: ...

    def heartbeat(self, leases: Sequence[Lease], lease: timedelta) -> list[Lease]: ...

    def release(self, lease: Lease) -> None: ...

    def offer_event(self, execution_id: str, name: str, payload: Any) -> bool: ...

    def send(
        self, execution_id: str, topic: str, payload: Any, idempotency_key: str | None = None
    ) -> int: ...

    def cancel(self, execution_id: str) -> bool: ...

    def retry(self, execution_id: str) -> ExecutionRecord: ...

    def fork(self, execution_id: str, from_step: str, new_id: str) -> ExecutionRecord:
        """A new pending execution ``new_id`` of the same task and input whose
        log is the source's up to ``from_step``'s record (``rules.fork``);
        the source is not changed. ``ForkRefused`` if it cannot be made."""
        ...

    def get(self, execution_id: str) -> ExecutionRecord: ...

    # -- recurring schedules (``zart.schedules`` holds their rules) ------------
    def create_schedule(self, schedule: ScheduleRecord) -> ScheduleRecord:
        """Store a new schedule; ``ScheduleAlreadyExists`` if its id is taken."""
        ...

    def get_schedule(self, schedule_id: str) -> ScheduleRecord: ...

    def list_schedules(self) -> builtins.list[ScheduleRecord]:
        """Every schedule, by id."""
        ...

    def pause_schedule(self, schedule_id: str, paused: bool) -> ScheduleRecord:
        """Pause, or resume from now on (``schedules.paused``)."""
        ...

    def delete_schedule(self, schedule_id: str) -> bool:
        """Delete it (its executions stay); False if there was none."""
        ...

    def trigger_schedule(self, schedule_id: str) -> ExecutionRecord:
        """Start a tick now, whatever its overlap policy and pause say."""
        ...

    def fire_schedules(self, tasks: Collection[str] | None, limit: int) -> Fired:
        """Start the due ticks of up to ``limit`` schedules of ``tasks``
        (``schedules.fire``), each schedule in one transaction that no other
        firing of it can overlap."""
        ...

    def list(
        self,
        *,
        status: str | None = None,
        task: str | None = None,
        parent_id: str | None = None,
        search: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> builtins.list[ExecutionRecord]:
        """Newest first. ``search``: ids starting with it."""
        ...

    def counts(self, task: str | None = None) -> dict[str, int]:
        """How many executions there are in each status (of ``task``)."""
        ...

    def history(self, execution_id: str, run: int | None = None) -> builtins.list[StepRecord]: ...

    def next_wake(self, tasks: Collection[str] | None, under: str | None = None) -> datetime | None:
        """The earliest ``wake_at`` among claimable executions, for timed waits."""
        ...

    def unknown_tasks(self, known: Collection[str]) -> builtins.list[str]:
        """Task names of due executions that no name in ``known`` covers."""
        ...

    def wake_stranded(self) -> int: ...

    def status_counts(self) -> dict[tuple[str, str], int]:
        """How many executions of each task are in each status: (task, status)."""
        ...

    # -- live workers ----------------------------------------------------------
    def register_worker(self, info: WorkerInfo) -> None:
        """Record a worker (replacing a row of its id); its ``expires_at`` is
        the store's now plus ``info.expires_at - info.heartbeat_at``."""
        ...

    def beat_worker(self, worker_id: str, inflight: int, lease: timedelta) -> bool:
        """A worker's heartbeat: alive until now + ``lease``. False when its
        row is gone (it registers again)."""
        ...

    def remove_worker(self, worker_id: str) -> None: ...

    def workers(self) -> builtins.list[WorkerInfo]:
        """Every recorded worker, ``alive`` while its heartbeat holds, by id."""
        ...

    def wait(self, timeout: float) -> None:
        """Block up to ``timeout`` real seconds, or less when work may be new."""
        ...


def check_store(where: str, store: object) -> Store:
    """``store`` if it looks like a store (``zart.connect``'s, a store
    class's); ``TypeError`` naming ``where`` for anything else (a URL
    string, a registry in the wrong place)."""
    if not all(callable(getattr(store, name, None)) for name in ("now", "create", "get", "claim")):
        raise TypeError(
            f"{where} takes a store (zart.connect(url) or a store class), "
            f"got {type(store).__name__} {store!r:.80}"
        )
    return store  # type: ignore[return-value]
