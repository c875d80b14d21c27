"""The chaos workload: one workflow per behaviour the harness exercises.

Every output is a pure function of the input (no clock, no attempt count),
so the output of an undisturbed run is the output every run must end with.
Failures are injected deterministically from (execution, step, attempt):
a flaky step fails its first attempts and then succeeds within its retry
policy. Worker processes load ``registry`` (``bench.chaos_parts.app``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Generator
from typing import Any

import attrs

import zart

from . import audit

Flow = Generator[Any, Any, Any]
FAN_OUT = 20
# The longest a step's work takes after its side effect: set by the worker
# processes (a kill in that window re-runs a side effect), not by the
# reference run.
WORK_SECONDS = 0.0


def _roll(*parts: object) -> int:
    """A die of 100 faces, the same in every process and on every replay."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % 100


def _effect(step: str, value: int, flaky: int = 0) -> int:
    """A step's side effect: audited, failing on an injected fault, else a
    value that depends on its input only."""
    ctx = zart.context()
    eid, attempt = ctx.execution_id, ctx.current_attempt
    if attempt < 2 and _roll(eid, step, attempt) < flaky:
        audit.record(eid, step, attempt, "injected")
        raise ConnectionError(f"injected fault in {step} (attempt {attempt})")
    audit.record(eid, step, attempt, "ok")
    # The rest of the step's work: a kill in here re-runs a side effect
    # that already happened, which the checks must find explained.
    time.sleep(WORK_SECONDS * _roll(eid, step, "work") / 100)
    return value * 31 % 1_000_003 + len(step)


@zart.step("work-{i}", retry="fixed(5, 50ms)")
def work(i: int, value: int) -> int:
    return _effect(f"work-{i}", value, flaky=25)


@zart.step("child-{i}", retry="fixed(5, 50ms)")
def child(i: int, value: int) -> int:
    return _effect(f"child-{i}", value + i, flaky=10)


@attrs.define
class Declined(zart.BusinessError):
    reason: str


@zart.step("charge")
def charge(value: int) -> int:
    _effect("charge", value)
    raise Declined(reason=f"limit {value % 7}")


@zart.step("fragile")
def fragile(value: int, execution_attempt: int) -> int:
    if execution_attempt == 0:  # fails the execution's first attempt for good
        audit.record(zart.context().execution_id, "fragile", 0, "injected")
        raise RuntimeError("fails until an operator retries it")
    return _effect("fragile", value)


@zart.durable("chaos-seq")
def sequential(value: int) -> Flow:
    """Sequential flaky steps around a durable sleep of 0-2 s."""
    for i in range(4):
        value = yield work(i, value)
    yield zart.sleep("nap", (value % 21) / 10)
    return (yield work(4, value))


@zart.durable("chaos-event")
def evented(job: dict[str, Any]) -> Flow:
    """A wait for ``go`` with a deadline: the payload, or "timed out"."""
    value = yield work(0, job["value"])
    try:
        got = yield zart.wait_event("go", timeout=job["timeout"])
    except zart.EventTimeout:
        got = "timed out"
    return [value, got]


@zart.durable("chaos-fanout")
def fanout(value: int) -> Flow:
    handles = []
    for i in range(FAN_OUT):
        handles.append((yield zart.schedule(child(i, value))))
    results = yield zart.wait_all(handles)
    return sum(results)


@zart.durable("chaos-parent")
def parent(value: int) -> Flow:
    first = yield sequential(value).named("kid-1")
    second = yield sequential(value + 1).named("kid-2")
    return [first, second]


@zart.durable("chaos-business")
def business(value: int) -> Flow:
    """A business error: caught when the value is even, failing it if odd."""
    if value % 2:
        return (yield charge(value))
    try:
        return (yield charge(value))
    except Declined as declined:
        return f"declined: {declined.reason}"


@zart.durable("chaos-retried", max_retries=0)
def retried(value: int) -> Flow:
    """Fails for good until an operator retries it; then completes."""
    value = yield work(0, value)
    return (yield fragile(value, zart.context().current_attempt))


@zart.durable("chaos-cancelled")
def cancelled(value: int) -> Flow:
    """Children, then a wait nobody ends: it ends when it is cancelled."""
    handles = []
    for i in range(3):
        handles.append((yield zart.schedule(child(i, value))))
    yield zart.wait_event("never")
    return (yield zart.wait_all(handles))


@zart.durable("chaos-cart")
def cart(value: int) -> Flow:
    """Messages on "cart" taken in order until "checkout", each exactly once."""
    items = []
    for n in range(100):
        message = yield zart.receive(f"message-{n}", "cart")
        if message == "checkout":
            break
        items.append(message)
    total = yield work(0, value + len(items))
    return [items, total]


registry = zart.TaskRegistry(
    [sequential, evented, fanout, parent, business, retried, cancelled, cart]
)
