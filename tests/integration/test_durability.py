"""Durability of real ``zart worker`` processes on SQLite files, PostgreSQL
and MySQL.

Each test runs the workflows of ``tests.integration.app`` in subprocesses
started with ``zart --db URL worker --app tests.integration.app`` and reads
two sources of truth: the store (status, output, history) and the journal,
where every step body records each START and FINISH with an fsync, so the
number of times a body really ran survives a SIGKILL.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.integration import app
from tests.integration.conftest import DEADLINE, POLL, Env, new_id

pytestmark = pytest.mark.slow


def step_keys(eid: str, n: int, kind: str = "step") -> list[str]:
    return [f"{eid}/{kind}-{i}" for i in range(n)]


def assert_history_once(env: Env, eid: str, expected: list[str]) -> None:
    """The execution's log holds each expected name exactly once, completed."""
    history = env.store.history(eid)
    names = [rec.name for rec in history]
    assert names == expected, f"history of {eid}: {names}"
    bad = [(rec.name, rec.status) for rec in history if rec.status != "completed"]
    assert not bad, f"history of {eid} has records not completed: {bad}"


# -- 1. SIGKILL while a step is in flight ------------------------------------------


def test_sigkill_mid_step_reruns_only_the_step_in_flight(env: Env) -> None:
    eid = new_id("killed")
    gate = env.gate()
    env.client.schedule(
        "seq", app.SeqInput(key=eid, n=4, gate_at=2, gate=str(gate)), execution_id=eid
    )
    keys = step_keys(eid, 4)

    worker_a = env.start_worker("A")
    env.wait_for(
        lambda: env.counts()[("START", keys[2])] == 1,
        "worker A to start the gated step-2",
        alive=[worker_a],
    )
    before = env.counts()
    assert before[("FINISH", keys[0])] == 1 and before[("FINISH", keys[1])] == 1
    assert before[("FINISH", keys[2])] == 0
    assert env.store.get(eid).status == "running"

    worker_a.kill()
    assert worker_a.popen.returncode == -9
    env.open_gate(gate)
    worker_b = env.start_worker("B")
    env.wait_final([eid], alive=[worker_b])

    record = env.store.get(eid)
    assert record.status == "completed", record.error
    assert record.output == [f"{eid}:{i}" for i in range(4)]

    counts = env.counts()
    # Finished before the kill: recorded, never run again.
    for key in keys[:2]:
        assert counts[("START", key)] == 1, (key, counts)
        assert counts[("FINISH", key)] == 1, (key, counts)
    # In flight at the kill: run again exactly once, by worker B.
    assert counts[("START", keys[2])] == 2, counts
    assert counts[("FINISH", keys[2])] == 1, counts
    starts = [pid for event, key, pid in env.journal() if event == "START" and key == keys[2]]
    assert starts == [worker_a.pid, worker_b.pid]
    # After the kill: once.
    assert counts[("START", keys[3])] == 1, counts
    assert counts[("FINISH", keys[3])] == 1, counts
    assert set(key for _, key in counts) == set(keys)

    assert_history_once(env, eid, [f"step-{i}" for i in range(4)])
    assert worker_b.stop() == 0, env.logs()


def test_sigkill_during_fan_out_reruns_only_the_child_in_flight(env: Env) -> None:
    fan_id = new_id("fankill")
    gate = env.gate()
    env.client.schedule(
        "fanout", app.FanInput(key=fan_id, k=6, gate_at=2, gate=str(gate)), execution_id=fan_id
    )
    keys = step_keys(fan_id, 6, "leaf")

    worker_a = env.start_worker("A", concurrency=4)

    def others_recorded() -> bool:
        children = env.store.list(parent_id=fan_id, limit=100)
        done = [c for c in children if c.status == "completed"]
        return len(children) == 6 and len(done) == 5 and env.counts()[("START", keys[2])] == 1

    env.wait_for(others_recorded, "5 children recorded and leaf-2 in flight", alive=[worker_a])
    worker_a.kill()
    env.open_gate(gate)
    worker_b = env.start_worker("B")
    env.wait_final([fan_id], alive=[worker_b])

    record = env.store.get(fan_id)
    assert record.status == "completed", record.error
    squares = [i * i for i in range(6)]
    assert record.output == {"squares": squares, "sum": sum(squares)}
    counts = env.counts()
    for i, key in enumerate(keys):
        assert counts[("START", key)] == (2 if i == 2 else 1), (key, counts)
        assert counts[("FINISH", key)] == 1, (key, counts)
    assert_history_once(env, fan_id, [f"leaf-{i}" for i in range(6)])
    children = env.store.list(parent_id=fan_id, limit=100)
    assert sorted(c.status for c in children) == ["completed"] * 6
    assert worker_b.stop() == 0, env.logs()


