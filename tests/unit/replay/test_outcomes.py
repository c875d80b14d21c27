"""The three-way outcome of a step: a value, a business error, a framework error."""

import threading
from typing import Any

import zart
from tests.unit.replay.helpers import (
    InsufficientFunds,
    OutOfStock,
    failure,
)
from zart.testing import TestEnv

# -- the three-way outcome -------------------------------------------------------


def test_business_error_is_caught_as_the_same_type_live_and_on_replay(
    zart_env: TestEnv,
) -> None:
    calls: list[int] = []
    caught: list[InsufficientFunds] = []

    @zart.step("charge", retry="fixed(3, 1s)")
    def charge(amount: int) -> None:
        calls.append(amount)
        raise InsufficientFunds(needed=amount, account="acc-1")

    @zart.durable("pay", max_retries=2)
    def pay(amount: int):  # type: ignore[no-untyped-def]
        try:
            yield charge(amount)
        except InsufficientFunds as e:
            caught.append(e)
        yield zart.sleep("nap", 60)
        return {"needed": caught[-1].needed, "account": caught[-1].account}

    eid = zart_env.schedule(pay, 50)
    zart_env.run_until_idle()
    zart_env.restart()
    zart_env.advance(60)
    assert zart_env.result(eid) == {"needed": 50, "account": "acc-1"}
    assert calls == [50]  # not retried, not re-run on replay
    assert len(caught) == 2
    assert all(type(e) is InsufficientFunds for e in caught)
    assert caught[0].needed == caught[1].needed == 50
    [rec, _] = zart_env.history(eid)
    assert rec.status == "error" and rec.attempts == 1
    assert rec.error is not None and rec.error["fields"] == {"needed": 50, "account": "acc-1"}
    assert zart_env.get(eid).attempt == 0


def test_business_error_without_fields_keeps_type_and_message(zart_env: TestEnv) -> None:
    @zart.step("reserve")
    def reserve() -> None:
        raise OutOfStock("sku-9 is gone")

    @zart.durable("shop")
    def shop(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield reserve()
        except OutOfStock as e:
            return f"{type(e).__name__}: {e}"

    assert zart_env.run(shop) == "OutOfStock: sku-9 is gone"


def test_business_error_escaping_the_workflow_fails_it_without_retry(
    zart_env: TestEnv,
) -> None:
    runs: list[int] = []

    @zart.step("charge")
    def charge() -> None:
        raise InsufficientFunds(needed=7, account="a")

    @zart.durable("pay", max_retries=3)
    def pay(_: Any):  # type: ignore[no-untyped-def]
        runs.append(zart.context().current_attempt)
        yield charge()

    eid = zart_env.schedule(pay)
    zart_env.run_until_idle()
    rec = zart_env.get(eid)
    assert rec.status == "failed" and rec.attempt == 0
    assert runs == [0]
    err = failure(zart_env, eid)
    assert err.error_type.endswith("InsufficientFunds")
    cause = err.__cause__
    assert type(cause) is InsufficientFunds and cause.needed == 7


def test_framework_error_becomes_retry_exhausted_after_the_policy_is_spent(
    zart_env: TestEnv,
) -> None:
    calls: list[int] = []
    caught: list[zart.StepFailed] = []

    @zart.step("flaky", retry="fixed(2, 1s)")
    def flaky() -> None:
        calls.append(1)
        raise ValueError(f"boom {len(calls)}")

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield flaky()
        except zart.RetryExhausted as e:
            caught.append(e)
            return {"step": e.step, "type": e.error_type, "msg": e.message, "n": e.attempts}

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    zart_env.advance(1)
    zart_env.advance(1)
    assert zart_env.result(eid) == {"step": "flaky", "type": "ValueError", "msg": "boom 3", "n": 3}
    assert len(calls) == 3
    assert isinstance(caught[0], zart.StepFailed) and isinstance(caught[0], zart.ZartError)
    [rec] = zart_env.history(eid)
    assert rec.status == "failed" and rec.attempts == 3


def test_framework_error_escaping_fails_the_execution_with_step_details(
    zart_env: TestEnv,
) -> None:
    class Custom(Exception):
        pass

    @zart.step("explode")
    def explode() -> None:
        raise Custom("kaboom")

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield explode()

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    err = failure(zart_env, eid)
    assert err.error_type == "RetryExhausted"
    assert err.error["step"] == "explode"
    assert err.error["error_type"].endswith("Custom")
    assert err.error["message"] == "kaboom" and err.error["attempts"] == 1
    cause = err.__cause__
    assert isinstance(cause, zart.RetryExhausted) and cause.step == "explode"


def test_step_timeout_is_a_step_failed(zart_env: TestEnv) -> None:
    release = threading.Event()

    @zart.step("hang", timeout=0.05)
    def hang() -> None:
        release.wait(5)

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield hang()
        except zart.StepTimeout as e:
            failed = isinstance(e, zart.StepFailed)
            return {"step": e.step, "attempts": e.attempts, "failed": failed}

    try:
        assert zart_env.run(wf) == {"step": "hang", "attempts": 1, "failed": True}
    finally:
        release.set()
