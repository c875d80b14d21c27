"""Every error status of the API, each a JSON ``{"error", "message"}``: what
a malformed, oversized, unknown or conflicting request gets back."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import zart
from tests.http.support import Http, client_on, environ, http_for, registry, run_until_idle
from zart.errors import StoreError
from zart.stores.memory import MemoryStore


@pytest.fixture
def client(tmp_path: Path) -> Iterator[zart.Client]:
    with client_on("memory", tmp_path) as c:
        yield c


@pytest.fixture
def http(client: zart.Client) -> Http:
    return http_for(client)


def post_json_text(
    http: Http, path: str, text: str | bytes, content_type: str = "application/json"
) -> Any:
    return http.post(path, data=text, headers={"Content-Type": content_type})


# -- 400: what is not JSON, or not what the route reads ---------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{", "malformed_json"),
        ('{"task": "double",}', "malformed_json"),
        ("NaN", "malformed_json"),
        ('{"task": "double", "input": Infinity}', "malformed_json"),
        ("1" * 5000, "malformed_json"),  # past Python's digits limit for int()
        ("[" * 10_000 + "]" * 10_000, "too_deep"),
        ('{"a":' * 10_000 + "1" + "}" * 10_000, "too_deep"),
        ("[" * 101 + "]" * 101, "too_deep"),  # under json's recursion limit, past ours
    ],
)
def test_malformed_or_too_deep_json_is_400(
    http: Http, client: zart.Client, text: str, code: str
) -> None:
    eid = client.schedule("approval", None)
    for path in (
        "/api/v1/executions",
        f"/api/v1/events/{eid}/approved",
        f"/api/v1/messages/{eid}/t",
    ):
        answer = post_json_text(http, path, text)
        assert answer.status == 400, (path, answer.body)
        assert answer.error == code


def test_json_100_deep_is_accepted(http: Http, client: zart.Client) -> None:
    eid = client.schedule("approval", None)
    answer = post_json_text(http, f"/api/v1/events/{eid}/approved", "[" * 100 + "]" * 100)
    assert answer.status == 200


def test_body_that_is_not_utf8_is_400(http: Http) -> None:
    answer = post_json_text(http, "/api/v1/executions", '{"task": "é"}'.encode("latin-1"))
    assert answer.status == 400
    assert answer.error == "malformed_json"


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
def test_wrong_content_type_is_400(http: Http, client: zart.Client, content_type: str) -> None:
    eid = client.schedule("approval", None)
    for path in ("/api/v1/executions", f"/api/v1/events/{eid}/approved"):
        answer = post_json_text(http, path, '{"task": "double", "input": 1}', content_type)
        assert answer.status == 400
        assert answer.error == "unsupported_media_type"
    assert client.list(task="double") == []


def test_json_content_types_with_utf8_or_a_suffix_are_read(http: Http) -> None:
    for content_type in ("application/json; charset=utf-8", "application/vnd.zart+json"):
        answer = post_json_text(
            http, "/api/v1/executions", '{"task": "double", "input": 1}', content_type
        )
        assert answer.status == 201, answer.body


def test_another_charset_is_400(http: Http) -> None:
    answer = post_json_text(http, "/api/v1/executions", "{}", "application/json; charset=latin-1")
    assert answer.status == 400
    assert answer.error == "bad_charset"


def test_a_bad_content_length_is_400(http: Http) -> None:
    answer = http.raw(environ("POST", "/api/v1/executions", b"{}", CONTENT_LENGTH="twelve"))
    assert answer.status == 400


@pytest.mark.parametrize(
    "query",
    [
        "limit=abc",
        "limit=0",
        "limit=1001",
        "limit=-1",
        "limit=1.5",
        "offset=-1",
        "offset=" + "9" * 30,
        "status=bogus",
        "task=%00",
        "task=" + "t" * 300,
        "parent=",
        "search=" + "s" * 300,
        "search=%00",
        "limit=1&limit=2",
        "task=%FF",
    ],
)
def test_bad_list_parameters_are_400(http: Http, query: str) -> None:
    answer = http.get("/api/v1/executions?" + query)
    assert answer.status == 400, answer.body
    assert answer.error == "bad_request"


@pytest.mark.parametrize(
    "query", ["timeout=-1", "timeout=nan", "timeout=inf", "timeout=61", "timeout=x"]
)
def test_bad_wait_timeouts_are_400(http: Http, client: zart.Client, query: str) -> None:
    eid = client.schedule("approval", None)
    answer = http.get(f"/api/v1/executions/{eid}/wait?{query}")
    assert answer.status == 400
    assert answer.error == "bad_request"


@pytest.mark.parametrize("run", ["0", "-2", "one"])
def test_bad_run_is_400(http: Http, client: zart.Client, run: str) -> None:
    eid = client.schedule("approval", None)
    assert http.get(f"/api/v1/executions/{eid}/steps?run={run}").status == 400


def test_a_path_that_is_not_utf8_is_400(http: Http) -> None:
    answer = http.get("/api/v1/executions/%FF%FE")
    assert answer.status == 400
    assert answer.error == "bad_request"


# -- 404 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("GET", "/steps"),
        ("GET", "/wait?timeout=0"),
        ("POST", "/cancel"),
        ("POST", "/retry"),
    ],
)
def test_unknown_execution_is_404(http: Http, method: str, suffix: str) -> None:
    answer = http.call(method, "/api/v1/executions/nobody" + suffix)
    assert answer.status == 404
    assert answer.error == "not_found"
    assert "nobody" in answer.json["message"]


def test_events_and_messages_to_an_unknown_execution_are_404(http: Http) -> None:
    assert http.post("/api/v1/events/nobody/e", 1).status == 404
    assert http.post("/api/v1/messages/nobody/t", 1).status == 404


@pytest.mark.parametrize(
    "path",
    ["/api/v1/nothing", "/api/v2/executions", "/api/v1/executions/a/b/c", "/api", "/metrics/x"],
)
def test_unknown_route_is_404(http: Http, path: str) -> None:
    answer = http.get(path)
    assert answer.status == 404
    assert answer.error == "not_found"


def test_without_the_dashboard_every_other_path_is_a_json_404(http: Http) -> None:
    assert http.get("/").error == "not_found"


# -- 405 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/v1/executions", "POST, GET"),
        ("DELETE", "/api/v1/executions/x", "GET"),
        ("GET", "/api/v1/executions/x/cancel", "POST"),
        ("GET", "/api/v1/events/x/e", "POST"),
        ("POST", "/api/v1/workers", "GET"),
        ("POST", "/healthz", "GET"),
        ("PATCH", "/metrics", "GET"),
    ],
)
def test_a_method_the_route_does_not_take_is_405(
    http: Http, method: str, path: str, allow: str
) -> None:
    answer = http.call(method, path)
    assert answer.status == 405
    assert answer.error == "method_not_allowed"
    assert answer.headers["allow"] == allow


# -- 409 ----------------------------------------------------------------------------------


def test_an_existing_id_is_409(http: Http, client: zart.Client) -> None:
    client.schedule("double", 1, execution_id="taken")
    answer = http.post("/api/v1/executions", {"task": "double", "input": 2, "id": "taken"})
    assert answer.status == 409
    assert answer.error == "already_exists"
    assert client.get("taken").input == 1


def test_cancelling_a_finished_execution_is_409(http: Http, client: zart.Client) -> None:
    eid = client.schedule("double", 1)
    run_until_idle(client)
    answer = http.post(f"/api/v1/executions/{eid}/cancel")
    assert answer.status == 409
    assert answer.error == "finished"
    assert "completed" in answer.json["message"]
    assert client.get(eid).status == "completed"


@pytest.mark.parametrize("finish", [False, True])
def test_retrying_what_has_not_failed_is_409(http: Http, client: zart.Client, finish: bool) -> None:
    eid = client.schedule("double", 1)
    if finish:
        run_until_idle(client)
    before = client.get(eid)
    answer = http.post(f"/api/v1/executions/{eid}/retry")
    assert answer.status == 409
    assert answer.error == "not_retryable"
    assert client.get(eid) == before


def test_events_and_messages_to_a_finished_execution_are_409(
    http: Http, client: zart.Client
) -> None:
    eid = client.schedule("approval", None)
    client.cancel(eid)
    for path in (f"/api/v1/events/{eid}/approved", f"/api/v1/messages/{eid}/items"):
        answer = http.post(path, 1)
        assert answer.status == 409
        assert answer.error == "finished"


# -- 413 ----------------------------------------------------------------------------------


class Unreadable(io.RawIOBase):
    """A body stream that must not be read."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")


