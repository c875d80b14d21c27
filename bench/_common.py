"""The workflows the store benchmarks run, and the registry worker processes load.

Worker subprocesses import this module through the CLI
(``zart worker --app bench._common:registry``, run from the repository root),
so everything here must be importable without side effects.

Timing steps return ``time.time()`` taken on entry: the value is stored in the
log, so the benchmark reads it back from the store whichever process ran it
(wall-clock time is shared by every process on the machine).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import zart

# Set by the in-process fan-out benchmark; counts entries into the parent's
# body (the first run, each resume, and any replay that rebuilds a child's step).
fanout_entries = 0


@zart.step("noop-{i}")
def noop(i: int) -> int:
    return i


@zart.step("stamp-{label}")
def stamp(label: str) -> float:
    """Records when it started (``time.time()`` on entry)."""
    return time.time()


@zart.durable("bench-chain")
def chain(n: int) -> Generator[Any, Any, int]:
    """``n`` sequential no-op steps."""
    for i in range(n):
        yield noop(i)
    return n


@zart.durable("bench-three")
def three(data: Any) -> Generator[Any, Any, int]:
    """The throughput workflow: three sequential no-op steps."""
    for i in range(3):
        yield noop(i)
    return 3


@zart.durable("bench-one")
def one(data: Any) -> Generator[Any, Any, int]:
    """A one-step execution, the unit the fan-out is compared with."""
    value: int = yield noop(0)
    return value


@zart.durable("bench-fanout")
def fanout(n: int) -> Generator[Any, Any, int]:
    """One parent scheduling ``n`` step children, then waiting for all of them."""
    global fanout_entries
    fanout_entries += 1
    handles = []
    for i in range(n):
        handles.append((yield zart.schedule(noop(i))))
    results = yield zart.wait_all(handles)
    return len(results)


@zart.durable("bench-latency")
def latency(data: Any) -> Generator[Any, Any, dict[str, float]]:
    """Schedule -> first step, then event offered -> the step after the wait."""
    started = yield stamp("started")
    yield zart.wait_event("go")
    resumed = yield stamp("resumed")
    return {"started": started, "resumed": resumed}


@zart.durable("bench-inbox")
def inbox(data: Any) -> Generator[Any, Any, dict[str, float]]:
    """A message sent -> the step after the receive entered."""
    yield zart.receive("first", "in")
    resumed = yield stamp("resumed")
    return {"resumed": resumed}


registry = zart.TaskRegistry([chain, three, one, fanout, latency, inbox])
