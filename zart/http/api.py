"""The API's routes: what each one reads, which client call it makes, and
how zart's errors become HTTP statuses.

Every document comes from ``zart.views``, so the API shows the same fields
as the CLI's ``--json`` and the dashboard. Path parameters are checked as
``zart.names`` checks ids: an execution id no store could hold is a 404 (no
such execution can exist), an event name or topic that breaks the rules a 422.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .. import settings, views
from ..client import Client
from ..errors import (
    EventRejected,
    ExecutionAlreadyExists,
    ExecutionNotFound,
    ForkRefused,
    MessageRejected,
    PayloadTooLarge,
    RetryRefused,
    ScheduleAlreadyExists,
    ScheduleNotFound,
    SerializationError,
    StoreError,
    UnknownTaskError,
    WriteRejected,
)
from ..names import check_name, unstorable_char
from ..records import STATUSES, ExecutionRecord, NewExecution
from ..serde import to_json
from . import openapi
from .api_schedules import ScheduleApi, execution_location
from .wsgi import HttpError, Request, Response, Route, bad_request, json_response

if TYPE_CHECKING:
    from ..metrics import Metrics

# A page of a listing: more is a 400, so one request cannot read a table.
MOST_LISTED = 1000
LIST_QUERY = ("status", "task", "parent", "search", "limit", "offset")
# ``wait`` holds one of the server's threads while it waits: bounded.
LONGEST_WAIT = 60.0
DEFAULT_WAIT = 30.0
# How often ``wait`` reads the record when no store notification wakes it
# (a store notifies when work becomes due, not when an execution ends).
_LOOK_AGAIN = 0.25

# zart's errors as HTTP answers, most specific class first.
ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (ExecutionNotFound, 404, "not_found"),
    (ScheduleNotFound, 404, "not_found"),
    (ExecutionAlreadyExists, 409, "already_exists"),
    (ScheduleAlreadyExists, 409, "already_exists"),
    (RetryRefused, 409, "not_retryable"),
    (ForkRefused, 409, "not_forkable"),
    (EventRejected, 409, "finished"),
    (MessageRejected, 409, "finished"),
    (UnknownTaskError, 422, "unknown_task"),
    (PayloadTooLarge, 413, "payload_too_large"),
    (SerializationError, 422, "invalid_data"),
    (WriteRejected, 422, "rejected"),
    (StoreError, 503, "store_unavailable"),
)


def http_error(exc: Exception) -> HttpError | None:
    """The answer for one of zart's errors, or None for anything else."""
    for kind, status, code in ERRORS:
        if isinstance(exc, kind):
            return HttpError(status, code, str(exc))
    return None


@contextlib.contextmanager
def invalid_is_422() -> Iterator[None]:
    """Around a client call: the ValueError its checks raise (a name, a
    limit) is the caller's invalid data."""
    try:
        yield
    except ValueError as exc:
        raise HttpError(422, "invalid", str(exc)) from None


def execution_id(params: dict[str, str]) -> str:
    value = params["execution_id"]
    try:
        return check_name("execution id", value)
    except ValueError as exc:
        raise HttpError(404, "not_found", f"no execution can have this id: {exc}") from None


