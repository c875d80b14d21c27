from __future__ import annotations

from datetime import timedelta

import zart
from examples import class_form as ex
from tests.examples.driver import Calls

SIGNUP = ex.Signup("ada@example.com")
RESULT = {"customer_id": "cus-ada", "resources": ["mailbox:cus-ada", "storage:cus-ada"]}


def test_context_methods_build_the_workflow_and_state_tracks_progress(make_env):
    env = make_env(ex.registry)
    eid = env.schedule("provisioning", SIGNUP)
    env.run_until_idle()
    rec = env.get(eid)
    assert rec.status == "sleeping"
    assert rec.state == {"stage": "settling", "customer": "cus-ada"}
    env.advance(timedelta(minutes=30))
    assert env.result(eid) == {**RESULT, "execution": eid}
    assert env.get(eid).state == {"stage": "done", "customer": "cus-ada"}
    assert [(h.name, h.kind) for h in env.history(eid)] == [
        ("create-customer", "step"),
        ("sleep-1", "sleep"),  # auto-named
        ("provision-mailbox", "schedule"),
        ("provision-storage", "schedule"),
    ]
    env.check_determinism(eid)


def test_step_with_retry_uses_its_policy(make_env):
    env = make_env(ex.registry)
    calls = Calls()

    def flaky(email):
        if zart.context().current_attempt < 2:
            raise ConnectionError("crm unavailable")
        return ex.create_customer(email)

    calls.count(env, "create-customer", flaky)
    eid = env.schedule("provisioning", SIGNUP)
    env.run_until_idle()
    env.advance(timedelta(seconds=2))  # exponential(3, 2s): 2s, then 4s
    assert calls["create-customer"] == 2
    env.advance(timedelta(seconds=4))
    assert calls["create-customer"] == 3
    env.advance(timedelta(minutes=30))
    assert env.result(eid)["customer_id"] == "cus-ada"


def test_scheduled_closures_survive_a_restart(make_env):
    env = make_env(ex.registry)
    calls = Calls()
    calls.count(env, "create-customer", ex.create_customer)
    calls.count(env, "provision-mailbox", ex.provision)
    calls.count(env, "provision-storage", ex.provision)
    env.crash_after("provision-mailbox")
    eid = env.schedule("provisioning", SIGNUP)
    env.run_until_idle()
    env.advance(timedelta(minutes=30))
    # The new process has no cached steps: provision-storage's child rebuilds
    # its callable by replaying the parent's log.
    env.restart()
    env.run_until_idle()
    assert env.result(eid) == {**RESULT, "execution": eid}
    assert calls == {"create-customer": 1, "provision-mailbox": 1, "provision-storage": 1}


def test_the_data_annotation_gives_the_input_type(make_env):
    class Annotated(zart.TaskHandler):
        task_name = "annotated"

        def run(self, ctx: zart.TaskContext, data: ex.Signup):
            return (yield ctx.capture("plan", lambda: data.plan))

    env = make_env(zart.TaskRegistry([Annotated()]))
    assert env.run("annotated", SIGNUP) == "pro"


def test_main_runs_for_real():
    result = ex.main("memory://")
    assert {k: result[k] for k in RESULT} == RESULT
