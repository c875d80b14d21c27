"""``zart.Client``: schedule executions, offer events, read results, and
drive one workflow inline with ``run``."""

from __future__ import annotations

import builtins
import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from . import records as r
from . import schedules, settings, tracecontext
from .decisions import Decision, Finish
from .errors import Cancelled, ExecutionAlreadyExists, ExecutionFailed, ResultTimeout, ZartError
from .failures import rebuild
from .host import Host
from .names import check_name, unstorable_char, unstorable_reason
from .records import ExecutionRecord, NewExecution, ScheduleRecord, StepRecord, WorkerInfo
from .serde import check_type, from_json, to_json
from .stores.protocol import Store, check_store
from .tasks import (
    Failure,
    TaskHandler,
    TaskRegistry,
    check_registry,
    failure_handler_execution,
)

# How long a wait for an execution sleeps between looks when nothing wakes it.
_LOOK_AGAIN = 0.5


def check_status(status: object) -> None:
    if status is not None and status not in r.STATUSES:
        raise ValueError(f"unknown status {status!r}; expected one of {', '.join(r.STATUSES)}")


def _check_id(value: object, what: str = "execution_id") -> str:
    # Asking for an id no store could hold is a mistake on every store
    # alike, not an unknown execution.
    try:
        return check_name(what, value)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def _check_search(search: object) -> None:
    # An id prefix: any text a stored id could start with (a longer one
    # matches nothing), but not text no store could be asked about.
    if not isinstance(search, str):
        raise ValueError(f"search must be a string, got {type(search).__name__} {search!r:.80}")
    char = unstorable_char(search)
    if char is not None:
        reason = unstorable_reason(char, nul="\\x00")  # as the repr beside it shows a NUL
        raise ValueError(f"search {search[:40]!r} holds {reason}")


