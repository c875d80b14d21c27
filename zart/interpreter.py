"""The interpreter: replay a workflow generator against its log, decide what next.

Rule 1: every replay rule lives in this module. It is pure in the sense of
h11's ``Connection``: it is handed the workflow, its input, the log and "now",
and returns decisions as data. It never touches a store, a clock, a thread
or an event loop; hosts carry out its decisions and feed results back.

Two decisions exist (their types are in ``zart.decisions``):
- ``RunStep``: write ``commit`` (may be empty), run the step, then call
  ``step_finished(outcome, now)`` for the next decision. The same generator
  goes on, so a live run never replays from the start.
- ``Finish``: write ``commit`` (which carries the outcome: suspend, complete,
  fail or retry) and drop the interpreter. A later resume replays from the
  start, answering each command from the log in one pass.

Commands are dispatched through a table, one handler per command type. A
handler answers ``(SEND, value)`` or ``(THROW, exc)`` to resume the generator,
or returns a decision. The resume loop is iterative: a 10,000-step replay
is 10,000 turns of one ``while`` loop, each a dict lookup by name.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Any

from . import records as r
from .commands import Capture, Handle, Schedule, Sleep, Step, WaitAll, WaitEvent, WorkflowCall
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
    WriteRejected,
)
from .failures import (
    business_document,
    error_document,
    read_error,
    rebuild,
    step_document,
    type_name,
)
from .records import Commit, NewExecution, RecordWrite, StepRecord
from .serde import SELF_STRUCTURED, from_json, to_json
from .tasks import TaskContext, TaskHandler

SEND, THROW = 0, 1
Action = tuple[int, Any]

# Errors that say the code is wrong, not that the world was: retrying the
# execution would fail the same way, so they fail it at once.
FATAL = (
    NonDeterminismError,
    DuplicateNameError,
    InvalidCommand,
    SerializationError,
    TaskTimeout,
    Cancelled,
)

# How a run can end from outside its generator, where the log stops short of
# what the code goes on to yield: the task timeout struck between commands,
# or the store refused a write (its records were dropped). Cancellation, and
# an execution still in flight, stop the log the same way.
_STOPPED_BY = frozenset(f"{c.__module__}.{c.__qualname__}" for c in (TaskTimeout, WriteRejected))


class _LiveNeeded(Exception):
    """Replay-only mode reached a command the log cannot answer."""

    def __init__(self, name: str, what: str) -> None:
        super().__init__(name, what)
        self.name = name
        self.what = what


class _Found(Exception):
    def __init__(self, target: Step | WorkflowCall) -> None:
        super().__init__(target.name)
        self.target = target


def describe(cmd: Any) -> str:
    if isinstance(cmd, Step):
        return f"step {cmd.step_id!r}"
    if isinstance(cmd, Schedule):
        return f"schedule of {describe(cmd.target)}"
    if isinstance(cmd, WorkflowCall):
        return f"workflow {cmd.task_name!r}"
    kind = {Sleep: "sleep", WaitEvent: "event wait", Capture: "capture"}.get(type(cmd))
    return kind or repr(cmd)


def _describe_record(rec: StepRecord) -> str:
    if rec.kind == r.K_STEP:
        return f"step {rec.step!r}"
    if rec.kind == r.K_SCHEDULE:
        return f"schedule of {rec.step}"
    return {r.K_SLEEP: "a sleep", r.K_EVENT: "an event wait", r.K_CAPTURE: "a capture"}.get(
        rec.kind, rec.kind
    )


class Interpreter:
    """One pass of one execution. Not thread-safe; one host drives it."""

    def __init__(
        self,
        handler: TaskHandler,
        *,
        execution_id: str,
        task_name: str,
        input: Any,
        attempt: int,
        created_at: datetime,
        log: r.Log,
        replay_only: bool = False,
        probe: str | None = None,
    ) -> None:
        self.handler = handler
        self.execution_id = execution_id
        self.task_name = task_name
        self._input = input
        self._attempt = attempt
        self._max_retries = handler.max_retries()
        timeout = handler.timeout()
        self._deadline = None if timeout is None or replay_only else _later(created_at, timeout)
        self._records: dict[str, StepRecord] = dict(log.records)
        self._events = log.events
        self._replay_only = replay_only or probe is not None
        self._probe = probe
        self._seen: set[str] = set()
        self._pending: list[RecordWrite] = []
        self._seqs = {name: rec.seq for name, rec in log.records.items()}
        self._last_seq = max(log.last_seq, *self._seqs.values(), 0)
        self._children: list[NewExecution] = []
        self._result_types: dict[str, Any] = {}
        self._running: tuple[Step, int] | None = None
        self._now = created_at
        self._gen: Generator[Any, Any, Any] | None = None
        # What this pass scheduled, for the host: steps to cache by child id,
        # child workflows to make runnable here even if not registered.
        self.scheduled_steps: dict[str, Step] = {}
        self.scheduled_workflows: dict[str, TaskHandler] = {}
        self.ctx = TaskContext(
            execution_id=execution_id,
            task_name=task_name,
            input=input,
            attempt=attempt,
            max_retries=self._max_retries,
        )
        self.info = ExecutionInfo(
            execution_id=execution_id,
            task_name=task_name,
            data=input,
            current_attempt=attempt,
            max_retries=self._max_retries,
        )
        self._dispatch: dict[type, Callable[[Any], Action | Decision]] = {
            Step: self._on_step,
            Sleep: self._on_sleep,
            WaitEvent: self._on_event,
            Capture: self._on_capture,
            Schedule: self._on_schedule,
            WorkflowCall: self._on_workflow_call,
            WaitAll: self._on_wait_all,
        }

    # -- entry points ------------------------------------------------------
    def start(self, now: datetime) -> Decision:
        self._now = now
        if self._deadline is not None and now >= self._deadline:
            return self._fail(TaskTimeout(self.execution_id, self._deadline))
        token = current.set(self.info)
        try:
            data = from_json(
                self._input, self.handler.input_type(), f"input of task {self.task_name!r}"
            )
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
        return self._drive(SEND, None)

    def step_finished(self, outcome: StepOutcome, now: datetime) -> Decision:
        """Feed the outcome of the step of the last ``RunStep`` decision."""
        assert self._running is not None, "step_finished without a running step"
        cmd, attempt = self._running
        self._running = None
        self._now = now
        attempts = attempt + 1
        mode: int
        if outcome.error is None and not outcome.timed_out:
            # A completed step is recorded here; _record_failure takes the rest.
            name = cmd.name
            what = f"result of step {name!r}"
            try:
                doc = to_json(outcome.value, what)
            except SerializationError as exc:
                return self._unrecordable(cmd, attempts, exc)
            self._write(
                name, r.K_STEP, r.R_COMPLETED, step=cmd.step_id, attempts=attempts, result=doc
            )
            rtype = cmd.result_type
            if rtype is Any or (type(doc) is rtype and rtype in SELF_STRUCTURED):
                mode, value = SEND, doc  # what from_json would hand back
            else:
                mode, value = self._typed(doc, rtype, what)
        else:
            action = self._record_failure(cmd, attempts, outcome)
            if type(action) is not tuple:
                return action  # type: ignore[return-value]
            mode, value = action
        if self._deadline is not None and now >= self._deadline:
            return self._fail(TaskTimeout(self.execution_id, self._deadline))
        return self._drive(mode, value)

    def find_scheduled(self, name: str) -> Step | WorkflowCall | None:
        """Replay (log only) until the schedule named ``name``; its target, or None."""
        self._probe = name
        try:
            self.start(self._now)
        except _Found as found:
            return found.target
        except (_LiveNeeded, NonDeterminismError, DuplicateNameError, InvalidCommand):
            return None
        return None

    def check(self, status: str = r.COMPLETED, error: dict[str, Any] | None = None) -> None:
        """Replay (``replay_only``) an execution whose stored ``status`` and
        ``error`` are given; raise NonDeterminismError on any mismatch.

        Replay needs the live world where the log ends. That is a mismatch
        unless the run was stopped there from outside: still in flight,
        cancelled, past its task timeout, or failed by a refused write. A
        replay that fails the execution with the very error the live run
        failed with (a duplicate name, an invalid command) matches it too.
        """
        stopped = None
        try:
            self.start(self._now)
        except _LiveNeeded as need:
            if not _stopped_from_outside(status, error):
                raise NonDeterminismError(need.name, "nothing", need.what) from None
            stopped = need
        except (DuplicateNameError, InvalidCommand) as exc:
            if not _same_error(exc, error):
                raise
        unseen = [rec for name, rec in self._records.items() if name not in self._seen]
        if unseen and stopped is not None:
            raise NonDeterminismError(stopped.name, "nothing", stopped.what)
        if unseen:
            raise NonDeterminismError(
                unseen[0].name,
                _describe_record(unseen[0]),
                "nothing (the code no longer yields it)",
            )

    # -- the resume loop ---------------------------------------------------
    def _drive(self, mode: int, value: Any) -> Decision:
        gen = self._gen
        assert gen is not None
        dispatch = self._dispatch
        token = current.set(self.info)
        try:
            while True:
                try:
                    cmd = gen.send(value) if mode == SEND else gen.throw(value)
                except StopIteration as stop:
                    return self._complete(stop.value)
                except BusinessError as exc:
                    return self._fail(exc)
                except Exception as exc:
                    return self._attempt_failed(exc)
                handler = dispatch.get(type(cmd))
                if handler is None:
                    return self._fail(
                        InvalidCommand(
                            f"task {self.task_name!r} yielded {cmd!r} ({type(cmd).__name__}), "
                            "which is not a zart command (step, sleep, wait_event, schedule, "
                            "wait_all, capture, now)"
                        )
                    )
                try:
                    result = handler(cmd)
                except (NonDeterminismError, DuplicateNameError, InvalidCommand) as exc:
                    return self._fail(exc)
                if type(result) is not tuple:
                    return result  # type: ignore[return-value]
                mode, value = result
        finally:
            current.reset(token)

    # -- command handlers --------------------------------------------------
    def _lookup(
        self, name: str, kind: str, cmd: Any, identity: str | None = None
    ) -> StepRecord | None:
        if name in self._seen:
            raise DuplicateNameError(name, f"execution {self.execution_id!r}")
        self._seen.add(name)
        rec = self._records.get(name)
        if rec is not None and (
            rec.kind != kind or (identity is not None and rec.step != identity)
        ):
            raise NonDeterminismError(name, _describe_record(rec), describe(cmd))
        return rec

    def _on_step(self, cmd: Step) -> Action | Decision:
        rec = self._lookup(cmd.name, r.K_STEP, cmd, cmd.step_id)
        if rec is None:
            return self._run(cmd, 0)
        status = rec.status
        if status == r.R_COMPLETED:
            return self._typed(rec.result, cmd.result_type, f"result of step {cmd.name!r}")
        if status == r.R_RETRYING:
            if rec.wake_at is None or rec.wake_at <= self._now:
                return self._run(cmd, rec.attempts)
            return self._suspend(wake_at=rec.wake_at)
        error = rec.error or {}
        if status == r.R_FAILED and error.get("kind") == "error":
            # Its outcome had no stored form (see _unrecordable): the run
            # ended here, and the generator never saw an exception.
            return self._ended_by_step(error)
        return THROW, rebuild(error, self.execution_id)

    def _run(self, cmd: Step, attempt: int) -> Decision:
        if self._replay_only:
            raise _LiveNeeded(cmd.name, describe(cmd))
        self._running = (cmd, attempt)
        scope = (self.info, attempt, cmd.retry.retries, cmd.name)
        return RunStep(cmd.name, cmd, attempt, self._take(), scope)

    def _record_failure(self, cmd: Step, attempts: int, outcome: StepOutcome) -> Action | Decision:
        """Record a step that raised or timed out (a completed one: step_finished)."""
        name, error = cmd.name, outcome.error
        if isinstance(error, BusinessError):
            try:
                doc = business_document(error)
                rebuilt = read_error(doc, self.execution_id)
            except SerializationError as exc:
                return self._unrecordable(cmd, attempts, exc)
            self._record_step(cmd, r.R_ERROR, attempts, error=doc)
            return THROW, rebuilt
        delay = cmd.retry.delay_after(attempts)
        # A retry due past the last date never comes: the retries are spent.
        wake = None if delay is None else _later(self._now, delay)
        if wake is not None:
            doc = self._attempt_error(error, outcome, cmd)
            self._record_step(cmd, r.R_RETRYING, attempts, error=doc, wake_at=wake)
            if wake <= self._now:
                return self._run(cmd, attempts)
            return self._suspend(wake_at=wake)
        err_type = "timeout" if outcome.timed_out else type_name(error) if error else "unknown"
        message = f"timed out after {cmd.timeout}" if outcome.timed_out else str(error)
        doc = step_document(name, err_type, message, attempts, outcome.timed_out)
        self._record_step(cmd, r.R_FAILED, attempts, error=doc)
        return THROW, rebuild(doc, self.execution_id)

    def _unrecordable(self, cmd: Step, attempts: int, exc: SerializationError) -> Decision:
        # The step ran, but what it produced has no stored form: the code is
        # wrong, so the execution fails (a retry would fail the same way).
        # The log says so: the step is kept as failed with the error that
        # failed the execution (an "error" document, where a spent retry
        # policy leaves a "step" one), and a replay reaching that record ends
        # the execution the same way instead of running the step again.
        doc = error_document(exc)
        self._record_step(cmd, r.R_FAILED, attempts, error=doc)
        return self._ended_by_step(doc)

    def _ended_by_step(self, doc: dict[str, Any]) -> Decision:
        return Finish(self._take(r.Fail(error=doc)))

    def _write(
        self,
        name: str,
        kind: str,
        status: str,
        *,
        step: str | None = None,
        result: Any = None,
        error: dict[str, Any] | None = None,
        attempts: int = 0,
        wake_at: datetime | None = None,
        child_id: str | None = None,
    ) -> None:
        """Queue a record for the next commit; a new name takes the next seq.
        (Fields by name, not ``**fields``: every step passes here, and a
        keyword dict packed and unpacked again costs more than the rest.)"""
        seq = self._seqs.get(name)
        first = seq is None
        if seq is None:
            self._last_seq += 1
            seq = self._seqs[name] = self._last_seq
        # By position: see records.RecordWrite.
        self._pending.append(
            RecordWrite(
                name, kind, status, seq, step, result, error, attempts, wake_at, child_id, first
            )
        )

    def _record_step(
        self,
        cmd: Step,
        status: str,
        attempts: int,
        error: dict[str, Any],
        wake_at: datetime | None = None,
    ) -> None:
        self._write(
            cmd.name,
            r.K_STEP,
            status,
            step=cmd.step_id,
            attempts=attempts,
            error=error,
            wake_at=wake_at,
        )

    @staticmethod
    def _attempt_error(
        error: BaseException | None, outcome: StepOutcome, cmd: Step
    ) -> dict[str, Any]:
        if outcome.timed_out or error is None:
            return {"kind": "error", "type": "timeout", "message": f"timed out after {cmd.timeout}"}
        return error_document(error)

    def _on_sleep(self, cmd: Sleep) -> Action | Decision:
        rec = self._lookup(cmd.name, r.K_SLEEP, cmd)
        if rec is not None and rec.status == r.R_COMPLETED:
            return SEND, None
        if rec is not None and rec.wake_at is not None:
            wake = rec.wake_at
        elif cmd.until is not None:
            wake = cmd.until
        else:
            duration = cmd.duration or timedelta(0)
            later = _later(self._now, duration)
            if later is None:
                raise InvalidCommand(
                    f"sleep {cmd.name!r}: {duration} from {self._now:%Y-%m-%d} ends past "
                    f"the last date a store holds ({datetime.max:%Y-%m-%d})"
                )
            wake = later
        if wake <= self._now:
            self._write(cmd.name, r.K_SLEEP, r.R_COMPLETED, wake_at=wake)
            return SEND, None
        if rec is None:
            self._write(cmd.name, r.K_SLEEP, r.R_WAITING, wake_at=wake)
        return self._suspend(wake_at=wake)

    def _on_event(self, cmd: WaitEvent) -> Action | Decision:
        name = cmd.name
        rec = self._lookup(name, r.K_EVENT, cmd)
        if rec is not None:
            if rec.status == r.R_COMPLETED:
                return self._typed(rec.result, cmd.type, f"payload of event {name!r}")
            if rec.status == r.R_TIMED_OUT:
                return THROW, EventTimeout(name, rec.wake_at)
            deadline = rec.wake_at
        else:
            deadline = None if cmd.timeout is None else _later(self._now, cmd.timeout)
        if name in self._events:
            payload = self._events[name]
            self._write(name, r.K_EVENT, r.R_COMPLETED, result=payload, wake_at=deadline)
            return self._typed(payload, cmd.type, f"payload of event {name!r}")
        if deadline is not None and deadline <= self._now:
            self._write(name, r.K_EVENT, r.R_TIMED_OUT, wake_at=deadline)
            return THROW, EventTimeout(name, deadline)
        if rec is None:
            self._write(name, r.K_EVENT, r.R_WAITING, wake_at=deadline)
        return self._suspend(wake_at=deadline, event=name)

    def _on_capture(self, cmd: Capture) -> Action | Decision:
        rec = self._lookup(cmd.name, r.K_CAPTURE, cmd)
        what = f"capture {cmd.name!r}"
        if rec is not None:
            return self._typed(rec.result, cmd.type, what)
        if self._replay_only and cmd.fn is None:
            raise _LiveNeeded(cmd.name, describe(cmd))
        try:
            doc = to_json(self._now if cmd.fn is None else cmd.fn(), what)
        except Exception as exc:
            # Thrown in and not logged. A replay (check, probe) meeting an
            # unlogged capture can only tell this case by calling fn again,
            # as a resume does; fn is a read (an id, a clock), not an effect.
            return THROW, exc
        if self._replay_only:
            raise _LiveNeeded(cmd.name, describe(cmd))  # live, the value was logged
        self._write(cmd.name, r.K_CAPTURE, r.R_COMPLETED, result=doc)
        return self._typed(doc, cmd.type, what)

    def _on_schedule(self, cmd: Schedule) -> Action | Decision:
        target = cmd.target
        name = target.name
        if isinstance(target, Step):
            identity, rtype = f"step:{target.step_id}", target.result_type
        else:
            identity, rtype = f"workflow:{target.task_name}", target.handler.output_type()
        rec = self._lookup(name, r.K_SCHEDULE, cmd, identity)
        self._result_types[name] = rtype
        child_id = f"{self.execution_id}:{name}"
        if rec is not None:
            if self._probe == name:
                raise _Found(target)
            return SEND, Handle(name=name, execution_id=rec.child_id or child_id)
        try:
            child = self._new_child(target, child_id)
        except SerializationError as exc:
            # A child input with no stored form is a pure function of the
            # code, not of the world: nothing is logged, and a replay (check
            # and probe included) works it out again and throws the same.
            return THROW, exc
        if self._replay_only:
            raise _LiveNeeded(name, describe(cmd))
        self._write(name, r.K_SCHEDULE, r.R_PENDING, step=identity, child_id=child_id)
        self._children.append(child)
        self._records[name] = StepRecord(
            name=name,
            kind=r.K_SCHEDULE,
            status=r.R_PENDING,
            seq=self._seqs[name],
            step=identity,
            child_id=child_id,
        )
        return SEND, Handle(name=name, execution_id=child_id)

    def _new_child(self, target: Step | WorkflowCall, child_id: str) -> NewExecution:
        if isinstance(target, Step):
            self.scheduled_steps[child_id] = target
            return NewExecution(
                id=child_id,
                task_name=self.task_name,
                kind=r.STEP,
                parent_id=self.execution_id,
                parent_step=target.name,
            )
        what = f"input of child workflow {target.name!r}"
        doc = to_json(target.input, what)
        from_json(doc, target.handler.input_type(), what)
        self.scheduled_workflows[target.task_name] = target.handler
        return NewExecution(
            id=child_id,
            task_name=target.task_name,
            input=doc,
            parent_id=self.execution_id,
            parent_step=target.name,
        )

    def _on_workflow_call(self, cmd: WorkflowCall) -> Action | Decision:
        # Yielding a workflow call directly is schedule-and-wait for one child.
        scheduled = self._on_schedule(Schedule(target=cmd))
        if type(scheduled) is not tuple or scheduled[0] == THROW:
            return scheduled
        waited = self._on_wait_all(WaitAll(handles=(scheduled[1],)))
        if type(waited) is tuple and waited[0] == SEND:
            return SEND, waited[1][0]
        return waited

    def _on_wait_all(self, cmd: WaitAll) -> Action | Decision:
        recs = []
        for handle in cmd.handles:
            rec = self._records.get(handle.name)
            if rec is None or rec.kind != r.K_SCHEDULE or handle.name not in self._seen:
                raise InvalidCommand(
                    f"wait_all got handle {handle.name!r}, which this execution "
                    f"({self.execution_id!r}) did not schedule"
                )
            recs.append(rec)
        still_open = tuple(rec.name for rec in recs if rec.status not in r.R_FINAL)
        if still_open:
            return self._suspend(children=still_open)
        results: list[Any] = []
        first_error: BaseException | None = None
        for rec in recs:
            if rec.status == r.R_COMPLETED:
                mode, value = self._typed(
                    rec.result,
                    self._result_types.get(rec.name, Any),
                    f"result of child {rec.name!r}",
                )
                if mode == THROW:
                    return mode, value
            else:
                value = rebuild(rec.error or {"type": "Cancelled"}, rec.child_id or rec.name)
                first_error = first_error or value
            results.append(value)
        if first_error is not None and not cmd.return_exceptions:
            return THROW, first_error
        return SEND, results

    # -- outcomes ----------------------------------------------------------
    @staticmethod
    def _typed(doc: Any, type_: Any, what: str) -> Action:
        try:
            return SEND, from_json(doc, type_, what)
        except SerializationError as exc:
            return THROW, exc

    def _take(self, outcome: r.Outcome | None = None) -> Commit:
        pending = self._pending
        if outcome is None and not (self._children or self.ctx.state_changed):
            # The common case, a step's record alone (or nothing: the first
            # step's commit, or the first after a replay).
            if not pending:
                return r.NO_WRITES
            self._pending = []
            return Commit(tuple(pending))
        commit = Commit(
            records=tuple(self._pending),
            children=tuple(self._children),
            state=self.ctx.data if self.ctx.state_changed else r.UNSET,
            outcome=outcome,
        )
        self._pending.clear()
        if self._children:
            self._children.clear()
        self.ctx.state_changed = False
        return commit

    def _suspend(
        self,
        *,
        wake_at: datetime | None = None,
        event: str | None = None,
        children: tuple[str, ...] = (),
    ) -> Decision:
        if self._replay_only:
            raise _LiveNeeded(
                event or ",".join(children) or "sleep", "a wait the log has not seen end"
            )
        deadline = self._deadline
        if deadline is not None and (wake_at is None or deadline < wake_at):
            wake_at = deadline
        # The generator is dropped, not closed: closing would run its
        # `finally` blocks now, as if the workflow had ended.
        self._gen = None
        return Finish(self._take(r.Suspend(wake_at=wake_at, event=event, children=children)))

    def _complete(self, value: Any) -> Decision:
        try:
            doc = to_json(value, f"output of task {self.task_name!r}")
        except SerializationError as exc:
            return self._fail(exc)
        return Finish(self._take(r.Complete(output=doc)))

    def _attempt_failed(self, exc: Exception) -> Decision:
        if isinstance(exc, FATAL) or self._attempt >= self._max_retries:
            return self._fail(exc)
        if self._replay_only:
            raise _LiveNeeded("retry", "an execution retry")
        return Finish(self._take(r.RetryExecution(error=error_document(exc), wake_at=self._now)))

    def _fail(self, exc: BaseException) -> Decision:
        if self._replay_only and isinstance(
            exc, (NonDeterminismError, DuplicateNameError, InvalidCommand)
        ):
            raise exc
        if isinstance(exc, (NonDeterminismError, DuplicateNameError, InvalidCommand)):
            # Code that disagrees with the log must not add to it; only the
            # outcomes of steps that really ran are kept.
            self._pending = [w for w in self._pending if w.kind == r.K_STEP]
            self._children.clear()
        return Finish(
            self._take(r.Fail(error=error_document(exc), business=isinstance(exc, BusinessError)))
        )


def _later(when: datetime, delay: timedelta) -> datetime | None:
    """``when + delay``, or None past the last datetime (9999-12-31): a
    timeout that far off never strikes."""
    try:
        return when + delay
    except OverflowError:
        return None


def _stopped_from_outside(status: str, error: dict[str, Any] | None) -> bool:
    """Whether a run with this stored outcome may have a log that stops
    short of its code: not one its own generator brought to an end."""
    if status == r.COMPLETED:
        return False
    if status == r.FAILED:
        return error is not None and error.get("type") in _STOPPED_BY
    return True  # cancelled, or still in flight


def _same_error(exc: BaseException, error: dict[str, Any] | None) -> bool:
    doc = error_document(exc)
    return error is not None and (error.get("type"), error.get("message")) == (
        doc["type"],
        doc["message"],
    )


def interpreter_for(
    handler: TaskHandler, record: r.ExecutionRecord, log: r.Log, **options: Any
) -> Interpreter:
    return Interpreter(
        handler,
        execution_id=record.id,
        task_name=record.task_name,
        input=record.input,
        attempt=record.attempt,
        created_at=record.created_at,
        log=log,
        **options,
    )


EMPTY_LOG = r.Log(records={}, events={})
