"""``POST /api/v1/executions/{id}/fork``, on the memory store and on a
SQLite file: a new execution that replays the source's log up to a step
and runs the rest anew (201, with its Location); 404 for an unknown source;
409 when the fork cannot be made or its id is taken; 422 for a bad body."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import zart
from tests.http.support import ATTEMPTS, Http, client_on, http_for, run_until_idle

KINDS = ["memory", "sqlite"]


@pytest.fixture(params=KINDS)
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[zart.Client]:
    with client_on(request.param, tmp_path) as c:
        yield c


@pytest.fixture
def http(client: zart.Client) -> Http:
    return http_for(client)


def completed_flaky(client: zart.Client) -> tuple[str, str]:
    """A completed run of ``flaky`` (its step failed once, then passed);
    its id and its step's name."""
    order = f"order-{uuid.uuid4().hex}"
    eid = client.schedule("flaky", order)
    run_until_idle(client)
    assert client.get(eid).status == "completed"
    return eid, f"charge-{order}"


def test_fork_starts_a_new_execution_that_runs_the_step_anew(
    http: Http, client: zart.Client
) -> None:
    eid, step = completed_flaky(client)
    answer = http.post(f"/api/v1/executions/{eid}/fork", {"from_step": step})
    assert answer.status == 201, answer.body
    forked = answer.json
    assert forked["id"] != eid
    assert (forked["task"], forked["status"], forked["input"]) == ("flaky", "pending", step[7:])
    assert answer.headers["location"] == f"/api/v1/executions/{forked['id']}"
    assert http.get(answer.headers["location"]).json == forked
    order = step[len("charge-") :]
    run_until_idle(client)
    assert client.get(forked["id"]).output == f"charged {order}"
    assert ATTEMPTS[order] == 3  # the step ran again in the fork
    assert client.get(eid).status == "completed"  # the source is untouched


def test_fork_with_an_id_is_idempotent_by_refusal(http: Http, client: zart.Client) -> None:
    eid, step = completed_flaky(client)
    body = {"from_step": step, "execution_id": "again/1"}
    answer = http.post(f"/api/v1/executions/{eid}/fork", body)
    assert answer.status == 201
    assert answer.headers["location"] == "/api/v1/executions/again%2F1"
    taken = http.post(f"/api/v1/executions/{eid}/fork", body)
    assert (taken.status, taken.error) == (409, "already_exists")


def test_a_fork_that_cannot_be_made_is_409(http: Http, client: zart.Client) -> None:
    eid, _ = completed_flaky(client)
    answer = http.post(f"/api/v1/executions/{eid}/fork", {"from_step": "no-such-step"})
    assert (answer.status, answer.error) == (409, "not_forkable")
    assert "no record named 'no-such-step'" in answer.json["message"]
    assert [e.id for e in client.list()] == [eid]


def test_a_fork_of_an_unknown_execution_is_404(http: Http) -> None:
    answer = http.post("/api/v1/executions/nobody/fork", {"from_step": "x"})
    assert (answer.status, answer.error) == (404, "not_found")
    long = "x" * 300
    assert http.post(f"/api/v1/executions/{long}/fork", {"from_step": "x"}).status == 404


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "charge",
        {},
        {"from_step": 1},
        {"from_step": None},
        {"from_step": ""},
        {"from_step": "   "},
        {"from_step": "x" * 256},
        {"from_step": "s", "execution_id": 7},
        {"from_step": "s", "execution_id": ""},
        {"from_step": "s", "id": "other"},
    ],
)
def test_a_bad_body_is_422(http: Http, client: zart.Client, body: Any) -> None:
    eid, _ = completed_flaky(client)
    answer = http.post(f"/api/v1/executions/{eid}/fork", body)
    assert (answer.status, answer.error) == (422, "invalid"), answer.body
    assert len(client.list()) == 1


def test_no_body_is_422(http: Http, client: zart.Client) -> None:
    eid, _ = completed_flaky(client)
    answer = http.post(f"/api/v1/executions/{eid}/fork")
    assert (answer.status, answer.error) == (422, "invalid")


def test_read_only_refuses_a_fork(client: zart.Client) -> None:
    eid, step = completed_flaky(client)
    answer = http_for(client, read_only=True).post(
        f"/api/v1/executions/{eid}/fork", {"from_step": step}
    )
    assert (answer.status, answer.error) == (405, "read_only")
    assert len(client.list()) == 1
