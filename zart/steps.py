"""Running one step: sync or async function, in a sync or an async host.

Both hosts set what ``zart.context()`` tells the step around the call, turn the
result or exception into a ``StepOutcome``, and honour a step timeout.

A thread cannot be killed: a sync step past its timeout is abandoned, its
result ignored and the attempt counted as timed out. So a sync step with a
timeout runs on a thread of its own, never on a pool's, where a hung step
would hold a slot the host's next step (or its store calls) waits for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .context import current
from .decisions import RunStep, StepOutcome

Overrides = Mapping[str, Callable[..., Any]]

_local = threading.local()
# What a step may raise besides an Exception, recorded as its failure: a step
# is no place to end the process (SystemExit) or to be cancelled from within
# (an inner task's CancelledError). KeyboardInterrupt is left to end things.
_ALSO_FAILURES = (SystemExit, asyncio.CancelledError)


def step_function(decision: RunStep, overrides: Overrides | None) -> Callable[..., Any]:
    step = decision.step
    if overrides:
        fn = overrides.get(step.name) or overrides.get(step.step_id)
        if fn is not None:
            return fn
    return step.fn


def _runner() -> asyncio.Runner:
    # One event loop per host thread: async steps in a sync host reuse it
    # instead of paying for a new loop per step.
    runner: asyncio.Runner | None = getattr(_local, "runner", None)
    if runner is None:
        runner = asyncio.Runner()
        _local.runner = runner
    return runner


def _limit(decision: RunStep) -> float | None:
    timeout = decision.step.timeout
    # Past TIMEOUT_MAX (about 292 years) a wait itself would raise.
    return None if timeout is None else min(timeout.total_seconds(), threading.TIMEOUT_MAX)


def run_step_sync(decision: RunStep, overrides: Overrides | None = None) -> StepOutcome:
    """Run the step in this thread (a sync step with a timeout: on its own)."""
    step = decision.step
    fn = step_function(decision, overrides)
    token = current.set(decision.info)
    try:
        limit = _limit(decision)
        if limit is not None and not inspect.iscoroutinefunction(fn):
            return _on_own_thread(fn, step.args, dict(step.kwargs), limit)
        value = fn(*step.args, **step.kwargs)
        if inspect.isawaitable(value):
            # A fresh context copy per step: the runner would otherwise keep
            # the context of the first step it ever ran.
            value = _runner().run(_await(value, limit), context=contextvars.copy_context())
        return StepOutcome(value=value)
    except TimeoutError:
        return StepOutcome(timed_out=True)
    except (Exception, *_ALSO_FAILURES) as exc:
        return StepOutcome(error=exc)
    finally:
        current.reset(token)


async def _await(awaitable: Any, limit: float | None) -> Any:
    return await asyncio.wait_for(awaitable, limit)


def _on_own_thread(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], limit: float
) -> StepOutcome:
    future = _start_own_thread(fn, args, kwargs)
    try:
        return StepOutcome(value=future.result(timeout=limit))
    except concurrent.futures.TimeoutError:
        return StepOutcome(timed_out=True)
    except (Exception, *_ALSO_FAILURES) as exc:
        return StepOutcome(error=exc)


def _start_own_thread(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> concurrent.futures.Future[Any]:
    """``fn`` on a daemon thread of its own (in the caller's context); its future."""
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    ctx = contextvars.copy_context()

    def call() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(ctx.run(fn, *args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=call, name="zart-step", daemon=True).start()
    return future


async def run_step_async(
    decision: RunStep,
    overrides: Overrides | None = None,
    executor: concurrent.futures.Executor | None = None,
) -> StepOutcome:
    """Run the step on the event loop (async) or off it (sync): a sync step
    without a timeout on ``executor``, one with a timeout on its own thread."""
    fn = step_function(decision, overrides)
    step = decision.step
    limit = _limit(decision)
    token = current.set(decision.info)
    try:
        pending: Any
        if inspect.iscoroutinefunction(fn):
            pending = fn(*step.args, **step.kwargs)
        elif limit is not None:
            pending = asyncio.wrap_future(_start_own_thread(fn, step.args, dict(step.kwargs)))
        else:
            loop = asyncio.get_running_loop()
            ctx = contextvars.copy_context()
            pending = loop.run_in_executor(executor, lambda: ctx.run(fn, *step.args, **step.kwargs))
        value = await asyncio.wait_for(pending, limit)
        if inspect.isawaitable(value):
            value = await asyncio.wait_for(value, limit)
        return StepOutcome(value=value)
    except TimeoutError:
        return StepOutcome(timed_out=True)
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # the worker itself is being cancelled
        return StepOutcome(error=exc)
    except (Exception, SystemExit) as exc:
        return StepOutcome(error=exc)
    finally:
        current.reset(token)
