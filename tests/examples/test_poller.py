from __future__ import annotations

from examples import poller as ex
from tests.examples.driver import drive


def test_the_poller_continues_as_new_and_keeps_the_last_run(make_env):
    env = make_env(ex.registry)
    eid = env.schedule(ex.feed_poller, ex.Cursor(stop_after=7, per_run=3))
    drive(env, eid)
    assert env.result(eid) == ex.Cursor(seen=7, polls=7, stop_after=7, per_run=3)
    record = env.get(eid)
    assert record.run == 3 and record.input["polls"] == 6
    assert [s.name for s in env.history(eid)] == ["fetch-6", "pause-7"]
    assert [s.name for s in env.history(eid, run=2)][:2] == ["fetch-3", "pause-4"]
    assert env.history(eid, run=1) == []  # keep_runs=1: only the run before is kept


def test_main_runs_on_sqlite(tmp_path):
    out = ex.main(f"sqlite:///{tmp_path / 'poller.db'}")
    assert (out.seen, out.polls) == (7, 5)
