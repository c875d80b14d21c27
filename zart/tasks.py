"""The class layer: ``TaskHandler``, ``TaskContext``, ``TaskRegistry``, and the
``@zart.durable`` decorator built on them."""

from __future__ import annotations

import inspect
import typing
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

import attrs

from . import authoring
from .commands import (
    Capture,
    Handle,
    Schedule,
    Sleep,
    Step,
    WaitAll,
    WaitEvent,
    WorkflowCall,
)
from .errors import DuplicateNameError, UnknownTaskError
from .names import check_name, child_id
from .records import FAILURE_HANDLER, NewExecution
from .retry import RetryPolicy, to_timedelta
from .serde import DEFAULT_MAX_PAYLOAD, check_type, to_json

R = TypeVar("R")
# What a workflow function returns, for annotating it: ``-> zart.Workflow[Out]``
# (a generator that yields commands, is sent their results, returns ``Out``).
Workflow = Generator[Any, Any, R]
DEFAULT_KEEP_RUNS = 1


@attrs.frozen(kw_only=True)
class Failure:
    """What a failure handler receives: the execution that failed for good."""

    execution_id: str
    task_name: str
    input: Any  # its input, as JSON
    error: dict[str, Any]  # its stored error (type, message, traceback)
    cancelled: bool = False  # True when it was cancelled (``on_cancel=True``)


@attrs.frozen(kw_only=True)
class OnFailure:
    """A failure handler and when it runs: ``zart.on_failure(handler, on_cancel=True)``
    runs it for a cancelled execution too."""

    handler: TaskHandler
    on_cancel: bool = False


def failure_handler_execution(
    spec: OnFailure, failure: Failure, root_id: str | None, name: str
) -> NewExecution:
    """The execution that runs ``spec``'s handler for ``failure``: a child of
    the failed execution (its id derives from the failed one's and ``name``,
    so it is created once)."""
    handler = spec.handler
    document = to_json(failure, f"input of failure handler {handler.task_name!r}", limit=None)
    return NewExecution(
        id=child_id(failure.execution_id, name),
        task_name=str(handler.task_name),
        input=document,
        kind=FAILURE_HANDLER,
        parent_id=failure.execution_id,
        parent_step=name,
        root_id=root_id,
    )


def on_failure(handler: TaskHandler, *, on_cancel: bool = False) -> OnFailure:
    """Name a workflow to run once when an execution fails for good (retries
    spent, a business error not caught, a task timeout) and, with
    ``on_cancel``, when it is cancelled. It gets a ``zart.Failure``."""
    if not isinstance(handler, TaskHandler):
        raise TypeError(f"on_failure takes a workflow (a @zart.durable handler), got {handler!r}")
    return OnFailure(handler=handler, on_cancel=on_cancel)


class TaskHandler:
    """A workflow as a class: override ``run`` (a generator), and optionally
    ``max_retries`` and ``timeout``. The input type is the annotation of
    ``run``'s data parameter, or a ``Data`` class attribute; ``Output`` names
    the type results are read back into."""

    Data: ClassVar[Any] = None
    Output: ClassVar[Any] = None
    task_name: str | None = None

    def run(self, ctx: TaskContext, data: Any) -> Workflow[Any]:
        raise NotImplementedError(f"{type(self).__qualname__} must define run(self, ctx, data)")

    def max_retries(self) -> int:
        return 0

    def timeout(self) -> timedelta | None:
        return None

    def on_failure(self) -> OnFailure | None:
        """The workflow to run once when this one fails for good (or None)."""
        return None

    def keep_runs(self) -> int:
        """How many earlier runs' logs ``continue_as_new`` keeps for ``history``."""
        return DEFAULT_KEEP_RUNS

    # -- metadata the engine reads --------------------------------------
    def start(self, ctx: TaskContext, data: Any) -> Workflow[Any]:
        """Begin one pass of the workflow (the interpreter calls this)."""
        return self.run(ctx, data)

    def input_type(self) -> Any:
        if self.Data is not None:
            return self.Data
        # run(self, ctx, data): the data parameter is the third.
        return _param_type(type(self).run, index=3)

    def output_type(self) -> Any:
        return Any if self.Output is None else self.Output

    def __call__(self, data: Any = None) -> WorkflowCall:
        """A child-workflow command for ``zart.schedule`` (named after the task)."""
        if not self.task_name:
            raise UnknownTaskError(
                f"<unnamed {type(self).__qualname__}>",
                None,
            )
        return WorkflowCall(name=self.task_name, task_name=self.task_name, handler=self, input=data)

    def __repr__(self) -> str:
        return f"<zart task {self.task_name or '?'}: {type(self).__qualname__}>"