def test_a_body_over_max_body_is_413_unread(client: zart.Client) -> None:
    http = http_for(client, max_body=100)
    env = environ(
        "POST", "/api/v1/executions", CONTENT_LENGTH="101", **{"wsgi.input": Unreadable()}
    )
    answer = http.raw(env)
    assert answer.status == 413
    assert answer.error == "body_too_large"


def test_a_body_at_max_body_is_read(client: zart.Client) -> None:
    http = http_for(client, max_body=100)
    body = b'{"task": "double", "input": 1}'
    answer = http.raw(environ("POST", "/api/v1/executions", body.ljust(100)))
    assert answer.status == 201


def test_a_body_without_length_is_read_only_to_the_limit(client: zart.Client) -> None:
    http = http_for(client, max_body=100)
    stream = io.BytesIO(b"[" + b"1," * 1000 + b"1]")
    env = environ(
        "POST",
        "/api/v1/executions",
        CONTENT_LENGTH="",
        **{"wsgi.input": stream, "wsgi.input_terminated": True},
    )
    answer = http.raw(env)
    assert answer.status == 413
    assert stream.tell() == 101  # max_body + 1 bytes, no more


def test_each_action_bounds_its_body(client: zart.Client) -> None:
    http = http_for(client, max_body=10)
    eid = client.schedule("approval", None)
    for path in (
        f"/api/v1/events/{eid}/approved",
        f"/api/v1/messages/{eid}/items",
        f"/api/v1/executions/{eid}/cancel",
        f"/api/v1/executions/{eid}/retry",
        "/api/v1/executions",
    ):
        answer = http.post(path, "x" * 20)
        assert answer.status == 413, path
    assert client.get(eid).status == "pending"


