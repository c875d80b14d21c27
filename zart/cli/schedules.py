"""``zart schedules``: list recurring schedules, pause, resume, trigger and
delete them.

Creating one stays in code (``client.create_schedule``), as in the HTTP
API: its task, input, cron and policies belong with the code that runs it.
``--json`` prints what the matching API route answers.
"""

from __future__ import annotations

from .. import views
from ..errors import ScheduleNotFound
from . import output
from .inputs import Session


def listing(session: Session) -> int:
    client = session.client()
    found = client.list_schedules()
    served = views.served_tasks(client.workers())
    if session.args.json:  # as GET /api/v1/schedules answers
        documents = [views.schedule(s, s.task_name in served) for s in found]
        output.print_json({"schedules": documents})
    else:
        output.print_lines(output.schedule_rows(found, served))
    unserved = sorted({s.task_name for s in found} - served)
    if unserved:
        # Said once below the table: the ticks still start, and wait.
        names = ", ".join(output.clean(repr(task)) for task in unserved)
        output.warning(f"no live worker serves {names}: those ticks wait for one")
    return 0


def _show(session: Session, schedule_id: str, verb: str, paused: bool) -> int:
    client = session.client()
    change = client.pause_schedule if paused else client.resume_schedule
    record = change(schedule_id)
    if session.args.json:  # as POST /api/v1/schedules/{id}/pause (or resume) answers
        output.print_json(views.schedule(record, client.served(record.task_name)))
    else:
        tail = "" if paused else f"; next tick {output.when(record.next_tick)}"
        output.print_lines([f"{verb} {output.clean(record.id)}{tail}"])
    return 0


def pause(session: Session) -> int:
    return _show(session, session.args.id, "paused", paused=True)


def resume(session: Session) -> int:
    return _show(session, session.args.id, "resumed", paused=False)


def trigger(session: Session) -> int:
    """Start a tick now; print its execution's id (warned, as ``schedule``
    is, when no live worker serves the task)."""
    client = session.client()
    record = client.get(client.trigger_schedule(session.args.id))
    if not client.served(record.task_name):
        task = output.clean(repr(record.task_name))
        output.warning(f"no live worker serves task {task}; the execution waits for one")
    if session.args.json:  # as POST /api/v1/schedules/{id}/trigger answers
        output.print_json(views.execution(record))
    else:
        output.print_lines([record.id])
    return 0


def delete(session: Session) -> int:
    schedule_id = session.args.id
    if not session.client().delete_schedule(schedule_id):
        raise ScheduleNotFound(schedule_id)
    if session.args.json:  # as DELETE /api/v1/schedules/{id} answers
        output.print_json({"schedule_id": schedule_id, "deleted": True})
    else:
        output.print_lines([f"deleted {output.clean(schedule_id)}"])
    return 0