# Resolved parameter types by function: resolving string annotations
# compiles each one, which cost every workflow start about 40 us.
_PARAM_TYPES: weakref.WeakKeyDictionary[Callable[..., Any], dict[int, Any]] = (
    weakref.WeakKeyDictionary()
)


def _param_type(fn: Callable[..., Any], index: int) -> Any:
    """The annotation of ``fn``'s parameter number ``index`` (1-based), or Any."""
    known = _PARAM_TYPES.get(fn)
    if known is not None and index in known:
        return known[index]
    params = list(inspect.signature(fn).parameters.values())
    if len(params) < index:
        return Any
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        return Any  # not kept: a name defined later may resolve next time
    found = hints.get(params[index - 1].name, Any)
    _PARAM_TYPES.setdefault(fn, {})[index] = found
    return found


class FunctionTask(TaskHandler):
    """What ``@zart.durable`` makes of a generator function."""

    def __init__(
        self,
        fn: Callable[..., Workflow[Any]],
        name: str,
        max_retries: int,
        timeout: timedelta | None,
        output: Any,
        on_failure: OnFailure | None = None,
        keep_runs: int = DEFAULT_KEEP_RUNS,
    ) -> None:
        self.__wrapped__ = fn
        self.__name__ = getattr(fn, "__name__", name)
        self.__doc__ = fn.__doc__
        self.task_name = name
        self._max_retries = max_retries
        self._timeout = timeout
        self._output = output
        self._on_failure = on_failure
        self._keep_runs = keep_runs
        self._takes_input = len(inspect.signature(fn).parameters) > 0

    def run(self, ctx: TaskContext, data: Any) -> Workflow[Any]:
        return self.__wrapped__(data) if self._takes_input else self.__wrapped__()

    def max_retries(self) -> int:
        return self._max_retries

    def timeout(self) -> timedelta | None:
        return self._timeout

    def input_type(self) -> Any:
        return _param_type(self.__wrapped__, index=1) if self._takes_input else Any

    def output_type(self) -> Any:
        return Any if self._output is None else self._output

    def on_failure(self) -> OnFailure | None:
        return self._on_failure

    def keep_runs(self) -> int:
        return self._keep_runs


