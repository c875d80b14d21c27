from __future__ import annotations

from datetime import timedelta

import zart
from examples import report_batch as ex
from tests.examples.driver import Calls

TOTALS = {"sales": 300.0, "returns": 4.0, "signups": 44.0}


def test_templated_and_renamed_steps_are_logged_per_iteration(make_env):
    env = make_env(ex.registry)
    eid = env.schedule(ex.report_batch, "2024-06")
    env.run_until_idle()
    assert env.result(eid) == {"batch": "2024-06", "totals": TOTALS}
    assert [(h.name, h.step) for h in env.history(eid)] == [
        ("fetch-reports", "fetch-reports"),
        ("process-report-0", "process-report-{index}"),
        ("notify-0", "notify"),
        ("process-report-1", "process-report-{index}"),
        ("notify-1", "notify"),
        ("process-report-2", "process-report-{index}"),
        ("notify-2", "notify"),
    ]
    env.check_determinism(eid)


def test_a_failing_report_is_retried_after_its_backoff(make_env):
    env = make_env(ex.registry)
    calls = Calls()

    def flaky(index, report):
        if index == 1 and zart.context().current_attempt == 0:
            raise TimeoutError("warehouse query timed out")
        return ex.process_report.__wrapped__(index, report)

    calls.count(env, "process-report-{index}", flaky)
    eid = env.schedule(ex.report_batch, "2024-06")
    env.run_until_idle()
    assert env.get(eid).status == "sleeping"  # the backoff is a durable timer
    env.advance(timedelta(seconds=2))
    assert env.result(eid)["totals"] == TOTALS
    assert calls == {"process-report-0": 1, "process-report-1": 2, "process-report-2": 1}
    [retried] = [h for h in env.history(eid) if h.name == "process-report-1"]
    assert (retried.status, retried.attempts) == ("completed", 2)


def test_a_crash_mid_batch_resumes_at_the_next_report(make_env):
    env = make_env(ex.registry)
    calls = Calls()
    calls.count(env, "process-report-{index}", ex.process_report)
    calls.count(env, "notify", ex.notify)
    env.crash_after("process-report-1")
    eid = env.schedule(ex.report_batch, "2024-06")
    env.run_until_idle()
    assert [h.name for h in env.history(eid)][-1] == "process-report-1"
    env.restart()
    env.run_until_idle()
    assert env.result(eid)["totals"] == TOTALS
    assert set(calls.values()) == {1} and len(calls) == 6


def test_main_runs_for_real():
    assert ex.main("memory://") == {"batch": "2024-06", "totals": TOTALS}
