"""Code that disagrees with the log: duplicate names and non-determinism stall the execution."""

from datetime import timedelta
from typing import Any

import pytest

import zart
from tests.unit.replay.helpers import (
    Opaque,
    failure,
    snapshot,
    stalled,
)
from zart.testing import TestEnv

# -- code that disagrees with the log --------------------------------------------


def test_a_name_yielded_twice_fails_without_retry(zart_env: TestEnv) -> None:
    calls: list[int] = []

    @zart.step("item-{i}")
    def item(i: int) -> int:
        calls.append(i)
        return i

    @zart.durable("wf", max_retries=3)
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield item(1)
        yield item(1)

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    rec = zart_env.get(eid)
    assert rec.attempt == 0  # stalling spends no retry
    err = stalled(zart_env, eid)
    assert err["type"].endswith("DuplicateNameError") and "'item-1'" in err["message"]
    assert calls == [1]
    assert [s.name for s in zart_env.history(eid)] == ["item-1"]


def test_a_name_reused_across_command_kinds_is_a_duplicate(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("x", 0)
        yield zart.call("x", lambda: 1)

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    assert stalled(zart_env, eid)["type"].endswith("DuplicateNameError")


def test_duplicate_name_is_not_swallowed_by_the_workflow(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.now("t")
        try:
            yield zart.now("t")
        except zart.DuplicateNameError:
            return "swallowed"
        return "second value"

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    assert stalled(zart_env, eid)["type"].endswith("DuplicateNameError")


@zart.step("fetch-user")
def fetch_user() -> str:
    return "user"


@zart.step("fetch-order")
def fetch_order() -> str:
    return "order"


def _versioned(first: Any) -> zart.TaskHandler:
    @zart.durable("order", max_retries=3)
    def order(_: Any):  # type: ignore[no-untyped-def]
        yield first()
        yield zart.sleep("nap", timedelta(hours=1))
        return "done"

    return order


@pytest.mark.parametrize(
    ("v2_first", "recorded", "yielded"),
    [
        (lambda: fetch_order().named("load"), "step 'fetch-user'", "step 'fetch-order'"),
        (lambda: zart.sleep("load", 5), "step 'fetch-user'", "sleep"),
        (lambda: zart.capture("load", lambda: 1), "step 'fetch-user'", "capture"),
        (lambda: zart.wait_event("load"), "step 'fetch-user'", "event wait"),
        (lambda: zart.schedule(fetch_order().named("load")), "step 'fetch-user'", "schedule"),
    ],
    ids=["other-step", "sleep", "capture", "event", "schedule"],
)
def test_changed_code_fails_with_non_determinism_and_leaves_the_log(
    zart_env: TestEnv, v2_first: Any, recorded: str, yielded: str
) -> None:
    eid = zart_env.schedule(_versioned(lambda: fetch_user().named("load")))
    zart_env.run_until_idle()
    assert zart_env.get(eid).status == "sleeping"
    before = snapshot(zart_env, eid)
    zart_env.restart(registry=zart.TaskRegistry([_versioned(v2_first)]))
    zart_env.advance(timedelta(hours=1))
    rec = zart_env.get(eid)
    assert rec.attempt == 0
    err = stalled(zart_env, eid)
    assert err["type"].endswith("NonDeterminismError")
    assert "'load'" in err["message"]
    assert recorded in err["message"] and yielded in err["message"]
    assert snapshot(zart_env, eid) == before
    assert zart_env.client.list(parent_id=eid) == []


def test_non_determinism_error_carries_recorded_and_yielded(zart_env: TestEnv) -> None:
    eid = zart_env.schedule(_versioned(lambda: fetch_user().named("load")))
    zart_env.run_until_idle()
    zart_env.restart(registry=zart.TaskRegistry([_versioned(lambda: fetch_order().named("load"))]))
    zart_env.advance(timedelta(hours=1))
    message = stalled(zart_env, eid)["message"]
    assert "recorded step 'fetch-user'" in message
    assert "yielded step 'fetch-order'" in message
    # Code that matches again resumes it from where it stopped.
    zart_env.restart(registry=zart.TaskRegistry([_versioned(lambda: fetch_user().named("load"))]))
    zart_env.retry(eid)
    zart_env.run_until_idle()
    assert zart_env.result(eid) == "done"


def test_a_templated_step_renamed_by_new_code_is_non_deterministic(zart_env: TestEnv) -> None:
    @zart.step("item-{i}")
    def templated(i: int) -> int:
        return i

    @zart.step("item-1")
    def literal() -> int:
        return 1

    def version(cmd: Any) -> zart.TaskHandler:
        @zart.durable("wf")
        def wf(_: Any):  # type: ignore[no-untyped-def]
            yield cmd()
            yield zart.sleep("nap", 60)

        return wf

    eid = zart_env.schedule(version(lambda: templated(1)))
    zart_env.run_until_idle()
    zart_env.restart(registry=zart.TaskRegistry([version(literal)]))
    zart_env.advance(60)
    err = stalled(zart_env, eid)
    assert err["type"].endswith("NonDeterminismError")
    assert "item-{i}" in err["message"]


def test_same_code_after_restart_replays_fine(zart_env: TestEnv) -> None:
    eid = zart_env.schedule(_versioned(lambda: fetch_user().named("load")))
    zart_env.run_until_idle()
    zart_env.restart(registry=zart.TaskRegistry([_versioned(lambda: fetch_user().named("load"))]))
    zart_env.advance(timedelta(hours=1))
    assert zart_env.result(eid) == "done"


def test_yielding_a_non_command_fails_with_invalid_command(zart_env: TestEnv) -> None:
    @zart.durable("wf", max_retries=2)
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.call("t", lambda: 1)
        yield 42

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    rec = zart_env.get(eid)
    assert rec.status == "failed" and rec.attempt == 0
    err = failure(zart_env, eid)
    assert err.error_type.endswith("InvalidCommand")
    assert "42" in err.message and "int" in err.message
    assert [s.name for s in zart_env.history(eid)] == ["t"]


def test_yielding_an_uncalled_step_function_fails_with_invalid_command(
    zart_env: TestEnv,
) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield fetch_user  # forgot the call

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    err = failure(zart_env, eid)
    assert err.error_type.endswith("InvalidCommand") and "fetch-user" in err.message


def test_unserializable_step_result_fails_naming_step_and_type(zart_env: TestEnv) -> None:
    calls: list[str] = []

    @zart.durable("wf", max_retries=2)
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.call("first", lambda: calls.append("first") or "fine")
        yield zart.call("opaque", lambda: calls.append("opaque") or Opaque())
        return "unreachable"

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    rec = zart_env.get(eid)
    assert rec.status == "failed" and rec.attempt == 0
    err = failure(zart_env, eid)
    assert err.error_type.endswith("SerializationError")
    assert "'opaque'" in err.message and "Opaque" in err.message
    assert calls == ["first", "opaque"]
    first, opaque = zart_env.history(eid)
    assert first.name == "first" and first.status == "completed" and first.result == "fine"
    # The log keeps the step that ended the execution, failed with the error.
    assert opaque.name == "opaque" and opaque.status == "failed" and opaque.error == rec.error


def test_unserializable_workflow_output_fails_naming_the_task(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.now("t")
        return Opaque()

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    err = failure(zart_env, eid)
    assert err.error_type.endswith("SerializationError")
    assert "'wf'" in err.message and "Opaque" in err.message
