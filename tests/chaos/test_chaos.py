"""The chaos harness's short run on every store, and its checks catching
what they guard (a harness that cannot fail proves nothing).

The short run: 150 executions of the mixed workload scheduled over 15 s
while a random worker process is SIGKILLed every 1-3 s; on PostgreSQL the
server is also restarted once, held down for 5 s and the workers'
connections terminated. Everything must end as an undisturbed run does.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.pg import postgres_url_or_skip
from zart.testing import TestEnv

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.chaos_parts import audit, checks, plan
from bench.chaos_parts.app import registry
from bench.chaos_parts.run import Settings, run


def _reachable(store: str) -> None:
    if store == "postgres":
        postgres_url_or_skip()
    elif store == "mysql":
        from tests.mysql import mysql_url_or_skip

        mysql_url_or_skip()


@pytest.mark.parametrize("store", ["sqlite", "postgres", "mysql"])
def test_the_short_chaos_run_loses_nothing(store: str) -> None:
    _reachable(store)
    settings = Settings(
        store=store, executions=150, spread=15.0, db_faults=store == "postgres", outage=5.0
    )
    report = run(settings)
    print("\n".join(report.lines()))
    assert report.ok, "\n".join(report.lines() + report.lost + report.stuck + report.orphans)
    assert report.kills >= 3 and report.stored > report.executions
    if store == "postgres":
        assert (report.restarts, report.outages) == (1, 1)


class _Cluster:
    kills = 0
    slots = [object()]

    @staticmethod
    def log_text() -> str:
        return ""


def _checked(env: TestEnv, jobs: list[plan.Job], expected: Any, audit_path: str) -> checks.Report:
    """The checks over ``env``'s store, as after a run without kills."""
    cluster: Any = _Cluster()
    return checks.check(env.client, jobs, expected, audit_path, cluster, None, ended=True, took=1.0)


def test_the_checks_catch_a_lost_outcome_a_stuck_execution_and_unexplained_re_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = plan.jobs(30, seed=7)
    expected = plan.reference(jobs)
    assert plan.reference(jobs) == expected  # the undisturbed run is repeatable
    runs = iter(range(10))

    def checked(expected: Any, rerun: str | None = None) -> checks.Report:
        """The checks over a fresh undisturbed run of ``jobs``, audited in a
        file of its own; ``rerun``: a job whose first step's side effect is
        then made to have happened five more times, with no kill."""
        audit_path = str(tmp_path / f"audit-{next(runs)}.db")
        audit.create(audit_path)
        monkeypatch.setenv(audit.ENV, audit_path)
        with TestEnv(registry) as env:
            plan.start(env, jobs)
            plan.act_until_ended(env, jobs)
            if rerun is not None:
                with audit.connect(audit_path) as conn:
                    conn.executemany(
                        "INSERT INTO audit VALUES (?, ?, 0, 1, 'ok')", [(rerun, "work-0")] * 5
                    )
            report = _checked(env, jobs, expected, audit_path)
            left = env.client.schedule("chaos-cancelled", 1, execution_id="left-waiting")
            env.run_until_idle()
            stuck = _checked(env, jobs, expected, audit_path)
            assert not stuck.ok and stuck.stuck[0].startswith(left)
        return report

    good = checked(expected)
    assert good.ok, good.lines()
    assert good.effects_rerun == 0 and good.stored > len(jobs)
    tampered = dict(expected)
    tampered[jobs[1].eid] = plan.Outcome(status="completed", output="x", error_type=None, log=())
    lost = checked(tampered)
    assert not lost.ok and [line.split(":")[0] for line in lost.lost] == [jobs[1].eid]
    seq = next(job.eid for job in jobs if job.task == "chaos-seq")
    rerun = checked(expected, rerun=seq)
    assert (rerun.effects_rerun, rerun.rerun_bound, rerun.ok) == (5, 0, False)
