"""Commands: the values a workflow yields. Frozen, validated, no behaviour.

Building a command never runs anything; only yielding it hands it to the
interpreter. Each durable command has a name, unique within its execution,
under which its outcome is logged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from .retry import RetryPolicy, to_timedelta
from .serde import unstorable_char, unstorable_reason

if TYPE_CHECKING:
    from .tasks import TaskHandler


def check_storable(what: str, value: str) -> None:
    """Refuse a name or id holding a NUL character or a surrogate code point,
    with ``ValueError``: PostgreSQL cannot store either, and every store must
    accept the same names."""
    if value.isascii() and "\x00" not in value:
        return  # the common case, in O(1) plus a memchr
    char = unstorable_char(value)
    if char is not None:
        shown = "\\x00"  # as the repr of the value shows a NUL
        raise ValueError(f"{what} {value!r} holds {unstorable_reason(char, nul=shown)}")


def _check_name(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name} must be a non-empty string, got {value!r}")
    check_storable(attribute.name, value)


def _check_aware(when: datetime | None, what: str) -> None:
    if when is not None and not isinstance(when, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(when).__name__}")
    if when is not None and (when.tzinfo is None or when.utcoffset() is None):
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {when!r}")


def _opt_duration(value: timedelta | int | float | None) -> timedelta | None:
    return None if value is None else to_timedelta(value)


_NO_RETRY = RetryPolicy.none()


@attrs.frozen(kw_only=True, eq=False)
class Step:
    """Run ``fn(*args, **kwargs)`` once (at least once, recorded exactly once)."""

    name: str = attrs.field(validator=_check_name)
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)
    retry: RetryPolicy = _NO_RETRY
    timeout: timedelta | None = attrs.field(default=None, converter=_opt_duration)
    # Identity checked on replay: the template the name came from, else the
    # first name the step had (kept by ``named``). Always set, so the
    # interpreter reads it as a field.
    step_id: str = ""
    result_type: Any = Any

    def __attrs_post_init__(self) -> None:
        if not self.step_id:
            object.__setattr__(self, "step_id", self.name)

    def named(self, name: str) -> Step:
        return attrs.evolve(self, name=name)

    @property
    def identity(self) -> str:
        """``step_id`` under its older name; zart's own code reads the field."""
        return self.step_id


# Step.__init__ sets each field of the frozen class through object.__setattr__
# and runs its checks; a step function, whose retry and timeout were checked
# when it was decorated, builds its Step on every call. This sets the slots
# directly, at under half the cost, and checks what is new: the name.
_STEP_FIELDS = ("name", "fn", "args", "kwargs", "retry", "timeout", "step_id", "result_type")
assert tuple(a.name for a in attrs.fields(Step)) == _STEP_FIELDS, "update step_of_function"
_SET_STEP = tuple(getattr(Step, name).__set__ for name in _STEP_FIELDS)
_NAME_FIELD = attrs.fields(Step).name


def step_of_function(
    name: str,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    retry: RetryPolicy,
    timeout: timedelta | None,
    step_id: str,
    result_type: Any,
) -> Step:
    """``Step(...)`` for checked ``retry`` and ``timeout`` (a step function's)."""
    if not (type(name) is str and name.isascii() and "\x00" not in name and name.strip()):
        _check_name(None, _NAME_FIELD, name)  # the rare name that needs a closer look
    step: Step = object.__new__(Step)
    set_name, set_fn, set_args, set_kwargs, set_retry, set_timeout, set_id, set_type = _SET_STEP
    set_name(step, name)
    set_fn(step, fn)
    set_args(step, args)
    set_kwargs(step, kwargs)
    set_retry(step, retry)
    set_timeout(step, timeout)
    set_id(step, step_id)
    set_type(step, result_type)
    return step


@attrs.frozen(kw_only=True)
class Sleep:
    """Wait for ``duration`` or until ``until``; the wake time is fixed when reached."""

    name: str = attrs.field(validator=_check_name)
    duration: timedelta | None = attrs.field(default=None, converter=_opt_duration)
    until: datetime | None = None

    def __attrs_post_init__(self) -> None:
        if (self.duration is None) == (self.until is None):
            raise ValueError(f"sleep {self.name!r} needs exactly one of duration and until")
        _check_aware(self.until, f"sleep {self.name!r} until")

    def named(self, name: str) -> Sleep:
        return attrs.evolve(self, name=name)


@attrs.frozen(kw_only=True)
class WaitEvent:
    """Wait for the event offered under ``name``, at most ``timeout``."""

    name: str = attrs.field(validator=_check_name)
    timeout: timedelta | None = attrs.field(default=None, converter=_opt_duration)
    type: Any = Any

    def named(self, name: str) -> WaitEvent:
        return attrs.evolve(self, name=name)


@attrs.frozen(kw_only=True, eq=False)
class WorkflowCall:
    """A child workflow: what calling a ``TaskHandler`` with input returns."""

    name: str = attrs.field(validator=_check_name)
    task_name: str = attrs.field(validator=_check_name)
    handler: TaskHandler
    input: Any = None

    def named(self, name: str) -> WorkflowCall:
        return attrs.evolve(self, name=name)


@attrs.frozen(kw_only=True, eq=False)
class Schedule:
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

    name: str = attrs.field(validator=_check_name)
    execution_id: str = attrs.field(validator=_check_name)


def _check_handles(_: object, __: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    for item in value:
        if not isinstance(item, Handle):
            raise TypeError(f"wait_all takes handles from zart.schedule, got {item!r}")


def _to_handles(value: Any) -> tuple[Handle, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class WaitAll:
    """Wait for every child; results come back in handle order."""

    handles: tuple[Handle, ...] = attrs.field(converter=_to_handles, validator=_check_handles)
    return_exceptions: bool = False


@attrs.frozen(kw_only=True, eq=False)
class Capture:
    """Record ``fn()`` once (``fn=None``: the current time) and replay it after."""

    name: str = attrs.field(validator=_check_name)
    fn: Callable[[], Any] | None = None
    type: Any = Any

    def named(self, name: str) -> Capture:
        return attrs.evolve(self, name=name)


Command = Step | Sleep | WaitEvent | Schedule | WaitAll | Capture | WorkflowCall
COMMAND_TYPES = (Step, Sleep, WaitEvent, Schedule, WaitAll, Capture, WorkflowCall)
