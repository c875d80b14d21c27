"""Fuzzing the API from its own OpenAPI document with schemathesis, through
its WSGI integration: requests that fit the document and requests that do
not. No answer may be a 5xx, each must be what the document says (status,
content type, body), and whatever got stored stays readable.

The explicit cases the generator is unlikely to find (slashes, unicode and
10 kB path parameters, arrays, nulls and 10,000-deep bodies, wrong content
types) are in test_api_errors.py; the few here run them through the same
checks as the generated ones.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any
from urllib.parse import unquote_to_bytes

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation

import zart
from tests.http.support import Http, environ
from zart import views
from zart.errors import ScheduleNotFound
from zart.http import api, make_app
from zart.records import NewExecution
from zart.stores.memory import MemoryStore

# Without a registry the API stores any task's raw JSON: the widest door
# into the store, so the one to fuzz.
STORE = MemoryStore(max_payload=64 * 1024)
CLIENT = zart.Client(STORE)
TOKEN = "fuzz-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
API = make_app(CLIENT, dashboard=False, max_body=128 * 1024, token=TOKEN)
CALLS = Counter[str]()


def counting(environ: dict[str, Any], start_response: Any) -> Any:
    CALLS[environ["REQUEST_METHOD"]] += 1
    return API(environ, start_response)


APP = counting

# Valid JSON may still be refused by the store: a NUL or a lone surrogate
# inside a string (422), a value over its payload limit (413). No schema
# says so, so schema-valid bodies may get those as well as a success.
BODY_REFUSALS = ["2xx", "401", "403", "404", "409", "413", "422"]
CONFIG = SchemathesisConfig.from_dict(
    {
        "auth": {"openapi": {"bearer": {"bearer": TOKEN}}},
        "operations": [
            {
                "include-method": "POST",
                "checks": {"positive_data_acceptance": {"expected-statuses": BODY_REFUSALS}},
            }
        ],
    }
)
SCHEMA = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP, config=CONFIG)
# A generated wait on a pending execution would hold for up to 60 s.
SHORTEST_WAIT = 0.01

EXAMPLES = 300  # per operation; 20 operations, each in positive and negative mode


# -- what the generated requests may name -----------------------------------------------
# A generated id almost never names a stored schedule or a forkable
# execution, so their success paths would go unfuzzed: half the valid cases
# are pointed at these instead (see known_targets).


@zart.durable("fuzz-steps")
def fuzz_steps(data: Any) -> zart.Workflow[Any]:
    yield zart.call("first", lambda: data)
    return (yield zart.call("second", lambda: [data]))


SEEDER = zart.Client(STORE, zart.TaskRegistry([fuzz_steps]))
FORKABLE = "fuzz-forkable"
SEEDER.run(fuzz_steps, {"seeded": True}, execution_id=FORKABLE)
SEEDED_SCHEDULE = "fuzz-seeded"


def seeded_schedule() -> str:
    """The seeded schedule's id, made again if a generated request deleted it."""
    try:
        STORE.get_schedule(SEEDED_SCHEDULE)
    except ScheduleNotFound:
        SEEDER.create_schedule(SEEDED_SCHEDULE, fuzz_steps, 1, cron="0 0 1 1 *")
    return SEEDED_SCHEDULE


def known_targets(case: Case) -> None:
    """Point one valid case in two (by the parity of what was generated) at
    the seeded schedule, or a fork at the seeded execution and its second
    step. Schemathesis re-reads a changed case, so its checks still hold."""
    params = case.path_parameters
    if not params or case.meta is None or case.meta.is_negative_at(ParameterLocation.PATH):
        return
    if "schedule_id" in params and len(str(params["schedule_id"])) % 2 == 0:
        case.path_parameters = {**params, "schedule_id": seeded_schedule()}
    elif case.operation.path.endswith("/fork") and len(str(params["execution_id"])) % 2 == 0:
        case.path_parameters = {**params, "execution_id": FORKABLE}
        body = case.body
        if isinstance(body, dict) and isinstance(body.get("from_step"), str):
            case.body = {**body, "from_step": "second"}


def everything_stored_reads_back() -> int:
    """Read every stored execution, its log, events and messages, as the
    API and the dashboard would; how many there are."""
    records = CLIENT.list(limit=10_000)
    for record in records:
        again = CLIENT.get(record.id)
        json.dumps(views.execution(again), allow_nan=False)
        json.dumps([views.step(s) for s in CLIENT.history(record.id)], allow_nan=False)
        log = STORE.load(record.id)
        json.dumps([log.events, {t: [m.payload for m in ms] for t, ms in log.messages.items()}])
    return len(records)


def short_waits(case: Case) -> None:
    """A wait on a pending execution holds for its timeout (30 s unless
    given): a valid timeout is cut short, an invalid one left to be refused."""
    if not case.operation.path.endswith("/wait"):
        return
    query = dict(case.query or {})
    timeout = query.get("timeout", "30")
    try:
        seconds = float(timeout)
    except (TypeError, ValueError):
        return
    if SHORTEST_WAIT < seconds <= api.LONGEST_WAIT:
        query["timeout"] = str(SHORTEST_WAIT) if isinstance(timeout, str) else SHORTEST_WAIT
        case.query = query