@pytest.mark.parametrize("env", ["postgres"], indirect=True)
def test_sigkill_between_a_childs_commit_and_its_parents_wake_up(env: Env) -> None:
    # PostgreSQL only: there a finishing child wakes its parent in a
    # statement after its commit (on SQLite both are one transaction). The
    # worker runs app_held_wake, whose wake-up statement waits for an
    # advisory lock held here, and is killed while every child waits there.
    assert env.server_url is not None
    fan_id = new_id("wakekill")
    holder = psycopg.connect(env.server_url, autocommit=True)
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", [app.HOLD_KEY])
        env.client.schedule("fanout", app.FanInput(key=fan_id, k=3), execution_id=fan_id)
        worker_a = env.start_worker("A", app_module="tests.integration.app_held_wake")

        def held_wake_ups() -> list[int]:
            rows = holder.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s "
                "AND NOT granted",
                [app.HOLD_KEY],
            ).fetchall()
            return [pid for (pid,) in rows]

        def all_held() -> bool:
            children = env.store.list(parent_id=fan_id, limit=10)
            finished = [c for c in children if c.status == "completed"]
            return len(finished) == 3 and len(held_wake_ups()) == 3

        env.wait_for(all_held, "3 children committed, their wake-ups held", alive=[worker_a])
        assert env.store.get(fan_id).status == "waiting"
        worker_a.kill()
        assert worker_a.popen.returncode == -9
        for pid in held_wake_ups():  # the dead worker's statements end with it
            holder.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        holder.close()
    assert env.store.get(fan_id).status == "waiting"  # nobody woke it

    worker_b = env.start_worker("B")
    env.wait_final([fan_id], alive=[worker_b])
    record = env.store.get(fan_id)
    assert record.status == "completed", record.error
    assert record.output == {"squares": [0, 1, 4], "sum": 5}
    counts = env.counts()
    for key in step_keys(fan_id, 3, "leaf"):
        assert counts[("START", key)] == 1 and counts[("FINISH", key)] == 1, (key, counts)
    assert_history_once(env, fan_id, [f"leaf-{i}" for i in range(3)])
    assert worker_b.stop() == 0, env.logs()
    assert "woke 1 parent(s) whose children had all ended" in worker_b.stderr()


# -- 2. several worker processes on one store ------------------------------------


