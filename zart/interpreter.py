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
  A capture or a schedule may end without a record (the capture raised,
  the child input has no stored form): it is judged once it is logged.
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
from datetime import datetime
from typing import Any

import attrs

from . import records as r
from .commands import (
    Capture,
    Command,
    ContinueAsNew,
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
    InvalidCommand,
    SerializationError,
    TaskTimeout,
    ZartError,
)
from .failures import attempt_error, business_document, error_document, rebuild, step_document
from .interpreter_base import (
    ACTIONS,
    FATAL,
    MISMATCH,
    Action,
    Handled,
    History,
    Send,
    Throw,
    later,
)
from .interpreter_children import ChildRules
from .interpreter_waits import WaitRules
from .logbook import LogBook, describe, describe_record
from .records import Commit, NewExecution
from .serde import DEFAULT_MAX_PAYLOAD, check_faithful, forgot_yield, from_json
from .tasks import Failure, TaskContext, TaskHandler, failure_handler_execution


class Interpreter(WaitRules, ChildRules):
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
        self._kind = record.kind
        self._max_payload = max_payload
        timeout = handler.timeout()
        self._deadline = None if timeout is None else later(record.created_at, timeout)
        self._book = LogBook(log, record.id, record.attempt)
        self.seen = self._book.seen  # every name met in this pass
        self._patches: dict[str, bool | None] = {}
        self._root = record.root_id or record.id
        self._events = log.events
        self._messages = {topic: list(queue) for topic, queue in log.messages.items()}
        self.schedules: dict[str, Step | WorkflowCall] = {}  # every schedule met, by name
        self.mismatch: ZartError | None = None  # what stalled this pass, if anything
        self._children: list[NewExecution] = []
        self._reruns: list[str] = []
        self._consumed: list[int] = []
        self._new_steps: dict[str, Step] = {}
        self._new_workflows: dict[str, WorkflowHandler] = {}
        self._result_types: dict[str, Any] = {}
        self._running: tuple[Step, int, datetime, History] | None = None
        self._now = record.created_at
        self._gen: Generator[Any, Any, Any] | None = None
        self.ctx, self.info = _contexts(handler, record, max_payload)

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
        cmd, attempt, started, history = self._running
        self._running = None
        self._now = now
        if outcome.error is None and not outcome.timed_out:
            handled = self._step_completed(cmd, attempt, started, history, outcome.value)
        else:
            handled = self._step_failed(cmd, attempt, started, history, outcome)
        if not isinstance(handled, ACTIONS):
            return handled
        if self._deadline is not None and now >= self._deadline:
            return self._fail(TaskTimeout(self.execution_id, self._deadline))
        return self._drive(handled)

    # -- the resume loop ---------------------------------------------------
    def _drive(self, action: Action) -> Decision:
        gen = self._gen
        assert gen is not None
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
                handler = _HANDLERS.get(type(cmd))
                if handler is None:
                    return self._fail(_not_a_command(self.task_name, cmd))
                try:
                    handled = handler(self, cmd)
                except MISMATCH as exc:
                    return self._stall(exc)
                except InvalidCommand as exc:
                    return self._fail(exc)
                if not isinstance(handled, ACTIONS):
                    return handled
                action = handled
        finally:
            current.reset(token)

    # -- steps ------------------------------------------------------------
    def _on_step(self, cmd: Step) -> Handled:
        rec = self._book.lookup(cmd.name, r.K_STEP, cmd, cmd.step_id)
        if rec is None:
            return self._run(cmd, 0, ())
        if rec.status == r.R_COMPLETED:
            return self._typed(rec.result, cmd.result_type, f"result of step {cmd.name!r}")
        if rec.status == r.R_RETRYING:
            if rec.wake_at is None or rec.wake_at <= self._now:
                return self._run(cmd, rec.attempts, rec.errors)
            return self._suspend(r.Suspend(wake_at=rec.wake_at))
        if self._reruns_afresh(rec):
            return self._run(cmd, 0, rec.errors)
        error = rec.error or {}
        if rec.status == r.R_FAILED and error.get("kind") == "error":
            # Its outcome had no stored form (see _unrecordable): the run
            # ended here, and the generator never saw an exception.
            return self._finish(r.Fail(error=error))
        return Throw(rebuild(error, self.execution_id))

    def _run(self, cmd: Step, attempt: int, history: History) -> Decision:
        self._running = (cmd, attempt, self._now, history)
        return RunStep(
            step=cmd,
            attempt=attempt,
            commit=self._take(),
            info=self.info.in_step(cmd.name, attempt, cmd.retry.retries),
            **self._take_scheduled(),
        )

    def _step_completed(
        self, cmd: Step, attempt: int, started: datetime, history: History, value: Any
    ) -> Handled:
        what = f"result of step {cmd.name!r}"
        try:
            doc = self._json(value, what)
        except SerializationError as exc:
            return self._unrecordable(cmd, attempt, started, history, exc)
        self._write_step(cmd, r.R_COMPLETED, attempt, started, history, result=doc)
        return self._typed(doc, cmd.result_type, what)

    def _step_failed(
        self,
        cmd: Step,
        attempt: int,
        started: datetime,
        history: History,
        outcome: StepOutcome,
    ) -> Handled:
        """Record a step that raised or timed out."""
        error = outcome.error
        if isinstance(error, BusinessError):
            try:
                doc = business_document(error)
                rebuilt = rebuild(doc, self.execution_id, strict=True)
            except SerializationError as exc:
                return self._unrecordable(cmd, attempt, started, history, exc)
            self._write_step(cmd, r.R_ERROR, attempt, started, history, error=doc)
            return Throw(rebuilt)
        doc = attempt_error(error, f"timed out after {cmd.timeout}" if outcome.timed_out else None)
        errors = self._errors_after(history, doc)
        delay = cmd.retry.delay_after(attempt + 1)
        # A retry due past the last date never comes: the retries are spent.
        wake = None if delay is None else later(self._now, delay)
        if wake is not None:
            self._write_step(
                cmd, r.R_RETRYING, attempt, started, history, error=doc, errors=errors, wake_at=wake
            )
            if wake <= self._now:
                return self._run(cmd, attempt + 1, errors)
            return self._suspend(r.Suspend(wake_at=wake))
        final = step_document(cmd.name, doc, attempt + 1, outcome.timed_out)
        self._write_step(cmd, r.R_FAILED, attempt, started, history, error=final, errors=errors)
        return Throw(rebuild(final, self.execution_id))

    def _errors_after(self, history: History, doc: dict[str, Any]) -> tuple[r.AttemptError, ...]:
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
        history: History,
        **fields: Any,
    ) -> None:
        fields.setdefault("errors", history)
        self._book.write(
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
        history: History,
        exc: SerializationError,
    ) -> Decision:
        # The step ran, but what it produced has no stored form: the code is
        # wrong, so the execution fails (a retry would fail the same way).
        # The log keeps the step as failed with the error that failed the
        # execution (an "error" document, where a spent retry policy leaves
        # a "step" one), and a replay reaching it ends the same way.
        # It fails for good, so the workflow's on_failure handler runs, as
        # for any other final failure.
        doc = error_document(exc)
        self._write_step(cmd, r.R_FAILED, attempt, started, history, error=doc)
        self._call_failure_handler(doc)
        return self._finish(r.Fail(error=doc))

    # -- outcomes ----------------------------------------------------------
    def _take_scheduled(self) -> dict[str, Any]:
        """What the next decision tells its host was scheduled."""
        if not (self._new_steps or self._new_workflows):
            return _NONE_SCHEDULED
        scheduled = {"scheduled_steps": self._new_steps, "scheduled_workflows": self._new_workflows}
        self._new_steps, self._new_workflows = {}, {}
        return scheduled

    def _take(self, outcome: r.Outcome | None = None) -> Commit:
        changed, state = self.ctx.take_state()
        pending = self._book.writes or self._children or self._reruns or self._consumed
        if not (changed or outcome or pending):
            return _NOTHING  # the first step's commit, or the first after a replay
        commit = Commit(
            records=self._book.take(),
            children=tuple(self._children),
            rerun_children=tuple(self._reruns),
            consumed=tuple(self._consumed),
            state=r.SetState(value=state) if changed else None,
            outcome=outcome,
        )
        self._children, self._reruns, self._consumed = [], [], []
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
        try:
            doc = self._json(cmd.input, what)
            from_json(doc, self.handler.input_type(), what)
        except SerializationError as exc:
            # As a child input: thrown in at the yield, nothing logged (a
            # replay works it out again), never out of the interpreter.
            return Throw(exc)
        return self._finish(r.ContinueAsNew(input=doc, keep_runs=self.handler.keep_runs()))

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
        error = error_document(exc)
        self._call_failure_handler(error)
        return self._finish(r.Fail(error=error, business=business))

    def _call_failure_handler(self, error: dict[str, Any]) -> None:
        """The workflow's ``on_failure``, as a child-like execution created
        in the same commit as the failure: it runs once per final failure.
        A failure handler that fails runs no handler in turn."""
        spec = self.handler.on_failure()
        if spec is None or self._kind == r.FAILURE_HANDLER:
            return
        failure = Failure(
            execution_id=self.execution_id, task_name=self.task_name, input=self._input, error=error
        )
        name = f"on-failure@{self._attempt}"
        self._children.append(failure_handler_execution(spec, failure, self._root, name))
        self._new_workflows[spec.handler.task_name or ""] = spec.handler

    def _stall(self, exc: ZartError) -> Decision:
        # Code that disagrees with the log must not add to it: only the
        # outcomes of steps that really ran in this pass are kept.
        self.mismatch = exc
        self._book.writes = [w for w in self._book.writes if w.kind == r.K_STEP]
        self._children, self._reruns, self._consumed = [], [], []
        return self._finish(r.Stall(error=error_document(exc)))