def durable(
    name: str,
    *,
    max_retries: int = 0,
    timeout: timedelta | int | float | None = None,
    output: Any = None,
    on_failure: TaskHandler | OnFailure | None = None,
    keep_runs: int = DEFAULT_KEEP_RUNS,
) -> Callable[[Callable[..., Workflow[Any]]], FunctionTask]:
    """Decorate a generator function taking one input argument as a workflow.

    A plain (non-generator) function is refused with ``TypeError`` here: a
    workflow that cannot yield cannot be replayed, and silently running it as
    one big step would hide that its side effects are not recorded.
    """
    check_name("workflow name", name)
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be a non-negative integer, got {max_retries!r}")
    limit = None if timeout is None else to_timedelta(timeout, "workflow timeout")
    check_type("output", output)
    handler = on_failure if isinstance(on_failure, OnFailure | None) else _on_failure(on_failure)
    if isinstance(keep_runs, bool) or not isinstance(keep_runs, int) or keep_runs < 0:
        raise ValueError(f"keep_runs must be a non-negative integer, got {keep_runs!r}")

    def decorate(fn: Callable[..., Workflow[Any]]) -> FunctionTask:
        if inspect.isasyncgenfunction(fn) or inspect.iscoroutinefunction(fn):
            raise TypeError(
                f"@zart.durable({name!r}): {fn.__qualname__} is async; a workflow is a "
                "plain generator (def + yield). Make its steps async instead."
            )
        if not inspect.isgeneratorfunction(fn):
            raise TypeError(
                f"@zart.durable({name!r}): {getattr(fn, '__qualname__', fn)!r} is not a "
                "generator function; a workflow must `yield` its steps"
            )
        if len(inspect.signature(fn).parameters) > 1:
            raise TypeError(
                f"@zart.durable({name!r}): {fn.__qualname__} must take one input argument"
            )
        return FunctionTask(fn, name, max_retries, limit, output, handler, keep_runs)

    return decorate


def _on_failure(handler: Any) -> OnFailure:
    return on_failure(handler)