def test_a_value_over_the_store_payload_limit_is_413(tmp_path: Path) -> None:
    client = zart.Client(MemoryStore(max_payload=64), registry())
    http = http_for(client)
    big = "x" * 100
    answer = http.post("/api/v1/executions", {"task": "approval", "input": big})
    assert answer.status == 413
    assert answer.error == "payload_too_large"
    assert "payload limit of 64 bytes" in answer.json["message"]
    eid = client.schedule("approval", None)
    answer = http.post(f"/api/v1/events/{eid}/approved", big)
    assert answer.status == 413
    assert http.post(f"/api/v1/messages/{eid}/items", big).status == 413


def test_without_a_registry_the_payload_limit_holds_too(tmp_path: Path) -> None:
    client = zart.Client(MemoryStore(max_payload=64))
    answer = http_for(client).post("/api/v1/executions", {"task": "any", "input": "x" * 100})
    assert answer.status == 413


# -- 422 ----------------------------------------------------------------------------------


def test_an_unknown_task_is_422_naming_the_known_ones(http: Http, client: zart.Client) -> None:
    answer = http.post("/api/v1/executions", {"task": "nope", "input": 1})
    assert answer.status == 422
    assert answer.error == "unknown_task"
    assert "double" in answer.json["message"]
    assert client.list() == []


def test_input_of_the_wrong_type_is_422(http: Http, client: zart.Client) -> None:
    answer = http.post("/api/v1/executions", {"task": "double", "input": "7"})
    assert answer.status == 422
    assert answer.error == "invalid_data"
    assert "expected int" in answer.json["message"]
    assert client.list() == []


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        None,
        "double",
        7,
        {"input": 1},
        {"task": 5},
        {"task": None},
        {"task": "double", "id": 5},
        {"task": "double", "extra": 1},
        {"task": "double", "input": 1, "id": ""},
        {"task": "double", "input": 1, "id": "x" * 256},
        {"task": "double", "input": 1, "id": "nul\x00"},
    ],
)
def test_a_creation_body_of_another_shape_is_422(
    http: Http, client: zart.Client, body: Any
) -> None:
    answer = http.post("/api/v1/executions", body)
    assert answer.status == 422, answer.body
    assert answer.error == "invalid"
    assert client.list() == []


def test_an_empty_creation_body_is_422(http: Http) -> None:
    answer = http.post("/api/v1/executions")
    assert answer.status == 422
    assert answer.error == "invalid"


@pytest.mark.parametrize("task", ["", " ", "t" * 256, "nul\x00", "\ud800"])
def test_without_a_registry_bad_task_names_are_422(tmp_path: Path, task: str) -> None:
    client = zart.Client(MemoryStore())
    # json.dumps escapes NUL and surrogates (\u0000): the text is valid JSON.
    answer = post_json_text(http_for(client), "/api/v1/executions", json.dumps({"task": task}))
    assert answer.status == 422, answer.body
    assert client.list() == []


