from __future__ import annotations

import pytest

import zart
from examples import multi_region as ex
from tests.examples.driver import Calls, drive

RELEASE = ex.Release("2.4.1", ["eu-west", "us-east", "ap-south"])
TEMPLATES = {
    "push-image-{region}": ex.push_image,
    "roll-instances-{region}": ex.roll_instances,
    "smoke-test-{region}": ex.smoke_test,
}


def test_one_child_workflow_per_region(make_env):
    env = make_env(ex.registry)
    eid = env.schedule(ex.multi_region_deploy, RELEASE)
    env.run_until_idle()
    assert env.result(eid) == {"version": "2.4.1", "instances": 12, "healthy": True}
    assert [(h.name, h.kind, h.step, h.status) for h in env.history(eid)] == [
        (f"deploy-{r}", "schedule", "workflow:deploy-region", "completed") for r in RELEASE.regions
    ]
    children = {c.id: c for c in env.list(task="deploy-region")}
    assert set(children) == {f"{eid}:deploy-{r}" for r in RELEASE.regions}
    child = children[f"{eid}:deploy-us-east"]
    assert (child.parent_id, child.status) == (eid, "completed")
    assert child.output == {"region": "us-east", "instances": 6, "healthy": True}
    assert [h.name for h in env.history(child.id)] == [
        "push-image-us-east",
        "roll-instances-us-east",
        "smoke-test-us-east",
    ]
    env.check_determinism(eid)
    env.check_determinism(child.id)


def test_an_unhealthy_region_is_reported(make_env):
    env = make_env(ex.registry)
    env.replace_step("smoke-test-{region}", lambda region: region != "ap-south")
    eid = env.schedule(ex.multi_region_deploy, RELEASE)
    env.run_until_idle()
    assert env.result(eid)["healthy"] is False


def test_a_failed_child_fails_the_parent_with_its_error(make_env):
    env = make_env(ex.registry)

    def broken(region, image):
        raise RuntimeError(f"no capacity in {region}")

    env.replace_step("roll-instances-{region}", broken)
    eid = env.schedule(ex.multi_region_deploy, RELEASE)
    env.run_until_idle()
    with pytest.raises(zart.ExecutionFailed) as failed:
        env.result(eid)
    assert failed.value.error["type"] == "RetryExhausted"
    assert failed.value.error["step"] == "roll-instances-eu-west"  # first by handle order
    statuses = {c.id.rsplit(":", 1)[1]: c.status for c in env.list(task="deploy-region")}
    assert statuses == {f"deploy-{r}": "failed" for r in RELEASE.regions}


def test_a_crash_in_one_region_repeats_nothing(make_env):
    env = make_env(ex.registry)
    calls = Calls()
    for template, fn in TEMPLATES.items():
        calls.count(env, template, fn)
    env.crash_after("push-image-us-east")
    eid = env.schedule(ex.multi_region_deploy, RELEASE)
    env.run_until_idle()
    env.restart()
    drive(env, eid)
    assert env.result(eid)["instances"] == 12
    assert set(calls.values()) == {1} and len(calls) == 9


def test_main_runs_for_real():
    assert ex.main("memory://") == {"version": "2.4.1", "instances": 12, "healthy": True}
