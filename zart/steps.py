"""Running one step: sync or async function, in a sync or an async host.

Both hosts set what ``zart.context()`` tells the step around the call, turn the
result or exception into a ``StepOutcome``, and honour a step timeout.
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
# Results that cannot be awaitable; checking these first spares the ABC check.
_PLAIN = frozenset({int, str, float, bool, type(None), dict, list, tuple, bytes})


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


def run_step_sync(decision: RunStep, overrides: Overrides | None = None) -> StepOutcome:
    step = decision.step
    fn = step_function(decision, overrides) if overrides else step.fn
    token = current.set(decision.scope)
    try:
        if step.timeout is not None and not inspect.iscoroutinefunction(fn):
            seconds = step.timeout.total_seconds()
            return _call_with_timeout(fn, step.args, dict(step.kwargs), seconds)
        # No empty keyword dict to unpack on the common call: it costs a copy.
        value = fn(*step.args, **step.kwargs) if step.kwargs else fn(*step.args)
        if type(value) not in _PLAIN and inspect.isawaitable(value):
            limit = None if step.timeout is None else step.timeout.total_seconds()
            # A fresh context copy per step: the runner would otherwise keep
            # the context of the first step it ever ran.
            value = _runner().run(_await(value, limit), context=contextvars.copy_context())
        return StepOutcome(value)
    except TimeoutError:
        return StepOutcome(timed_out=True)
    except (Exception, *_ALSO_FAILURES) as exc:
        return StepOutcome(error=exc)
    finally:
        current.reset(token)


async def _await(awaitable: Any, limit: float | None) -> Any:
    return await asyncio.wait_for(awaitable, limit)


def _call_with_timeout(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], limit: float
) -> StepOutcome:
    # A thread cannot be killed: past the limit its result is ignored and
    # the attempt counts as timed out. Steps must be idempotent anyway.
    ctx = contextvars.copy_context()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="zart-step")
    try:
        future = pool.submit(ctx.run, fn, *args, **kwargs)
        try:
            # Past TIMEOUT_MAX (about 292 years) the wait itself would
            # raise, and a step that ran would be recorded as failed.
            return StepOutcome(value=future.result(timeout=min(limit, threading.TIMEOUT_MAX)))
        except concurrent.futures.TimeoutError:
            return StepOutcome(timed_out=True)
        except (Exception, *_ALSO_FAILURES) as exc:
            return StepOutcome(error=exc)
    finally:
        pool.shutdown(wait=False)


async def run_step_async(decision: RunStep, overrides: Overrides | None = None) -> StepOutcome:
    fn = step_function(decision, overrides)
    step = decision.step
    token = current.set(decision.scope)
    try:
        if inspect.iscoroutinefunction(fn):
            pending: Any = fn(*step.args, **step.kwargs)
        else:
            pending = asyncio.to_thread(fn, *step.args, **step.kwargs)
        limit = None if step.timeout is None else step.timeout.total_seconds()
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
