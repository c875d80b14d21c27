from __future__ import annotations

from datetime import timedelta

import pytest

import zart
from examples import approval as ex
from tests.examples.driver import Calls

REQUEST = ex.ExpenseRequest("bo", 120, "ana")


def start(make_env):
    env = make_env(ex.registry)
    calls = Calls()
    for name in ("request-approval", "pay-expense", "escalate"):
        calls.count(env, name, getattr(ex, name.replace("-", "_")))
    eid = env.schedule(ex.expense_approval, REQUEST)
    env.run_until_idle()
    return env, calls, eid


def test_approved_expense_is_paid(make_env):
    env, calls, eid = start(make_env)
    rec = env.get(eid)
    assert (rec.status, rec.waiting_for) == ("waiting", "event:manager-decision")
    env.advance(timedelta(hours=5))
    env.offer_event(eid, "manager-decision", {"approved": True})
    env.run_until_idle()
    assert env.result(eid) == {"status": "paid", "payout": "payout-bo-120"}
    assert calls == {"request-approval": 1, "pay-expense": 1}
    assert [(h.name, h.status) for h in env.history(eid)] == [
        ("request-approval", "completed"),
        ("manager-decision", "completed"),
        ("pay-expense", "completed"),
    ]
    env.check_determinism(eid)


def test_rejected_expense_is_not_paid(make_env):
    env, calls, eid = start(make_env)
    env.offer_event(eid, "manager-decision", {"approved": False, "comment": "no receipt"})
    env.run_until_idle()
    assert env.result(eid) == {"status": "rejected", "comment": "no receipt"}
    assert calls == {"request-approval": 1}


def test_no_answer_before_the_deadline_escalates(make_env):
    env, calls, eid = start(make_env)
    env.advance(timedelta(hours=47, minutes=59))
    assert env.get(eid).status == "waiting"
    env.advance(timedelta(minutes=1))
    assert env.result(eid) == {"status": "escalated"}
    assert calls == {"request-approval": 1, "escalate": 1}
    decision = env.history(eid)[1]
    assert (decision.name, decision.status) == ("manager-decision", "timed_out")
    with pytest.raises(zart.EventRejected):  # too late: the execution is over
        env.offer_event(eid, "manager-decision", {"approved": True})
    env.check_determinism(eid)


class Killed(BaseException):
    """The process dies inside a step (escapes the host like SIGKILL would)."""


def test_a_late_answer_does_not_undo_a_timeout_on_replay(make_env):
    env, calls, eid = start(make_env)

    def dies(employee, amount):
        raise Killed

    env.replace_step("escalate", dies)
    with pytest.raises(Killed):
        env.advance(timedelta(hours=48))  # the timeout is recorded, then the worker dies
    assert env.get(eid).status == "running"
    env.offer_event(eid, "manager-decision", {"approved": True})  # arrives late
    env.restart()
    calls.count(env, "escalate", ex.escalate)
    env.run_until_idle()
    assert env.result(eid) == {"status": "escalated"}
    assert calls == {"request-approval": 1, "escalate": 1}


def test_main_runs_for_real():
    assert ex.main("memory://") == {"status": "paid", "payout": "payout-bo-120"}
