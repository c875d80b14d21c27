"""What each dashboard page shows, read through the client.

Executions, steps, workers and schedules reach the templates as ``zart.views``
documents: the dashboard shows the same fields as ``--json`` and the API.
What is added here is only what a page needs to lay them out (the paging,
what an execution waits for, which actions apply).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import attrs

from .. import records as r
from .. import views
from ..client import Client
from ..errors import ExecutionNotFound
from ..stores.rules import CHILDREN, event_key, topic_key

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
CHILDREN_SHOWN = 50
SCHEDULES_SHOWN = 500
ACTIVE_STATUSES = tuple(s for s in r.STATUSES if s not in r.FINAL_STATUSES)
_TOPIC = topic_key("")
_EVENT = event_key("")


class PageError(Exception):
    """A page that cannot be shown: its status and why, for people."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def read_count(query: Mapping[str, str], name: str, default: int, least: int, most: int) -> int:
    """The whole number ``name`` of the query (``default`` when absent)."""
    text = query.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise PageError(400, f"{name} must be a whole number, got {text!r}") from None
    if not least <= value <= most:
        raise PageError(400, f"{name} must be between {least} and {most}, got {value}")
    return value


@attrs.frozen(kw_only=True)
class ListQuery:
    """The list's filters and page, as read from (and written back to) the
    address, so that every view of the list can be linked to."""

    status: str | None = None
    task: str | None = None
    parent: str | None = None
    search: str | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def read(cls, query: Mapping[str, str]) -> ListQuery:
        status = query.get("status", "").strip() or None
        if status is not None and status not in r.STATUSES:
            raise PageError(400, f"unknown status {status!r}; one of {', '.join(r.STATUSES)}")
        return cls(
            status=status,
            task=query.get("task", "").strip() or None,
            parent=query.get("parent", "").strip() or None,
            search=query.get("q", "").strip() or None,
            limit=read_count(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
            offset=read_count(query, "offset", 0, 0, 10**9),
        )

    def href(self, **changes: Any) -> str:
        """The list's address with ``changes`` made (a filter set: page one)."""
        q = attrs.evolve(self, **changes)
        fields = (("status", q.status), ("task", q.task), ("parent", q.parent), ("q", q.search))
        params = [(name, value) for name, value in fields if value]
        if q.limit != DEFAULT_LIMIT:
            params.append(("limit", str(q.limit)))
        if q.offset:
            params.append(("offset", str(q.offset)))
        return "/" + (f"?{urlencode(params)}" if params else "")

    @property
    def filtered(self) -> bool:
        return any((self.status, self.task, self.parent, self.search))


def executions(client: Client, q: ListQuery) -> dict[str, Any]:
    """The list page: one page of executions, the counts by status, the tasks."""
    try:
        rows = client.list(
            status=q.status,
            task=q.task,
            parent_id=q.parent,
            search=q.search,
            limit=q.limit + 1,  # one more tells whether there is a next page
            offset=q.offset,
        )
        counts = client.counts(q.task)
    except ValueError as exc:
        raise PageError(400, str(exc)) from None
    more = len(rows) > q.limit
    tasks = {task for task, _ in client.status_counts()} | set(client.registry.names())
    return {
        "q": q,
        "rows": [{**views.execution(e), "wait": waiting(e)} for e in rows[: q.limit]],
        "first": q.offset + 1,
        "previous": q.href(offset=max(0, q.offset - q.limit)) if q.offset else None,
        "next": q.href(offset=q.offset + q.limit) if more else None,
        "tabs": [(status, counts.get(status, 0)) for status in r.STATUSES],
        "total": sum(counts.values()),
        "tasks": sorted(tasks),
    }


def waiting(record: r.ExecutionRecord) -> dict[str, Any] | None:
    """What a sleeping or waiting execution waits for: ``kind`` (timer,
    event, message, children), ``name`` and ``until`` (its deadline)."""
    until = views.when(record.wake_at)
    if record.status == r.SLEEPING:
        return {"kind": "timer", "name": None, "until": until}
    if record.status != r.WAITING:
        return None
    what = record.waiting_for
    if what == CHILDREN:
        return {"kind": "children", "name": None, "until": until}
    if what is not None and what.startswith(_TOPIC):
        return {"kind": "message", "name": what[len(_TOPIC) :], "until": until}
    if what is not None and what.startswith(_EVENT):
        return {"kind": "event", "name": what[len(_EVENT) :], "until": until}
    return {"kind": "timer", "name": None, "until": until}  # a deadline alone


def error(document: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored error laid out for people: a title, a message, the
    traceback, a business error's fields, and any other key as it is."""
    if not document:
        return None
    doc = dict(document)
    kind = doc.pop("kind", None)
    title = str(doc.pop("type", "error"))
    message = str(doc.pop("message", ""))
    if kind == "step":
        step, attempts = doc.pop("step", "?"), doc.pop("attempts", "?")
        title = f"{title}: step {step!r} failed after {attempts} attempt(s)"
        message = f"{doc.pop('error_type', 'unknown')}: {message}"
    return {
        "title": title,
        "message": message,
        "traceback": doc.pop("traceback", None),
        "fields": doc.pop("fields", None),
        "rest": doc or None,
    }


def _step(record: r.StepRecord) -> dict[str, Any]:
    document = views.step(record)
    done = record.status in r.R_FINAL
    document["finished_at"] = document["updated_at"] if done else None
    document["error_view"] = error(record.error)
    return document


def _related(client: Client, execution_id: str | None) -> dict[str, Any] | None:
    """The parent or root, if it can still be read (it may be gone)."""
    if execution_id is None:
        return None
    try:
        return views.execution(client.get(execution_id))
    except ExecutionNotFound:
        return {"id": execution_id, "name": execution_id, "status": None}


def execution(client: Client, execution_id: str, run: int | None) -> dict[str, Any]:
    """One execution's page: the record, its log (this run's or ``run``'s),
    its parent and children, and what can be done to it."""
    try:
        record = client.get(execution_id)
    except (ExecutionNotFound, ValueError):
        raise PageError(404, f"no execution with id {execution_id!r}") from None
    if run is not None and not 1 <= run <= record.run:
        shown = f"runs 1 to {record.run}"
        raise PageError(404, f"execution {execution_id!r} has no run {run} ({shown})")
    children = client.list(parent_id=record.id, limit=CHILDREN_SHOWN + 1)
    wait = waiting(record)
    active = not record.is_final
    return {
        "e": views.execution(record),
        "error": error(record.error),
        "steps": [_step(s) for s in client.history(record.id, run)],
        "run": run or record.run,
        "runs": list(range(1, record.run + 1)) if record.run > 1 else [],
        "children": [views.execution(c) for c in children[:CHILDREN_SHOWN]],
        "more_children": len(children) > CHILDREN_SHOWN,
        "parent": _related(client, record.parent_id),
        "root": _related(client, record.root_id) if record.root_id != record.parent_id else None,
        "waiting": wait,
        "event_name": wait["name"] if wait and wait["kind"] == "event" else "",
        # The message form names the topic a zart.receive waits on, if one does.
        "message_topic": wait["name"] if wait and wait["kind"] == "message" else "",
        "can_cancel": active,
        "can_retry": record.status in r.RETRYABLE_STATUSES,
        "can_event": active,
        "can_send": active,
        # Forks copy the current run's log, so only its steps offer one.
        "can_fork": record.kind != r.STEP and run in (None, record.run),
        "live": active and run in (None, record.run),
    }


def workers(client: Client, include_dead: bool) -> dict[str, Any]:
    """The workers page: the live ones (and the dead still recorded, when asked)."""
    found = client.workers(include_dead=include_dead)
    return {"workers": [views.worker(w) for w in found], "include_dead": include_dead}


def schedules(client: Client) -> dict[str, Any]:
    """The schedules page: the schedules by id (the first SCHEDULES_SHOWN: a
    page re-read every few seconds stays small), each marked with whether a
    live worker serves its task (the worker table read once for all)."""
    served = views.served_tasks(client.workers())
    found = client.list_schedules()
    shown = found[:SCHEDULES_SHOWN]
    return {
        "schedules": [views.schedule(s, s.task_name in served) for s in shown],
        "total_schedules": len(found),
    }
