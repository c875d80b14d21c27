"""Code changed under running executions, on every store: a mismatch stalls
(log untouched, no retry spent, no failure handler), a fix and a retry
resume it, and patches let new code meet old logs.

The three ways a workflow changes between runs: a step inserted needs a
patch (without one it stalls, with one it passes); a step removed passes
(the log is keyed by name); a step renamed stalls.
"""

from __future__ import annotations

from typing import Any

import zart
from tests.engine import Engine
from zart.verify import would_stall

ran: list[str] = []


def _step(name: str) -> Any:
    @zart.step(name)
    def run(value: int) -> int:
        ran.append(name)
        return value + 1

    return run


a, b, c, d, a2 = _step("a"), _step("b"), _step("c"), _step("d"), _step("a-renamed")


@zart.durable("note-failure")
def note_failure(failure: zart.Failure):  # type: ignore[no-untyped-def]
    ran.append(f"on_failure:{failure.execution_id}")
    return None
    yield  # pragma: no cover


def _flow(*before: Any, after: Any = (c,), patch: Any = None) -> zart.TaskHandler:
    """A workflow that runs the steps ``before``, waits for the event
    ``go``, then runs the steps ``after``. ``patch``: (patch id, step), run
    under ``zart.patched`` between the first step and the others before."""

    @zart.durable("flow", max_retries=2, on_failure=note_failure)
    def flow(n: int):  # type: ignore[no-untyped-def]
        first, *rest = before
        value = yield first(n)
        if patch is not None and (yield zart.patched(patch[0])):
            value = yield patch[1](value)
        for step in [*rest, "wait", *after]:
            if step == "wait":
                yield zart.wait_event("go")
            else:
                value = yield step(value)
        return value

    return flow


def _started(engine: Engine, flow: zart.TaskHandler, eid: str = "e1") -> str:
    """``eid`` run up to its wait, under ``flow``."""
    engine.deploy(flow, note_failure).schedule("flow", 0, execution_id=eid)
    engine.run()
    assert engine.status(eid) == "waiting"
    return eid


def _resumed(engine: Engine, flow: zart.TaskHandler, eid: str = "e1") -> str:
    """New code deployed, then the event that resumes ``eid``; its status."""
    ran.clear()
    engine.deploy(flow, note_failure).offer_event(eid, "go")
    engine.run()
    return engine.status(eid)


def test_a_step_inserted_without_a_patch_stalls_and_a_retry_after_the_fix_resumes(
    engine: Engine,
) -> None:
    eid = _started(engine, _flow(a, b))
    log = engine.client.history(eid)
    assert _resumed(engine, _flow(a, d, b)) == "stalled"
    record = engine.client.get(eid)
    assert record.error is not None and record.error["type"] == "zart.errors.NonDeterminismError"
    message = record.error["message"]
    assert "'d'" in message and "'b'" in message and "zart.patched" in message
    # Stalling is not failing: no attempt spent, no handler, the log untouched.
    assert record.attempt == 0 and ran == [] and engine.client.list(parent_id=eid) == []
    assert engine.client.history(eid) == log
    engine.deploy(_flow(a, b), note_failure).retry(eid)
    engine.run()
    assert engine.status(eid) == "completed" and engine.client.result(eid) == 3
    assert ran == ["c"]


def test_a_step_inserted_under_a_patch_passes_old_runs_and_new_ones_take_it(
    engine: Engine,
) -> None:
    old = _started(engine, _flow(a, b))
    patched = _flow(a, b, patch=("add-d", d))
    assert _resumed(engine, patched, old) == "completed"
    assert ran == ["c"] and engine.client.result(old) == 3
    ran.clear()
    new = _started(engine, patched, "e2")
    assert ran == ["a", "d", "b"]
    assert _resumed(engine, patched, new) == "completed"
    assert engine.client.result(new) == 4
    names = [s.name for s in engine.client.history(new)]
    assert names == ["a", "@patch:add-d", "d", "b", "go", "c"]


def test_a_step_removed_passes(engine: Engine) -> None:
    eid = _started(engine, _flow(a, b))
    assert _resumed(engine, _flow(a)) == "completed"
    assert ran == ["c"] and engine.client.result(eid) == 2


def test_a_step_renamed_stalls(engine: Engine) -> None:
    eid = _started(engine, _flow(a, b))
    assert _resumed(engine, _flow(a2, b)) == "stalled"
    record = engine.client.get(eid)
    assert ran == [] and record.error is not None and "'a-renamed'" in record.error["message"]


def test_a_deprecated_patch_accepts_old_markers_and_needs_none(engine: Engine) -> None:
    patched = _flow(a, b, patch=("add-d", d))
    marked = _started(engine, patched, "marked")
    assert [s.name for s in engine.client.history(marked)][:2] == ["a", "@patch:add-d"]

    @zart.durable("flow", max_retries=2, on_failure=note_failure)
    def cleaned(n: int):  # type: ignore[no-untyped-def]
        value = yield a(n)
        yield zart.deprecate_patch("add-d")
        value = yield d(value)
        value = yield b(value)
        yield zart.wait_event("go")
        return (yield c(value))

    assert _resumed(engine, cleaned, marked) == "completed"
    assert engine.client.result(marked) == 4 and ran == ["c"]
    fresh = _started(engine, cleaned, "fresh")
    assert _resumed(engine, cleaned, fresh) == "completed"
    assert engine.client.result(fresh) == 4 and ran == ["c"]
    assert "@patch:add-d" not in [s.name for s in engine.client.history(fresh)]


def test_zart_check_reports_the_insert_and_the_rename_before_a_deploy(engine: Engine) -> None:
    eid = _started(engine, _flow(a, b))
    record = engine.client.get(eid)
    found = {}
    for change, code in {
        "inserted": _flow(a, d, b),
        "patched": _flow(a, b, patch=("add-d", d)),
        "removed": _flow(a),
        "renamed": _flow(a2, b),
    }.items():
        stall = would_stall(engine.deploy(code, note_failure), record)
        found[change] = None if stall is None else str(stall.error)
    assert found["patched"] is None and found["removed"] is None
    assert found["inserted"] is not None and "'d'" in found["inserted"]
    assert found["renamed"] is not None and "'a-renamed'" in found["renamed"]
    assert engine.status(eid) == "waiting"  # checking wrote nothing
