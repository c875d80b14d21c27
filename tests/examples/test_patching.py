from __future__ import annotations

import zart
from examples import patching as ex


def test_old_executions_skip_the_patch_and_new_ones_take_it(tmp_path):
    out = ex.main(f"sqlite:///{tmp_path / 'patching.db'}")
    assert out["zart check"] == {"unpatched": ["o-1"], "patched": []}
    assert out["history"] == {
        "o-1": ["draft-invoice", "approved", "send-invoice"],
        "o-2": ["draft-invoice", "@patch:fraud-check", "fraud-check", "approved", "send-invoice"],
    }


def test_the_unpatched_version_stalls_the_old_execution(make_env):
    env = make_env(ex.version_1)
    eid = env.schedule("invoice", "o-1")
    env.run_until_idle()
    env.restart(registry=zart.TaskRegistry([ex.invoice_v2_unpatched]))
    env.offer_event(eid, "approved")
    env.run_until_idle()
    record = env.get(eid)
    assert record.status == "stalled" and "fraud-check" in record.error["message"]
    env.restart(registry=ex.version_2)
    env.retry(eid)
    env.run_until_idle()
    assert env.result(eid) == "sent inv-o-1"
