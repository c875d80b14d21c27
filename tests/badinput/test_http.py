"""The HTTP API (``zart.http.make_app`` as WSGI) with bad input, on every
store: ids and names in the path (too long, blank, NUL, bytes that are not
UTF-8, an encoded lone surrogate), bad query parameters, bodies that are not
UTF-8, hold unstorable text, are over the payload or body limit or too
deep. Each is a 4xx with a JSON error whose message names the culprit, and
nothing stored changes; names of SQL metacharacters work."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import attrs
import pytest

import zart
from tests.badinput.cases import SQL_NAMES, snapshot
from tests.http.support import Http, environ, http_for, registry, run_until_idle
from tests.store_kinds import STORE_KINDS, open_store

LIMIT = 1000
MAX_BODY = 4096


@attrs.frozen
class Case:
    label: str
    text: str  # as it goes into the URL (percent-encoded where need be)
    status: tuple[int, ...]
    says: str  # what the message must say besides the culprit

    def __str__(self) -> str:
        return self.label


@pytest.fixture(scope="module", params=STORE_KINDS)
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[zart.Client]:
    """A client holding ``a1``, waiting for the event ``approved``, and
    ``d1``, completed; payloads limited to 1,000 bytes."""
    tmp: Path = tmp_path_factory.mktemp(request.param)
    with open_store(request.param, tmp) as store:
        store.max_payload = LIMIT
        client = zart.Client(store, registry())
        client.schedule("approval", None, execution_id="a1")
        client.schedule("double", 2, execution_id="d1")
        run_until_idle(client)
        yield client


@pytest.fixture
def http(client: zart.Client) -> Iterator[Http]:
    """The API over ``client``; every store row is as it was after the test."""
    before = snapshot(client)
    yield http_for(client, max_body=MAX_BODY)
    assert snapshot(client) == before


def refused(answer: Any, statuses: tuple[int, ...], *says: str) -> str:
    assert answer.status in statuses, (answer.status, answer.body[:300])
    answer.error  # noqa: B018 -- a JSON {"error", "message"} document
    message = str(answer.json["message"])
    for part in says:
        assert part in message, f"{part!r} not in {message[:300]!r}"
    return message


BAD_IDS = [
    Case("256-chars", "n" * 256, (404,), "{} is 256 characters long"),
    Case("100000-chars", "n" * 100_000, (404,), "{} is 100000 characters long"),
    Case("blank", "%20%09", (404,), "{} must not be empty or blank"),
    Case("NUL", "a%00b", (404,), "{} 'a\\x00b' holds a NUL"),
    Case("not-utf8", "caf%E9", (400,), "the path is not UTF-8"),
    Case("encoded-surrogate", "%ED%A0%80", (400,), "the path is not UTF-8"),
]
ID_ROUTES = [
    ("GET", "/api/v1/executions/{}"),
    ("GET", "/api/v1/executions/{}/steps"),
    ("GET", "/api/v1/executions/{}/wait?timeout=0"),
    ("POST", "/api/v1/executions/{}/cancel"),
    ("POST", "/api/v1/executions/{}/retry"),
    ("POST", "/api/v1/executions/{}/fork"),
    ("POST", "/api/v1/events/{}/approved"),
    ("POST", "/api/v1/messages/{}/items"),
    ("GET", "/api/v1/schedules/{}"),
    ("DELETE", "/api/v1/schedules/{}"),
    ("POST", "/api/v1/schedules/{}/pause"),
    ("POST", "/api/v1/schedules/{}/resume"),
    ("POST", "/api/v1/schedules/{}/trigger"),
]


@pytest.mark.parametrize("bad", BAD_IDS, ids=[str(c) for c in BAD_IDS])
@pytest.mark.parametrize(
    ("method", "route"), ID_ROUTES, ids=[f"{m}-{r[8:].replace('{}', 'ID')}" for m, r in ID_ROUTES]
)
def test_a_bad_id_in_the_path_is_a_4xx_naming_it(
    http: Http, method: str, route: str, bad: Case
) -> None:
    body = {"from_step": "approved"} if route.endswith("/fork") else 1
    answer = http.call(method, route.format(bad.text), body if method == "POST" else None)
    culprit = "schedule id" if "/schedules/" in route else "execution id"
    refused(answer, bad.status, bad.says.format(culprit))


BAD_NAMES = [
    Case("256-chars", "n" * 256, (422,), "{} is 256 characters long"),
    Case("blank", "%20", (422,), "{} must not be empty or blank"),
    Case("NUL", "go%00", (422,), "{} 'go\\x00' holds a NUL"),
    Case("not-utf8", "caf%E9", (400,), "the path is not UTF-8"),
    Case("encoded-surrogate", "%ED%A0%80", (400,), "the path is not UTF-8"),
]


@pytest.mark.parametrize("bad", BAD_NAMES, ids=[str(c) for c in BAD_NAMES])
@pytest.mark.parametrize(
    ("route", "culprit"),
    [("/api/v1/events/a1/{}", "event name"), ("/api/v1/messages/a1/{}", "topic")],
    ids=["event-name", "topic"],
)
def test_a_bad_event_name_or_topic_is_a_4xx_naming_it(
    http: Http, route: str, culprit: str, bad: Case
) -> None:
    refused(http.post(route.format(bad.text), 1), bad.status, bad.says.format(culprit))


QUERIES = [
    ("executions?limit=-1", 400, "limit must be a whole number, got '-1'"),
    ("executions?limit=nan", 400, "limit must be a whole number, got 'nan'"),
    ("executions?limit=1e3", 400, "limit must be a whole number, got '1e3'"),
    ("executions?limit=99999", 400, "limit must be at most 1000"),
    ("executions?offset=-1", 400, "offset must be a whole number"),
    ("executions?offset=" + "9" * 30, 400, "offset must be at most"),
    ("executions?status=asleep", 400, "unknown status 'asleep'"),
    ("executions?task=" + "n" * 256, 400, "task is 256 characters long"),
    ("executions?task=", 400, "task must not be empty or blank"),
    ("executions?task=a%00", 400, "task 'a\\x00' holds a NUL"),
    ("executions?parent=" + "n" * 256, 400, "parent is 256 characters long"),
    ("executions?search=a%00", 400, "search is an id prefix"),
    ("executions?task=caf%E9", 400, "query parameter 'task' is not UTF-8"),
    ("executions?limit=5&search=%FFx", 400, "query parameter 'search' is not UTF-8"),
    ("executions?limit=1&limit=2", 400, "query parameter 'limit' is given 2 times"),
    ("executions?limits=5", 400, "unknown query parameter(s): limits"),
    ("executions/a1/steps?run=0", 400, "run must be at least 1"),
    ("executions/a1/steps?run=x", 400, "run must be a whole number"),
    ("executions/a1/wait?timeout=nan", 400, "timeout must be finite"),
    ("executions/a1/wait?timeout=-1", 400, "timeout must be at least 0"),
    ("executions/a1/wait?timeout=inf", 400, "timeout must be finite"),
    ("executions/a1/wait?timeout=3600", 400, "timeout must be at most"),
]


@pytest.mark.parametrize(("query", "status", "says"), QUERIES, ids=[q[:40] for q, _, _ in QUERIES])
def test_a_bad_query_parameter_is_a_400_naming_it(
    http: Http, query: str, status: int, says: str
) -> None:
    message = refused(http.get("/api/v1/" + query), (status,))
    assert any(part in message for part in says.split("|")), message


BODIES = [
    ("not-utf8", b'"caf\xe9"', 400, "the body is not UTF-8"),
    ("lone-surrogate", b'"\\ud800"', 422, "a string holds a lone surrogate (\\ud800)"),
    ("NUL", b'["\\u0000"]', 422, "a string holds a NUL character (\\u0000)"),
    ("NaN", b"NaN", 400, "NaN is not JSON"),
    ("over-the-limit", json.dumps("x" * LIMIT).encode(), 413, "over the payload limit of 1,000"),
    ("over-max-body", json.dumps("x" * MAX_BODY).encode(), 413, "over the limit of 4,096 bytes"),
    ("deep", b"[" * 2000 + b"]" * 2000, 400, "JSON nested deeper than"),
    ("truncated", b'{"a": ', 400, "malformed JSON"),
]
PAYLOAD_ROUTES = [
    ("/api/v1/executions", lambda raw: b'{"task": "approval", "input": ' + raw + b"}", "input of"),
    ("/api/v1/events/a1/approved", lambda raw: raw, "payload of event 'approved'"),
    ("/api/v1/messages/a1/items", lambda raw: raw, "message on topic 'items'"),
]


@pytest.mark.parametrize(("label", "raw", "status", "says"), BODIES, ids=[b[0] for b in BODIES])
@pytest.mark.parametrize(
    ("route", "wrap", "culprit"), PAYLOAD_ROUTES, ids=["create", "event", "message"]
)
def test_a_bad_body_is_a_4xx_saying_what_is_wrong(
    http: Http, route: str, wrap: Any, culprit: str, label: str, raw: bytes, status: int, says: str
) -> None:
    body = wrap(raw)
    answer = http.post(route, data=body, headers={"Content-Type": "application/json"})
    message = refused(answer, (status,), says)
    if status == 422 or (status == 413 and "payload" in says):
        assert culprit in message, message


CREATIONS = [
    ({"task": "n" * 256}, "task name is 256 characters long"),
    ({"task": "\ud800"}, "task name '\\ud800' holds a lone surrogate"),
    ({"task": 5}, '"task" must be a string, got a number'),
    ({"task": "nope"}, "unknown task 'nope'"),
    ({"task": "approval", "id": "n" * 256}, "execution_id is 256 characters long"),
    ({"task": "approval", "id": " "}, "execution_id must not be empty or blank"),
    ({"task": "approval", "id": ["a"]}, '"id" must be a string, got an array'),
    ({"task": "approval", "id": "a1"}, "execution 'a1' already exists"),
    ({"task": "double", "input": "2"}, "input of task 'double': expected int, got str"),
    ({"task": "double", "input": 2, "when": "now"}, "unknown field(s): 'when'"),
    ([], "the body must be a JSON object"),
]


@pytest.mark.parametrize(("body", "says"), CREATIONS, ids=[s[:30] for _, s in CREATIONS])
def test_a_bad_creation_is_a_4xx_naming_the_field(http: Http, body: Any, says: str) -> None:
    refused(http.post("/api/v1/executions", body), (400, 409, 422), says)


FORKS = [
    ({"from_step": 5}, '"from_step" must be a string'),
    ({"from_step": "n" * 256}, "from_step is 256 characters long"),
    ({"from_step": "\ud800"}, "from_step '\\ud800' holds a lone surrogate"),
    ({"from_step": "nope"}, "its log has no record named 'nope'"),
    ({}, "from_step"),
]


@pytest.mark.parametrize(("body", "says"), FORKS, ids=[s[:30] for _, s in FORKS])
def test_a_bad_fork_is_a_4xx_naming_the_field(http: Http, body: Any, says: str) -> None:
    refused(http.post("/api/v1/executions/a1/fork", body), (400, 409, 422), says)


@pytest.mark.parametrize("path", ["/api/v1/executions/\xff", "/api/v1/events/a1/\xed\xa0\x80"])
def test_raw_path_bytes_that_are_not_utf8_are_a_400(http: Http, path: str) -> None:
    # WSGI hands the path over as latin-1 text of the bytes the client sent.
    refused(http.raw(environ("POST", path, b"1")), (400,), "the path is not UTF-8")


@pytest.mark.parametrize("name", SQL_NAMES, ids=[repr(n[:30]) for n in SQL_NAMES])
def test_names_of_sql_metacharacters_work_over_http(client: zart.Client, name: str) -> None:
    http = http_for(client)
    eid = "http:" + name[:250]
    created = http.post("/api/v1/executions", {"task": "approval", "input": name, "id": eid})
    assert created.status == 201, created.body
    path = quote(eid, safe="")
    run_until_idle(client)
    answer = http.post(f"/api/v1/events/{path}/{quote('approved', safe='')}", name)
    assert answer.status == 200 and answer.json["accepted"] is True
    sent = http.post(f"/api/v1/messages/{path}/{quote(name, safe='')}", name)
    assert sent.status == 201, sent.body
    run_until_idle(client)
    got = http.get(f"/api/v1/executions/{path}").json
    assert (got["id"], got["input"], got["output"]) == (eid, name, {"decision": name})
    found = http.get(f"/api/v1/executions?search={quote(eid, safe='')}").json["executions"]
    assert eid in [e["id"] for e in found] and all(e["id"].startswith(eid) for e in found)
    assert client.get("a1").status == "waiting"
