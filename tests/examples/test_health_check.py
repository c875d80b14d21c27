from __future__ import annotations

from datetime import timedelta

from examples import health_check as ex
from tests.examples.driver import Calls, drive

SERVICES = ["api", "database", "mail", "search"]


def test_every_service_is_checked_and_failures_come_back_as_values(make_env):
    env = make_env(ex.registry)
    calls = Calls()
    calls.count(env, "check-{service}", ex.check)
    eid = env.schedule(ex.health_check, SERVICES)
    env.run_until_idle()
    assert env.get(eid).waiting_for == "children"  # mail is in its retry backoff
    env.advance(timedelta(milliseconds=100))
    env.advance(timedelta(milliseconds=100))
    assert env.result(eid) == {
        "api": "up (12 ms)",
        "database": "up (3 ms)",
        "mail": "down (ConnectionError: mail did not answer)",
        "search": "up (40 ms)",
    }
    # One attempt per healthy service, 1 + 2 retries for the failing one.
    assert calls == {"check-api": 1, "check-database": 1, "check-mail": 3, "check-search": 1}
    history = {h.name: h for h in env.history(eid)}
    assert list(history) == [f"check-{s}" for s in SERVICES]
    assert {h.kind for h in history.values()} == {"schedule"}
    assert history["check-mail"].status == "failed"
    assert history["check-mail"].error["attempts"] == 3
    mail = env.history(f"{eid}:check-mail")
    assert [(h.name, h.status, h.attempts) for h in mail] == [("check-mail", "failed", 3)]
    env.check_determinism(eid)


def test_all_down_still_completes(make_env):
    env = make_env(ex.registry)
    eid = env.schedule(ex.health_check, ["ftp", "gopher"])
    drive(env, eid)
    assert env.result(eid) == {
        "ftp": "down (ConnectionError: ftp did not answer)",
        "gopher": "down (ConnectionError: gopher did not answer)",
    }


def test_a_crash_mid_fan_out_checks_each_service_once(make_env):
    env = make_env(ex.registry)
    calls = Calls()
    calls.count(env, "check-{service}", ex.check)
    env.crash_after("check-database")
    eid = env.schedule(ex.health_check, SERVICES)
    env.run_until_idle()
    env.restart()  # the step cache is gone: children rebuild their step from the parent
    drive(env, eid)
    assert env.result(eid)["search"] == "up (40 ms)"
    assert calls == {"check-api": 1, "check-database": 1, "check-mail": 3, "check-search": 1}


def test_main_runs_for_real():
    assert ex.main("memory://") == {
        "api": "up (12 ms)",
        "database": "up (3 ms)",
        "mail": "down (ConnectionError: mail did not answer)",
        "search": "up (40 ms)",
    }
