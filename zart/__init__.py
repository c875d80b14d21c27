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
    continue_as_new,
    deprecate_patch,
    now,
    patched,
    receive,
    schedule,
    sleep,
    sleep_until,
    step,
    wait_all,
    wait_event,
)
from .commands import (
    Capture,
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
)
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
    ForkRefused,
    InvalidCommand,
    LeaseLost,
    MessageRejected,
    NonDeterminismError,
    PayloadTooLarge,
    ResultTimeout,
    RetryExhausted,
    RetryRefused,
    ScheduleAlreadyExists,
    ScheduleNotFound,
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
from .names import MAX_LENGTH as MAX_NAME_LENGTH
from .records import AttemptError, ExecutionRecord, ScheduleRecord, StepRecord
from .retry import RetryPolicy
from .serde import DEFAULT_MAX_PAYLOAD
from .tasks import (
    Failure,
    OnFailure,
    TaskContext,
    TaskHandler,
    TaskRegistry,
    Workflow,
    durable,
    on_failure,
)

# Hosts and stores load on first use (PEP 562), so `import zart` and the pure
# core never pull in threads, event loops or database drivers.
_LAZY = {
    "AsyncWorker": ".async_worker",
    "Client": ".client",
    "MemoryStore": ".stores.memory",
    "Store": ".stores.protocol",
    "Worker": ".worker",
    "WorkerConfig": ".loop",
    "connect": ".stores.connect",
}

if TYPE_CHECKING:
    from .async_worker import AsyncWorker
    from .client import Client
    from .loop import WorkerConfig
    from .stores.connect import connect
    from .stores.memory import MemoryStore
    from .stores.protocol import Store
    from .worker import Worker


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zart' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "MAX_NAME_LENGTH",
    "AsyncWorker",
    "AttemptError",
    "BusinessError",
    "Cancelled",
    "Capture",
    "Client",
    "ContinueAsNew",
    "DuplicateNameError",
    "EventRejected",
    "EventTimeout",
    "ExecutionAlreadyExists",
    "ExecutionFailed",
    "ExecutionInfo",
    "ExecutionNotFound",
    "ExecutionRecord",
    "Failure",
    "ForkRefused",
    "Handle",
    "InvalidCommand",
    "LeaseLost",
    "MemoryStore",
    "MessageRejected",
    "NonDeterminismError",
    "OnFailure",
    "Patched",
    "PayloadTooLarge",
    "Receive",
    "ResultTimeout",
    "RetryExhausted",
    "RetryPolicy",
    "RetryRefused",
    "Schedule",
    "ScheduleAlreadyExists",
    "ScheduleNotFound",
    "ScheduleRecord",
    "SchemaNewer",
    "SchemaOutdated",
    "SerializationError",
    "Sleep",
    "Step",
    "StepFailed",
    "StepFunction",
    "StepRecord",
    "StepTimeout",
    "Store",
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
    "Workflow",
    "WorkflowCall",
    "WriteRejected",
    "ZartError",
    "call",
    "capture",
    "connect",
    "context",
    "continue_as_new",
    "deprecate_patch",
    "durable",
    "now",
    "on_failure",
    "patched",
    "receive",
    "schedule",
    "sleep",
    "sleep_until",
    "step",
    "wait_all",
    "wait_event",
]
