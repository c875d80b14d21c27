"""Every subcommand that starts, reads or acts on executions, as people
read it (tables, fields) and as scripts do (``--json``, one document)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.cli.conftest import APP, Zart, client, drive, live_worker, local, rows, wait_for
from zart import views

NO_WORKER = "zart: warning: no live worker serves task 'cli-double'; the execution waits for one"


def _documents(url: str, *ids: str) -> list[dict[str, object]]:
    """The executions' views as JSON text reads them back."""
    with client(url) as c:
        return [json.loads(json.dumps(views.execution(c.get(eid)))) for eid in ids]


# -- schedule -------------------------------------------------------------------


def test_schedule_prints_the_id_and_warns_when_no_live_worker_serves_the_task(
    zart_cli: Zart, url: str
) -> None:
    done = zart_cli.ok("schedule", "cli-double", "--data", "21", "--id", "e1")
    assert done.out == "e1\n"
    assert done.err.splitlines() == [NO_WORKER]
    with client(url) as c:
        record = c.get("e1")
    assert (record.status, record.input) == ("pending", 21)  # created all the same


def test_schedule_does_not_warn_when_a_live_worker_serves_the_task(
    zart_cli: Zart, url: str
) -> None:
    zart_cli.ok("migrate")
    live_worker(url, ("approval",), alive=False)
    assert zart_cli.ok("schedule", "cli-double", "--data", "1").err == NO_WORKER + "\n"
    live_worker(url, ("approval", "cli-double"))
    served = zart_cli.ok("schedule", "cli-double", "--data", "1", "--app", APP)
    assert served.err == ""


def test_schedule_json_is_the_new_execution_and_the_warnings(zart_cli: Zart, url: str) -> None:
    done = zart_cli.ok("schedule", "approval", "--data", '"o-1"', "--json")
    warning = "no live worker serves task 'approval'; the execution waits for one"
    assert done.err == f"zart: warning: {warning}\n"
    assert done.json()["warnings"] == [warning]
    document = done.json()["execution"]
    assert document == _documents(url, document["id"])[0]
    assert (document["task"], document["status"], document["input"]) == (
        "approval",
        "pending",
        "o-1",
    )


def test_schedule_with_an_app_checks_the_task_and_its_input(zart_cli: Zart, url: str) -> None:
    unknown = zart_cli("schedule", "nope", "--app", APP)
    assert unknown.code == 2 and "unknown task 'nope'; registered: approval" in unknown.error()
    wrong = zart_cli("schedule", "cli-double", "--data", '"7"', "--app", APP)
    assert wrong.code == 2
    assert "input of task 'cli-double'" in wrong.error() and "expected int" in wrong.error()
    assert zart_cli.ok("list", "--json").json()["executions"] == []


def test_schedule_refuses_an_id_that_exists(zart_cli: Zart) -> None:
    zart_cli.ok("schedule", "cli-double", "--data", "1", "--id", "e1")
    again = zart_cli("schedule", "cli-double", "--data", "2", "--id", "e1")
    assert again.code == 2
    assert again.error() == "execution 'e1' already exists (status pending)"


# -- status -------------------------------------------------------------------


