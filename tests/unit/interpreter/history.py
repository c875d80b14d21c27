"""A history builder for pure interpreter tests: the log as data in,
decisions as data out, no store and no host."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

import zart
from zart import records as r
from zart.decisions import Decision, Finish, RunStep, StepOutcome
from zart.interpreter import Interpreter

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class History:
    """An execution's stored log, written the way the interpreter writes it."""

    def __init__(self) -> None:
        self.records: dict[str, r.StepRecord] = {}
        self.events: dict[str, Any] = {}
        self.messages: dict[str, list[r.Message]] = {}
        self._message_ids = 0

    def _add(self, name: str, kind: str, status: str, **fields: Any) -> History:
        seq = len(self.records) + 1
        self.records[name] = r.StepRecord(name=name, kind=kind, status=status, seq=seq, **fields)
        return self

    def step(
        self, name: str, result: Any = None, *, step_id: str | None = None, **fields: Any
    ) -> History:
        fields.setdefault("attempts", 1)
        return self._add(
            name, r.K_STEP, r.R_COMPLETED, step=step_id or name, result=result, **fields
        )

    def failed_step(self, name: str, *, attempt_of_execution: int = 0, **fields: Any) -> History:
        error = {
            "kind": "step",
            "type": "RetryExhausted",
            "step": name,
            "error_type": "E",
            "message": "no",
            "attempts": 1,
        }
        fields.setdefault("attempts", 1)
        return self._add(
            name,
            r.K_STEP,
            r.R_FAILED,
            step=name,
            error=error,
            execution_attempt=attempt_of_execution,
            **fields,
        )

    def sleep(self, name: str, wake_at: datetime, *, done: bool = False) -> History:
        return self._add(name, r.K_SLEEP, r.R_COMPLETED if done else r.R_WAITING, wake_at=wake_at)

    def waiting(self, name: str, deadline: datetime | None = None) -> History:
        return self._add(name, r.K_EVENT, r.R_WAITING, wake_at=deadline)

    def scheduled(
        self, name: str, identity: str, child_id: str, status: str = r.R_PENDING, **fields: Any
    ) -> History:
        return self._add(name, r.K_SCHEDULE, status, step=identity, child_id=child_id, **fields)

    def patch(self, patch_id: str) -> History:
        return self._add(f"@patch:{patch_id}", r.K_PATCH, r.R_COMPLETED, step=patch_id)

    def offered(self, name: str, payload: Any) -> History:
        self.events[name] = payload
        return self

    def sent(self, topic: str, payload: Any) -> History:
        self._message_ids += 1
        self.messages.setdefault(topic, []).append(
            r.Message(id=self._message_ids, topic=topic, payload=payload)
        )
        return self

    def log(self) -> r.Log:
        return r.Log(
            records=dict(self.records),
            events=dict(self.events),
            messages={t: tuple(q) for t, q in self.messages.items()},
            last_seq=len(self.records),
        )


def execution(
    task: str = "wf", *, attempt: int = 0, input: Any = None, created_at: datetime = T0
) -> r.ExecutionRecord:
    return r.ExecutionRecord(
        id="e1",
        task_name=task,
        status=r.RUNNING,
        input=input,
        attempt=attempt,
        created_at=created_at,
        updated_at=created_at,
    )


def workflow(body: Callable[..., Iterator[Any]], **options: Any) -> zart.TaskHandler:
    return zart.durable("wf", **options)(body)


@attrs.define
class Pass:
    """One pass of the interpreter, driven to its end: every decision."""

    interp: Interpreter
    decisions: list[Decision]

    @property
    def finish(self) -> Finish:
        last = self.decisions[-1]
        assert isinstance(last, Finish), last
        return last

    @property
    def outcome(self) -> Any:
        return self.finish.commit.outcome

    @property
    def ran(self) -> list[str]:
        return [d.step.name for d in self.decisions if isinstance(d, RunStep)]

    @property
    def writes(self) -> list[r.RecordWrite]:
        return [w for d in self.decisions for w in d.commit.records]


def drive(
    handler: zart.TaskHandler,
    history: History | None = None,
    *,
    now: datetime = T0,
    attempt: int = 0,
    input: Any = None,
    results: dict[str, Any] | None = None,
    max_payload: int | None = None,
) -> Pass:
    """Run one pass: each step that runs returns ``results[name]`` (a
    BaseException is raised by it), or None."""
    log = (history or History()).log()
    interp = Interpreter(
        handler, execution(attempt=attempt, input=input), log, max_payload=max_payload
    )
    decisions = [interp.start(now)]
    while isinstance(decisions[-1], RunStep):
        name = decisions[-1].step.name
        value = (results or {}).get(name)
        outcome = (
            StepOutcome(error=value)
            if isinstance(value, BaseException)
            else StepOutcome(value=value)
        )
        decisions.append(interp.step_finished(outcome, now))
    return Pass(interp=interp, decisions=decisions)
