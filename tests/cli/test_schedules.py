"""``zart schedules``: the list as a table (next and last tick, the last
execution, paused, served) and as the API's JSON; pause, resume, trigger
and delete, each with ``--json``; unknown ids as one-line errors."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from tests.cli.conftest import Zart, client, drive, live_worker, local, rows
from tests.http.support import Http
from zart import views
from zart.http import make_app

HEADER = ["ID", "TASK", "WHEN", "ZONE", "NEXT", "LAST", "LAST EXECUTION", "PAUSED", "SERVED"]
UNSERVED = "zart: warning: no live worker serves 'approval', 'cli-double': those ticks wait for one"


def two_schedules(url: str) -> None:
    with client(url) as c:
        c.create_schedule("nightly", "cli-double", 21, cron="0 2 * * *", timezone="Asia/Tokyo")
        c.create_schedule("often", "approval", "o-1", every=timedelta(minutes=90))


def api(url: str, method: str, path: str) -> Any:
    """What the HTTP API answers on the same database."""
    with client(url) as c:
        answer = Http(make_app(c, dashboard=False)).call(method, path)
        return answer.status, answer.json


def test_the_list_is_a_table_with_next_and_last_ticks(zart_cli: Zart, url: str) -> None:
    two_schedules(url)
    with client(url) as c:
        nightly, often = c.get_schedule("nightly"), c.get_schedule("often")
    done = zart_cli.ok("schedules")
    assert done.err == UNSERVED + "\n"
    assert rows(done.out) == [
        HEADER,
        ["nightly", "cli-double", "0 2 * * *", "Asia/Tokyo", local(nightly.next_tick),
         "-", "-", "no", "no"],
        ["often", "approval", "every 1h30m", "UTC", local(often.next_tick), "-", "-", "no", "no"],
    ]  # fmt: skip
    assert zart_cli.ok("schedules", "list").out == done.out


def test_the_list_marks_schedules_no_live_worker_serves(zart_cli: Zart, url: str) -> None:
    two_schedules(url)
    live_worker(url, ("cli-double",))
    done = zart_cli.ok("schedules")
    assert done.err == "zart: warning: no live worker serves 'approval': those ticks wait for one\n"
    served = {row[0]: row[-1] for row in rows(done.out)[1:]}
    assert served == {"nightly": "yes", "often": "no"}


def test_the_list_json_is_what_the_api_answers(zart_cli: Zart, url: str) -> None:
    two_schedules(url)
    live_worker(url, ("approval",))
    document = zart_cli.ok("schedules", "--json").json()
    assert document == api(url, "GET", "/api/v1/schedules")[1]
    assert [(s["id"], s["served"]) for s in document["schedules"]] == [
        ("nightly", False),
        ("often", True),
    ]
    assert zart_cli.ok("schedules", "list", "--json").json() == document
    assert zart_cli.ok("schedules", "--json", "list").json() == document


def test_no_schedules_is_a_header_alone(zart_cli: Zart) -> None:
    zart_cli.ok("migrate")
    done = zart_cli.ok("schedules")
    assert (rows(done.out), done.err) == ([HEADER], "")
    assert zart_cli.ok("schedules", "--json").json() == {"schedules": []}


def test_pause_and_resume(zart_cli: Zart, url: str) -> None:
    two_schedules(url)
    assert zart_cli.ok("schedules", "pause", "often").out == "paused often\n"
    assert rows(zart_cli.ok("schedules").out)[2][7] == "yes"
    resumed = zart_cli.ok("schedules", "resume", "often")
    with client(url) as c:
        record = c.get_schedule("often")
    assert resumed.out == f"resumed often; next tick {local(record.next_tick)}\n"
    document = zart_cli.ok("schedules", "pause", "often", "--json").json()
    assert document["paused"] is True
    assert document == api(url, "GET", "/api/v1/schedules/often")[1]
    assert zart_cli.ok("schedules", "resume", "often", "--json").json()["paused"] is False


def test_trigger_starts_a_tick_now_and_prints_its_id(zart_cli: Zart, url: str) -> None:
    two_schedules(url)
    done = zart_cli.ok("schedules", "trigger", "nightly")
    eid = done.out.strip()
    assert eid.startswith("nightly@")
    assert done.err == (
        "zart: warning: no live worker serves task 'cli-double'; the execution waits for one\n"
    )
    drive(url)
    with client(url) as c:
        assert c.get(eid).output == 42
    listed = {row[0]: row for row in rows(zart_cli.ok("schedules").out)[1:]}
    assert listed["nightly"][6] == eid
    live_worker(url, ("cli-double",))
    again = zart_cli.ok("schedules", "trigger", "nightly", "--json")
    assert again.err == ""
    document = again.json()
    assert (document["task"], document["input"], document["status"]) == (
        "cli-double",
        21,
        "pending",
    )
    with client(url) as c:
        assert document == json.loads(json.dumps(views.execution(c.get(document["id"]))))


def test_delete(zart_cli: Zart, url: str) -> None:
    two_schedules(url)
    assert zart_cli.ok("schedules", "delete", "often").out == "deleted often\n"
    document = zart_cli.ok("schedules", "delete", "nightly", "--json").json()
    assert document == {"schedule_id": "nightly", "deleted": True}
    assert zart_cli.ok("schedules", "--json").json() == {"schedules": []}


def test_an_unknown_schedule_is_one_line(zart_cli: Zart) -> None:
    zart_cli.ok("migrate")
    for action in ("pause", "resume", "trigger", "delete"):
        done = zart_cli("schedules", action, "nope")
        assert (done.code, done.error()) == (2, "no schedule with id 'nope'"), action
        assert done.out == ""
    blank = zart_cli("schedules", "pause", " ")
    assert blank.code == 2 and "schedule_id" in blank.error()
    assert zart_cli("schedules", "pause").code == 2  # ID is required
    bad = zart_cli("schedules", "frobnicate")
    assert bad.code == 2 and "invalid choice: 'frobnicate'" in bad.error()
