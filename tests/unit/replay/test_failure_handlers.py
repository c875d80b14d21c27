"""on_failure: a workflow run once when an execution fails for good."""

from datetime import timedelta
from typing import Any

import attrs
import pytest

import zart
from zart.testing import TestEnv


@attrs.define
class Declined(zart.BusinessError):
    reason: str


def test_a_handler_runs_once_with_the_failure_when_retries_are_spent(zart_env: TestEnv) -> None:
    seen: list[zart.Failure] = []

    @zart.durable("refund")
    def refund(failure: zart.Failure):  # type: ignore[no-untyped-def]
        seen.append(failure)
        yield zart.call("undo", lambda: "undone")
        return "refunded"

    @zart.step("charge", retry="fixed(1, 1s)")
    def charge() -> None:
        raise RuntimeError("card service down")

    @zart.durable("checkout", max_retries=1, on_failure=refund)
    def checkout(order: dict[str, int]):  # type: ignore[no-untyped-def]
        yield charge()

    eid = zart_env.schedule(checkout, {"id": 7}, execution_id="o-7")
    zart_env.advance_until_idle()
    assert zart_env.get(eid).status == "failed"
    [failure] = seen
    assert failure.execution_id == "o-7" and failure.task_name == "checkout"
    assert failure.input == {"id": 7} and not failure.cancelled
    assert failure.error["type"] == "RetryExhausted"
    assert "card service down" in failure.error["message"]
    [handler] = zart_env.client.list(parent_id="o-7")
    assert handler.kind == "failure-handler" and handler.task_name == "refund"
    assert zart_env.result(handler.id) == "refunded"


def test_business_errors_and_task_timeouts_call_it_stalls_do_not(zart_env: TestEnv) -> None:
    calls: list[str] = []

    @zart.durable("note")
    def note(failure: zart.Failure):  # type: ignore[no-untyped-def]
        calls.append(failure.error["type"])
        return None
        yield  # pragma: no cover

    @zart.step("decide")
    def decide() -> None:
        raise Declined("over limit")

    @zart.durable("declines", on_failure=note)
    def declines(_: Any):  # type: ignore[no-untyped-def]
        yield decide()

    @zart.durable("slow", timeout=timedelta(seconds=30), on_failure=note)
    def slow(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("long", 60)

    @zart.durable("twice", on_failure=note)
    def twice(_: Any):  # type: ignore[no-untyped-def]
        yield zart.now("t")
        yield zart.now("t")

    for task in (declines, slow, twice):
        zart_env.schedule(task)
    zart_env.advance_until_idle()
    assert sorted(kind.rsplit(".", 1)[-1] for kind in calls) == ["Declined", "TaskTimeout"]
    assert [e.status for e in zart_env.list(task="twice")] == ["stalled"]


def test_a_failing_handler_is_shown_and_never_loops(zart_env: TestEnv) -> None:
    runs: list[int] = []

    @zart.durable("broken-handler")
    def broken(failure: zart.Failure):  # type: ignore[no-untyped-def]
        runs.append(1)
        raise RuntimeError("the handler failed too")
        yield  # pragma: no cover

    @zart.durable("fails", on_failure=broken)
    def fails(_: Any):  # type: ignore[no-untyped-def]
        raise ValueError("no")
        yield  # pragma: no cover

    eid = zart_env.schedule(fails)
    zart_env.advance_until_idle()
    [handler] = zart_env.client.list(parent_id=eid)
    assert handler.status == "failed" and "the handler failed too" in handler.error["message"]
    assert runs == [1]
    assert zart_env.client.list(parent_id=handler.id) == []


@pytest.mark.parametrize("on_cancel", [False, True])
def test_a_cancel_runs_the_handler_only_when_asked(zart_env: TestEnv, on_cancel: bool) -> None:
    seen: list[zart.Failure] = []

    @zart.durable("compensate")
    def compensate(failure: zart.Failure):  # type: ignore[no-untyped-def]
        seen.append(failure)
        return None
        yield  # pragma: no cover

    handler = zart.on_failure(compensate, on_cancel=on_cancel)

    @zart.durable("waits", on_failure=handler)
    def waits(_: Any):  # type: ignore[no-untyped-def]
        yield zart.wait_event("go")

    zart_env.registry.register(compensate)
    eid = zart_env.schedule(waits)
    zart_env.run_until_idle()
    assert zart_env.cancel(eid)
    zart_env.run_until_idle()
    if on_cancel:
        [failure] = seen
        assert failure.cancelled and failure.error["type"] == "Cancelled"
    else:
        assert seen == []