@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_generated_requests(case: Case) -> None:
    short_waits(case)
    known_targets(case)
    response = case.call_and_validate()
    assert response.status_code < 500
    if case.method == "POST" and response.status_code < 300:
        everything_stored_reads_back()


def test_the_fuzz_was_thousands_of_requests_and_the_store_reads_back() -> None:
    """Run after the generated requests (module order): they made thousands
    of requests, stored executions, and all of it reads back."""
    if not CALLS:
        pytest.skip("the generated requests did not run in this session")
    print(f"fuzz: {sum(CALLS.values())} requests {dict(CALLS)}")
    assert sum(CALLS.values()) >= 2000
    assert everything_stored_reads_back() > 0


# -- the explicit cases, through the document's checks -------------------------------


def validated(method: str, path: str, body: bytes, content_type: str = "application/json") -> Any:
    """Call the app raw and hold the answer to the document."""
    # As a server passes it: PATH_INFO decoded (bytes as latin-1), the raw path beside it.
    decoded = unquote_to_bytes(path).decode("latin-1")
    env = environ(
        method,
        decoded,
        body,
        CONTENT_TYPE=content_type,
        REQUEST_URI=path,
        HTTP_AUTHORIZATION=BEARER["Authorization"],
    )
    answer = Http(APP).raw(env)
    assert answer.status < 500, answer.body
    assert answer.headers["content-type"] == "application/json"
    operation = SCHEMA.find_operation_by_path(method, _template(path))
    assert operation is not None
    document = json.loads(answer.body)
    statuses = operation.definition.raw["responses"]
    assert str(answer.status) in statuses, (path, answer.status)
    return answer.status, document


def _template(path: str) -> str:
    """The document's path for a concrete one (ids hold no raw slash here)."""
    parts = path.split("/")
    if len(parts) > 4 and parts[3] == "executions":
        parts[4] = "{execution_id}"
    elif len(parts) > 4 and parts[3] == "schedules":
        parts[4] = "{schedule_id}"
    elif len(parts) > 4:
        parts[4:6] = ["{execution_id}", "{event_name}" if parts[3] == "events" else "{topic}"]
    return "/".join(parts)


@pytest.mark.parametrize(
    "body",
    [b"[]", b"[1, 2]", b"null", b'"text"', b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 10_000],
)
def test_odd_bodies_against_the_document(body: bytes) -> None:
    eid = _pending()
    for path in (
        "/api/v1/executions",
        f"/api/v1/events/{eid}/e",
        f"/api/v1/messages/{eid}/t",
        f"/api/v1/executions/{FORKABLE}/fork",
    ):
        status, document = validated("POST", path, body)
        assert 200 <= status < 500
        assert set(document) >= ({"error", "message"} if status >= 400 else set())
    everything_stored_reads_back()


def _pending() -> str:
    return CLIENT.store.create(NewExecution(id=uuid.uuid4().hex, task_name="t")).id


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "", "application/jsonx"])
def test_wrong_content_types_against_the_document(content_type: str) -> None:
    status, document = validated("POST", "/api/v1/executions", b'{"task": "t"}', content_type)
    assert (status, document["error"]) == (400, "unsupported_media_type")


@pytest.mark.parametrize(
    "eid", ["a%2Fb", "%E2%9C%93%E6%97%A5", "x" * 10_000, "%2F%2F", "%00", "%F0%9F%92%A9" * 70]
)
def test_odd_path_parameters_against_the_document(eid: str) -> None:
    for method, path in [
        ("GET", f"/api/v1/executions/{eid}"),
        ("GET", f"/api/v1/executions/{eid}/steps"),
        ("POST", f"/api/v1/executions/{eid}/cancel"),
        ("POST", f"/api/v1/executions/{eid}/retry"),
        ("POST", f"/api/v1/events/{eid}/{eid}"),
        ("POST", f"/api/v1/messages/{eid}/{eid}"),
        ("POST", f"/api/v1/executions/{eid}/fork"),
        ("GET", f"/api/v1/schedules/{eid}"),
        ("DELETE", f"/api/v1/schedules/{eid}"),
        ("POST", f"/api/v1/schedules/{eid}/pause"),
        ("POST", f"/api/v1/schedules/{eid}/resume"),
        ("POST", f"/api/v1/schedules/{eid}/trigger"),
    ]:
        status, _ = validated(method, path, b"")
        assert 400 <= status < 500


def test_the_fuzz_reached_the_schedules_and_the_forks() -> None:
    """Run after the generated requests: the seeded targets were hit, so
    the success paths were fuzzed (pauses, triggers, forks)."""
    if not CALLS:
        pytest.skip("the generated requests did not run in this session")
    runs = [e.id for e in CLIENT.list(limit=10_000) if e.task_name == "fuzz-steps"]
    ticks = [eid for eid in runs if eid.startswith(SEEDED_SCHEDULE + "@")]
    forks = [eid for eid in runs if eid != FORKABLE and eid not in ticks]
    assert ticks, "no trigger of the seeded schedule succeeded"
    assert forks, "no fork of the seeded execution succeeded"