class TaskContext:
    """Handed to ``TaskHandler.run``: builds commands and holds the state blob."""

    def __init__(
        self,
        *,
        execution_id: str,
        task_name: str,
        input: Any,
        attempt: int,
        max_retries: int,
        max_payload: int | None = DEFAULT_MAX_PAYLOAD,
    ) -> None:
        self._execution_id = execution_id
        self._max_payload = max_payload  # the store's limit, as on every other value
        self.task_name = task_name
        self.input = input
        self.attempt = attempt
        self.max_retries = max_retries
        self._auto: dict[str, int] = {}
        self._state: Any = None
        self._state_changed = False

    @property
    def execution_id(self) -> str:
        return self._execution_id

    @property
    def data(self) -> Any:
        """The state blob as this pass of the workflow last set it (None at first)."""
        return self._state

    def set_data(self, value: Any) -> None:
        """Replace the execution's mutable JSON state; stored with the next write."""
        what = f"state of execution {self._execution_id!r}"
        self._state = to_json(value, what, limit=self._max_payload)
        self._state_changed = True

    def take_state(self) -> tuple[bool, Any]:
        """Whether the state was set since the last call, and its value."""
        changed, self._state_changed = self._state_changed, False
        return changed, self._state

    def _auto_name(self, kind: str) -> str:
        n = self._auto.get(kind, 0) + 1
        self._auto[kind] = n
        return f"{kind}-{n}"

    def step(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Step:
        return authoring.call(name, fn, *args, **kwargs)

    def step_with_retry(
        self,
        name: str,
        retry: RetryPolicy | str,
        fn: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> Step:
        return authoring.call(name, fn, *args, retry=retry, **kwargs)

    def sleep(self, duration: timedelta | int | float, name: str | None = None) -> Sleep:
        return authoring.sleep(name or self._auto_name("sleep"), duration)

    def sleep_until(self, when: datetime, name: str | None = None) -> Sleep:
        return authoring.sleep_until(name or self._auto_name("sleep"), when)

    def wait_for_event(
        self, name: str, *, timeout: timedelta | int | float | None = None, type: Any = Any
    ) -> WaitEvent:
        return authoring.wait_event(name, timeout=timeout, type=type)

    def schedule(self, target: Step | WorkflowCall) -> Schedule:
        return authoring.schedule(target)

    def schedule_step(
        self,
        name: str,
        fn: Callable[..., Any],
        *args: Any,
        retry: RetryPolicy | str | None = None,
        **kwargs: Any,
    ) -> Schedule:
        return authoring.schedule(authoring.call(name, fn, *args, retry=retry, **kwargs))

    def wait_all(self, handles: Iterable[Handle], *, return_exceptions: bool = False) -> WaitAll:
        return authoring.wait_all(handles, return_exceptions=return_exceptions)

    def capture(self, name: str, fn: Callable[[], Any]) -> Capture:
        return authoring.capture(name, fn)

    def now(self, name: str | None = None) -> Capture:
        return authoring.now(name or self._auto_name("now"))


class TaskRegistry:
    """Workflows by name. Explicit, so two versions of one workflow can live
    in one process; refuses a second handler under a name."""

    def __init__(self, handlers: Iterable[TaskHandler] = ()) -> None:
        self._handlers: dict[str, TaskHandler] = {}
        for handler in handlers:
            self.register(handler)

    def register(
        self, name_or_handler: str | TaskHandler, handler: TaskHandler | None = None
    ) -> TaskHandler:
        if isinstance(name_or_handler, TaskHandler):
            handler, name = name_or_handler, name_or_handler.task_name
            if not name:
                raise ValueError(f"{handler!r} has no name: use registry.register('name', handler)")
        elif handler is not None or isinstance(name_or_handler, str):
            name = name_or_handler  # checked below
            if handler is None or not isinstance(handler, TaskHandler):
                raise TypeError(f"register({name!r}, ...) needs a TaskHandler, got {handler!r}")
        else:
            raise TypeError(
                "register() takes a TaskHandler (a @zart.durable workflow) or a name and "
                f"a TaskHandler, got {type(name_or_handler).__name__} {name_or_handler!r:.80}"
            )
        check_name("task name", name)
        _check_generator(name, handler)
        existing = self._handlers.get(name)
        if existing is handler:
            return handler
        if existing is not None:
            raise DuplicateNameError(name, "this TaskRegistry (a task is registered once)")
        if not handler.task_name:
            handler.task_name = name
        self._handlers[name] = handler
        return handler

    def get(self, name: str) -> TaskHandler:
        try:
            return self._handlers[name]
        except KeyError:
            raise UnknownTaskError(name, list(self._handlers)) from None

    def resolve(self, task: str | TaskHandler) -> tuple[str, TaskHandler]:
        """A name and its handler; a handler not yet known is registered."""
        if isinstance(task, TaskHandler):
            name = task.task_name
            if not name or self._handlers.get(name) is not task:
                self.register(task)
            return str(task.task_name), task
        if not isinstance(task, str):
            raise TypeError(
                "task must be a string (a task name) or a TaskHandler, "
                f"got {type(task).__name__} {task!r:.80}"
            )
        check_name("task name", task)
        return task, self.get(task)

    def names(self) -> list[str]:
        return list(self._handlers)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers

    def __iter__(self) -> Iterator[TaskHandler]:
        return iter(self._handlers.values())

    def __len__(self) -> int:
        return len(self._handlers)


def _check_generator(name: str, handler: TaskHandler) -> None:
    run = getattr(type(handler), "run", None)
    if isinstance(handler, FunctionTask):
        return
    if run is None or run is TaskHandler.run or not inspect.isgeneratorfunction(run):
        raise TypeError(
            f"task {name!r}: {type(handler).__qualname__}.run must be a generator "
            "function (def run(self, ctx, data): ... yield ...)"
        )


def check_registry(where: str, registry: object) -> TaskRegistry:
    """``registry`` if it is a ``TaskRegistry``; ``TypeError`` naming ``where``."""
    if not isinstance(registry, TaskRegistry):
        raise TypeError(
            f"{where} takes a zart.TaskRegistry, got {type(registry).__name__} {registry!r:.80}"
        )
    return registry


class StepChild(TaskHandler):
    """The one-step workflow that a scheduled step's child execution runs."""

    def __init__(self, step: Step, task_name: str) -> None:
        self.step = step
        self.task_name = task_name

    def run(self, ctx: TaskContext, data: Any) -> Generator[Any, Any, Any]:
        return (yield self.step)

    def input_type(self) -> Any:
        return Any

    def output_type(self) -> Any:
        return self.step.result_type