# The replay rule of each command type: one handler per type.
_HANDLERS: dict[type, Callable[[Interpreter, Any], Handled]] = {
    Step: Interpreter._on_step,
    Sleep: Interpreter._on_sleep,
    WaitEvent: Interpreter._on_event,
    Receive: Interpreter._on_receive,
    Capture: Interpreter._on_capture,
    Schedule: Interpreter._on_schedule,
    WorkflowCall: Interpreter._on_workflow_call,
    WaitAll: Interpreter._on_wait_all,
    Patched: Interpreter._on_patched,
    ContinueAsNew: Interpreter._on_continue,
}
_NOTHING = Commit()
_NONE_SCHEDULED: dict[str, Any] = {}  # read only: unpacked into a decision's keywords


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


def _contexts(
    handler: TaskHandler, record: r.ExecutionRecord, max_payload: int | None
) -> tuple[TaskContext, ExecutionInfo]:
    """What the workflow body is given (``ctx``) and what ``zart.context()``
    tells while it runs."""
    ctx = TaskContext(
        execution_id=record.id,
        task_name=record.task_name,
        input=record.input,
        attempt=record.attempt,
        max_retries=handler.max_retries(),
        max_payload=max_payload,
    )
    info = ExecutionInfo(
        execution_id=record.id,
        task_name=record.task_name,
        data=record.input,
        current_attempt=record.attempt,
        max_retries=handler.max_retries(),
        run=record.run,
    )
    return ctx, info
