"""zart: durable execution for Python.

Workflows are generators that yield commands; an interpreter replays them
against a stored log, so they survive crashes, restarts and long waits.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .authoring import (
    StepFunction,
    call,
    capture,
    now,
    schedule,
    sleep,
    sleep_until,
    step,
    wait_all,
    wait_event,
)
from .commands import Capture, Handle, Schedule, Sleep, Step, WaitAll, WaitEvent, WorkflowCall
from .context import ExecutionInfo, context
from .errors import (
    BusinessError,
    Cancelled,
    DuplicateNameError,
    EventRejected,
    EventTimeout,
    ExecutionAlreadyExists,
    ExecutionFailed,
    ExecutionNotFound,
    InvalidCommand,
    LeaseLost,
    NonDeterminismError,
    ResultTimeout,
    RetryExhausted,
    SchemaNewer,
    SchemaOutdated,
    SerializationError,
    StepFailed,
    StepTimeout,
    StoreError,
    TaskTimeout,
    UnknownTaskError,
    WriteRejected,
    ZartError,
)
from .records import ExecutionRecord, StepRecord
from .retry import RetryPolicy
from .tasks import TaskContext, TaskHandler, TaskRegistry, durable

# Hosts and stores load on first use (PEP 562), so `import zart` and the pure
# core never pull in threads, event loops or database drivers.
_LAZY = {
    "AsyncWorker": ".async_worker",
    "Client": ".client",
    "MemoryStore": ".memory",
    "Worker": ".worker",
    "WorkerConfig": ".worker",
    "connect": ".urls",
}

if TYPE_CHECKING:
    from .async_worker import AsyncWorker
    from .client import Client
    from .memory import MemoryStore
    from .urls import connect
    from .worker import Worker, WorkerConfig


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zart' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AsyncWorker",
    "BusinessError",
    "Cancelled",
    "Capture",
    "Client",
    "DuplicateNameError",
    "EventRejected",
    "EventTimeout",
    "ExecutionAlreadyExists",
    "ExecutionFailed",
    "ExecutionInfo",
    "ExecutionNotFound",
    "ExecutionRecord",
    "Handle",
    "InvalidCommand",
    "LeaseLost",
    "MemoryStore",
    "NonDeterminismError",
    "ResultTimeout",
    "RetryExhausted",
    "RetryPolicy",
    "Schedule",
    "SchemaNewer",
    "SchemaOutdated",
    "SerializationError",
    "Sleep",
    "Step",
    "StepFailed",
    "StepFunction",
    "StepRecord",
    "StepTimeout",
    "StoreError",
    "TaskContext",
    "TaskHandler",
    "TaskRegistry",
    "TaskTimeout",
    "UnknownTaskError",
    "WaitAll",
    "WaitEvent",
    "Worker",
    "WorkerConfig",
    "WorkflowCall",
    "WriteRejected",
    "ZartError",
    "call",
    "capture",
    "connect",
    "context",
    "durable",
    "now",
    "schedule",
    "sleep",
    "sleep_until",
    "step",
    "wait_all",
    "wait_event",
]
