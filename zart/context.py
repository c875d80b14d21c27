"""``zart.context()``: what the running workflow body or step is.

A ``ContextVar`` carries it, so it follows threads started by the hosts and
asyncio tasks alike, with no global state to clean up.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import attrs

from .errors import ZartError


@attrs.frozen(kw_only=True, slots=False)  # built on every step: see zart.records
class ExecutionInfo:
    """The execution a workflow body or a step runs in."""

    execution_id: str
    task_name: str
    data: Any  # the execution's original input, as JSON
    current_attempt: int  # 0-based: the step's attempt in a step, the execution's in the body
    max_retries: int  # the step's retries in a step, the execution's in the body
    step: str | None = None  # the step's name inside a step body
    run: int = 1  # the run number (continue_as_new starts the next)

    @property
    def is_retry(self) -> bool:
        return self.current_attempt > 0

    def in_step(self, name: str, attempt: int, retries: int) -> ExecutionInfo:
        """What a step of this execution is told while it runs."""
        return ExecutionInfo(
            execution_id=self.execution_id,
            task_name=self.task_name,
            data=self.data,
            current_attempt=attempt,
            max_retries=retries,
            step=name,
            run=self.run,
        )


current: ContextVar[ExecutionInfo | None] = ContextVar("zart_execution", default=None)


def context() -> ExecutionInfo:
    """The execution this code runs in; raises ``ZartError`` outside one."""
    info = current.get()
    if info is None:
        raise ZartError(
            "zart.context() was called outside an execution: call it inside a "
            "workflow body or a step that a zart host is running"
        )
    return info
