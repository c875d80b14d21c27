"""``zart.context()``: what the running workflow body or step is.

A ``ContextVar`` carries it, so it follows threads started by the hosts and
asyncio tasks alike, with no global state to clean up.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import attrs

from .errors import ZartError


@attrs.frozen(kw_only=True)
class ExecutionInfo:
    execution_id: str
    task_name: str
    data: Any  # the execution's original input, as JSON
    current_attempt: int  # 0-based: the step's attempt in a step, the execution's in the body
    max_retries: int
    step: str | None = None  # the step's name inside a step body

    @property
    def is_retry(self) -> bool:
        return self.current_attempt > 0


# Inside a step: the body's info, and the step's attempt, retries and name.
# A step's ExecutionInfo is built only when asked for: every step runs under
# one, few ever ask, and building it cost more than the tuple.
StepScope = tuple[ExecutionInfo, int, int, str]

current: ContextVar[ExecutionInfo | StepScope | None] = ContextVar("zart_execution", default=None)


def context() -> ExecutionInfo:
    """The execution this code runs in; raises ``ZartError`` outside one."""
    info = current.get()
    if info is None:
        raise ZartError(
            "zart.context() was called outside an execution: call it inside a "
            "workflow body or a step that a zart host is running"
        )
    if isinstance(info, tuple):
        body, attempt, retries, step = info
        return attrs.evolve(body, current_attempt=attempt, max_retries=retries, step=step)
    return info
