"""The authoring layer: functions that build commands for workflows to yield."""

from __future__ import annotations

import functools
import inspect
import string
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Generic, ParamSpec, TypeVar

from .commands import (
    Capture,
    Command,
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
from .errors import InvalidCommand
from .names import check_name
from .retry import RetryPolicy, to_timedelta
from .serde import check_type, forgot_yield, return_type

P = ParamSpec("P")
R = TypeVar("R")

_formatter = string.Formatter()


def _template_fields(template: str) -> list[str]:
    """The argument names a ``{param}`` template refers to."""
    try:
        parsed = list(_formatter.parse(template))
    except ValueError as exc:
        raise ValueError(f"bad step name template {template!r}: {exc}") from None
    fields = []
    for _, field, _, _ in parsed:
        if field is None:
            continue
        root = field.split(".", 1)[0].split("[", 1)[0]
        if not root or root.isdigit():
            raise ValueError(
                f"step name template {template!r} must name parameters, like '{{index}}'"
            )
        fields.append(root)
    return fields


def _positional_template(template: str, names: list[str]) -> str | None:
    """``template`` with each field's root named by its index in ``names``
    ('{user.name:>8}' -> '{0.name:>8}'), or None when a format spec holds
    a field of its own (left to ``format_map``)."""
    out = []
    for literal, field, spec, conversion in _formatter.parse(template):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        if spec and "{" in spec:
            return None
        root = field.split(".", 1)[0].split("[", 1)[0]
        out.append(f"{{{names.index(root)}{field[len(root) :]}")
        out.append(f"!{conversion}" if conversion else "")
        out.append(f":{spec}}}" if spec else "}")
    return "".join(out)


class StepFunction(Generic[P, R]):
    """A function decorated with ``@zart.step``: calling it builds a ``Step``."""

    def __init__(
        self,
        fn: Callable[P, R],
        name: str,
        retry: RetryPolicy,
        timeout: timedelta | None,
    ) -> None:
        check_name("step name", name)
        self.__wrapped__ = fn
        functools.update_wrapper(self, fn)
        self.template = name
        self.retry = retry
        self.timeout = timeout
        self.is_async = inspect.iscoroutinefunction(fn)
        self._signature = inspect.signature(fn)
        self._fields = _template_fields(name)
        params = self._signature.parameters
        missing = [f for f in self._fields if f not in params]
        if missing:
            raise ValueError(
                f"step name template {name!r} names {', '.join(map(repr, missing))}, "
                f"which {'is' if len(missing) == 1 else 'are'} not a parameter of "
                f"{fn.__qualname__}{self._signature}"
            )
        simple = all(
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params.values()
        )
        # The template with each field's position in place of its name: the
        # common call, every argument by position, then names its step
        # without binding a signature or building a mapping.
        names = list(params)
        self._positional = _positional_template(name, names) if simple else None
        self._arity = len(names)
        self._result_type: Any = None

    @property
    def result_type(self) -> Any:
        # Resolved on first use: annotations may name types defined later.
        if self._result_type is None:
            self._result_type = return_type(self.__wrapped__)
        return self._result_type

    def _bound_name(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Bind the call to the signature (a call that does not bind is a
        TypeError here, not a step failure later) and fill the template."""
        try:
            ba = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            # InvalidCommand is a TypeError that fails the execution at once:
            # a call that does not fit its step would fail on every retry.
            raise InvalidCommand(f"step {self.template!r}: {exc}") from None
        if not self._fields:
            return self.template
        ba.apply_defaults()
        return self.template.format_map(ba.arguments)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Step:
        _check_no_command(self.template, args, kwargs)
        positional = self._positional
        if positional is not None and not kwargs and len(args) == self._arity:
            # Every argument by position: it binds; the template takes them in order.
            name = positional.format(*args) if self._fields else self.template
        else:
            name = self._bound_name(args, kwargs)
        return Step(
            name=name,
            fn=self.__wrapped__,
            args=args,
            kwargs=kwargs,
            retry=self.retry,
            timeout=self.timeout,
            step_id=self.template,
            result_type=self.result_type,
        )

    def __repr__(self) -> str:
        return f"<zart.step {self.template!r} of {self.__wrapped__.__qualname__}>"


def step(
    name: str,
    *,
    retry: str | RetryPolicy | None = None,
    timeout: timedelta | int | float | None = None,
) -> Callable[[Callable[P, R]], StepFunction[P, R]]:
    """Decorate a function (``def`` or ``async def``) as a step.

    Calling the result builds a ``Step`` command and runs nothing. ``name``
    may hold ``{param}`` placeholders filled from the call's arguments.
    ``retry`` is a ``RetryPolicy`` or its string form; a malformed one raises
    ``ValueError`` here. ``timeout`` bounds each attempt (extension).
    """
    policy = RetryPolicy.parse(retry)
    limit = None if timeout is None else to_timedelta(timeout, "step timeout")

    def decorate(fn: Callable[P, R]) -> StepFunction[P, R]:
        if not callable(fn):
            raise TypeError(f"@zart.step({name!r}) decorates a function, got {fn!r}")
        return StepFunction(fn, name, policy, limit)

    return decorate


def call(
    name: str,
    fn: Callable[..., Any],
    *args: Any,
    retry: str | RetryPolicy | None = None,
    **kwargs: Any,
) -> Step:
    """An ad-hoc step from any callable: ``yield zart.call("fetch", fetch, url)``."""
    if not callable(fn):
        raise TypeError(f"zart.call({name!r}, ...) needs a callable, got {fn!r}")
    _check_no_command(name, args, kwargs)
    return Step(
        name=name,
        fn=fn,
        args=args,
        kwargs=kwargs,
        retry=RetryPolicy.parse(retry),
        result_type=return_type(fn),
    )


def sleep(name: str, duration: timedelta | int | float) -> Sleep:
    """A durable timer: the workflow resumes after ``duration``, holding no worker."""
    return Sleep(name=name, duration=duration)


def sleep_until(name: str, when: datetime) -> Sleep:
    """A durable timer until a timezone-aware ``when``."""
    return Sleep(name=name, until=when)


def wait_event(
    name: str, *, timeout: timedelta | int | float | None = None, type: Any = Any
) -> WaitEvent:
    """Wait for the event offered under ``name``; ``EventTimeout`` after ``timeout``."""
    return WaitEvent(name=name, timeout=timeout, type=check_type("type", type))


def schedule(target: Step | WorkflowCall) -> Schedule:
    """Start a step or a child workflow on any worker; yields a ``Handle``."""
    if not isinstance(target, (Step, WorkflowCall)):
        raise TypeError(
            f"zart.schedule takes a step call or a workflow call, got {type(target).__name__}"
        )
    return Schedule(target=target)


def wait_all(handles: Iterable[Handle], *, return_exceptions: bool = False) -> WaitAll:
    """Wait for every handle's child; yields their results in handle order."""
    if isinstance(handles, str | bytes) or not isinstance(handles, Iterable):
        raise TypeError(
            f"wait_all takes a list of handles from zart.schedule, got {type(handles).__name__}"
        )
    return WaitAll(handles=tuple(handles), return_exceptions=return_exceptions)


def capture(name: str, fn: Callable[[], Any]) -> Capture:
    """Record ``fn()`` (a uuid, a random draw) once; replays return the recorded value."""
    if not callable(fn):
        raise TypeError(f"zart.capture({name!r}, ...) needs a callable, got {fn!r}")
    return Capture(name=name, fn=fn, type=return_type(fn))


def now(name: str) -> Capture:
    """The current time (UTC), recorded once under ``name``."""
    return Capture(name=name, fn=None, type=datetime)


def receive(
    name: str, topic: str, *, timeout: timedelta | int | float | None = None, type: Any = Any
) -> Receive:
    """Take the oldest message not yet consumed on ``topic``, waiting for one
    at most ``timeout`` (then ``EventTimeout``). ``name`` keys it in the log:
    a loop names each receive, ``f"item-{i}"``."""
    return Receive(name=name, topic=topic, timeout=timeout, type=check_type("type", type))


def patched(patch_id: str) -> Patched:
    """Yield it to ask whether this execution runs the patched code:
    ``if (yield zart.patched("fraud-check")): ...``. True in executions that
    reach this point under the new code, False in older ones whose log went
    past it without the marker."""
    return Patched(name=patch_id)


def deprecate_patch(patch_id: str) -> Patched:
    """The second stage of a patch, once no execution runs the old branch:
    yield it where the ``if`` stood; a marker in the log is accepted, none
    is required."""
    return Patched(name=patch_id, deprecated=True)


def continue_as_new(data: Any = None) -> ContinueAsNew:
    """Yield it to end this run: the same execution starts again with
    ``data`` as its input and an empty log (pollers, long loops)."""
    return ContinueAsNew(input=data)


def _check_no_command(step: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """A command passed as an argument is a result the workflow never
    yielded for: refuse it where the mistake is made."""
    for position, value in [*enumerate(args), *kwargs.items()]:
        if isinstance(value, Command):
            where = (
                f"argument {position}" if isinstance(position, int) else f"argument {position!r}"
            )
            raise InvalidCommand(f"step {step!r}: {where}: {forgot_yield(value)}")
