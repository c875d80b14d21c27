"""``zart check``: an app whose code changed between runs (a module in
the test's directory, found through PYTHONPATH) is replayed against the
executions the old code left, and every one that would stall is listed."""

from __future__ import annotations

from pathlib import Path

import pytest

import zart
from tests.cli.conftest import Zart, base_env, rows
from zart.records import NewExecution

BEFORE = """
from typing import Any
import zart

@zart.step("fetch")
def fetch(n: int) -> int:
    return n + 1

@zart.step("audit")
def audit(n: int) -> int:
    return n

@zart.durable("flow")
def flow(n: int) -> Any:
    {audit}a = yield fetch(n)
    b = yield zart.wait_event("go")
    return a + b

@zart.durable("steady")
def steady(n: int) -> Any:
    return (yield fetch(n))

registry = zart.TaskRegistry([flow, steady])
"""
# The same app with a step inserted before recorded history.
AFTER = BEFORE.replace("{audit}", "yield audit(n)\n    ")
BEFORE = BEFORE.replace("{audit}", "")


@pytest.fixture
def flows(zart_cli: Zart, tmp_path: Path) -> tuple[Zart, Path]:
    """The CLI with an ``apps`` directory on PYTHONPATH, and flowapp.py in it
    as the old code ran it: w1 waiting, w2 and s1 completed."""
    apps = tmp_path / "apps"
    apps.mkdir()
    module = apps / "flowapp.py"
    module.write_text(BEFORE)
    zart_cli.env = base_env(ZART_DATABASE_URL=zart_cli.url or "", PYTHONPATH=str(apps))
    for eid, task in (("w1", "flow"), ("w2", "flow"), ("s1", "steady")):
        zart_cli.ok("schedule", task, "--data", "1", "--id", eid, "--app", "flowapp")
    zart_cli.ok("worker", "--app", "flowapp", "--until-idle")
    zart_cli.ok("event", "w2", "go", "--data", "10")
    zart_cli.ok("worker", "--app", "flowapp", "--until-idle")
    assert zart_cli.ok("status", "w2", "--json").json()["output"] == 12
    return zart_cli, module


def test_check_passes_code_that_matches_every_log(flows: tuple[Zart, Path]) -> None:
    cli, _ = flows
    done = cli("check", "--app", "flowapp")
    assert (done.code, done.out) == (0, "checked 3 execution(s): none would stall\n")
    assert cli("check", "--app", "flowapp", "--json").json() == {"checked": 3, "stalls": []}


def test_check_lists_every_execution_changed_code_would_stall(flows: tuple[Zart, Path]) -> None:
    cli, module = flows
    module.write_text(AFTER)
    found = cli("check", "--app", "flowapp")
    assert found.code == 1
    table = rows(found.out)
    assert table[0] == ["ID", "NAME", "STATUS", "REASON"]
    assert sorted(row[:3] for row in table[1:-1]) == [
        ["w1", "flow", "waiting"],
        ["w2", "flow", "completed"],
    ]
    assert all(row[3].startswith("non-determinism at 'audit'") for row in table[1:-1])
    assert table[-1] == ["checked 3 execution(s): 2 would stall"]
    report = cli("check", "--app", "flowapp", "--json")
    assert report.code == 1
    document = report.json()
    assert document["checked"] == 3
    assert sorted(s["id"] for s in document["stalls"]) == ["w1", "w2"]
    assert {s["error"] for s in document["stalls"]} == {"NonDeterminismError"}
    only = cli("check", "--app", "flowapp", "--task", "steady")
    assert (only.code, only.out) == (0, "checked 1 execution(s): none would stall\n")


def test_what_check_lists_is_what_a_worker_stalls(flows: tuple[Zart, Path]) -> None:
    cli, module = flows
    module.write_text(AFTER)
    cli.ok("event", "w1", "go", "--data", "5")
    cli.ok("worker", "--app", "flowapp", "--until-idle")
    status = cli.ok("status", "w1", "--json").json()
    assert status["status"] == "stalled"
    assert "non-determinism at 'audit'" in status["error"]["message"]
    # A stalled execution has not ended: wait says so, and times out.
    late = cli("wait", "w1", "--timeout", "0")
    assert late.code == 2
    assert late.err.splitlines() == [
        "zart: warning: execution 'w1' is stalled (its code no longer matches its log); "
        "it waits for `zart retry`",
        "zart: error: execution 'w1' did not end within 0 s (status stalled)",
    ]


def test_check_refuses_a_task_the_app_does_not_have(flows: tuple[Zart, Path]) -> None:
    cli, _ = flows
    refused = cli("check", "--app", "flowapp", "--task", "nope")
    assert refused.code == 2
    assert refused.error() == "unknown task 'nope'; registered: flow, steady"


def test_check_reads_every_page(flows: tuple[Zart, Path]) -> None:
    cli, _ = flows
    store = zart.connect(cli.url or "")
    try:
        for i in range(450):  # more than two pages of 200
            store.create(NewExecution(id=f"p{i:03d}", task_name="steady", input=i))
    finally:
        store.close()
    done = cli("check", "--app", "flowapp", "--task", "steady")
    assert (done.code, done.out) == (0, "checked 451 execution(s): none would stall\n")