@pytest.mark.parametrize("processes", [2, 4])
def test_worker_processes_share_a_store_every_step_runs_once(env: Env, processes: int) -> None:
    seq_ids = [new_id(f"seq{i}") for i in range(40)]
    for eid in seq_ids:
        env.client.schedule("seq", app.SeqInput(key=eid, n=3, delay=0.005), execution_id=eid)
    fan_id = new_id("fan")
    env.client.schedule("fanout", app.FanInput(key=fan_id, k=20, delay=0.005), execution_id=fan_id)

    # No worker dies here: a long lease keeps a slow heartbeat on a loaded machine
    # from handing a live worker's execution to another (at-least-once, legally).
    workers = [env.start_worker(f"w{i}", concurrency=4, lease=10) for i in range(processes)]
    statuses = env.wait_final([*seq_ids, fan_id], alive=workers)
    for worker in workers:
        assert worker.stop() == 0, env.logs()
    assert set(statuses.values()) == {"completed"}, statuses

    expected = [key for eid in seq_ids for key in step_keys(eid, 3)]
    expected += step_keys(fan_id, 20, "leaf")
    counts = env.counts()
    ran_twice = sorted(
        key for key in expected if counts[("START", key)] != 1 or counts[("FINISH", key)] != 1
    )
    assert not ran_twice, f"step bodies not run exactly once: {ran_twice[:10]} ({counts})"
    assert set(key for _, key in counts) == set(expected)

    for eid in seq_ids:
        assert env.store.get(eid).output == [f"{eid}:{i}" for i in range(3)]
        assert_history_once(env, eid, ["step-0", "step-1", "step-2"])

    fan = env.store.get(fan_id)
    assert fan.output == {
        "squares": [i * i for i in range(20)],
        "sum": sum(i * i for i in range(20)),
    }
    parent_log = env.store.history(fan_id)
    assert sorted(rec.name for rec in parent_log) == sorted(f"leaf-{i}" for i in range(20))
    assert {rec.status for rec in parent_log} == {"completed"}
    children = env.store.list(parent_id=fan_id, limit=1000)
    assert len(children) == 20
    assert len({c.id for c in children}) == 20
    assert {c.status for c in children} == {"completed"}
    for child in children:
        names = [rec.name for rec in env.store.history(child.id)]
        assert len(names) == len(set(names)), (child.id, names)

    pids = {pid for _, _, pid in env.journal()}
    print(f"\n[{env.kind}, {processes} workers] step bodies ran in {len(pids)} processes")


# -- 3. PostgreSQL restarts under running workers --------------------------------


def _pg_restart(url: str) -> None:
    if shutil.which("pg_ctlcluster") is None or not os.path.isdir("/etc/postgresql"):
        message = "restarting PostgreSQL needs pg_ctlcluster and /etc/postgresql"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    version = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(p) for p in v.split(".")])
    done = subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version[-1], "main", "restart"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"pg_ctlcluster restart failed: {done.stdout}{done.stderr}"
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", str(parts.port or 5432)
    deadline = time.monotonic() + DEADLINE
    while subprocess.run(["pg_isready", "-q", "-h", host, "-p", port]).returncode != 0:
        assert time.monotonic() < deadline, "PostgreSQL did not come back after the restart"
        time.sleep(POLL)


def _pg_started_at(url: str) -> object:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
    assert row is not None
    return row[0]


@pytest.mark.postgres
@pytest.mark.parametrize("env", ["postgres"], indirect=True)
def test_postgres_restart_while_workers_run(env: Env) -> None:
    ids = [new_id(f"pgr{i}") for i in range(24)]
    for eid in ids:
        env.client.schedule("seq", app.SeqInput(key=eid, n=3, delay=0.1), execution_id=eid)
    total = len(ids) * 3
    workers = [env.start_worker(f"w{i}", concurrency=4) for i in range(2)]
    env.wait_for(
        lambda: sum(1 for event, _, _ in env.journal() if event == "FINISH") >= 10,
        "the first steps to finish",
        alive=workers,
    )
    finished_before = sum(1 for event, _, _ in env.journal() if event == "FINISH")
    assert finished_before < total, "the run ended before the restart; make the steps slower"

    assert env.server_url is not None
    started = _pg_started_at(env.server_url)
    _pg_restart(env.server_url)
    assert _pg_started_at(env.server_url) != started, "the server did not restart"
    env.reconnect()  # this process's pooled connections died with the server

    statuses = env.wait_final(ids, timeout=120, alive=workers)
    for worker in workers:
        assert worker.stop() == 0, env.logs()
    assert set(statuses.values()) == {"completed"}, statuses

    counts = env.counts()
    reruns = {}
    for eid in ids:
        assert env.store.get(eid).output == [f"{eid}:{i}" for i in range(3)]
        assert_history_once(env, eid, ["step-0", "step-1", "step-2"])
        for key in step_keys(eid, 3):
            assert counts[("FINISH", key)] >= 1, (key, counts)
            if counts[("START", key)] > 1:
                reruns[key] = counts[("START", key)]
    cut = sum(w.stderr().count("lost its connection") for w in workers)
    print(
        f"\n[postgres restart] {finished_before}/{total} steps finished before the restart; "
        f"store calls that lost their connection: {cut}; "
        f"step bodies run more than once: {len(reruns)} {reruns}"
    )


# -- 4. an event offered while the workflow runs a step ----------------------------


