"""The store protocol: every durable operation zart needs, each one atomic.

Stores never read the clock: hosts pass ``now``. That keeps the memory store
drivable by a virtual clock and makes each store's behaviour a function of
its inputs, which is what the shared contract suite checks.

Semantics every store implements (the memory store is the reference):

- ``create``: insert a pending execution due at ``now``; an existing id raises
  ``ExecutionAlreadyExists`` carrying the id and its status.
- ``claim``: take up to ``limit`` due executions whose task is in ``tasks``
  (all tasks when None), oldest due first. Due means ``wake_at <= now`` and
  status pending, sleeping or waiting, or status running with an expired
  lease. Claiming sets status running, ``wake_at = now + lease`` (the lease
  expiry) and a fresh lease token. Concurrent claimers never get the same row.
  ``under``: only that execution and its descendants (ids ``under`` and
  ``under:...``), for ``Client.run`` driving one workflow inline. A store may
  return, with a claim, the log it found empty (no record, no event), so
  the host need not ``load`` it; otherwise ``Claimed.log`` is None.
- ``load``: the whole log and the offered events, in one read, and
  ``last_seq``: the highest seq the log has given, records since deleted included.
- ``commit``: apply a ``Commit`` in one transaction, only if the lease still
  holds (status running and same token); otherwise raise ``LeaseLost`` and
  write nothing. Records are upserted by name: a new name takes the write's
  seq, which the lease holder numbers from ``last_seq``, and a known name
  must be sent with the seq its log gave it (a store may key records by
  seq: SQLite does, and refuses a seq held by another name with StoreError);
  children are inserted unless their id exists, and the outcome is applied:
    * ``Suspend``: a named event already offered, or children all final
      already, leave the execution pending and due now (returns False);
      otherwise it becomes ``waiting`` (event or children; awaited schedule
      records are marked so the last one to finish re-queues it) or
      ``sleeping`` (timer only), due at ``wake_at``.
    * ``Complete`` / ``Fail``: final status, output or error stored; if the
      execution has a parent, its schedule record in the parent's log takes
      the outcome (completed / error / failed) and, when it was the last
      awaited child of a waiting parent, the parent becomes due now.
    * ``RetryExecution``: attempt + 1, pending at ``wake_at``, the log's
      ``failed`` step records deleted so they run afresh.
  Any outcome releases the lease. Returns True unless a Suspend did not suspend.
- ``offer_event``: keep the first payload offered under a name (a later one is
  ignored and returns False); wake the execution if it waits for that event.
  Unknown ids raise ``ExecutionNotFound``; final executions ``EventRejected``.
- ``cancel``: final status cancelled, lease voided, and every unfinished
  descendant cancelled too; a cancelled child's schedule record in its
  parent becomes ``cancelled`` and wakes a parent waiting on it. Returns False
  when the execution was final already.
- ``heartbeat``: extend the leases still held; return the ones that are lost.
- ``release``: give a claimed execution back, pending and due now.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from .records import (
    Claimed,
    Commit,
    ExecutionRecord,
    Lease,
    Log,
    NewExecution,
    StepRecord,
)


@runtime_checkable
class Store(Protocol):
    url: str

    def migrate(self) -> None: ...

    def close(self) -> None: ...

    def create(self, new: NewExecution, now: datetime) -> ExecutionRecord: ...

    def claim(
        self,
        *,
        worker: str,
        tasks: Collection[str] | None,
        now: datetime,
        lease: timedelta,
        limit: int,
        under: str | None = None,
    ) -> list[Claimed]: ...

    def load(self, execution_id: str) -> Log: ...

    def commit(self, lease: Lease, commit: Commit, now: datetime) -> bool: ...

    def heartbeat(
        self, leases: Sequence[Lease], now: datetime, lease: timedelta
    ) -> list[Lease]: ...

    def release(self, lease: Lease, now: datetime) -> None: ...

    def offer_event(self, execution_id: str, name: str, payload: Any, now: datetime) -> bool: ...

    def cancel(self, execution_id: str, now: datetime) -> bool: ...

    def get(self, execution_id: str) -> ExecutionRecord: ...

    def list(
        self,
        *,
        status: str | None = None,
        task: str | None = None,
        parent_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> builtins.list[ExecutionRecord]: ...

    def history(self, execution_id: str) -> builtins.list[StepRecord]: ...

    def next_wake(self, tasks: Collection[str] | None, under: str | None = None) -> datetime | None:
        """The earliest ``wake_at`` among claimable executions, for timed
        waits; ``under`` as for ``claim``."""
        ...

    def unknown_tasks(self, known: Collection[str], now: datetime) -> builtins.list[str]:
        """Task names of due executions that no name in ``known`` covers."""
        ...

    def wait(self, timeout: float) -> None:
        """Block up to ``timeout`` real seconds, or less when work may be new."""
        ...
