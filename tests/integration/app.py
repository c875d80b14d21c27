"""The workflows that real ``zart worker`` processes run in the integration tests.

    zart --db URL worker --app tests.integration.app

Every step body appends ``START <key>`` when it begins and ``FINISH <key>``
when it ends to the journal named by ``ZART_TEST_JOURNAL`` (O_APPEND, one
``write`` per line, fsync'd), so the counts survive a SIGKILL of the worker
and tell exactly how many times each body ran. A step given a ``gate`` path
blocks, after its START, until that file exists: the test kills the worker
or offers an event while the step is in flight, then opens the gate.
"""

from __future__ import annotations

import os
import time

import attrs

import zart

JOURNAL_ENV = "ZART_TEST_JOURNAL"
GATE_LIMIT = 120.0  # seconds a gated step waits before giving up
# The advisory lock that app_held_wake's wake-up statement waits for (that
# module patches the store when imported, so the tests import only this).
HOLD_KEY = 7_340_121


def journal(event: str, key: str) -> None:
    path = os.environ[JOURNAL_ENV]
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{event} {key} {os.getpid()}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def body(key: str, gate: str | None, delay: float) -> None:
    journal("START", key)
    if gate:
        deadline = time.monotonic() + GATE_LIMIT
        while not os.path.exists(gate):
            if time.monotonic() > deadline:
                raise RuntimeError(f"gate {gate} was never opened")
            time.sleep(0.02)
    if delay:
        time.sleep(delay)  # the step's "work"
    journal("FINISH", key)


@zart.step("step-{index}")
def work(key: str, index: int, gate: str | None = None, delay: float = 0.0) -> str:
    body(f"{key}/step-{index}", gate, delay)
    return f"{key}:{index}"


@zart.step("leaf-{index}")
def leaf(key: str, index: int, gate: str | None = None, delay: float = 0.0) -> int:
    body(f"{key}/leaf-{index}", gate, delay)
    return index * index


@attrs.frozen
class SeqInput:
    key: str
    n: int = 3
    gate_at: int = -1  # index of the step that waits for ``gate``; -1: none
    gate: str | None = None
    delay: float = 0.0


@attrs.frozen
class FanInput:
    key: str
    k: int = 5
    gate_at: int = -1  # index of the child step that waits for ``gate``; -1: none
    gate: str | None = None
    delay: float = 0.0


@attrs.frozen
class EventInput:
    key: str
    gate: str | None = None


@zart.durable("seq")
def seq(data: SeqInput):
    """N steps one after the other; step ``gate_at`` blocks until the gate opens."""
    results = []
    for index in range(data.n):
        gate = data.gate if index == data.gate_at else None
        results.append((yield work(data.key, index, gate, data.delay)))
    return results


@zart.durable("fanout")
def fanout(data: FanInput):
    """K step children scheduled at once, then wait_all; child ``gate_at`` is gated."""
    handles = []
    for index in range(data.k):
        gate = data.gate if index == data.gate_at else None
        handles.append((yield zart.schedule(leaf(data.key, index, gate, data.delay))))
    squares = yield zart.wait_all(handles)
    return {"squares": squares, "sum": sum(squares)}


@zart.durable("evented")
def evented(data: EventInput):
    """A (gated) step, then wait for event ``go``, then one more step."""
    first = yield work(data.key, 0, data.gate)
    payload = yield zart.wait_event("go")
    last = yield work(data.key, 1)
    return {"first": first, "payload": payload, "last": last}


registry = zart.TaskRegistry([seq, fanout, evented])