class Api:
    """The handlers, over one ``Client``."""

    def __init__(self, client: Client, *, max_body: int, metrics: Metrics) -> None:
        self.client = client
        self.max_body = max_body
        self.metrics = metrics

    def routes(self) -> list[Route]:
        """Every route; ``public`` ones need no token, ``action`` ones are
        refused in read-only mode."""
        executions = "/api/v1/executions"
        one = executions + "/{execution_id}"
        return [
            Route("POST", executions, self.create, action=True),
            Route("GET", executions, self.listing, query=LIST_QUERY),
            Route("GET", one, self.get),
            Route("GET", one + "/steps", self.steps, query=("run",)),
            Route("POST", one + "/cancel", self.cancel, action=True),
            Route("POST", one + "/retry", self.retry, action=True),
            Route("POST", one + "/fork", self.fork, action=True),
            Route("GET", one + "/wait", self.wait, query=("timeout",)),
            Route("POST", "/api/v1/events/{execution_id}/{event_name}", self.event, action=True),
            Route("POST", "/api/v1/messages/{execution_id}/{topic}", self.message, action=True),
            *ScheduleApi(self.client, max_body=self.max_body).routes(),
            Route("GET", "/api/v1/workers", self.workers),
            Route("GET", "/api/v1/openapi.json", self.openapi, public=True),
            Route("GET", "/metrics", self.prometheus),
            Route("GET", "/healthz", self.health, public=True),
        ]

    # -- executions --------------------------------------------------------------
    def create(self, request: Request, params: dict[str, str]) -> Response:
        body = request.json(self.max_body)
        task, data, given_id = _creation(body)
        record = self._create(task, data, given_id)
        warnings = []
        if not self.client.served(record.task_name):
            warnings.append(
                f"no live worker serves task {record.task_name!r}: "
                "the execution waits until one does"
            )
        location = execution_location(request, record.id)
        document = {"execution": views.execution(record), "warnings": warnings}
        return json_response(201, document, [("Location", location)])

    def _create(self, task: str, data: Any, given_id: str | None) -> ExecutionRecord:
        """With a registry (``zart serve --app``) the client checks the task
        and its input; without one the JSON is stored for whichever worker
        knows the task, as ``zart schedule`` without ``--app`` does."""
        client = self.client
        with invalid_is_422():
            if len(client.registry):
                new = client.new_execution(task, data, execution_id=given_id)
            else:
                check_name("task", task)
                if given_id is not None:
                    check_name("execution id", given_id)
                document = to_json(data, f"input of task {task!r}", limit=client.store.max_payload)
                new = NewExecution(id=given_id or uuid.uuid4().hex, task_name=task, input=document)
        return client.store.create(new)

    def listing(self, request: Request, params: dict[str, str]) -> Response:
        status = request.param("status")
        if status is not None and status not in STATUSES:
            raise bad_request(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
        task = _name_param(request, "task")
        parent = _name_param(request, "parent")
        search = _search_param(request)
        limit = _count_param(request, "limit", default=50, least=1, most=MOST_LISTED)
        offset = _count_param(request, "offset", default=0, least=0, most=settings.MOST)
        records = self.client.list(
            status=status, task=task, parent_id=parent, search=search, limit=limit, offset=offset
        )
        document = {
            "executions": [views.execution(r) for r in records],
            "limit": limit,
            "offset": offset,
        }
        return json_response(200, document)

    def get(self, request: Request, params: dict[str, str]) -> Response:
        return json_response(200, views.execution(self.client.get(execution_id(params))))

    def steps(self, request: Request, params: dict[str, str]) -> Response:
        eid = execution_id(params)
        run = request.param("run")
        number = None
        if run is not None:
            number = _count_text("run", run, least=1, most=settings.MOST)
        steps = self.client.history(eid, number)
        document = {"execution_id": eid, "run": number, "steps": [views.step(s) for s in steps]}
        return json_response(200, document)

    def cancel(self, request: Request, params: dict[str, str]) -> Response:
        eid = execution_id(params)
        request.body(self.max_body)  # a body, if any, is read (and bounded), not used
        if not self.client.cancel(eid):
            status = self.client.get(eid).status
            raise HttpError(409, "finished", f"execution {eid!r} has ended ({status})")
        return json_response(200, views.execution(self.client.get(eid)))

    def retry(self, request: Request, params: dict[str, str]) -> Response:
        eid = execution_id(params)
        request.body(self.max_body)
        return json_response(200, views.execution(self.client.retry(eid)))

    def fork(self, request: Request, params: dict[str, str]) -> Response:
        """201 with the new execution: the source's log up to ``from_step``
        copied, the rest to run anew (409 when it cannot be, or the new id
        is taken)."""
        eid = execution_id(params)
        from_step, new_id = _fork_body(request.json(self.max_body))
        with invalid_is_422():
            forked = self.client.fork(eid, from_step=from_step, execution_id=new_id)
        location = [("Location", execution_location(request, forked))]
        return json_response(201, views.execution(self.client.get(forked)), location)

    def wait(self, request: Request, params: dict[str, str]) -> Response:
        """200 with the execution once it has ended; 202 with it as it is
        when ``timeout`` seconds pass first."""
        eid = execution_id(params)
        timeout = _wait_param(request)
        deadline = time.monotonic() + timeout
        while True:
            record = self.client.get(eid)
            remaining = deadline - time.monotonic()
            if record.is_final or remaining <= 0:
                return json_response(200 if record.is_final else 202, views.execution(record))
            self.client.store.wait(min(_LOOK_AGAIN, remaining))

    # -- events and messages -------------------------------------------------------
    def event(self, request: Request, params: dict[str, str]) -> Response:
        eid = execution_id(params)
        name = params["event_name"]
        payload = request.json(self.max_body)
        with invalid_is_422():
            accepted = self.client.offer_event(eid, name, payload)
        return json_response(200, {"execution_id": eid, "event": name, "accepted": accepted})

    def message(self, request: Request, params: dict[str, str]) -> Response:
        eid = execution_id(params)
        topic = params["topic"]
        payload = request.json(self.max_body)
        key = request.header("Idempotency-Key")
        with invalid_is_422():
            message_id = self.client.send(eid, topic, payload, idempotency_key=key)
        document = {"execution_id": eid, "topic": topic, "message_id": message_id}
        return json_response(201, document)

    # -- the rest ----------------------------------------------------------------------
    def workers(self, request: Request, params: dict[str, str]) -> Response:
        return json_response(200, {"workers": [views.worker(w) for w in self.client.workers()]})

    def openapi(self, request: Request, params: dict[str, str]) -> Response:
        return Response(200, openapi.document_bytes(), [("Content-Type", "application/json")])

    def prometheus(self, request: Request, params: dict[str, str]) -> Response:
        body, content_type = self.metrics.exposition(request.header("Accept"))
        return Response(200, body, [("Content-Type", content_type)])

    def health(self, request: Request, params: dict[str, str]) -> Response:
        return json_response(200, {"status": "ok"})


_CREATION_FIELDS = frozenset({"task", "input", "id"})


def _creation(body: Any) -> tuple[str, Any, str | None]:
    """``task``, ``input`` and ``id`` of a creation body (422 for any other shape)."""
    if not isinstance(body, dict):
        raise HttpError(
            422, "invalid", 'the body must be a JSON object: {"task": ..., "input": ...}'
        )
    unknown = sorted(set(body) - _CREATION_FIELDS)
    if unknown:
        raise HttpError(422, "invalid", f"unknown field(s): {', '.join(map(repr, unknown))}")
    task, given_id = body.get("task"), body.get("id")
    if not isinstance(task, str):
        raise HttpError(422, "invalid", f'"task" must be a string, got {_json_kind(task)}')
    if given_id is not None and not isinstance(given_id, str):
        raise HttpError(422, "invalid", f'"id" must be a string, got {_json_kind(given_id)}')
    return task, body.get("input"), given_id


_FORK_FIELDS = frozenset({"from_step", "execution_id"})


def _fork_body(body: Any) -> tuple[str, str | None]:
    """``from_step`` and ``execution_id`` of a fork body (422 for any other shape)."""
    if not isinstance(body, dict):
        raise HttpError(422, "invalid", 'the body must be a JSON object: {"from_step": ...}')
    unknown = sorted(set(body) - _FORK_FIELDS)
    if unknown:
        raise HttpError(422, "invalid", f"unknown field(s): {', '.join(map(repr, unknown))}")
    step, new_id = body.get("from_step"), body.get("execution_id")
    if not isinstance(step, str):
        raise HttpError(422, "invalid", f'"from_step" must be a string, got {_json_kind(step)}')
    if new_id is not None and not isinstance(new_id, str):
        kind = _json_kind(new_id)
        raise HttpError(422, "invalid", f'"execution_id" must be a string, got {kind}')
    return step, new_id


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )


def _name_param(request: Request, name: str) -> str | None:
    value = request.param(name)
    if value is None:
        return None
    try:
        return check_name(name, value)
    except ValueError as exc:
        raise bad_request(str(exc)) from None


def _search_param(request: Request) -> str | None:
    """An id prefix: any text a stored id could start with."""
    value = request.param("search")
    if value is None or value == "":
        return None
    char = unstorable_char(value)
    if char is not None or len(value) > 255:
        raise bad_request("search is an id prefix: at most 255 characters, no NUL or surrogate")
    return value


def _count_param(request: Request, name: str, *, default: int, least: int, most: int) -> int:
    text = request.param(name)
    return default if text is None else _count_text(name, text, least=least, most=most)


def _count_text(name: str, text: str, *, least: int, most: int) -> int:
    if not text.isascii() or not text.strip().isdigit():
        raise bad_request(f"{name} must be a whole number, got {text[:40]!r}")
    try:
        value = settings.parse_count(name, text, least=least)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    if value > most:
        raise bad_request(f"{name} must be at most {most}, got {value}")
    return value


def _wait_param(request: Request) -> float:
    text = request.param("timeout")
    if text is None:
        return DEFAULT_WAIT
    try:
        seconds = settings.parse_seconds("timeout", text, zero=True)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    if seconds > LONGEST_WAIT:
        raise bad_request(f"timeout must be at most {LONGEST_WAIT:g} s, got {text[:40]!r}")
    return seconds