def test_event_offered_during_a_step_is_not_lost(env: Env) -> None:
    eid = new_id("evt")
    gate = env.gate()
    env.client.schedule("evented", app.EventInput(key=eid, gate=str(gate)), execution_id=eid)
    worker = env.start_worker("A")
    env.wait_for(
        lambda: env.counts()[("START", f"{eid}/step-0")] == 1,
        "the gated step to start",
        alive=[worker],
    )
    assert env.store.get(eid).status == "running"
    assert env.client.offer_event(eid, "go", {"answer": 42}) is True
    env.open_gate(gate)

    env.wait_final([eid], alive=[worker])
    record = env.store.get(eid)
    assert record.status == "completed", record.error
    assert record.output == {"first": f"{eid}:0", "payload": {"answer": 42}, "last": f"{eid}:1"}
    counts = env.counts()
    assert counts == Counter(
        {
            ("START", f"{eid}/step-0"): 1,
            ("FINISH", f"{eid}/step-0"): 1,
            ("START", f"{eid}/step-1"): 1,
            ("FINISH", f"{eid}/step-1"): 1,
        }
    )
    assert_history_once(env, eid, ["step-0", "go", "step-1"])
    assert worker.stop() == 0, env.logs()


# -- 5. a task no worker knows ----------------------------------------------------------


def _schedule_unknown(env: Env) -> str:
    eid = new_id("ghost")
    done = env.cli("schedule", "no-such-task", "--data", '{"x": 1}', "--id", eid)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == eid
    return eid


def _assert_untouched(env: Env, eid: str) -> None:
    record = env.store.get(eid)
    assert record.status == "pending"
    assert record.attempt == 0
    assert record.error is None
    assert env.store.history(eid) == []


def test_unknown_task_until_idle_exits_zero_and_leaves_it_pending(env: Env) -> None:
    ghost = _schedule_unknown(env)
    known = new_id("known")
    env.client.schedule("seq", app.SeqInput(key=known, n=2), execution_id=known)

    worker = env.start_worker("idle", until_idle=True)
    code = worker.wait()
    assert code == 0, env.logs()
    assert env.store.get(known).status == "completed"
    _assert_untouched(env, ghost)


def test_unknown_task_until_idle_warns(env: Env) -> None:
    _schedule_unknown(env)
    worker = env.start_worker("idle", until_idle=True)
    assert worker.wait() == 0, env.logs()
    assert "no-such-task" in worker.stderr(), worker.stderr()


def test_unknown_task_running_worker_warns_once_and_keeps_working(env: Env) -> None:
    ghost = _schedule_unknown(env)
    worker = env.start_worker("long")
    env.wait_for(
        lambda: "no-such-task" in worker.stderr(), "a warning naming the task", alive=[worker]
    )
    # Still serving: a workflow scheduled now runs to the end.
    known = new_id("known")
    env.client.schedule("seq", app.SeqInput(key=known, n=2), execution_id=known)
    env.wait_final([known], alive=[worker])
    assert env.store.get(known).status == "completed"

    assert worker.stop() == 0, env.logs()
    log = worker.stderr()
    warnings = [line for line in log.splitlines() if "WARNING" in line and "no-such-task" in line]
    assert len(warnings) == 1, log
    assert "Traceback" not in log, log
    _assert_untouched(env, ghost)


# -- 6. SIGTERM while a worker starts ----------------------------------------------


def test_sigterm_while_the_worker_starts_exits_zero_and_claims_nothing(env: Env) -> None:
    eid = new_id("early")
    env.client.schedule("seq", app.SeqInput(key=eid, n=1), execution_id=eid)
    worker = env.start_worker("early", app_module="tests.integration.app_slow_start")
    env.wait_for(lambda: (env.tmp / "importing").exists(), "the app import", alive=[worker])
    worker.popen.send_signal(signal.SIGTERM)  # mid-import, before run() handles signals
    assert worker.wait() == 0, env.logs()
    assert "SIGTERM while starting: stopped before any claim" in worker.stderr(), env.logs()
    assert "Traceback" not in worker.stderr(), env.logs()
    _assert_untouched(env, eid)
