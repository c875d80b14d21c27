"""Every error zart raises, in one place.

Each class carries the fields a caller needs to act on it (the execution id,
the step name, the recorded and the yielded command) besides its message, so
code can branch on data instead of parsing strings.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs


class ZartError(Exception):
    """Base class of every error zart raises."""


class BusinessError(Exception):
    """Base class for a step's *decision* to fail (insufficient funds, not found).

    Subclass it and declare fields with ``@attrs.define``::

        @attrs.define
        class InsufficientFunds(zart.BusinessError):
            needed: int

    A business error is not retried. It is stored with its fields and the
    workflow receives the same type with the same fields, live and on replay.
    Stored errors are turned back into classes through the registry that
    ``__init_subclass__`` fills, never by importing a name read from storage.
    """

    _registry: ClassVar[dict[str, type[BusinessError]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        BusinessError._registry[business_error_name(cls)] = cls

    def __str__(self) -> str:
        cls: Any = type(self)
        if attrs.has(cls):
            fields = ", ".join(f"{a.name}={getattr(self, a.name)!r}" for a in attrs.fields(cls))
            return f"{type(self).__name__}({fields})"
        return super().__str__()


def business_error_name(cls: type[BaseException]) -> str:
    """The stable name under which a BusinessError subclass is stored."""
    return f"{cls.__module__}.{cls.__qualname__}"


def lookup_business_error(name: str) -> type[BusinessError] | None:
    return BusinessError._registry.get(name)


class UnknownBusinessError(BusinessError):
    """A stored business error whose class is not defined in this process."""

    def __init__(self, error_type: str, fields: dict[str, Any]) -> None:
        super().__init__(f"{error_type}({fields!r})")
        self.error_type = error_type
        self.fields = fields


class StepFailed(ZartError):
    """A step failed for good: its retry policy is spent or it timed out."""

    def __init__(
        self,
        step: str,
        error_type: str,
        message: str,
        attempts: int,
        detail: str = "",
        *,
        step_traceback: str | None = None,
    ) -> None:
        super().__init__(
            detail or f"step {step!r} failed after {attempts} attempt(s): {error_type}: {message}"
        )
        self.step = step
        self.error_type = error_type
        self.message = message
        self.attempts = attempts
        # Where the last attempt raised, as stored: kept when this error
        # fails the execution in turn.
        self.step_traceback = step_traceback


class RetryExhausted(StepFailed):
    """A step raised on every attempt its retry policy allowed."""


class StepTimeout(StepFailed):
    """A step ran longer than its timeout."""


class EventTimeout(ZartError):
    """An awaited event did not arrive before its deadline."""

    def __init__(self, event: str, deadline: Any) -> None:
        super().__init__(f"event {event!r} did not arrive before {deadline}")
        self.event = event
        self.deadline = deadline


class TaskTimeout(ZartError):
    """An execution ran past its task timeout."""

    def __init__(self, execution_id: str, deadline: Any) -> None:
        super().__init__(f"execution {execution_id!r} passed its deadline {deadline}")
        self.execution_id = execution_id
        self.deadline = deadline


class ExecutionFailed(ZartError):
    """The execution ended in failure; ``error`` is the stored error document."""

    def __init__(self, execution_id: str, error: dict[str, Any] | None) -> None:
        error = error or {}
        self.execution_id = execution_id
        self.error = error
        self.error_type: str = str(error.get("type", "unknown"))
        self.message: str = str(error.get("message", ""))
        super().__init__(f"execution {execution_id!r} failed: {self.error_type}: {self.message}")


class ExecutionNotFound(ZartError, LookupError):
    """No execution has this id."""

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"no execution with id {execution_id!r}")
        self.execution_id = execution_id


class ExecutionAlreadyExists(ZartError):
    """An execution with this id exists already; ids are idempotency keys."""

    def __init__(self, execution_id: str, status: str | None = None) -> None:
        tail = f" (status {status})" if status else ""
        super().__init__(f"execution {execution_id!r} already exists{tail}")
        self.execution_id = execution_id
        self.status = status


class ScheduleNotFound(ZartError, LookupError):
    """No recurring schedule has this id."""

    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"no schedule with id {schedule_id!r}")
        self.schedule_id = schedule_id


class ScheduleAlreadyExists(ZartError):
    """A recurring schedule with this id exists already."""

    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"schedule {schedule_id!r} already exists (delete it first to change it)")
        self.schedule_id = schedule_id


class NonDeterminismError(ZartError):
    """The code yielded something other than what the log recorded."""

    def __init__(self, name: str, recorded: str, yielded: str) -> None:
        super().__init__(
            f"non-determinism at {name!r}: the log recorded {recorded}, "
            f"but the code yielded {yielded}"
        )
        self.name = name
        self.recorded = recorded
        self.yielded = yielded


class DuplicateNameError(ZartError):
    """A name was used twice where names must be unique."""

    def __init__(self, name: str, where: str = "this execution") -> None:
        super().__init__(f"name {name!r} is used twice in {where}; names must be unique")
        self.name = name


class SerializationError(ZartError, TypeError):
    """A value could not be stored as JSON or read back into its declared type.

    ``what`` names the value (``payload of event 'approved'``), ``reason``
    says what was wrong and where inside it."""

    def __init__(self, what: str, type_: Any, reason: str, *, reading: bool = False) -> None:
        tname = getattr(type_, "__qualname__", None) or repr(type_)
        if reading:  # a document of the wrong kind: the reason says what was expected
            # A reason inside the value starts with its path: "input of
            # task 'x' at $.flag: expected bool, got str".
            joint = " " if reason.startswith("at $") else ": "
            super().__init__(f"{what}{joint}{reason}")
        else:
            super().__init__(f"{what}: cannot convert {tname}: {reason}")
        self.what = what
        self.type = type_
        self.reason = reason


class PayloadTooLarge(SerializationError):
    """A value's JSON text is longer than the store's payload limit."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        ZartError.__init__(
            self,
            f"{what} is {size:,} bytes of JSON, over the payload limit of {limit:,} bytes "
            "(max_payload of the store)",
        )
        self.what = what
        self.type = None
        self.reason = "too large"
        self.size = size
        self.limit = limit


