"""Every route of the API doing its job, on the memory store and on a
SQLite file: executions created, listed, read, waited for, cancelled and
retried; events and messages delivered; workers, health and the OpenAPI
document served."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware

import zart
from tests.http.support import Http, client_on, http_for, run_until_idle
from zart.http import make_app

KINDS = ["memory", "sqlite"]


@pytest.fixture(params=KINDS)
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[zart.Client]:
    with client_on(request.param, tmp_path) as c:
        yield c


@pytest.fixture
def http(client: zart.Client) -> Http:
    return http_for(client)


def create(http: Http, task: str, data: Any = None, eid: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"task": task, "input": data}
    if eid is not None:
        body["id"] = eid
    answer = http.post("/api/v1/executions", body)
    assert answer.status == 201, answer.body
    document: dict[str, Any] = answer.json
    return document


def path(eid: str) -> str:
    return "/api/v1/executions/" + quote(eid, safe="")


# -- creating --------------------------------------------------------------------------


def test_create_stores_the_execution_and_says_where(http: Http, client: zart.Client) -> None:
    answer = http.post("/api/v1/executions", {"task": "double", "input": 21, "id": "d-1"})
    assert answer.status == 201
    assert answer.headers["location"] == "/api/v1/executions/d-1"
    execution = answer.json["execution"]
    assert execution["id"] == "d-1"
    assert execution["task"] == "double"
    assert execution["status"] == "pending"
    assert execution["input"] == 21
    assert client.get("d-1").input == 21


def test_create_without_id_makes_one(http: Http, client: zart.Client) -> None:
    execution = create(http, "double", 1)["execution"]
    assert client.get(execution["id"]).task_name == "double"


def test_create_warns_when_no_live_worker_serves_the_task(http: Http, client: zart.Client) -> None:
    warnings = create(http, "double", 1)["warnings"]
    assert len(warnings) == 1
    assert "no live worker serves task 'double'" in warnings[0]


def test_create_does_not_warn_when_a_worker_serves_the_task(
    http: Http, client: zart.Client
) -> None:
    worker = zart.Worker(client.store, client.registry)
    worker.announce()  # records itself as a live worker, as run() does first
    try:
        assert create(http, "double", 1)["warnings"] == []
    finally:
        worker.retire()


def test_created_execution_runs_to_its_output(http: Http, client: zart.Client) -> None:
    eid = create(http, "double", 21)["execution"]["id"]
    run_until_idle(client)
    document = http.get(path(eid)).json
    assert document["status"] == "completed"
    assert document["output"] == 42


def test_without_a_registry_any_task_stores_its_raw_input(tmp_path: Path) -> None:
    with client_on("memory", tmp_path, empty=True) as client:
        http = http_for(client)
        data = {"nested": [1, "two", None, {"three": 3.5}]}
        execution = create(http, "elsewhere.task", data, "raw-1")["execution"]
        assert execution["task"] == "elsewhere.task"
        assert client.get("raw-1").input == data


# -- reading ---------------------------------------------------------------------------


def test_get_shows_the_execution_document(http: Http, client: zart.Client) -> None:
    eid = client.schedule("approval", {"who": "ada"}, execution_id="a-1")
    document = http.get(path(eid)).json
    assert set(document) >= {"id", "name", "task", "status", "input", "output", "error"}
    assert document["input"] == {"who": "ada"}
    assert document["status"] == "pending"


def test_list_filters_by_status_task_parent_and_search(http: Http, client: zart.Client) -> None:
    for i in range(3):
        client.schedule("double", i, execution_id=f"d-{i}")
    client.schedule("approval", None, execution_id="a-1")
    client.cancel("d-2")

    def ids(query: str) -> list[str]:
        answer = http.get("/api/v1/executions" + query)
        assert answer.status == 200, answer.body
        return sorted(e["id"] for e in answer.json["executions"])

    assert ids("") == ["a-1", "d-0", "d-1", "d-2"]
    assert ids("?status=cancelled") == ["d-2"]
    assert ids("?task=double&status=pending") == ["d-0", "d-1"]
    assert ids("?search=d-") == ["d-0", "d-1", "d-2"]
    assert ids("?parent=a-1") == []
    assert len(ids("?limit=2")) == 2
    assert len(ids("?limit=2&offset=3")) == 1


def test_list_says_its_page(http: Http) -> None:
    document = http.get("/api/v1/executions?limit=7&offset=2").json
    assert document == {"executions": [], "limit": 7, "offset": 2}


def test_steps_show_the_log_with_each_failed_attempt(http: Http, client: zart.Client) -> None:
    order = f"order-{uuid.uuid4().hex}"  # the flaky step fails once per order
    eid = client.schedule("flaky", order)
    run_until_idle(client)
    document = http.get(path(eid) + "/steps").json
    assert document["execution_id"] == eid
    assert document["run"] is None
    [step] = document["steps"]
    assert step["name"] == f"charge-{order}"
    assert step["step"] == "charge-{order}"
    assert step["status"] == "completed"
    assert step["result"] == f"charged {order}"
    assert [e["type"] for e in step["errors"]] == ["ConnectionError"]
    assert http.get(path(eid) + "/steps?run=1").json["steps"] == document["steps"]
    assert http.get(path(eid) + "/steps?run=2").json["steps"] == []


def test_workers_lists_the_live_workers(http: Http, client: zart.Client) -> None:
    assert http.get("/api/v1/workers").json == {"workers": []}
    worker = zart.Worker(client.store, client.registry)
    worker.announce()
    try:
        [listed] = http.get("/api/v1/workers").json["workers"]
        assert listed["id"] == worker.worker_id
        assert listed["alive"] is True
        assert sorted(listed["tasks"]) == sorted(client.registry.names())
    finally:
        worker.retire()
    assert http.get("/api/v1/workers").json == {"workers": []}


def test_health_and_openapi(http: Http) -> None:
    assert http.get("/healthz").json == {"status": "ok"}
    document = http.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.")
    assert "/api/v1/executions" in document["paths"]


# -- waiting ---------------------------------------------------------------------------


def test_wait_answers_202_with_the_execution_when_the_timeout_passes(
    http: Http, client: zart.Client
) -> None:
    eid = client.schedule("approval", None)
    answer = http.get(path(eid) + "/wait?timeout=0")
    assert answer.status == 202
    assert answer.json["status"] == "pending"


def test_wait_answers_200_once_the_execution_ends(http: Http, client: zart.Client) -> None:
    eid = client.schedule("double", 4)
    run_until_idle(client)
    answer = http.get(path(eid) + "/wait?timeout=5")
    assert answer.status == 200
    assert answer.json["output"] == 8


def test_wait_returns_when_the_execution_ends_meanwhile(http: Http, client: zart.Client) -> None:
    eid = client.schedule("double", 5)
    worker = threading.Thread(target=run_until_idle, args=(client,))
    worker.start()
    try:
        answer = http.get(path(eid) + "/wait?timeout=60")
    finally:
        worker.join()
    assert answer.status == 200
    assert answer.json["output"] == 10


# -- acting ----------------------------------------------------------------------------


def test_event_resumes_the_waiting_workflow(http: Http, client: zart.Client) -> None:
    eid = client.schedule("approval", None)
    run_until_idle(client)
    assert client.get(eid).status == "waiting"
    answer = http.post(f"/api/v1/events/{quote(eid)}/approved", {"by": "ada"})
    assert answer.status == 200
    assert answer.json == {"execution_id": eid, "event": "approved", "accepted": True}
    run_until_idle(client)
    assert client.get(eid).output == {"decision": {"by": "ada"}}


def test_a_second_event_under_the_same_name_is_not_accepted(
    http: Http, client: zart.Client
) -> None:
    eid = client.schedule("approval", None)
    assert http.post(f"/api/v1/events/{eid}/approved", 1).json["accepted"] is True
    assert http.post(f"/api/v1/events/{eid}/approved", 2).json["accepted"] is False
    run_until_idle(client)
    assert client.get(eid).output == {"decision": 1}


def test_event_without_a_body_carries_null(http: Http, client: zart.Client) -> None:
    eid = client.schedule("approval", None)
    assert http.post(f"/api/v1/events/{eid}/approved").status == 200
    run_until_idle(client)
    assert client.get(eid).output == {"decision": None}


def test_message_is_received_by_the_workflow(http: Http, client: zart.Client) -> None:
    eid = client.schedule("inbox", None)
    answer = http.post(f"/api/v1/messages/{eid}/items", {"sku": 7})
    assert answer.status == 201
    assert answer.json["execution_id"] == eid
    assert answer.json["topic"] == "items"
    assert isinstance(answer.json["message_id"], int)
    run_until_idle(client)
    assert client.get(eid).output == {"sku": 7}


def test_a_message_posted_again_with_its_idempotency_key_is_stored_once(
    http: Http, client: zart.Client
) -> None:
    eid = client.schedule("inbox", None)
    keyed = {"headers": {"Idempotency-Key": "order-7:1"}}
    first = http.post(f"/api/v1/messages/{eid}/items", {"sku": 7}, **keyed)
    again = http.post(f"/api/v1/messages/{eid}/items", {"sku": 7}, **keyed)
    assert first.status == again.status == 201
    assert first.json["message_id"] == again.json["message_id"]
    assert [m.payload for m in client.store.load(eid).messages["items"]] == [{"sku": 7}]
    run_until_idle(client)
    assert client.get(eid).output == {"sku": 7}
    # It got there before the workflow ended: posting it again is no conflict.
    late = http.post(f"/api/v1/messages/{eid}/items", {"sku": 7}, **keyed)
    assert (late.status, late.json["message_id"]) == (201, first.json["message_id"])
    refused = http.post(f"/api/v1/messages/{eid}/items", 1, headers={"Idempotency-Key": " "})
    assert refused.status == 422 and "idempotency_key" in refused.json["message"]


def test_cancel_ends_the_execution(http: Http, client: zart.Client) -> None:
    eid = client.schedule("approval", None)
    answer = http.post(path(eid) + "/cancel")
    assert answer.status == 200
    assert answer.json["status"] == "cancelled"
    assert client.get(eid).status == "cancelled"


def test_retry_runs_a_failed_execution_again(http: Http, client: zart.Client) -> None:
    eid = client.schedule("boom", None)
    run_until_idle(client)
    assert client.get(eid).status == "failed"
    answer = http.post(path(eid) + "/retry")
    assert answer.status == 200
    assert answer.json["status"] == "pending"
    assert answer.json["attempt"] == client.get(eid).attempt
    assert client.get(eid).status == "pending"


def test_mounted_under_a_prefix_with_werkzeugs_dispatcher(client: zart.Client) -> None:
    """As the README mounts it in a Flask app (Flask's app.wsgi_app is a
    WSGI app like the one here)."""

    def host_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"the host application"]

    mounted = Http(DispatcherMiddleware(host_app, {"/zart": make_app(client, dashboard=False)}))
    created = mounted.post("/zart/api/v1/executions", {"task": "approval", "id": "in/side"})
    assert created.status == 201
    assert created.headers["location"] == "/zart/api/v1/executions/in%2Fside"
    assert mounted.get(created.headers["location"]).json["id"] == "in/side"
    assert mounted.get("/zart/healthz").json == {"status": "ok"}
    assert mounted.get("/elsewhere").body == b"the host application"


def test_the_dashboard_has_every_path_but_the_apis(client: zart.Client) -> None:
    http = Http(make_app(client))
    assert http.get("/").headers["content-type"].startswith("text/html")
    assert http.get("/api/v1/nothing").error == "not_found"
    assert http.get("/api").error == "not_found"
    assert http.get("/healthz").json == {"status": "ok"}
    assert http.get("/metrics").headers["content-type"].startswith("text/plain")