def test_a_lone_surrogate_in_a_payload_is_422(http: Http, client: zart.Client) -> None:
    eid = client.schedule("approval", None)
    answer = post_json_text(http, f"/api/v1/events/{eid}/approved", '{"a": "\\ud800"}')
    assert answer.status == 422
    assert answer.error == "invalid_data"
    assert client.history(eid) == []


@pytest.mark.parametrize("name", ["e" * 256, "nul%00", "%20"])
def test_bad_event_names_and_topics_are_422(http: Http, client: zart.Client, name: str) -> None:
    eid = client.schedule("approval", None)
    assert http.post(f"/api/v1/events/{eid}/{name}", 1).status == 422
    assert http.post(f"/api/v1/messages/{eid}/{name}", 1).status == 422


# -- path parameters: slashes, unicode, long ones ------------------------------------------


@pytest.mark.parametrize(
    "eid", ["a/b", "a/b/steps", "/lead", "trail/", "ünï-✓-日本", "a%2Fb", "a b?c#d"]
)
def test_ids_with_slashes_and_unicode_round_trip(http: Http, client: zart.Client, eid: str) -> None:
    created = http.post("/api/v1/executions", {"task": "approval", "id": eid})
    assert created.status == 201, created.body
    quoted = quote(eid, safe="")
    assert created.headers["location"] == f"/api/v1/executions/{quoted}"
    assert http.get(f"/api/v1/executions/{quoted}").json["id"] == eid
    assert http.get(f"/api/v1/executions/{quoted}/steps").json["execution_id"] == eid
    name = "ok/" + eid
    answer = http.post(f"/api/v1/events/{quoted}/{quote(name, safe='')}", True)
    assert answer.json == {"execution_id": eid, "event": name, "accepted": True}
    assert http.post(f"/api/v1/executions/{quoted}/cancel").json["status"] == "cancelled"


def test_ten_kilobyte_path_parameters_get_a_clean_4xx(http: Http, client: zart.Client) -> None:
    long = "k" * 10_000
    for method, path in [
        ("GET", f"/api/v1/executions/{long}"),
        ("GET", f"/api/v1/executions/{long}/steps"),
        ("GET", f"/api/v1/executions/{long}/wait"),
        ("POST", f"/api/v1/executions/{long}/cancel"),
        ("POST", f"/api/v1/executions/{long}/retry"),
        ("POST", f"/api/v1/events/{long}/e"),
        ("POST", f"/api/v1/messages/{long}/t"),
    ]:
        answer = http.call(method, path)
        assert answer.status == 404, (method, answer.body)
        assert "at most 255" in answer.json["message"]
    eid = client.schedule("approval", None)
    assert http.post(f"/api/v1/events/{eid}/{long}", 1).status == 422
    assert http.get(f"/api/v1/executions?task={long}").status == 400


def test_a_path_without_a_raw_uri_still_routes(http: Http, client: zart.Client) -> None:
    """A server that passes no raw URI (wsgiref): PATH_INFO is split as it is."""
    eid = client.schedule("approval", None, execution_id="plain")
    answer = http.raw(environ("GET", f"/api/v1/executions/{eid}"))
    assert answer.status == 200
    assert answer.json["id"] == "plain"


def test_a_raw_uri_under_a_mount_point(http: Http, client: zart.Client) -> None:
    client.schedule("approval", None, execution_id="a/b")
    env = environ(
        "GET",
        "/api/v1/executions/a/b",
        SCRIPT_NAME="/ops/zart",
        REQUEST_URI="/ops/zart/api/v1/executions/a%2Fb?x=1",
    )
    answer = http.raw(env)
    assert answer.status == 200
    assert answer.json["id"] == "a/b"


# -- 5xx only for what the caller cannot fix -------------------------------------------------


class BrokenStore(MemoryStore):
    def get(self, execution_id: str) -> Any:
        raise StoreError("the database is down")

    def list(self, **options: Any) -> Any:
        raise RuntimeError("a bug, with a secret inside")


def test_an_unreachable_store_is_503_and_a_bug_a_bare_500(caplog: pytest.LogCaptureFixture) -> None:
    http = http_for(zart.Client(BrokenStore()))
    answer = http.get("/api/v1/executions/x")
    assert answer.status == 503
    assert answer.error == "store_unavailable"
    with caplog.at_level(logging.ERROR, logger="zart"):
        answer = http.get("/api/v1/executions")
    assert answer.status == 500
    assert answer.error == "internal"
    assert "secret" not in answer.json["message"]
    assert "a bug, with a secret inside" in caplog.text
