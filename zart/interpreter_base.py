"""What every part of the interpreter shares: the resume actions, the state
of one pass, and the helpers the replay rules of each command use.

Pure, like the interpreter: no store, no clock, no thread, no event loop.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs

from . import records as r
from .commands import Step, WorkflowCall, WorkflowHandler
from .decisions import Decision
from .errors import (
    Cancelled,
    DuplicateNameError,
    InvalidCommand,
    NonDeterminismError,
    SerializationError,
    TaskTimeout,
)
from .logbook import LogBook
from .names import child_id
from .records import NewExecution, StepRecord
from .serde import from_json, to_json


@attrs.frozen(slots=False)  # built on every step: see records.Commit
class Send:
    """Resume the generator with ``value``."""

    value: Any


@attrs.frozen(slots=False)
class Throw:
    """Resume the generator by raising ``error`` at its ``yield``."""

    error: BaseException


Action = Send | Throw
ACTIONS = (Send, Throw)
Handled = Action | Decision
History = tuple[r.AttemptError, ...]  # a step's failed attempts so far

# Errors that say the code is wrong, not that the world was: retrying the
# execution would fail the same way, so they fail it at once.
FATAL = (InvalidCommand, SerializationError, TaskTimeout, Cancelled)
# Errors that say the code no longer matches the log: the execution stalls.
MISMATCH = (NonDeterminismError, DuplicateNameError)


def later(when: datetime, delay: timedelta) -> datetime | None:
    """``when + delay``, or None past the last datetime (9999-12-31): a
    timeout that far off never strikes."""
    try:
        return when + delay
    except OverflowError:
        return None


class PassBase:
    """The state of one pass that the replay rules read and write."""

    execution_id: str
    task_name: str
    schedules: dict[str, Step | WorkflowCall]
    seen: set[str]
    _attempt: int
    _max_payload: int | None
    _now: datetime
    _book: LogBook
    _root: str
    _events: Any
    _messages: dict[str, list[r.Message]]
    _patches: dict[str, bool | None]
    _children: list[NewExecution]
    _reruns: list[str]
    _consumed: list[int]
    _new_steps: dict[str, Step]
    _new_workflows: dict[str, WorkflowHandler]
    _result_types: dict[str, Any]

    def _json(self, value: Any, what: str) -> Any:
        return to_json(value, what, limit=self._max_payload)

    @staticmethod
    def _typed(doc: Any, type_: Any, what: str) -> Action:
        try:
            return Send(from_json(doc, type_, what))
        except SerializationError as exc:
            return Throw(exc)

    def _reruns_afresh(self, rec: StepRecord) -> bool:
        """A failed outcome written by an earlier attempt runs afresh, but
        a child shared with the execution this one was forked from is
        another's: its outcome replays as it stands."""
        failed = rec.status == r.R_FAILED or (
            rec.kind == r.K_SCHEDULE and rec.status == r.R_CANCELLED
        )
        shared = rec.kind == r.K_SCHEDULE and rec.child_id not in (
            None,
            child_id(self.execution_id, rec.name),
        )
        return failed and not shared and rec.execution_attempt < self._attempt

    def _suspend(self, suspend: r.Suspend) -> Decision:
        raise NotImplementedError  # the interpreter's
