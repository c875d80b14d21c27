from __future__ import annotations

from datetime import timedelta

from examples import onboarding as ex
from tests.examples.driver import Calls

DATA = ex.OnboardingData("ada@example.com")
STEPS = [
    "create-user",
    "send-welcome-email",
    "send-verification-reminder",
    "send-getting-started",
    "setup-billing",
]


def count_all(env, calls):
    for name in STEPS:
        calls.count(env, name, getattr(ex, name.replace("-", "_")))


def test_happy_path_sleeps_waits_for_the_event_and_fans_out(make_env):
    env = make_env(ex.registry)
    start = env.now()
    eid = env.schedule(ex.onboarding, DATA)
    env.run_until_idle()
    rec = env.get(eid)
    assert rec.status == "sleeping"
    assert rec.wake_at == start + timedelta(hours=24)

    env.advance(timedelta(hours=24))
    rec = env.get(eid)
    assert (rec.status, rec.waiting_for) == ("waiting", "event:email-verified")
    assert rec.wake_at == start + timedelta(hours=72)  # the event's deadline

    env.advance(timedelta(hours=1))
    env.offer_event(eid, "email-verified", {"verified": True})
    env.run_until_idle()
    result = env.result(eid)
    assert result == ex.OnboardingResult(
        "user-ada", "cus-user-ada", True, start + timedelta(hours=25)
    )
    history = env.history(eid)
    assert [(h.name, h.kind, h.status) for h in history] == [
        ("create-user", "step", "completed"),
        ("send-welcome-email", "step", "completed"),
        ("wait-before-reminder", "sleep", "completed"),
        ("send-verification-reminder", "step", "completed"),
        ("email-verified", "event", "completed"),
        ("send-getting-started", "schedule", "completed"),
        ("setup-billing", "schedule", "completed"),
        ("finished-at", "capture", "completed"),
    ]
    children = {c.id: c.status for c in env.list(task="onboarding") if c.parent_id == eid}
    assert children == {
        f"{eid}:send-getting-started": "completed",
        f"{eid}:setup-billing": "completed",
    }
    env.check_determinism(eid)


def test_no_verification_before_the_deadline_onboards_unverified(make_env):
    env = make_env(ex.registry)
    eid = env.schedule(ex.onboarding, DATA)
    env.run_until_idle()
    env.advance(timedelta(hours=24))
    env.advance(timedelta(hours=47, minutes=59))
    assert env.get(eid).status == "waiting"
    env.advance(timedelta(minutes=1))
    assert env.result(eid).verified is False
    [event] = [h for h in env.history(eid) if h.name == "email-verified"]
    assert event.status == "timed_out"
    env.check_determinism(eid)


def test_an_event_offered_before_the_wait_is_kept(make_env):
    env = make_env(ex.registry)
    eid = env.schedule(ex.onboarding, DATA)
    env.run_until_idle()
    env.offer_event(eid, "email-verified", {"verified": True})  # still sleeping
    assert env.get(eid).status == "sleeping"
    env.advance(timedelta(hours=24))
    assert env.result(eid).verified is True


def test_a_crash_after_a_step_does_not_repeat_it(make_env):
    env = make_env(ex.registry)
    calls = Calls()
    count_all(env, calls)
    env.crash_after("create-user")
    eid = env.schedule(ex.onboarding, DATA)
    env.run_until_idle()
    assert env.get(eid).status == "running"  # the worker died holding the lease
    assert [h.name for h in env.history(eid)] == ["create-user"]
    env.restart()
    env.run_until_idle()
    assert env.get(eid).status == "sleeping"
    env.advance(timedelta(hours=24))
    env.offer_event(eid, "email-verified", {"verified": False})
    env.run_until_idle()
    assert env.result(eid).verified is False
    assert calls == {name: 1 for name in STEPS}
    env.check_determinism(eid)


def test_main_runs_for_real():
    result = ex.main("memory://")
    assert (result.user_id, result.customer_id, result.verified) == (
        "user-ada",
        "cus-user-ada",
        True,
    )
