"""The API's OpenAPI 3.1 document, served at ``/api/v1/openapi.json``.

Written out by hand rather than derived from the router: a test holds the
two to each other (every route documented, every documented operation
routed), and schemathesis fuzzes the app from this document, checking that
every answer's status, content type and body are the ones written here.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from ..names import MAX_LENGTH
from ..records import FAILURE_HANDLER, STATUSES, WORKFLOW
from ..records import STEP as STEP_KIND
from ..settings import MOST

JSON = "application/json"
_REF = "#/components/"


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"{_REF}{kind}/{name}"}


def _nullable(kind: str, **more: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **more}


_TIME = _nullable("string", format="date-time")
# What zart.names accepts: 1 to 255 characters, not all blank, no NUL. Its
# blank is Python's whitespace plus a byte-order mark: JSON Schema's \s
# and the separators U+001C-U+001F and U+0085, which Python counts too.
_NOT_BLANK = "[^\\s\\u0000\\u001c-\\u001f\\u0085]"
NAME_PATTERN = f"^[^\\u0000]*{_NOT_BLANK}[^\\u0000]*$"
NAME: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_LENGTH,
    "pattern": NAME_PATTERN,
}
_ANY: dict[str, Any] = {"description": "any JSON value, as stored"}

EXECUTION = {
    "type": "object",
    "required": ["id", "name", "task", "kind", "status", "attempt", "run", "created_at"],
    "properties": {
        "id": {"type": "string"},
        "name": {
            "type": "string",
            "description": "a child's name in its parent's log, else the task",
        },
        "task": {"type": "string"},
        "kind": {"type": "string", "enum": [WORKFLOW, STEP_KIND, FAILURE_HANDLER]},
        "status": {"type": "string", "enum": list(STATUSES)},
        "input": _ANY,
        "output": _ANY,
        "error": _nullable("object"),
        "state": _ANY,
        "attempt": {"type": "integer"},
        "run": {"type": "integer"},
        "parent_id": _nullable("string"),
        "root_id": _nullable("string"),
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": _TIME,
        "wake_at": _TIME,
        "waiting_for": _nullable("string"),
    },
}

ATTEMPT_ERROR = {
    "type": "object",
    "required": ["attempt", "type", "message", "at"],
    "properties": {
        "attempt": {"type": "integer"},
        "type": {"type": "string"},
        "message": {"type": "string"},
        "at": _TIME,
    },
}

STEP = {
    "type": "object",
    "required": ["name", "kind", "status", "seq", "attempts", "errors"],
    "properties": {
        "name": {"type": "string"},
        "kind": {"type": "string"},
        "status": {"type": "string"},
        "seq": {"type": "integer"},
        "step": _nullable("string", description="the step's identity (its template)"),
        "result": _ANY,
        "error": _nullable("object"),
        "attempts": {"type": "integer"},
        "errors": {"type": "array", "items": _ref("schemas", "AttemptError")},
        "wake_at": _TIME,
        "child_id": _nullable("string"),
        "started_at": _TIME,
        "created_at": _TIME,
        "updated_at": _TIME,
        "duration": _nullable("number", description="seconds, for a step whose start is known"),
    },
}

WORKER = {
    "type": "object",
    "required": ["id", "host", "pid", "tasks", "concurrency", "inflight", "alive"],
    "properties": {
        "id": {"type": "string"},
        "host": {"type": "string"},
        "pid": {"type": "integer"},
        "tasks": {"type": "array", "items": {"type": "string"}},
        "concurrency": {"type": "integer"},
        "inflight": {"type": "integer"},
        "alive": {"type": "boolean"},
        "started_at": _TIME,
        "heartbeat_at": _TIME,
        "expires_at": _TIME,
    },
}

_SECONDS = {"type": "number", "description": "seconds"}
SCHEDULE = {
    "type": "object",
    "required": ["id", "task", "timezone", "overlap", "paused", "next_tick", "served"],
    "properties": {
        "id": {"type": "string"},
        "task": {"type": "string"},
        "input": _ANY,
        "cron": _nullable("string", description="a cron expression, or null for every"),
        "every": _nullable("number", description="seconds between ticks, or null for cron"),
        "timezone": {"type": "string", "description": "the zone the cron is read in"},
        "overlap": {
            "type": "string",
            "enum": ["skip", "buffer_one", "allow_all", "cancel_other"],
        },
        "catchup": _SECONDS,
        "jitter": _SECONDS,
        "paused": {"type": "boolean"},
        "next_tick": {"type": "string", "format": "date-time"},
        "next_fire_at": {**_TIME, "description": "when next_tick starts (later by its jitter)"},
        "last_tick": _TIME,
        "last_execution_id": _nullable("string"),
        "buffered_tick": _TIME,
        "created_at": _TIME,
        "updated_at": _TIME,
        "served": {
            "type": "boolean",
            "description": "whether a live worker serves its task (if not, its ticks wait)",
        },
    },
}

ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "additionalProperties": False,
    "properties": {
        "error": {"type": "string", "description": "a short code: not_found, invalid, ..."},
        "message": {"type": "string"},
    },
}


def _object(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


SCHEMAS: dict[str, Any] = {
    "Execution": EXECUTION,
    "Step": STEP,
    "AttemptError": ATTEMPT_ERROR,
    "Worker": WORKER,
    "Error": ERROR,
    "NewExecution": {
        "type": "object",
        "required": ["task"],
        "additionalProperties": False,
        "properties": {
            "task": NAME,
            "input": {"description": "the execution's input: any JSON value"},
            "id": {
                **NAME,
                "type": ["string", "null"],
                "description": "an idempotency key (default: a new one)",
            },
        },
    },
    "Created": _object(
        ["execution", "warnings"],
        {
            "execution": _ref("schemas", "Execution"),
            "warnings": {"type": "array", "items": {"type": "string"}},
        },
    ),
    "ExecutionList": _object(
        ["executions", "limit", "offset"],
        {
            "executions": {"type": "array", "items": _ref("schemas", "Execution")},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    ),
    "StepList": _object(
        ["execution_id", "run", "steps"],
        {
            "execution_id": {"type": "string"},
            "run": _nullable("integer", description="null: the current run"),
            "steps": {"type": "array", "items": _ref("schemas", "Step")},
        },
    ),
    "EventOffered": _object(
        ["execution_id", "event", "accepted"],
        {
            "execution_id": {"type": "string"},
            "event": {"type": "string"},
            "accepted": {
                "type": "boolean",
                "description": "false: a payload was offered under this name before (it is kept)",
            },
        },
    ),
    "MessageSent": _object(
        ["execution_id", "topic", "message_id"],
        {
            "execution_id": {"type": "string"},
            "topic": {"type": "string"},
            "message_id": {"type": "integer"},
        },
    ),
    "Fork": {
        "type": "object",
        "required": ["from_step"],
        "additionalProperties": False,
        "properties": {
            "from_step": {**NAME, "description": "the first log record to run anew"},
            "execution_id": {
                **NAME,
                "type": ["string", "null"],
                "description": "the new execution's id, an idempotency key (default: a new one)",
            },
        },
    },
    "Schedule": SCHEDULE,
    "ScheduleList": _object(
        ["schedules"], {"schedules": {"type": "array", "items": _ref("schemas", "Schedule")}}
    ),
    "ScheduleDeleted": _object(
        ["schedule_id", "deleted"],
        {"schedule_id": {"type": "string"}, "deleted": {"type": "boolean", "enum": [True]}},
    ),
    "WorkerList": _object(
        ["workers"], {"workers": {"type": "array", "items": _ref("schemas", "Worker")}}
    ),
    "Health": _object(["status"], {"status": {"type": "string", "enum": ["ok"]}}),
}

ERROR_TEXT = {
    "400": "malformed JSON, a wrong content type, nesting too deep, or a bad parameter",
    "401": "the bearer token is missing",
    "403": "the bearer token is wrong",
    "404": "no such execution or schedule (or none can have this id)",
    "405": "an action in read-only mode",
    "409": "the id exists, or the execution has ended or cannot be retried or forked",
    "413": "the body, or a value in it, is over the size limit",
    "422": "an unknown task, or data that breaks the rules",
    "503": "the store cannot be reached",
}


def _answers(ok: dict[str, Any], *errors: str, secured: bool = True) -> dict[str, Any]:
    answers = dict(ok)
    codes = {"400", *errors, *(("401", "403") if secured else ())}
    for code in sorted(codes):
        answers[code] = {
            "description": ERROR_TEXT[code],
            "content": {JSON: {"schema": _ref("schemas", "Error")}},
        }
    return answers


def _ok(code: str, description: str, schema: str) -> dict[str, Any]:
    return {
        code: {"description": description, "content": {JSON: {"schema": _ref("schemas", schema)}}}
    }


def _path_param(
    name: str, description: str, schema: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description + " (percent-encoded: it may hold slashes)",
        "schema": schema or {"type": "string"},
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


EXECUTION_ID = _path_param("execution_id", "the execution's id")
SCHEDULE_ID = _path_param("schedule_id", "the schedule's id")
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "a send tried again with the same key stores nothing new",
    "schema": NAME,
}
_ANY_BODY = {
    "required": False,
    "description": "any JSON value (no body: null)",
    "content": {JSON: {"schema": {}}},
}
_STATUS = {"type": "string", "enum": list(STATUSES)}
_SEARCH = {"type": "string", "maxLength": MAX_LENGTH, "pattern": "^[^\\u0000]*$"}


def _operation(summary: str, answers: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"summary": summary, "operationId": summary_id(summary), **more, "responses": answers}


def summary_id(summary: str) -> str:
    return "".join(word.capitalize() if i else word for i, word in enumerate(summary.split()))


_ACTION = ("404", "405", "409", "413", "503")
_ONE = [EXECUTION_ID]
EXECUTION_PATHS: dict[str, Any] = {
    "/api/v1/executions": {
        "post": _operation(
            "create execution",
            _answers(_ok("201", "created", "Created"), "405", "409", "413", "422", "503"),
            requestBody={
                "required": True,
                "content": {JSON: {"schema": _ref("schemas", "NewExecution")}},
            },
        ),
        "get": _operation(
            "list executions",
            _answers(_ok("200", "newest first", "ExecutionList"), "503"),
            parameters=[
                _query("status", _STATUS, "only executions in this status"),
                _query("task", NAME, "only executions of this task"),
                _query("parent", NAME, "only the children of this execution"),
                _query("search", _SEARCH, "only ids starting with this"),
                _query(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": 1000},
                    "page size (50)",
                ),
                _query(
                    "offset",
                    {"type": "integer", "minimum": 0, "maximum": MOST},
                    "executions skipped (0)",
                ),
            ],
        ),
    },
    "/api/v1/executions/{execution_id}": {
        "get": _operation(
            "get execution",
            _answers(_ok("200", "the execution", "Execution"), "404", "503"),
            parameters=_ONE,
        )
    },
    "/api/v1/executions/{execution_id}/steps": {
        "get": _operation(
            "list steps",
            _answers(_ok("200", "the log, in order of first record", "StepList"), "404", "503"),
            parameters=[
                EXECUTION_ID,
                _query(
                    "run",
                    {"type": "integer", "minimum": 1, "maximum": MOST},
                    "that run's log (default: the current)",
                ),
            ],
        )
    },
    "/api/v1/executions/{execution_id}/cancel": {
        "post": _operation(
            "cancel execution",
            _answers(_ok("200", "cancelled, with its unfinished children", "Execution"), *_ACTION),
            parameters=_ONE,
        )
    },
    "/api/v1/executions/{execution_id}/retry": {
        "post": _operation(
            "retry execution",
            _answers(_ok("200", "due again, as its next attempt", "Execution"), *_ACTION),
            parameters=_ONE,
        )
    },
    "/api/v1/executions/{execution_id}/fork": {
        "post": _operation(
            "fork execution",
            _answers(
                _ok("201", "the new execution, its log copied up to from_step", "Execution"),
                *_ACTION,
                "422",
            ),
            parameters=_ONE,
            requestBody={"required": True, "content": {JSON: {"schema": _ref("schemas", "Fork")}}},
        )
    },
    "/api/v1/executions/{execution_id}/wait": {
        "get": _operation(
            "wait for execution",
            _answers(
                {
                    **_ok("200", "the execution has ended", "Execution"),
                    **_ok("202", "the timeout passed first: the execution as it is", "Execution"),
                },
                "404",
                "503",
            ),
            parameters=[
                EXECUTION_ID,
                _query("timeout", {"type": "number", "minimum": 0, "maximum": 60}, "seconds (30)"),
            ],
        )
    },
}


def _schedule_action(summary: str, ok: dict[str, Any], *errors: str) -> dict[str, Any]:
    answers = _answers(ok, "404", "405", "413", "503", *errors)
    return _operation(summary, answers, parameters=[SCHEDULE_ID])


SCHEDULE_PATHS: dict[str, Any] = {
    "/api/v1/schedules": {
        "get": _operation(
            "list schedules", _answers(_ok("200", "every schedule, by id", "ScheduleList"), "503")
        )
    },
    "/api/v1/schedules/{schedule_id}": {
        "get": _operation(
            "get schedule",
            _answers(_ok("200", "the schedule", "Schedule"), "404", "503"),
            parameters=[SCHEDULE_ID],
        ),
        "delete": _schedule_action(
            "delete schedule", _ok("200", "deleted; its executions stay", "ScheduleDeleted")
        ),
    },
    "/api/v1/schedules/{schedule_id}/pause": {
        "post": _schedule_action(
            "pause schedule", _ok("200", "paused: it fires no tick until resumed", "Schedule")
        )
    },
    "/api/v1/schedules/{schedule_id}/resume": {
        "post": _schedule_action(
            "resume schedule",
            _ok("200", "firing again, from its next tick after now", "Schedule"),
        )
    },
    "/api/v1/schedules/{schedule_id}/trigger": {
        "post": _schedule_action(
            "trigger schedule",
            _ok("201", "a tick started now, paused or not: its execution", "Execution"),
            "409",
        )
    },
}


_DELIVERY = ("404", "405", "409", "413", "422", "503")
OTHER_PATHS: dict[str, Any] = {
    "/api/v1/events/{execution_id}/{event_name}": {
        "post": _operation(
            "offer event",
            _answers(_ok("200", "offered", "EventOffered"), *_DELIVERY),
            parameters=[EXECUTION_ID, _path_param("event_name", "the event's name", NAME)],
            requestBody=_ANY_BODY,
        )
    },
    "/api/v1/messages/{execution_id}/{topic}": {
        "post": _operation(
            "send message",
            _answers(_ok("201", "queued on the topic", "MessageSent"), *_DELIVERY),
            parameters=[EXECUTION_ID, _path_param("topic", "the topic", NAME), IDEMPOTENCY_KEY],
            requestBody=_ANY_BODY,
        )
    },
    "/api/v1/workers": {
        "get": _operation(
            "list workers", _answers(_ok("200", "the live workers", "WorkerList"), "503")
        )
    },
    "/api/v1/openapi.json": {
        "get": _operation(
            "get openapi",
            _answers(
                {
                    "200": {
                        "description": "this document",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    }
                },
                secured=False,
            ),
            security=[],
        )
    },
    "/metrics": {
        "get": _operation(
            "get metrics",
            _answers(
                {
                    "200": {
                        "description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                }
            ),
        )
    },
    "/healthz": {
        "get": _operation(
            "get health",
            _answers(_ok("200", "the server answers", "Health"), secured=False),
            security=[],
        )
    },
}


@functools.cache
def document() -> dict[str, Any]:
    """The document, as a JSON-ready dict (built once)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "zart",
            "version": "1",
            "description": "Drive zart executions over HTTP, and read, pause, resume, "
            "trigger and delete recurring schedules (schedules are created in code, with "
            "client.create_schedule: no route creates one). Errors are "
            '{"error": code, "message": text}.',
        },
        "paths": {**EXECUTION_PATHS, **SCHEDULE_PATHS, **OTHER_PATHS},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


@functools.cache
def document_bytes() -> bytes:
    return json.dumps(document(), separators=(",", ":")).encode("utf-8")