class Client:
    """The application's handle on a store: everything but running workflows,
    plus ``run`` to drive one inline in the calling thread."""

    def __init__(self, store: Store, registry: TaskRegistry | None = None) -> None:
        self.store = check_store("Client", store)
        self.registry = TaskRegistry() if registry is None else check_registry("Client", registry)

    # -- starting ----------------------------------------------------------
    def new_execution(
        self, task: str | TaskHandler, data: Any = None, *, execution_id: str | None = None
    ) -> NewExecution:
        """What ``schedule`` creates, checked: a known task, an input that
        structures into its declared type and fits the payload limit, a usable id."""
        name, handler = self.registry.resolve(task)
        what = f"input of task {name!r}"
        document = to_json(data, what, limit=self.store.max_payload)
        from_json(document, handler.input_type(), what)  # refuse bad input now, not in a worker
        if execution_id is not None:
            _check_id(execution_id)
        return NewExecution(
            id=execution_id or uuid.uuid4().hex,
            task_name=name,
            input=document,
            trace=tracecontext.current(),
        )

    def schedule(
        self,
        task: str | TaskHandler,
        data: Any = None,
        *,
        execution_id: str | None = None,
        connection: Any = None,
    ) -> str:
        """Create an execution; its id. A given id is an idempotency key: a
        second schedule with it raises ``ExecutionAlreadyExists``.

        ``connection``: the caller's open ``sqlite3`` or psycopg connection
        to the store's database. The execution is written in that
        connection's current transaction and exists only if it commits;
        workers are woken once it does. A connection of the wrong kind
        (``TypeError``) or to another database (``ValueError``) is refused
        and nothing is written."""
        new = self.new_execution(task, data, execution_id=execution_id)
        if connection is None:
            self.store.create(new)
        else:
            self.store.create_in(connection, new)
        return new.id

    def run(
        self,
        task: str | TaskHandler,
        data: Any = None,
        *,
        execution_id: str | None = None,
        type: Any = None,
        timeout: float | None = None,
    ) -> Any:
        """Schedule and drive the workflow in this thread until it ends; its output.

        The execution is created already claimed here, and only it and its
        children run here. A durable sleep blocks the thread until it is
        due; events from other threads or processes wake it. A failed
        execution raises ``ExecutionFailed``; ``ResultTimeout`` after
        ``timeout`` seconds.
        """
        wait = settings.wait_seconds("timeout", timeout)
        check_type("type", type)
        new = self.new_execution(task, data, execution_id=execution_id)
        host = Host(self.store, self.registry)
        first = host.process(self.store.create_leased(new, worker=host.worker_id, lease=host.lease))

        def turn() -> Decision | None:
            for item, decision in host.tick(limit=16, under=new.id):
                if item.record.id == new.id:
                    return decision
            return None

        return self._await(
            new.id, wait, type, first=first, turn=turn, host=host, task=new.task_name
        )

    # -- recurring schedules ------------------------------------------------
    def create_schedule(
        self,
        schedule_id: str,
        task: str | TaskHandler,
        data: Any = None,
        *,
        cron: str | None = None,
        every: timedelta | float | None = None,
        timezone: str = "UTC",
        overlap: str = schedules.SKIP,
        catchup: timedelta | float = timedelta(0),
        jitter: timedelta | float | None = None,
        paused: bool = False,
    ) -> ScheduleRecord:
        """A recurring schedule of ``task`` with ``data``: on a ``cron``
        expression in ``timezone``, or ``every`` interval. Workers serving
        the task start each tick as the execution ``"{schedule_id}@{tick}"``.
        ``overlap`` says what a tick does while the last one still runs
        (``skip``, ``buffer_one``, ``allow_all``, ``cancel_other``); ticks
        missed while no worker ran start if they are within ``catchup``;
        ``jitter`` spreads each tick's start over that much time."""
        sid = _check_id(schedule_id, "schedule_id")
        given = schedules.check(
            cron=cron,
            every=every,
            timezone=timezone,
            overlap=overlap,
            catchup=catchup,
            jitter=jitter,
            paused=paused,
        )
        new = self.new_execution(task, data)
        now = self.store.now()
        when = given.when
        tick, fire_at = schedules.first(when, sid, given.jitter, now)
        record = ScheduleRecord(
            id=sid,
            task_name=new.task_name,
            input=new.input,
            cron=when.cron,
            every=when.every,
            timezone=when.timezone,
            overlap=overlap,
            catchup=given.catchup,
            jitter=given.jitter,
            paused=given.paused,
            next_tick=tick,
            next_fire_at=fire_at,
            created_at=now,
            updated_at=now,
        )
        return self.store.create_schedule(record)

    def get_schedule(self, schedule_id: str) -> ScheduleRecord:
        return self.store.get_schedule(_check_id(schedule_id, "schedule_id"))

    def list_schedules(self) -> builtins.list[ScheduleRecord]:
        return self.store.list_schedules()

    def pause_schedule(self, schedule_id: str) -> ScheduleRecord:
        """Stop firing it until ``resume_schedule``."""
        return self.store.pause_schedule(_check_id(schedule_id, "schedule_id"), True)

    def resume_schedule(self, schedule_id: str) -> ScheduleRecord:
        """Fire it again, from its next tick after now (ticks that came due
        while it was paused are not caught up)."""
        return self.store.pause_schedule(_check_id(schedule_id, "schedule_id"), False)

    def delete_schedule(self, schedule_id: str) -> bool:
        """Delete it (the executions it started stay); False if there was none."""
        return self.store.delete_schedule(_check_id(schedule_id, "schedule_id"))

    def trigger_schedule(self, schedule_id: str) -> str:
        """Start a tick now, paused or not, whatever runs; its execution id."""
        return self.store.trigger_schedule(_check_id(schedule_id, "schedule_id")).id

    # -- events and messages ------------------------------------------------
    def offer_event(self, execution_id: str, name: str, payload: Any = None) -> bool:
        """Deliver an event; the first payload offered under a name is kept."""
        _check_id(execution_id)
        _check_id(name, "event name")
        document = to_json(payload, f"payload of event {name!r}", limit=self.store.max_payload)
        return self.store.offer_event(execution_id, name, document)

    def send(
        self,
        execution_id: str,
        topic: str,
        message: Any = None,
        *,
        idempotency_key: str | None = None,
    ) -> int:
        """Send a message on ``topic``; ``zart.receive`` takes them in order,
        each once. Its id in the order of sending.

        With ``idempotency_key``, a send tried again (after a timeout or a
        lost answer) stores the message once: a key the execution has seen
        answers the first message's id and stores nothing, even once the
        execution has ended."""
        _check_id(execution_id)
        _check_id(topic, "topic")
        if idempotency_key is not None:
            _check_id(idempotency_key, "idempotency_key")
        document = to_json(message, f"message on topic {topic!r}", limit=self.store.max_payload)
        return self.store.send(execution_id, topic, document, idempotency_key)

    # -- reading -------------------------------------------------------------
    def get(self, execution_id: str) -> ExecutionRecord:
        return self.store.get(_check_id(execution_id))

    def history(self, execution_id: str, run: int | None = None) -> list[StepRecord]:
        """The log, in order of first record: the current run's, or ``run``'s."""
        if run is not None:
            settings.count("run", run, least=1)
        return self.store.history(_check_id(execution_id), run)

    def list(
        self,
        status: str | None = None,
        task: str | None = None,
        limit: int = 50,
        offset: int = 0,
        parent_id: str | None = None,
        search: str | None = None,
    ) -> builtins.list[ExecutionRecord]:
        """Executions, newest first, by status, task, parent or id prefix."""
        check_status(status)
        if task is not None:
            _check_id(task, "task")
        if parent_id is not None:
            _check_id(parent_id, "parent_id")
        if search is not None:
            _check_search(search)
        settings.count("limit", limit, least=1)
        settings.count("offset", offset, least=0)
        return self.store.list(
            status=status, task=task, limit=limit, offset=offset, parent_id=parent_id, search=search
        )

    def counts(self, task: str | None = None) -> dict[str, int]:
        """How many executions there are in each status."""
        if task is not None:
            _check_id(task, "task")
        return self.store.counts(task)

    def workers(self, *, include_dead: bool = False) -> builtins.list[WorkerInfo]:
        """The live workers (with the dead ones still recorded, when asked):
        id, host, pid, tasks, concurrency, heartbeat, executions in flight."""
        return [w for w in self.store.workers() if include_dead or w.alive]

    def served(self, task: str) -> bool:
        """Whether a live worker serves ``task`` (none may yet: a schedule
        still creates the execution, to wait for one)."""
        _check_id(task, "task")
        return any(task in w.tasks for w in self.workers())

    def status_counts(self) -> dict[tuple[str, str], int]:
        """How many executions of each task are in each status."""
        return self.store.status_counts()

    # -- acting on executions ------------------------------------------------
    def cancel(self, execution_id: str) -> bool:
        """Cancel the execution and its unfinished children; False if it had
        ended. A workflow whose ``on_failure`` says ``on_cancel=True`` gets
        its failure handler run once, as for a failure."""
        cancelled = self.store.cancel(_check_id(execution_id))
        if cancelled:
            self._on_cancel(self.store.get(execution_id))
        return cancelled

    def _on_cancel(self, record: ExecutionRecord) -> None:
        known = record.kind == r.WORKFLOW and record.task_name in self.registry
        spec = self.registry.get(record.task_name).on_failure() if known else None
        if spec is None or not spec.on_cancel:
            return
        failure = Failure(
            execution_id=record.id,
            task_name=record.task_name,
            input=record.input,
            error=record.error or {},
            cancelled=True,
        )
        root = record.root_id or record.id
        new = failure_handler_execution(spec, failure, root, f"on-cancel@{record.attempt}")
        with contextlib.suppress(ExecutionAlreadyExists):  # a cancel told twice
            self.store.create(new)

    def retry(self, execution_id: str) -> ExecutionRecord:
        """Run a failed, cancelled or stalled execution again: completed
        steps and children replay, failed ones run afresh, the attempt goes
        up. Anything else raises ``RetryRefused`` and changes nothing."""
        return self.store.retry(_check_id(execution_id))

    def fork(self, source: str, /, *, from_step: str, execution_id: str | None = None) -> str:
        """A new execution of the same task and input whose log is
        ``source``'s up to (not including) ``from_step``'s record: what came
        before replays, ``from_step`` and everything after it run anew.
        Events offered to the source and the messages the copied log did
        not consume come along; children that ended before the cut are
        shared, read-only (one still running there makes ``ForkRefused``).
        The source is not changed. Returns the new execution's id
        (``execution_id``, an idempotency key as in ``schedule``, else a
        fresh one)."""
        eid = _check_id(source, "source")
        step = _check_id(from_step, "from_step")
        new = uuid.uuid4().hex if execution_id is None else _check_id(execution_id)
        return self.store.fork(eid, step, new).id

    # -- results -------------------------------------------------------------
    def result(self, execution_id: str, timeout: float | None = None, type: Any = None) -> Any:
        """Wait for the execution to end and return its output.

        The output is structured into ``type``, else the handler's declared
        output type, else returned as JSON. A failed execution raises
        ``ExecutionFailed``, a cancelled one ``Cancelled``; ``ResultTimeout``
        when ``timeout`` seconds pass first.
        """
        _check_id(execution_id)
        check_type("type", type)
        return self._await(execution_id, settings.wait_seconds("timeout", timeout), type)

    def _await(
        self,
        execution_id: str,
        wait: float | None,
        type: Any,
        *,
        first: Decision | None = None,
        turn: Callable[[], Decision | None] | None = None,
        host: Host | None = None,
        task: str | None = None,
    ) -> Any:
        """The one wait loop: ``turn`` (when given) runs what is due and
        tells the execution's last decision; otherwise the record is read."""
        deadline = None if wait is None else time.monotonic() + wait
        decision = first
        while True:
            if isinstance(decision, Finish) and isinstance(
                decision.commit.outcome, r.Complete | r.Fail
            ):
                return self._ended(execution_id, decision.commit.outcome, type, task)
            record = self.store.get(execution_id)
            if record.is_final:
                return self.outcome(record, type)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise ResultTimeout(execution_id, wait or 0, record.status)
            if turn is not None:
                decision = turn()
                if decision is not None:
                    continue
            self.store.wait(self._pause(execution_id, remaining, host))
            decision = turn() if turn is not None else None

    def _pause(self, execution_id: str, remaining: float | None, host: Host | None) -> float:
        pause = _LOOK_AGAIN
        if host is not None:
            # Only this execution's tree: run() claims nothing else, and
            # another execution due now would make every pause zero.
            wake = self.store.next_wake(host.task_names(), under=execution_id)
            if wake is not None:
                pause = min(pause, max(0.0, (wake - self.store.now()).total_seconds()))
        return pause if remaining is None else max(0.0, min(pause, remaining))

    def _ended(
        self, execution_id: str, outcome: r.Complete | r.Fail, type: Any, task: str | None
    ) -> Any:
        """The output (or failure) a finishing decision carried: no read needed."""
        if isinstance(outcome, r.Fail):
            error = ExecutionFailed(execution_id, outcome.error)
            raise error from rebuild(outcome.error, execution_id)
        return self._typed_output(execution_id, outcome.output, type, task)

    def _typed_output(self, execution_id: str, output: Any, type: Any, task: str | None) -> Any:
        if type is None and task is not None and task in self.registry:
            type = self.registry.get(task).output_type()
        return from_json(output, type, f"output of execution {execution_id!r}")

    def outcome(self, record: ExecutionRecord, type: Any = None) -> Any:
        """The output of a finished execution, or its error raised."""
        if record.status == r.COMPLETED:
            task = record.task_name if record.kind == r.WORKFLOW else None
            return self._typed_output(record.id, record.output, type, task)
        if record.status == r.CANCELLED:
            raise Cancelled(record.id)
        if record.status == r.FAILED:
            error = ExecutionFailed(record.id, record.error)
            raise error from rebuild(record.error or {}, record.id)
        raise ZartError(f"execution {record.id!r} has not finished (status {record.status})")
