from __future__ import annotations

from datetime import timedelta

import pytest

import zart
from examples import checkout as ex
from tests.examples.driver import Calls, drive

STEPS = ["reserve-stock", "charge-card", "release-stock", "send-receipt"]


def counting_env(make_env):
    env = make_env(ex.registry)
    calls = Calls()
    for name in STEPS:
        calls.count(env, name, getattr(ex, name.replace("-", "_")))
    return env, calls


def test_a_flaky_step_is_retried_after_a_durable_backoff(make_env):
    env, calls = counting_env(make_env)
    start = env.now()
    eid = env.schedule(ex.checkout, ex.Order("o-1", "book", 25_00))
    env.run_until_idle()
    rec = env.get(eid)
    assert (rec.status, rec.wake_at) == ("sleeping", start + timedelta(milliseconds=500))
    [reserve] = env.history(eid)
    assert (reserve.status, reserve.attempts) == ("retrying", 1)
    assert reserve.error["type"] == "ConnectionError"
    env.advance(timedelta(milliseconds=500))
    assert env.result(eid) == {"status": "paid", "charge": "ch-o-1", "reservation": "rsv-o-1"}
    assert calls == {"reserve-stock": 2, "charge-card": 1, "send-receipt": 1}
    env.check_determinism(eid)


def test_a_business_error_is_not_retried_and_keeps_its_fields(make_env):
    env, calls = counting_env(make_env)
    eid = env.schedule(ex.checkout, ex.Order("o-2", "laptop", 1_500_00))
    drive(env, eid)
    assert env.result(eid) == {"status": "declined", "reason": "over card limit"}
    assert calls == {"reserve-stock": 2, "charge-card": 1, "release-stock": 1}
    charge = {h.name: h for h in env.history(eid)}["charge-card"]
    assert (charge.status, charge.attempts) == ("error", 1)
    assert charge.error["kind"] == "business"
    assert charge.error["fields"] == {"reason": "over card limit", "amount_cents": 1_500_00}
    env.check_determinism(eid)


def test_a_replayed_business_error_is_caught_the_same_way(make_env):
    env, calls = counting_env(make_env)
    env.crash_after("charge-card")  # PaymentDeclined is recorded, then the worker dies
    eid = env.schedule(ex.checkout, ex.Order("o-2", "laptop", 1_500_00))
    env.run_until_idle()
    env.advance(timedelta(milliseconds=500))
    assert env.get(eid).status == "running"
    env.restart()
    env.run_until_idle()
    assert env.result(eid) == {"status": "declined", "reason": "over card limit"}
    assert calls["charge-card"] == 1 and calls["release-stock"] == 1


def test_retries_run_out_into_retry_exhausted(make_env):
    env = make_env(ex.registry)

    def down(order_id, sku):
        raise ConnectionError("inventory service is down")

    env.replace_step("reserve-stock", down)
    eid = env.schedule(ex.checkout, ex.Order("o-3", "pen", 2_00))
    drive(env, eid)
    with pytest.raises(zart.ExecutionFailed) as failed:
        env.result(eid)
    error = failed.value.error
    assert (error["type"], error["step"], error["attempts"]) == (
        "RetryExhausted",
        "reserve-stock",
        4,
    )
    assert error["error_type"] == "ConnectionError"
    # exponential(3, 500ms): waits of 0.5s, 1s and 2s between the four attempts.
    assert env.get(eid).updated_at - env.get(eid).created_at == timedelta(seconds=3.5)


def test_main_runs_for_real():
    assert ex.main("memory://") == [
        {"status": "paid", "charge": "ch-o-1", "reservation": "rsv-o-1"},
        {"status": "declined", "reason": "over card limit"},
    ]
