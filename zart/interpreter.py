"""The interpreter: drive a workflow generator, live or from its log.

Rule 1: every replay rule lives in this module. It is pure in the sense of
h11's ``Connection``: it is handed the workflow, its input, the log and "now",
and returns decisions as data. It never touches a store, a clock, a thread
or an event loop; hosts carry out its decisions and feed results back.

Two decisions exist (their types are in ``zart.decisions``):
- ``RunStep``: write ``commit``, run the step, then call
  ``step_finished(outcome, now)`` for the next decision. The same generator
  goes on, so a live run never replays from the start.
- ``Finish``: write ``commit`` (which carries the outcome: suspend,
  complete, fail, retry, stall or continue as new); this pass is over. A
  later resume replays from the start, answering each command from the log.

Commands are dispatched through a table, one handler per command type. A
handler answers ``Send(value)`` or ``Throw(error)`` to resume the generator,
or a decision. The resume loop is iterative: a 10,000-step replay is 10,000
turns of one ``while`` loop, each a dict lookup by name.

The replay rules, in one place:
- A name met twice in one pass is a DuplicateNameError; a recorded name met
  as another kind of command, or a step whose identity changed, is a
  NonDeterminismError. Both stall the execution (the log is left as it is).
- A new name met while the log holds records not yet replayed that were
  written after the last one replayed is code inserted before recorded
  history: a NonDeterminismError, unless it sits in a ``patched`` branch.
- ``patched(id)`` answers True where the log holds its marker, False where
  the log went past that point without it (records beyond the last one
  replayed, unseen), and otherwise records the marker and answers True.
- A failed outcome recorded by an earlier attempt of the execution (a step
  whose retries were spent, a child that failed or was cancelled) runs
  afresh; business errors, timed-out waits and everything completed replay.
- Timers and deadlines are fixed when first reached and stored.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Any

import attrs

from . import records as r
from .commands import (
    Capture,
    Command,
    ContinueAsNew,
    Handle,
    Patched,
    Receive,
    Schedule,
    Sleep,
    Step,
    WaitAll,
    WaitEvent,
    WorkflowCall,
    WorkflowHandler,
)
from .context import ExecutionInfo, current
from .decisions import Decision, Finish, RunStep, StepOutcome
from .errors import (
    BusinessError,
    Cancelled,
    DuplicateNameError,
    EventTimeout,
    InvalidCommand,
    NonDeterminismError,
    SerializationError,
    TaskTimeout,
    ZartError,
)
from .failures import attempt_error, business_document, error_document, rebuild, step_document
from .names import child_id
from .records import Commit, NewExecution, RecordWrite, StepRecord
from .serde import DEFAULT_MAX_PAYLOAD, check_faithful, forgot_yield, from_json, to_json
from .tasks import TaskContext, TaskHandler


@attrs.frozen
class Send:
    """Resume the generator with ``value``."""

    value: Any


@attrs.frozen
class Throw:
    """Resume the generator by raising ``error`` at its ``yield``."""

    error: BaseException


Action = Send | Throw
Handled = Action | Decision

# Errors that say the code is wrong, not that the world was: retrying the
# execution would fail the same way, so they fail it at once.
FATAL = (InvalidCommand, SerializationError, TaskTimeout, Cancelled)
# Errors that say the code no longer matches the log: the execution stalls.
MISMATCH = (NonDeterminismError, DuplicateNameError)
PATCH_PREFIX = "@patch:"


def describe(cmd: Any) -> str:
    """A command, as a mismatch message names it."""
    if isinstance(cmd, Step):
        return f"step {cmd.step_id!r}"
    if isinstance(cmd, Schedule):
        return f"schedule of {describe(cmd.target)}"
    if isinstance(cmd, WorkflowCall):
        return f"workflow {cmd.task_name!r}"
    if isinstance(cmd, Receive):
        return f"a receive on {cmd.topic!r}"
    if isinstance(cmd, Patched):
        return f"patch {cmd.name!r}"
    kind = {Sleep: "a sleep", WaitEvent: "an event wait", Capture: "a capture"}.get(type(cmd))
    return kind or repr(cmd)


def describe_record(rec: StepRecord) -> str:
    """A log record, as a mismatch message names it."""
    if rec.kind == r.K_STEP:
        return f"step {rec.step!r}"
    if rec.kind == r.K_SCHEDULE:
        return f"schedule of {rec.step}"
    names = {
        r.K_SLEEP: "a sleep",
        r.K_EVENT: "an event wait",
        r.K_CAPTURE: "a capture",
        r.K_PATCH: "a patch marker",
        r.K_MESSAGE: f"a receive on {rec.step!r}",
    }
    return names.get(rec.kind, rec.kind)


def later(when: datetime, delay: timedelta) -> datetime | None:
    """``when + delay``, or None past the last datetime (9999-12-31): a
    timeout that far off never strikes."""
    try:
        return when + delay
    except OverflowError:
        return None


class Interpreter:
    """One pass of one execution. Not thread-safe; one host drives it."""

    def __init__(
        self,
        handler: TaskHandler,
        record: r.ExecutionRecord,
        log: r.Log,
        *,
        max_payload: int | None = DEFAULT_MAX_PAYLOAD,
    ) -> None:
        self.handler = handler
        self.execution_id = record.id
        self.task_name = record.task_name
        self._input = record.input
        self._attempt = record.attempt
        self._max_payload = max_payload
        timeout = handler.timeout()
        self._deadline = None if timeout is None else later(record.created_at, timeout)
        self._records: dict[str, StepRecord] = dict(log.records)
        self._loaded = frozenset(log.records)
        self._loaded_met = 0  # how many loaded records this pass has met
        self._patches: dict[str, bool | None] = {}
        self._root = record.root_id or record.id
        self._events = log.events
        self._messages = {topic: list(queue) for topic, queue in log.messages.items()}
        self._seqs = {name: rec.seq for name, rec in log.records.items()}
        self._last_seq = max(log.last_seq, *self._seqs.values(), 0)
        self._replayed_to = 0  # the highest seq of a loaded record met so far
        self.seen: set[str] = set()
        self.schedules: dict[str, Step | WorkflowCall] = {}  # every schedule met, by name
        self.mismatch: ZartError | None = None  # what stalled this pass, if anything
        self._writes: list[RecordWrite] = []
        self._children: list[NewExecution] = []
        self._reruns: list[str] = []
        self._consumed: list[int] = []
        self._new_steps: dict[str, Step] = {}
        self._new_workflows: dict[str, WorkflowHandler] = {}
        self._result_types: dict[str, Any] = {}
        self._running: tuple[Step, int, datetime, StepRecord | None] | None = None
        self._now = record.created_at
        self._gen: Generator[Any, Any, Any] | None = None
        self.ctx = TaskContext(
            execution_id=record.id,
            task_name=record.task_name,
            input=record.input,
            attempt=record.attempt,
            max_retries=handler.max_retries(),
        )
        self.info = ExecutionInfo(
            execution_id=record.id,
            task_name=record.task_name,
            data=record.input,
            current_attempt=record.attempt,
            max_retries=handler.max_retries(),
            run=record.run,
        )
        self._dispatch: dict[type, Callable[[Any], Handled]] = {
            Step: self._on_step,
            Sleep: self._on_sleep,
            WaitEvent: self._on_event,
            Receive: self._on_receive,
            Capture: self._on_capture,
            Schedule: self._on_schedule,
            WorkflowCall: self._on_workflow_call,
            WaitAll: self._on_wait_all,
            Patched: self._on_patched,
            ContinueAsNew: self._on_continue,
        }

    # -- entry points ------------------------------------------------------
    def start(self, now: datetime) -> Decision:
        """Begin the pass: build the generator and run it to its first decision."""
        self._now = now
        if self._deadline is not None and now >= self._deadline:
            return self._fail(TaskTimeout(self.execution_id, self._deadline))
        token = current.set(self.info)
        try:
            what = f"input of task {self.task_name!r}"
            data = from_json(self._input, self.handler.input_type(), what)
            gen = self.handler.start(self.ctx, data)
        except BusinessError as exc:
            return self._fail(exc)
        except Exception as exc:
            return self._attempt_failed(exc)
        finally:
            current.reset(token)
        if not isinstance(gen, Generator):
            return self._fail(
                InvalidCommand(
                    f"task {self.task_name!r}: run() returned {type(gen).__name__}, not a generator"
                )
            )
        self._gen = gen
        return self._drive(Send(None))

    def step_finished(self, outcome: StepOutcome, now: datetime) -> Decision:
        """Feed the outcome of the step of the last ``RunStep`` decision."""
        assert self._running is not None, "step_finished without a running step"
        cmd, attempt, started, before = self._running
        self._running = None
        self._now = now
        if outcome.error is None and not outcome.timed_out:
            handled = self._step_completed(cmd, attempt, started, before, outcome.value)
        else:
            handled = self._step_failed(cmd, attempt, started, before, outcome)
        if not isinstance(handled, Send | Throw):
            return handled
        if self._deadline is not None and now >= self._deadline:
            return self._fail(TaskTimeout(self.execution_id, self._deadline))
        return self._drive(handled)

    # -- the resume loop ---------------------------------------------------
    def _drive(self, action: Action) -> Decision:
        gen = self._gen
        assert gen is not None
        dispatch = self._dispatch
        token = current.set(self.info)
        try:
            while True:
                try:
                    if isinstance(action, Send):
                        cmd = gen.send(action.value)
                    else:
                        cmd = gen.throw(action.error)
                except StopIteration as stop:
                    return self._complete(stop.value)
                except BusinessError as exc:
                    return self._fail(exc)
                except Exception as exc:
                    return self._attempt_failed(exc)
                handler = dispatch.get(type(cmd))
                if handler is None:
                    return self._fail(_not_a_command(self.task_name, cmd))
                try:
                    handled = handler(cmd)
                except MISMATCH as exc:
                    return self._stall(exc)
                except InvalidCommand as exc:
                    return self._fail(exc)
                if not isinstance(handled, Send | Throw):
                    return handled
                action = handled
        finally:
            current.reset(token)

    # -- the log -----------------------------------------------------------
    def _lookup(self, name: str, kind: str, cmd: Any, identity: str | None = None) -> StepRecord | None:
        """The record of ``name``, checked against the command met; None for a new name."""
        if name in self.seen:
            raise DuplicateNameError(name, f"execution {self.execution_id!r}")
        self.seen.add(name)
        rec = self._records.get(name)
        if rec is None:
            self._check_not_inserted(name, cmd)
            return None
        if rec.kind != kind or (identity is not None and rec.step != identity):
            raise NonDeterminismError(name, describe_record(rec), describe(cmd))
        if name in self._loaded:
            self._loaded_met += 1
            self._replayed_to = max(self._replayed_to, rec.seq)
        return rec

    def _ahead(self) -> list[StepRecord]:
        """The loaded records not met yet in this pass that were written
        after the last loaded record met: where the recorded run went on."""
        if self._loaded_met == len(self._loaded):
            return []  # the live frontier: the common case, in O(1)
        return [
            self._records[name]
            for name in self._loaded
            if name not in self.seen and self._records[name].seq > self._replayed_to
        ]

    def _check_not_inserted(self, name: str, cmd: Any) -> None:
        ahead_of_us = self._ahead()
        if ahead_of_us:
            ahead = min(ahead_of_us, key=lambda rec: rec.seq)
            raise NonDeterminismError(
                name,
                f"{describe_record(ahead)} ({ahead.name!r}) next",
                f"{describe(cmd)}, new code before recorded history "
                "(put it under zart.patched)",
            )

    def _write(self, name: str, kind: str, status: str, **fields: Any) -> None:
        """Queue a record for the next commit; a new name takes the next seq."""
        seq = self._seqs.get(name)
        if seq is None:
            self._last_seq += 1
            seq = self._seqs[name] = self._last_seq
        write = RecordWrite(
            name=name,
            kind=kind,
            status=status,
            seq=seq,
            execution_attempt=self._attempt,
            **fields,
        )
        self._writes.append(write)
        self._records[name] = StepRecord(
            name=name,
            kind=kind,
            status=status,
            seq=seq,
            step=write.step,
            result=write.result,
            error=write.error,
            attempts=write.attempts,
            errors=write.errors,
            wake_at=write.wake_at,
            child_id=write.child_id,
            execution_attempt=self._attempt,
        )

    def _json(self, value: Any, what: str) -> Any:
        return to_json(value, what, limit=self._max_payload)

    @staticmethod
    def _typed(doc: Any, type_: Any, what: str) -> Action:
        try:
            return Send(from_json(doc, type_, what))
        except SerializationError as exc:
            return Throw(exc)

    def _reruns_afresh(self, rec: StepRecord) -> bool:
        """A failed outcome written by an earlier attempt runs afresh."""
        failed = rec.status == r.R_FAILED or (
            rec.kind == r.K_SCHEDULE and rec.status == r.R_CANCELLED
        )
        return failed and rec.execution_attempt < self._attempt

    # -- steps ------------------------------------------------------------
    def _on_step(self, cmd: Step) -> Handled:
        rec = self._lookup(cmd.name, r.K_STEP, cmd, cmd.step_id)
        if rec is None:
            return self._run(cmd, 0, None)
        if rec.status == r.R_COMPLETED:
            return self._typed(rec.result, cmd.result_type, f"result of step {cmd.name!r}")
        if rec.status == r.R_RETRYING:
            if rec.wake_at is None or rec.wake_at <= self._now:
                return self._run(cmd, rec.attempts, rec)
            return self._suspend(r.Suspend(wake_at=rec.wake_at))
        if self._reruns_afresh(rec):
            return self._run(cmd, 0, rec)
        error = rec.error or {}
        if rec.status == r.R_FAILED and error.get("kind") == "error":
            # Its outcome had no stored form (see _unrecordable): the run
            # ended here, and the generator never saw an exception.
            return self._finish(r.Fail(error=error))
        return Throw(rebuild(error, self.execution_id))

    def _run(self, cmd: Step, attempt: int, before: StepRecord | None) -> Decision:
        self._running = (cmd, attempt, self._now, before)
        return RunStep(
            step=cmd,
            attempt=attempt,
            commit=self._take(),
            info=self.info.in_step(cmd.name, attempt, cmd.retry.retries),
            **self._take_scheduled(),
        )

    def _step_completed(
        self, cmd: Step, attempt: int, started: datetime, before: StepRecord | None, value: Any
    ) -> Handled:
        what = f"result of step {cmd.name!r}"
        try:
            doc = self._json(value, what)
        except SerializationError as exc:
            return self._unrecordable(cmd, attempt, started, before, exc)
        self._write_step(cmd, r.R_COMPLETED, attempt, started, before, result=doc)
        return self._typed(doc, cmd.result_type, what)

    def _step_failed(
        self,
        cmd: Step,
        attempt: int,
        started: datetime,
        before: StepRecord | None,
        outcome: StepOutcome,
    ) -> Handled:
        """Record a step that raised or timed out."""
        error = outcome.error
        if isinstance(error, BusinessError):
            try:
                doc = business_document(error)
                rebuilt = rebuild(doc, self.execution_id, strict=True)
            except SerializationError as exc:
                return self._unrecordable(cmd, attempt, started, before, exc)
            self._write_step(cmd, r.R_ERROR, attempt, started, before, error=doc)
            return Throw(rebuilt)
        doc = attempt_error(error, f"timed out after {cmd.timeout}" if outcome.timed_out else None)
        errors = self._errors_after(before, doc)
        delay = cmd.retry.delay_after(attempt + 1)
        # A retry due past the last date never comes: the retries are spent.
        wake = None if delay is None else later(self._now, delay)
        if wake is not None:
            self._write_step(
                cmd, r.R_RETRYING, attempt, started, before, error=doc, errors=errors, wake_at=wake
            )
            if wake <= self._now:
                return self._run(cmd, attempt + 1, self._records[cmd.name])
            return self._suspend(r.Suspend(wake_at=wake))
        final = step_document(cmd.name, doc, attempt + 1, outcome.timed_out)
        self._write_step(cmd, r.R_FAILED, attempt, started, before, error=final, errors=errors)
        return Throw(rebuild(final, self.execution_id))

    def _errors_after(self, before: StepRecord | None, doc: dict[str, Any]) -> tuple[r.AttemptError, ...]:
        history = before.errors if before is not None else ()
        entry = r.AttemptError(
            attempt=len(history) + 1,
            type=str(doc.get("type", "")),
            message=str(doc.get("message", "")),
            at=self._now,
        )
        return (*history, entry)

    def _write_step(
        self,
        cmd: Step,
        status: str,
        attempt: int,
        started: datetime,
        before: StepRecord | None,
        **fields: Any,
    ) -> None:
        fields.setdefault("errors", before.errors if before is not None else ())
        self._write(
            cmd.name,
            r.K_STEP,
            status,
            step=cmd.step_id,
            attempts=attempt + 1,
            started_at=started,
            **fields,
        )

    def _unrecordable(
        self,
        cmd: Step,
        attempt: int,
        started: datetime,
        before: StepRecord | None,
        exc: SerializationError,
    ) -> Decision:
        # The step ran, but what it produced has no stored form: the code is
        # wrong, so the execution fails (a retry would fail the same way).
        # The log keeps the step as failed with the error that failed the
        # execution (an "error" document, where a spent retry policy leaves
        # a "step" one), and a replay reaching it ends the same way.
        doc = error_document(exc)
        self._write_step(cmd, r.R_FAILED, attempt, started, before, error=doc)
        return self._finish(r.Fail(error=doc))

    # -- timers, events, messages, captures --------------------------------
    def _on_sleep(self, cmd: Sleep) -> Handled:
        rec = self._lookup(cmd.name, r.K_SLEEP, cmd)
        if rec is not None and rec.status == r.R_COMPLETED:
            return Send(None)
        if rec is not None and rec.wake_at is not None:
            wake = rec.wake_at
        elif cmd.until is not None:
            wake = cmd.until
        else:
            duration = cmd.duration or timedelta(0)
            found = later(self._now, duration)
            if found is None:
                raise InvalidCommand(
                    f"sleep {cmd.name!r}: {duration} from {self._now:%Y-%m-%d} ends past "
                    f"the last date a store holds ({datetime.max:%Y-%m-%d})"
                )
            wake = found
        if wake <= self._now:
            self._write(cmd.name, r.K_SLEEP, r.R_COMPLETED, wake_at=wake)
            return Send(None)
        if rec is None:
            self._write(cmd.name, r.K_SLEEP, r.R_WAITING, wake_at=wake)
        return self._suspend(r.Suspend(wake_at=wake))

    def _deadline_of(self, rec: StepRecord | None, timeout: timedelta | None) -> datetime | None:
        if rec is not None:
            return rec.wake_at
        return None if timeout is None else later(self._now, timeout)

    def _on_event(self, cmd: WaitEvent) -> Handled:
        name = cmd.name
        what = f"payload of event {name!r}"
        rec = self._lookup(name, r.K_EVENT, cmd)
        if rec is not None and rec.status == r.R_COMPLETED:
            return self._typed(rec.result, cmd.type, what)
        if rec is not None and rec.status == r.R_TIMED_OUT:
            return Throw(EventTimeout(name, rec.wake_at))
        deadline = self._deadline_of(rec, cmd.timeout)
        if name in self._events:
            payload = self._events[name]
            self._write(name, r.K_EVENT, r.R_COMPLETED, result=payload, wake_at=deadline)
            return self._typed(payload, cmd.type, what)
        if deadline is not None and deadline <= self._now:
            self._write(name, r.K_EVENT, r.R_TIMED_OUT, wake_at=deadline)
            return Throw(EventTimeout(name, deadline))
        if rec is None:
            self._write(name, r.K_EVENT, r.R_WAITING, wake_at=deadline)
        return self._suspend(r.Suspend(wake_at=deadline, event=name))

    def _on_receive(self, cmd: Receive) -> Handled:
        name, topic = cmd.name, cmd.topic
        what = f"message {name!r} on topic {topic!r}"
        rec = self._lookup(name, r.K_MESSAGE, cmd, topic)
        if rec is not None and rec.status == r.R_COMPLETED:
            return self._typed(rec.result, cmd.type, what)
        if rec is not None and rec.status == r.R_TIMED_OUT:
            return Throw(EventTimeout(name, rec.wake_at))
        deadline = self._deadline_of(rec, cmd.timeout)
        queue = self._messages.get(topic)
        if queue:
            message = queue.pop(0)
            self._consumed.append(message.id)
            self._write(
                name, r.K_MESSAGE, r.R_COMPLETED, step=topic, result=message.payload, wake_at=deadline
            )
            return self._typed(message.payload, cmd.type, what)
        if deadline is not None and deadline <= self._now:
            self._write(name, r.K_MESSAGE, r.R_TIMED_OUT, step=topic, wake_at=deadline)
            return Throw(EventTimeout(name, deadline))
        if rec is None:
            self._write(name, r.K_MESSAGE, r.R_WAITING, step=topic, wake_at=deadline)
        return self._suspend(r.Suspend(wake_at=deadline, topic=topic))

    def _on_capture(self, cmd: Capture) -> Handled:
        rec = self._lookup(cmd.name, r.K_CAPTURE, cmd)
        what = f"capture {cmd.name!r}"
        if rec is not None:
            return self._typed(rec.result, cmd.type, what)
        try:
            doc = self._json(self._now if cmd.fn is None else cmd.fn(), what)
        except Exception as exc:
            # Thrown in and not logged: a capture is a read (an id, a clock),
            # and a failing one has nothing to record.
            return Throw(exc)
        self._write(cmd.name, r.K_CAPTURE, r.R_COMPLETED, result=doc)
        return self._typed(doc, cmd.type, what)

    def _on_patched(self, cmd: Patched) -> Handled:
        if cmd.name in self._patches:  # one patch may guard several places
            return Send(self._patches[cmd.name])
        name = PATCH_PREFIX + cmd.name
        answer: bool | None
        if name in self._records:
            self._lookup(name, r.K_PATCH, cmd)
            answer = None if cmd.deprecated else True
        elif cmd.deprecated:
            answer = None  # accepted where the marker is, required nowhere
        elif self._ahead():
            answer = False  # the recorded run went past here under the old code
        else:
            self.seen.add(name)
            self._write(name, r.K_PATCH, r.R_COMPLETED, step=cmd.name)
            answer = True
        self._patches[cmd.name] = answer
        return Send(answer)

    # -- children -----------------------------------------------------------
    def _on_schedule(self, cmd: Schedule) -> Handled:
        target = cmd.target
        name = target.name
        if isinstance(target, Step):
            identity, rtype = f"step:{target.step_id}", target.result_type
        else:
            identity, rtype = f"workflow:{target.task_name}", target.handler.output_type()
        rec = self._lookup(name, r.K_SCHEDULE, cmd, identity)
        self._result_types[name] = rtype
        self.schedules[name] = target
        cid = child_id(self.execution_id, name)
        if rec is not None:
            cid = rec.child_id or cid
            if self._reruns_afresh(rec):
                self._reruns.append(cid)
                self._write(name, r.K_SCHEDULE, r.R_PENDING, step=identity, child_id=cid)
            return Send(Handle(name=name, execution_id=cid))
        try:
            child = self._new_child(target, cid)
        except SerializationError as exc:
            # A child input with no stored form is a pure function of the
            # code, not of the world: nothing is logged, and a replay works
            # it out again and throws the same.
            return Throw(exc)
        self._write(name, r.K_SCHEDULE, r.R_PENDING, step=identity, child_id=cid)
        self._children.append(child)
        return Send(Handle(name=name, execution_id=cid))

    def _new_child(self, target: Step | WorkflowCall, cid: str) -> NewExecution:
        root = self._root
        if isinstance(target, Step):
            self._new_steps[cid] = target
            return NewExecution(
                id=cid,
                task_name=self.task_name,
                kind=r.STEP,
                parent_id=self.execution_id,
                parent_step=target.name,
                root_id=root,
            )
        what = f"input of child workflow {target.name!r}"
        doc = self._json(target.input, what)
        from_json(doc, target.handler.input_type(), what)
        self._new_workflows[target.task_name] = target.handler
        return NewExecution(
            id=cid,
            task_name=target.task_name,
            input=doc,
            parent_id=self.execution_id,
            parent_step=target.name,
            root_id=root,
        )

    def _on_workflow_call(self, cmd: WorkflowCall) -> Handled:
        # Yielding a workflow call directly is schedule-and-wait for one child.
        scheduled = self._on_schedule(Schedule(target=cmd))
        if not isinstance(scheduled, Send):
            return scheduled
        waited = self._on_wait_all(WaitAll(handles=(scheduled.value,)))
        if isinstance(waited, Send):
            return Send(waited.value[0])
        return waited

    def _on_wait_all(self, cmd: WaitAll) -> Handled:
        recs = []
        for handle in cmd.handles:
            rec = self._records.get(handle.name)
            if rec is None or rec.kind != r.K_SCHEDULE or handle.name not in self.seen:
                raise InvalidCommand(
                    f"wait_all got handle {handle.name!r}, which this execution "
                    f"({self.execution_id!r}) did not schedule"
                )
            recs.append(rec)
        still_open = tuple(rec.name for rec in recs if rec.status not in r.R_FINAL)
        if still_open:
            return self._suspend(r.Suspend(children=still_open))
        results: list[Any] = []
        first_error: BaseException | None = None
        for rec in recs:
            if rec.status == r.R_COMPLETED:
                what = f"result of child {rec.name!r}"
                typed = self._typed(rec.result, self._result_types.get(rec.name, Any), what)
                if isinstance(typed, Throw):
                    return typed
                value = typed.value
            else:
                value = rebuild(rec.error or {"type": "Cancelled"}, rec.child_id or rec.name)
                first_error = first_error or value
            results.append(value)
        if first_error is not None and not cmd.return_exceptions:
            return Throw(first_error)
        return Send(results)

    # -- outcomes ----------------------------------------------------------
    def _take_scheduled(self) -> dict[str, Any]:
        scheduled = {"scheduled_steps": self._new_steps, "scheduled_workflows": self._new_workflows}
        self._new_steps, self._new_workflows = {}, {}
        return scheduled

    def _take(self, outcome: r.Outcome | None = None) -> Commit:
        changed, state = self.ctx.take_state()
        commit = Commit(
            records=tuple(self._writes),
            children=tuple(self._children),
            rerun_children=tuple(self._reruns),
            consumed=tuple(self._consumed),
            state=r.SetState(value=state) if changed else None,
            outcome=outcome,
        )
        self._writes, self._children, self._reruns, self._consumed = [], [], [], []
        return commit

    def _finish(self, outcome: r.Outcome) -> Finish:
        # The generator is dropped, not closed: closing would run its
        # `finally` blocks now, as if the workflow had ended.
        self._gen = None
        return Finish(commit=self._take(outcome), **self._take_scheduled())

    def _suspend(self, suspend: r.Suspend) -> Decision:
        deadline = self._deadline
        if deadline is not None and (suspend.wake_at is None or deadline < suspend.wake_at):
            suspend = attrs.evolve(suspend, wake_at=deadline)
        return self._finish(suspend)

    def _on_continue(self, cmd: ContinueAsNew) -> Handled:
        what = f"input of task {self.task_name!r} (continue_as_new)"
        doc = self._json(cmd.input, what)
        from_json(doc, self.handler.input_type(), what)
        return self._finish(r.ContinueAsNew(input=doc))

    def _complete(self, value: Any) -> Decision:
        what = f"output of task {self.task_name!r}"
        try:
            doc = self._json(value, what)
            check_faithful(value, doc, self.handler.output_type(), what)
        except SerializationError as exc:
            return self._fail(exc)
        return self._finish(r.Complete(output=doc))

    def _attempt_failed(self, exc: Exception) -> Decision:
        if isinstance(exc, MISMATCH):
            return self._stall(exc)
        if isinstance(exc, FATAL) or self._attempt >= self.info.max_retries:
            return self._fail(exc)
        return self._finish(r.RetryExecution(error=error_document(exc), wake_at=self._now))

    def _fail(self, exc: BaseException) -> Decision:
        business = isinstance(exc, BusinessError)
        return self._finish(r.Fail(error=error_document(exc), business=business))

    def _stall(self, exc: ZartError) -> Decision:
        # Code that disagrees with the log must not add to it: only the
        # outcomes of steps that really ran in this pass are kept.
        self.mismatch = exc
        self._writes = [w for w in self._writes if w.kind == r.K_STEP]
        self._children, self._reruns, self._consumed = [], [], []
        return self._finish(r.Stall(error=error_document(exc)))


def _not_a_command(task: str, value: Any) -> InvalidCommand:
    hint = ""
    if isinstance(value, list | tuple) and any(isinstance(v, Command) for v in value):
        hint = " To run steps side by side, schedule each and yield zart.wait_all(handles)."
    elif value is not None and callable(value) and hasattr(value, "template"):
        hint = " A step function must be called: yield my_step(args)."
    return InvalidCommand(
        f"task {task!r} yielded {value!r} ({type(value).__name__}), which is not a zart "
        f"command (step, sleep, wait_event, receive, schedule, wait_all, capture, now, "
        f"patched, continue_as_new).{hint}"
    )


__all__ = ["Interpreter", "describe", "describe_record", "forgot_yield", "later"]