class UnknownTaskError(ZartError, LookupError):
    """No handler is registered under this task name."""

    def __init__(self, task_name: str, known: list[str] | None = None) -> None:
        hint = f"; registered: {', '.join(sorted(known))}" if known else ""
        super().__init__(f"unknown task {task_name!r}{hint}")
        self.task_name = task_name


class InvalidCommand(ZartError, TypeError):
    """A workflow yielded something that is not a zart command, or misused one."""


class ResultTimeout(ZartError, TimeoutError):
    """``Client.result`` gave up waiting before the execution finished."""

    def __init__(self, execution_id: str, timeout: float, status: str) -> None:
        super().__init__(
            f"execution {execution_id!r} did not finish within {timeout}s (status {status})"
        )
        self.execution_id = execution_id
        self.status = status


class Cancelled(ZartError):
    """The execution was cancelled."""

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"execution {execution_id!r} was cancelled")
        self.execution_id = execution_id


class LeaseLost(ZartError):
    """This worker no longer owns the execution; its writes were refused.

    Another worker reclaimed it after the lease expired, or it was cancelled.
    The worker must drop the execution without touching it again.
    """

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"lease on execution {execution_id!r} was lost; write refused")
        self.execution_id = execution_id


class StoreError(ZartError):
    """The store could not be reached or used (bad URL, unreachable server)."""


class WriteRejected(StoreError):
    """The database refused what a write held: a value it cannot store, or a
    size past its limits (PostgreSQL's index row limit on a very long name,
    SQLite's length limit). Sending the same write again fails the same way,
    so a worker fails the execution with this error instead of letting its
    lease expire into a retry loop. Nothing of the refused write is stored."""


class SchemaOutdated(StoreError):
    """The database schema is older than this code: run ``zart migrate``."""

    def __init__(self, found: int, expected: int) -> None:
        super().__init__(
            f"database schema is at version {found}, this code needs {expected}: "
            "run `zart migrate` (or store.migrate())"
        )
        self.found = found
        self.expected = expected


class SchemaNewer(StoreError):
    """The database schema is newer than this code: upgrade zart."""

    def __init__(self, where: str, found: int, expected: int) -> None:
        super().__init__(
            f"{where}: database schema is at version {found}, newer than this code "
            f"knows ({expected}): upgrade zart"
        )
        self.found = found
        self.expected = expected


class RetryRefused(ZartError):
    """Only a failed, cancelled or stalled execution can be retried."""

    def __init__(self, execution_id: str, status: str) -> None:
        super().__init__(
            f"cannot retry execution {execution_id!r}: it is {status}; only failed, "
            "cancelled and stalled executions run again"
        )
        self.execution_id = execution_id
        self.status = status


class ForkRefused(ZartError):
    """A fork that cannot be made; nothing was written. ``reason`` says why."""

    def __init__(self, execution_id: str, reason: str) -> None:
        super().__init__(f"cannot fork execution {execution_id!r}: {reason}")
        self.execution_id = execution_id
        self.reason = reason


class MessageRejected(ZartError):
    """A message was sent to an execution that has finished."""

    def __init__(self, execution_id: str, topic: str, status: str) -> None:
        super().__init__(f"cannot send on {topic!r}: execution {execution_id!r} is {status}")
        self.execution_id = execution_id
        self.topic = topic
        self.status = status


class EventRejected(ZartError):
    """An event was offered to an execution that can no longer receive it."""

    def __init__(self, execution_id: str, event: str, status: str) -> None:
        super().__init__(f"cannot deliver event {event!r}: execution {execution_id!r} is {status}")
        self.execution_id = execution_id
        self.event = event
        self.status = status
