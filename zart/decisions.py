"""The decisions an interpreter hands its host, and what the host hands back.

The whole protocol between the pure interpreter and a host: ``RunStep``
(write its commit, run the step, report a ``StepOutcome``) and ``Finish``
(write its commit, which carries the outcome, and drop the interpreter).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .commands import Step, WorkflowHandler
from .context import ExecutionInfo
from .records import Commit


@attrs.frozen(kw_only=True, slots=False)  # built on every step: see zart.records
class StepOutcome:
    """What running a step produced: a value, an exception, or a timeout."""

    value: Any = None
    error: BaseException | None = None
    timed_out: bool = False


@attrs.frozen(kw_only=True, slots=False)  # built on every step: see zart.records
class RunStep:
    """Write ``commit`` (its effects may matter to the step), then run ``step``."""

    step: Step
    attempt: int  # 0-based, within this round of the step's retry policy
    commit: Commit
    info: ExecutionInfo  # what ``zart.context()`` tells the step while it runs
    # What this commit schedules: steps by child id (a host that claims the
    # child runs them without replaying the parent), workflows by task name.
    scheduled_steps: Mapping[str, Step] = attrs.field(factory=dict)
    scheduled_workflows: Mapping[str, WorkflowHandler] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True, slots=False)  # built on every step: see zart.records
class Finish:
    """Write ``commit``, which carries the outcome; this pass is over."""

    commit: Commit
    scheduled_steps: Mapping[str, Step] = attrs.field(factory=dict)
    scheduled_workflows: Mapping[str, WorkflowHandler] = attrs.field(factory=dict)


Decision = RunStep | Finish