def test_status_shows_the_execution_field_by_field(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("schedule", "cli-double", "--data", "21", "--id", "e1")
    drive(url)
    with client(url) as c:
        record = c.get("e1")
    fields = dict(line.split(":", 1) for line in zart_cli.ok("status", "e1").out.splitlines())
    shown = {name: value.strip() for name, value in fields.items()}
    assert shown["id"] == "e1" and shown["status"] == "completed"
    assert (shown["input"], shown["output"]) == ("21", "42")
    assert shown["created"] == local(record.created_at)
    assert shown["updated"] == local(record.updated_at)
    assert "error" not in shown and "traceback" not in shown


def test_status_of_a_failed_execution_shows_its_error_and_traceback(
    zart_cli: Zart, url: str
) -> None:
    zart_cli.ok("schedule", "doomed", "--data", '"kaboom"', "--id", "d1")
    drive(url)
    lines = zart_cli.ok("status", "d1").out.splitlines()
    assert "status:      failed" in lines
    assert "error:       step 'explode' failed after 1 attempt(s): RuntimeError: kaboom" in lines
    trace = lines[lines.index("traceback:") + 1 :]
    assert trace[0] == "  Traceback (most recent call last):"
    assert any("in explode" in line for line in trace)
    assert trace[-1] == "  RuntimeError: kaboom"


def test_status_json_is_the_execution_document(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("schedule", "doomed", "--data", '"kaboom"', "--id", "d1")
    drive(url)
    document = zart_cli.ok("status", "d1", "--json").json()
    assert document == _documents(url, "d1")[0]
    assert document["error"]["error_type"] == "RuntimeError"


# -- list -----------------------------------------------------------------------


def _family(zart_cli: Zart, url: str) -> None:
    """e1 completed, a1 waiting for an event, f1 completed with child f1:kid-1."""
    zart_cli.ok("schedule", "cli-double", "--data", "1", "--id", "e1")
    zart_cli.ok("schedule", "approval", "--data", '"o-1"', "--id", "a1")
    zart_cli.ok("schedule", "family", "--data", "4", "--id", "f1")
    drive(url)


def test_list_is_a_table_with_a_header_newest_first(zart_cli: Zart, url: str) -> None:
    _family(zart_cli, url)
    table = rows(zart_cli.ok("list").out)
    assert table[0] == ["ID", "NAME", "TASK", "STATUS", "ATTEMPT", "CREATED", "UPDATED"]
    with client(url) as c:
        records = c.list()
    assert [row[0] for row in table[1:]] == [rec.id for rec in records]
    shown = {row[0]: row for row in table[1:]}
    a1 = next(rec for rec in records if rec.id == "a1")
    assert shown["a1"] == [
        "a1", "approval", "approval", "waiting", "0", local(a1.created_at), local(a1.updated_at)
    ]  # fmt: skip


def test_list_filters_by_status_task_parent_and_id_prefix_and_pages(
    zart_cli: Zart, url: str
) -> None:
    _family(zart_cli, url)

    def ids(*flags: str) -> list[str]:
        listed = zart_cli.ok("list", "--json", *flags).json()
        return [doc["id"] for doc in listed["executions"]]

    everything = ids()
    assert sorted(everything) == ["a1", "e1", "f1", "f1:kid-1"]
    assert ids("--status", "waiting") == ["a1"]
    assert sorted(ids("--task", "cli-double")) == ["e1", "f1:kid-1"]
    assert ids("--parent", "f1") == ["f1:kid-1"]
    assert sorted(ids("--search", "f1")) == ["f1", "f1:kid-1"]
    assert ids("--limit", "2") == everything[:2]
    assert ids("--limit", "2", "--offset", "1") == everything[1:3]
    assert ids("--status", "failed") == []


def test_list_json_is_the_execution_documents(zart_cli: Zart, url: str) -> None:
    _family(zart_cli, url)
    listed = zart_cli.ok("list", "--json", "--limit", "3", "--offset", "1").json()
    documents = listed.pop("executions")
    assert listed == {"limit": 3, "offset": 1} and len(documents) == 3
    assert documents == _documents(url, *(doc["id"] for doc in documents))


def test_a_child_shows_its_own_name_not_its_parents_task(zart_cli: Zart, url: str) -> None:
    _family(zart_cli, url)
    child = next(row for row in rows(zart_cli.ok("list").out) if row[0] == "f1:kid-1")
    assert child[1:4] == ["kid-1", "cli-double", "completed"]
    assert "name:        kid-1" in zart_cli.ok("status", "f1:kid-1").out.splitlines()
    assert zart_cli.ok("status", "f1:kid-1", "--json").json()["name"] == "kid-1"
    parent = rows(zart_cli.ok("history", "f1").out)[1]
    assert parent[1:4] == ["kid-1", "schedule", "completed"]
    assert parent[-1] == "child f1:kid-1 = 8"


# -- history ---------------------------------------------------------------------


def test_history_is_a_table_of_the_log(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("schedule", "doomed", "--data", '"kaboom"', "--id", "d1")
    zart_cli.ok("schedule", "approval", "--data", '"o-1"', "--id", "a1")
    drive(url)
    table = rows(zart_cli.ok("history", "d1").out)
    assert table[0] == [
        "SEQ", "NAME", "KIND", "STATUS", "ATTEMPTS", "STARTED", "DURATION", "DETAIL"
    ]  # fmt: skip
    with client(url) as c:
        (step,) = c.history("d1")
    assert table[1][:6] == ["1", "explode", "step", "failed", "1", local(step.started_at)]
    assert table[1][7] == "RuntimeError: kaboom"
    waiting = rows(zart_cli.ok("history", "a1").out)[1]
    assert waiting[1:4] == ["go", "event", "waiting"] and waiting[-1] == "no deadline"


def test_history_json_is_the_log_documents_for_json_tool(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("schedule", "family", "--data", "2", "--id", "f1")
    drive(url)
    done = zart_cli.ok("history", "f1", "--json")
    with client(url) as c:
        expected = [json.loads(json.dumps(views.step(rec))) for rec in c.history("f1")]
    assert done.json() == {"execution_id": "f1", "run": None, "steps": expected}
    assert expected[0]["child_id"] == "f1:kid-1"
    first = zart_cli.ok("history", "f1", "--run", "1", "--json").json()
    assert first == {"execution_id": "f1", "run": 1, "steps": expected}


# -- events, messages ------------------------------------------------------------


def test_event_delivers_once_and_the_workflow_goes_on(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("schedule", "approval", "--data", '"o-1"', "--id", "a1")
    drive(url)
    assert zart_cli.ok("event", "a1", "go", "--data", '"yes"').out == "delivered\n"
    again = zart_cli.ok("event", "a1", "go", "--data", '"no"')
    assert again.out == "ignored (an event of that name was offered before)\n"
    assert zart_cli.ok("event", "a1", "go", "--json").json() == {
        "execution_id": "a1",
        "event": "go",
        "accepted": False,
    }
    drive(url)
    assert zart_cli.ok("status", "a1", "--json").json()["output"] == {
        "order": "o-1",
        "answer": "yes",
    }


def test_data_comes_from_a_file_or_from_stdin(zart_cli: Zart, url: str, tmp_path: Path) -> None:
    (tmp_path / "order.json").write_text('"o-\u00e9"')
    zart_cli.ok("schedule", "approval", "--data", "@order.json", "--id", "a1")
    drive(url)
    zart_cli.ok("event", "a1", "go", "--data", "-", input='{"ok": [1, 2]}')
    drive(url)
    output = zart_cli.ok("status", "a1", "--json").json()["output"]
    assert output == {"order": "o-\u00e9", "answer": {"ok": [1, 2]}}


def test_send_delivers_a_message_on_a_topic(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("schedule", "inbox", "--id", "i1")
    drive(url)
    assert zart_cli.ok("send", "i1", "in", "--data", '{"n": 1}').out.startswith("sent message ")
    second = zart_cli.ok("send", "i1", "in", "--data", '{"n": 2}', "--json").json()
    assert set(second) == {"execution_id", "topic", "message_id"}
    assert (second["execution_id"], second["topic"]) == ("i1", "in")
    drive(url)
    assert zart_cli.ok("status", "i1", "--json").json()["output"] == {"n": 1}  # oldest first


def test_send_with_a_key_sent_again_stores_nothing_new(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("schedule", "inbox", "--id", "i1")
    drive(url)
    sent = [
        zart_cli.ok("send", "i1", "in", "--data", '{"n": 1}', "--key", "n-1", "--json").json()
        for _ in range(2)
    ]
    assert sent[0]["message_id"] == sent[1]["message_id"]
    drive(url)
    assert zart_cli.ok("status", "i1", "--json").json()["output"] == {"n": 1}


# -- cancel, retry ------------------------------------------------------------------


def test_cancel_ends_an_execution_once(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("schedule", "approval", "--data", '"o-1"', "--id", "a1")
    drive(url)
    assert zart_cli.ok("cancel", "a1").out == "cancelled\n"
    assert zart_cli.ok("cancel", "a1").out == "already finished\n"
    cancelled = zart_cli.ok("cancel", "a1", "--json").json()
    assert cancelled == {"execution_id": "a1", "cancelled": False}
    assert zart_cli.ok("status", "a1", "--json").json()["status"] == "cancelled"


def test_cancel_with_the_app_starts_its_on_cancel_handler(zart_cli: Zart, url: str) -> None:
    for eid in ("g1", "g2"):
        zart_cli.ok("schedule", "cli-guarded", "--data", '"o-1"', "--id", eid)
    drive(url)
    zart_cli.ok("cancel", "g1")  # without the code, nothing knows the handler
    zart_cli.ok("cancel", "g2", "--app", APP)
    drive(url)
    for parent, handlers in (("g1", []), ("g2", ["g2:on-cancel@0"])):
        listed = zart_cli.ok("list", "--parent", parent, "--json").json()["executions"]
        assert [e["id"] for e in listed] == handlers
    assert zart_cli.ok("status", "g2:on-cancel@0", "--json").json()["output"] == "undone g2"


def test_retry_runs_a_failed_execution_again(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("schedule", "doomed", "--data", '"kaboom"', "--id", "d1")
    drive(url)
    before = zart_cli.ok("status", "d1", "--json").json()["attempt"]
    assert zart_cli.ok("retry", "d1").out == f"retrying d1 (attempt {before + 1})\n"
    drive(url)  # fails again: the step still raises
    document = zart_cli.ok("retry", "d1", "--json").json()
    assert (document["status"], document["attempt"]) == ("pending", before + 2)
    assert document == _documents(url, "d1")[0]


def test_retry_refuses_an_execution_that_did_not_fail(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("schedule", "cli-double", "--data", "1", "--id", "e1")
    drive(url)
    refused = zart_cli("retry", "e1")
    assert refused.code == 2
    assert refused.error().startswith("cannot retry execution 'e1': it is completed")
    assert zart_cli.ok("status", "e1", "--json").json()["status"] == "completed"


def test_fork_starts_a_copy_from_a_step_and_prints_its_id(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("schedule", "doomed", "--data", '"kaboom"', "--id", "d1")
    drive(url)
    assert zart_cli.ok("fork", "d1", "--from-step", "explode", "--id", "d2").out == "d2\n"
    document = zart_cli.ok("fork", "d1", "--from-step", "explode", "--json").json()
    assert (document["task"], document["status"], document["input"]) == (
        "doomed",
        "pending",
        "kaboom",
    )
    assert document == _documents(url, document["id"])[0]
    assert zart_cli.ok("status", "d1", "--json").json()["status"] == "failed"


def test_fork_names_what_is_wrong(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("schedule", "doomed", "--data", '"kaboom"', "--id", "d1")
    drive(url)
    unknown = zart_cli("fork", "d1", "--from-step", "nope")
    assert unknown.code == 2
    assert unknown.error() == (
        "cannot fork execution 'd1': its log has no record named 'nope' (it has: 'explode')"
    )
    assert zart_cli("fork", "d1").code == 2  # --from-step is required
    missing = zart_cli("fork", "zz", "--from-step", "explode")
    assert missing.code == 2 and "'zz'" in missing.error()
    assert [e["id"] for e in zart_cli.ok("list", "--json").json()["executions"]] == ["d1"]


# -- workers ---------------------------------------------------------------------


def test_workers_lists_the_live_ones_and_with_all_the_dead_too(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("migrate")
    live = live_worker(url, ("approval", "cli-double"))
    dead = live_worker(url, ("inbox",), alive=False)
    table = rows(zart_cli.ok("workers").out)
    assert table[0] == [
        "ID", "HOST", "PID", "TASKS", "CONCURRENCY", "INFLIGHT", "STARTED", "HEARTBEAT", "STATE"
    ]  # fmt: skip
    assert [row[0] for row in table[1:]] == [live]
    assert table[1][1:6] == ["testhost", "4242", "approval, cli-double", "3", "0"]
    assert table[1][-1] == "alive"
    everyone = {row[0]: row[-1] for row in rows(zart_cli.ok("workers", "--all").out)[1:]}
    assert everyone == {live: "alive", dead: "dead"}
    with client(url) as c:
        expected = [json.loads(json.dumps(views.worker(w))) for w in c.workers(include_dead=True)]
    assert zart_cli.ok("workers", "--all", "--json").json() == {"workers": expected}


def test_workers_shows_a_running_worker_until_it_stops(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("migrate")
    worker = zart_cli.popen("worker", "--app", APP, "--concurrency", "2")
    try:
        found = wait_for(
            lambda: zart_cli.ok("workers", "--json").json()["workers"], "the worker's row"
        )
        assert [(w["pid"], w["concurrency"], w["alive"]) for w in found] == [(worker.pid, 2, True)]
        assert "cli-double" in found[0]["tasks"]
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    gone = zart_cli.ok("workers", "--all", "--json").json()
    assert gone == {"workers": []}  # its row is removed on a clean stop
