"""The API's routes on recurring schedules: read them, pause, resume,
trigger and delete them.

Creating a schedule stays in code (``client.create_schedule``): a schedule
names a task and an input the application's registry checks, and its cron,
zone and policies belong with the code that runs it, under review, not
in an ad-hoc call. The API reads schedules and acts on the ones that exist.

Each schedule is shown with ``served``: whether a live worker serves its
task, read once per answer from the worker table.
"""

from __future__ import annotations

from urllib.parse import quote

from .. import views
from ..client import Client
from ..errors import ScheduleNotFound
from ..names import check_name
from ..records import ScheduleRecord
from .wsgi import HttpError, Request, Response, Route, json_response

SCHEDULES = "/api/v1/schedules"
ONE = SCHEDULES + "/{schedule_id}"


def schedule_id(params: dict[str, str]) -> str:
    """The path's schedule id: one no store could hold is a 404, as for
    executions (no such schedule can exist)."""
    value = params["schedule_id"]
    try:
        return check_name("schedule id", value)
    except ValueError as exc:
        raise HttpError(404, "not_found", f"no schedule can have this id: {exc}") from None


def execution_location(request: Request, execution_id: str) -> str:
    """The ``Location`` of an execution, under the app's mount point."""
    script = str(request.environ.get("SCRIPT_NAME") or "").rstrip("/")
    return f"{script}/api/v1/executions/{quote(execution_id, safe='')}"


class ScheduleApi:
    """The schedule handlers, over one ``Client``."""

    def __init__(self, client: Client, *, max_body: int) -> None:
        self.client = client
        self.max_body = max_body

    def routes(self) -> list[Route]:
        return [
            Route("GET", SCHEDULES, self.listing),
            Route("GET", ONE, self.get),
            Route("DELETE", ONE, self.delete, action=True),
            Route("POST", ONE + "/pause", self.pause, action=True),
            Route("POST", ONE + "/resume", self.resume, action=True),
            Route("POST", ONE + "/trigger", self.trigger, action=True),
        ]

    def _document(self, record: ScheduleRecord) -> Response:
        return json_response(200, views.schedule(record, self.client.served(record.task_name)))

    def listing(self, request: Request, params: dict[str, str]) -> Response:
        served = views.served_tasks(self.client.workers())
        found = self.client.list_schedules()
        document = {"schedules": [views.schedule(s, s.task_name in served) for s in found]}
        return json_response(200, document)

    def get(self, request: Request, params: dict[str, str]) -> Response:
        return self._document(self.client.get_schedule(schedule_id(params)))

    def pause(self, request: Request, params: dict[str, str]) -> Response:
        sid = schedule_id(params)
        request.body(self.max_body)  # a body, if any, is read (and bounded), not used
        return self._document(self.client.pause_schedule(sid))

    def resume(self, request: Request, params: dict[str, str]) -> Response:
        sid = schedule_id(params)
        request.body(self.max_body)
        return self._document(self.client.resume_schedule(sid))

    def trigger(self, request: Request, params: dict[str, str]) -> Response:
        """201 with the tick's new execution, started now whatever the
        schedule's pause and overlap say (a second trigger within the same
        instant is the same tick: 409)."""
        sid = schedule_id(params)
        request.body(self.max_body)
        record = self.client.get(self.client.trigger_schedule(sid))
        location = [("Location", execution_location(request, record.id))]
        return json_response(201, views.execution(record), location)

    def delete(self, request: Request, params: dict[str, str]) -> Response:
        """The executions it started stay; 404 when there was none."""
        sid = schedule_id(params)
        request.body(self.max_body)
        if not self.client.delete_schedule(sid):
            raise ScheduleNotFound(sid)
        return json_response(200, {"schedule_id": sid, "deleted": True})
