"""zart: durable execution for Python.

Workflows are generators that yield commands; an interpreter replays them
against a stored log, so they survive crashes, restarts and long waits.
"""

from __future__ import annotations

from .async_worker import AsyncWorker
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
from .client import Client
from .commands import Capture, Handle, Schedule, Sleep, Step, WaitAll, WaitEvent, WorkflowCall
from .connect import connect
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
    SchemaOutdated,
    SerializationError,
    StepFailed,
    StepTimeout,
    StoreError,
    TaskTimeout,
    UnknownTaskError,
    ZartError,
)
from .memory import MemoryStore
from .records import ExecutionRecord, StepRecord
from .retry import RetryPolicy
from .tasks import TaskContext, TaskHandler, TaskRegistry, durable
from .worker import Worker, WorkerConfig

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
