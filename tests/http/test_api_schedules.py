"""The schedule routes of the API, on the memory store and on a SQLite
file: schedules listed and read with whether a live worker serves their
task, paused, resumed, triggered and deleted; 404s for unknown ones; read-only
mode refusing every action. Creating one has no route: it stays in code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import zart
from tests.http.support import Http, client_on, http_for, run_until_idle
from zart import views
from zart.http import openapi

KINDS = ["memory", "sqlite"]


@pytest.fixture(params=KINDS)
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[zart.Client]:
    with client_on(request.param, tmp_path) as c:
        c.create_schedule(
            "nightly",
            "double",
            21,
            cron="0 2 * * *",
            timezone="Europe/Paris",
            jitter=timedelta(minutes=5),
        )
        c.create_schedule("often", "approval", {"who": "ada"}, every=timedelta(minutes=90))
        yield c


@pytest.fixture
def http(client: zart.Client) -> Http:
    return http_for(client)


def path(schedule_id: str, action: str = "") -> str:
    return "/api/v1/schedules/" + quote(schedule_id, safe="") + action


def document(client: zart.Client, schedule_id: str, served: bool = False) -> Any:
    """The schedule's view as JSON text reads it back."""
    return json.loads(json.dumps(views.schedule(client.get_schedule(schedule_id), served)))


# -- reading ---------------------------------------------------------------------------


def test_list_shows_every_schedule_by_id(http: Http, client: zart.Client) -> None:
    answer = http.get("/api/v1/schedules")
    assert answer.status == 200
    assert answer.json == {"schedules": [document(client, "nightly"), document(client, "often")]}
    nightly = answer.json["schedules"][0]
    assert (nightly["cron"], nightly["every"], nightly["timezone"]) == (
        "0 2 * * *",
        None,
        "Europe/Paris",
    )
    assert (nightly["jitter"], nightly["input"], nightly["paused"]) == (300.0, 21, False)
    assert nightly["next_tick"] <= nightly["next_fire_at"]
    often = answer.json["schedules"][1]
    assert (often["cron"], often["every"], often["task"]) == (None, 5400.0, "approval")


def test_served_says_whether_a_live_worker_serves_the_task(http: Http, client: zart.Client) -> None:
    def served() -> dict[str, bool]:
        found = http.get("/api/v1/schedules").json["schedules"]
        return {s["id"]: s["served"] for s in found}

    assert served() == {"nightly": False, "often": False}
    worker = zart.Worker(client.store, zart.TaskRegistry([client.registry.get("double")]))
    worker.announce()
    try:
        assert served() == {"nightly": True, "often": False}
        assert http.get(path("nightly")).json["served"] is True
        assert http.get(path("often")).json["served"] is False
    finally:
        worker.retire()
    assert served() == {"nightly": False, "often": False}


def test_get_shows_one_schedule(http: Http, client: zart.Client) -> None:
    answer = http.get(path("often"))
    assert answer.status == 200
    assert answer.json == document(client, "often")
    # Every field of the view is in the OpenAPI schema, and only those.
    assert set(answer.json) == set(openapi.SCHEDULE["properties"])


def test_an_empty_list(tmp_path: Path) -> None:
    with client_on("memory", tmp_path) as c:
        assert http_for(c).get("/api/v1/schedules").json == {"schedules": []}


@pytest.mark.parametrize(
    ("method", "action"),
    [("GET", ""), ("DELETE", ""), ("POST", "/pause"), ("POST", "/resume"), ("POST", "/trigger")],
)
@pytest.mark.parametrize("schedule_id", ["nope", "x" * 256, "a/b", "\u00e9t\u00e9", " "])
def test_an_unknown_schedule_is_a_404(
    http: Http, client: zart.Client, method: str, action: str, schedule_id: str
) -> None:
    answer = http.call(method, path(schedule_id, action))
    assert answer.status == 404, answer.body
    assert answer.error == "not_found"
    assert [s.id for s in client.list_schedules()] == ["nightly", "often"]


# -- acting ----------------------------------------------------------------------------


def test_pause_then_resume(http: Http, client: zart.Client) -> None:
    paused = http.post(path("nightly", "/pause"))
    assert paused.status == 200
    assert paused.json["paused"] is True
    assert paused.json == document(client, "nightly")
    assert http.post(path("nightly", "/pause")).json["paused"] is True  # twice: still paused
    resumed = http.post(path("nightly", "/resume"))
    assert resumed.status == 200
    assert resumed.json["paused"] is False
    assert resumed.json["next_tick"] > resumed.json["updated_at"]  # from now on
    assert client.get_schedule("nightly").paused is False


def test_trigger_starts_a_tick_now_even_when_paused(http: Http, client: zart.Client) -> None:
    client.pause_schedule("nightly")
    answer = http.post(path("nightly", "/trigger"))
    assert answer.status == 201
    execution = answer.json
    assert execution["id"].startswith("nightly@")
    assert (execution["task"], execution["input"], execution["status"]) == ("double", 21, "pending")
    assert answer.headers["location"] == "/api/v1/executions/" + quote(execution["id"], safe="")
    assert http.get(answer.headers["location"]).json["id"] == execution["id"]
    assert client.get_schedule("nightly").last_execution_id == execution["id"]
    run_until_idle(client)
    assert client.get(execution["id"]).output == 42


def test_delete_removes_the_schedule_and_keeps_its_executions(
    http: Http, client: zart.Client
) -> None:
    started = http.post(path("often", "/trigger")).json["id"]
    answer = http.call("DELETE", path("often"))
    assert answer.status == 200
    assert answer.json == {"schedule_id": "often", "deleted": True}
    assert [s.id for s in client.list_schedules()] == ["nightly"]
    assert client.get(started).task_name == "approval"
    again = http.call("DELETE", path("often"))
    assert (again.status, again.error) == (404, "not_found")


def test_no_route_creates_a_schedule(http: Http, client: zart.Client) -> None:
    answer = http.post("/api/v1/schedules", {"id": "x", "task": "double", "cron": "* * * * *"})
    assert answer.status == 405
    assert answer.headers["allow"] == "GET"
    assert http.call("PUT", path("x")).status == 405
    assert [s.id for s in client.list_schedules()] == ["nightly", "often"]


def test_read_only_refuses_every_schedule_action(client: zart.Client) -> None:
    read_only = http_for(client, read_only=True)
    before = client.list_schedules()
    for method, action in [
        ("POST", "/pause"),
        ("POST", "/resume"),
        ("POST", "/trigger"),
        ("DELETE", ""),
    ]:
        answer = read_only.call(method, path("nightly", action))
        assert (answer.status, answer.error) == (405, "read_only"), action
    assert read_only.call("DELETE", path("nightly")).headers["allow"] == "GET"
    assert client.list_schedules() == before
    assert client.list() == []
    assert read_only.get("/api/v1/schedules").status == 200
    assert read_only.get(path("nightly")).status == 200


def test_a_body_over_the_limit_is_413_on_an_action(client: zart.Client) -> None:
    small = http_for(client, max_body=10)
    answer = small.post(path("nightly", "/pause"), {"padding": "x" * 100})
    assert (answer.status, answer.error) == (413, "body_too_large")
    assert client.get_schedule("nightly").paused is False
