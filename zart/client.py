"""``zart.Client``: schedule executions, offer events, read results."""

from __future__ import annotations

import builtins
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import records as r
from . import settings
from .clock import checked_clock, utcnow
from .commands import check_storable
from .errors import (
    Cancelled,
    ExecutionFailed,
    ResultTimeout,
    ZartError,
)
from .failures import rebuild
from .host import Host
from .records import ExecutionRecord, NewExecution, StepRecord
from .serde import from_json, to_json
from .store import Store
from .tasks import TaskHandler, TaskRegistry


def check_status(status: str | None) -> None:
    if status is not None and status not in r.STATUSES:
        raise ValueError(f"unknown status {status!r}; expected one of {', '.join(r.STATUSES)}")


def _check_id(
    execution_id: str | None, what: str = "execution_id", *, optional: bool = False
) -> None:
    # No stored id holds a NUL or a surrogate (PostgreSQL cannot store
    # either), or is anything but a non-empty string: asking for one is a
    # mistake on every store alike, not an unknown execution.
    if optional and execution_id is None:
        return
    if not isinstance(execution_id, str) or not execution_id:
        raise ValueError(f"{what} must be a non-empty string, got {execution_id!r}")
    check_storable(what, execution_id)


class Client:
    """The application's handle on a store: everything but running workflows,
    plus ``run`` to drive one inline in the calling thread."""

    def __init__(
        self,
        store: Store,
        registry: TaskRegistry | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.registry = registry if registry is not None else TaskRegistry()
        self.clock = checked_clock(clock, "Client")

    def schedule(
        self, task: str | TaskHandler, data: Any = None, *, execution_id: str | None = None
    ) -> str:
        """Create an execution; its id (given ids are idempotency keys:
        a second schedule with one raises ``ExecutionAlreadyExists``)."""
        name, handler = self.registry.resolve(task)
        what = f"input of task {name!r}"
        document = to_json(data, what)
        from_json(document, handler.input_type(), what)  # refuse bad input now, not in a worker
        _check_id(execution_id, optional=True)
        eid = execution_id or uuid.uuid4().hex
        self.store.create(NewExecution(id=eid, task_name=name, input=document), self.clock())
        return eid

    def offer_event(self, execution_id: str, name: str, payload: Any = None) -> bool:
        """Deliver an event; the first payload offered under a name is kept."""
        _check_id(execution_id)
        if not isinstance(name, str) or not name:
            raise ValueError(f"event name must be a non-empty string, got {name!r}")
        check_storable("event name", name)
        document = to_json(payload, f"payload of event {name!r}")
        return self.store.offer_event(execution_id, name, document, self.clock())

    def get(self, execution_id: str) -> ExecutionRecord:
        _check_id(execution_id)
        return self.store.get(execution_id)

    def history(self, execution_id: str) -> list[StepRecord]:
        _check_id(execution_id)
        return self.store.history(execution_id)

    def list(
        self,
        status: str | None = None,
        task: str | None = None,
        limit: int = 50,
        offset: int = 0,
        parent_id: str | None = None,
    ) -> builtins.list[ExecutionRecord]:
        check_status(status)
        if isinstance(task, str):
            check_storable("task name", task)
        _check_id(parent_id, "parent_id", optional=True)
        settings.count("limit", limit, least=1)
        settings.count("offset", offset, least=0)
        return self.store.list(
            status=status, task=task, limit=limit, offset=offset, parent_id=parent_id
        )

    def cancel(self, execution_id: str) -> bool:
        """Cancel the execution and its unfinished children; False if it had ended."""
        _check_id(execution_id)
        return self.store.cancel(execution_id, self.clock())

    def result(self, execution_id: str, timeout: float | None = None, type: Any = None) -> Any:
        """Wait for the execution to end and return its output.

        The output is structured into ``type``, else the handler's declared
        output type, else returned as JSON. A failed execution raises
        ``ExecutionFailed``, a cancelled one ``Cancelled``; ``ResultTimeout``
        when ``timeout`` seconds pass first.
        """
        _check_id(execution_id)
        wait = settings.wait_seconds("timeout", timeout)
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            record = self.store.get(execution_id)
            if record.is_final:
                return self.outcome(record, type)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise ResultTimeout(execution_id, timeout or 0, record.status)
            self.store.wait(0.5 if remaining is None else min(0.5, remaining))

    def outcome(self, record: ExecutionRecord, type: Any = None) -> Any:
        """The output of a finished execution, or its error raised."""
        if record.status == r.COMPLETED:
            if type is None and record.kind == r.WORKFLOW and record.task_name in self.registry:
                type = self.registry.get(record.task_name).output_type()
            return from_json(record.output, type, f"output of execution {record.id!r}")
        if record.status == r.CANCELLED:
            raise Cancelled(record.id)
        if record.status == r.FAILED:
            error = ExecutionFailed(record.id, record.error)
            raise error from rebuild(record.error or {}, record.id)
        raise ZartError(f"execution {record.id!r} has not finished (status {record.status})")

    def run(
        self,
        task: str | TaskHandler,
        data: Any = None,
        *,
        execution_id: str | None = None,
        type: Any = None,
        timeout: float | None = None,
    ) -> Any:
        """Schedule and drive the workflow in this thread until it ends.

        Only this execution and its children run here. A durable sleep
        blocks the thread until it is due; events from other threads or
        processes wake it.
        """
        wait = settings.wait_seconds("timeout", timeout)
        eid = self.schedule(task, data, execution_id=execution_id)
        host = Host(self.store, self.registry, clock=self.clock)
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            ran = host.tick(limit=16, under=eid)
            record = self.store.get(eid)
            if record.is_final:
                return self.outcome(record, type)
            if ran:
                continue
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise ResultTimeout(eid, timeout or 0, record.status)
            self.store.wait(self._idle_wait(eid, remaining))

    def _idle_wait(self, eid: str, remaining: float | None) -> float:
        # Only this execution's tree: run() claims nothing else, and another
        # execution due now would make every pause zero.
        wake = self.store.next_wake(self.registry.names(), under=eid)
        pause = 1.0 if wake is None else max(0.0, (wake - self.clock()).total_seconds())
        pause = min(pause, 1.0)
        return pause if remaining is None else min(pause, remaining)
