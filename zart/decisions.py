"""The decisions an interpreter hands its host, and what the host hands back.

The whole protocol between the pure interpreter and a host: ``RunStep``
(write its commit, run the step, report a ``StepOutcome``) and ``Finish``
(write its commit, which carries the outcome, and drop the interpreter).
"""

from __future__ import annotations

from typing import Any

import attrs

from .commands import Step
from .context import StepScope
from .records import Commit


# Built on every step, so not frozen (see records.RecordWrite); values all the same.
@attrs.define
class StepOutcome:
    """What running a step produced: a value, an exception, or a timeout."""

    value: Any = None
    error: BaseException | None = None
    timed_out: bool = False


@attrs.define
class RunStep:
    name: str
    step: Step
    attempt: int  # 0-based
    commit: Commit  # write this before the step runs: its effects may depend on it
    scope: StepScope  # what ``zart.context()`` tells the step while it runs


@attrs.define
class Finish:
    commit: Commit  # carries the outcome


Decision = RunStep | Finish
