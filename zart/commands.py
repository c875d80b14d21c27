"""Commands: the values a workflow yields. Frozen, validated, no behaviour.

Building a command never runs anything; only yielding it hands it to the
interpreter. Each durable command has a name, unique within its execution,
under which its outcome is logged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

import attrs

from .names import MAX_LENGTH, check_name, is_plain_name
from .retry import RetryPolicy, to_timedelta


class WorkflowHandler(Protocol):
    """What a child workflow's command needs of its handler (a ``TaskHandler``)."""

    task_name: str | None

    def input_type(self) -> Any: ...

    def output_type(self) -> Any: ...


class Command:
    """Base of every command: what a workflow may yield."""

    __slots__ = ()


def _name(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not is_plain_name(value):  # only the unusual name needs the full check
        check_name(attribute.name, value)


def _aware(when: datetime | None, what: str) -> None:
    if when is not None and not isinstance(when, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(when).__name__}")
    if when is not None and (when.tzinfo is None or when.utcoffset() is None):
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {when!r}")


# One named converter per field, so that a bad value is reported under the
# argument's name ("timeout must be finite").
def _duration(value: timedelta | int | float | None) -> timedelta | None:
    return None if value is None else to_timedelta(value, "duration")


def _timeout(value: timedelta | int | float | None) -> timedelta | None:
    return None if value is None else to_timedelta(value, "timeout")


def _own_name(step: Step) -> str:
    return step.name


@attrs.frozen(kw_only=True, eq=False, slots=False)  # built on every step: see zart.records
class Step(Command):
    """Run ``fn(*args, **kwargs)`` once (at least once, recorded exactly once)."""

    name: str = attrs.field(validator=_name)
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)
    retry: RetryPolicy = attrs.field(factory=RetryPolicy.none)
    timeout: timedelta | None = attrs.field(default=None, converter=_timeout)
    # Identity checked on replay: the template the name came from, else the
    # first name the step had (kept by ``named``).
    step_id: str = attrs.field(default=attrs.Factory(_own_name, takes_self=True))
    result_type: Any = Any

    def named(self, name: str) -> Step:
        return attrs.evolve(self, name=name)


@attrs.frozen(kw_only=True)
class Sleep(Command):
    """Wait for ``duration`` or until ``until``; the wake time is fixed when reached."""

    name: str = attrs.field(validator=_name)
    duration: timedelta | None = attrs.field(default=None, converter=_duration)
    until: datetime | None = None

    def __attrs_post_init__(self) -> None:
        if (self.duration is None) == (self.until is None):
            raise ValueError(f"sleep {self.name!r} needs exactly one of duration and until")
        _aware(self.until, f"sleep {self.name!r} until")

    def named(self, name: str) -> Sleep:
        return attrs.evolve(self, name=name)


@attrs.frozen(kw_only=True)
class WaitEvent(Command):
    """Wait for the event offered under ``name``, at most ``timeout``."""

    name: str = attrs.field(validator=_name)
    timeout: timedelta | None = attrs.field(default=None, converter=_timeout)
    type: Any = Any

    def named(self, name: str) -> WaitEvent:
        return attrs.evolve(self, name=name)


@attrs.frozen(kw_only=True)
class Receive(Command):
    """Take the oldest message not yet consumed on ``topic`` (``zart.receive``)."""

    name: str = attrs.field(validator=_name)
    topic: str = attrs.field(validator=_name)
    timeout: timedelta | None = attrs.field(default=None, converter=_timeout)
    type: Any = Any

    def named(self, name: str) -> Receive:
        return attrs.evolve(self, name=name)


@attrs.frozen(kw_only=True, eq=False)
class WorkflowCall(Command):
    """A child workflow: what calling a ``TaskHandler`` with input returns."""

    name: str = attrs.field(validator=_name)
    task_name: str = attrs.field(validator=_name)
    handler: WorkflowHandler
    input: Any = None

    def named(self, name: str) -> WorkflowCall:
        return attrs.evolve(self, name=name)


@attrs.frozen(kw_only=True, eq=False)
class Schedule(Command):
    """Start a step or a workflow as a child execution; yields a ``Handle``."""

    target: Step | WorkflowCall = attrs.field(
        validator=attrs.validators.instance_of((Step, WorkflowCall))
    )

    @property
    def name(self) -> str:
        return self.target.name


@attrs.frozen(kw_only=True)
class Handle:
    """A scheduled child: pass handles to ``wait_all``."""

    name: str = attrs.field(validator=_name)
    execution_id: str = attrs.field(validator=_name)


def _handles(_: object, __: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    for item in value:
        if not isinstance(item, Handle):
            raise TypeError(f"wait_all takes handles from zart.schedule, got {item!r}")


def _to_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class WaitAll(Command):
    """Wait for every child; results come back in handle order."""

    handles: tuple[Handle, ...] = attrs.field(converter=_to_tuple, validator=_handles)
    return_exceptions: bool = False


@attrs.frozen(kw_only=True, eq=False)
class Capture(Command):
    """Record ``fn()`` once (``fn=None``: the current time) and replay it after."""

    name: str = attrs.field(validator=_name)
    fn: Callable[[], Any] | None = None
    type: Any = Any

    def named(self, name: str) -> Capture:
        return attrs.evolve(self, name=name)


# A patch is logged as a marker named PATCH_PREFIX + its id.
PATCH_PREFIX = "@patch:"


def _patch_id(_: object, __: attrs.Attribute[str], value: str) -> None:
    # The marker's name, prefix and all, is a log name: within MAX_LENGTH.
    check_name("patch_id", value)
    room = MAX_LENGTH - len(PATCH_PREFIX)
    if len(value) > room:
        raise ValueError(
            f"patch_id is {len(value)} characters long; a patch id holds at most {room} "
            f"(its marker in the log is named {PATCH_PREFIX!r} + the id) ({value[:40]!r}...)"
        )


@attrs.frozen(kw_only=True)
class Patched(Command):
    """Whether this execution runs the code of patch ``name`` (``zart.patched``)."""

    name: str = attrs.field(validator=_patch_id)
    deprecated: bool = False  # zart.deprecate_patch: accepted, never required


@attrs.frozen(kw_only=True)
class ContinueAsNew(Command):
    """End this run; the execution starts afresh with ``input`` (``zart.continue_as_new``)."""

    input: Any = None
