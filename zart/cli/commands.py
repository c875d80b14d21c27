"""The commands that start, read and act on executions.

Each takes the ``Session`` (parsed arguments, the store opened on first
use) and returns the exit status. Each prints one JSON document with
``--json``: records as ``zart.views`` makes them, in the document the
matching HTTP API route answers, so that a script reads both alike.
"""

from __future__ import annotations

import time
import uuid

from .. import records as r
from .. import views
from ..errors import ExecutionNotFound
from ..names import check_name
from ..records import ExecutionRecord, NewExecution
from ..stores.connect import redact
from . import output
from .inputs import Session, read_data

# The longest a `wait` sleeps between looks when the store does not wake it.
_LOOK_AGAIN = 0.5

# `zart wait` exit statuses (2 is also every user mistake's).
WAIT_COMPLETED, WAIT_FAILED, WAIT_TIMEOUT, WAIT_NOT_FOUND = 0, 1, 2, 3


def migrate(session: Session) -> int:
    store = session.store(creates=True)
    store.migrate()
    url = redact(store.url)
    if session.args.json:
        output.print_json({"migrated": url})
    else:
        output.print_lines([f"migrated {url}"])
    return 0


def schedule(session: Session) -> int:
    args = session.args
    client = session.client(creates=True, app=args.app)
    task: str = args.task
    if args.app and task not in client.registry:
        client.registry.get(task)  # raises UnknownTaskError naming the known tasks
    data = read_data(args.data)
    if task in client.registry:
        eid = client.schedule(task, data, execution_id=args.id)
    else:  # no --app: store the raw JSON for whichever worker knows the task
        # Held to the client's rules for names and ids: a NUL or a surrogate
        # (an argv byte that is not UTF-8 arrives as one) is refused here.
        check_name("task name", task)
        if args.id is not None:
            check_name("execution_id", args.id)
        eid = args.id or uuid.uuid4().hex
        client.store.create(NewExecution(id=eid, task_name=task, input=data))
    warnings = []
    if not client.served(task):
        # Still created: a worker may start later and find it due.
        warnings.append(f"no live worker serves task {task!r}; the execution waits for one")
    for warning in warnings:
        output.warning(warning)
    if args.json:  # as POST /api/v1/executions answers
        output.print_json({"execution": views.execution(client.get(eid)), "warnings": warnings})
    else:
        output.print_lines([eid])
    return 0


def status(session: Session) -> int:
    record = session.client().get(session.args.id)
    _show_execution(session, record)
    return 0


def _show_execution(session: Session, record: ExecutionRecord) -> None:
    if session.args.json:
        output.print_json(views.execution(record))
    else:
        output.print_lines(output.execution_fields(record))


def wait(session: Session) -> int:
    """Exit 0 when the execution completed, 1 when it failed or was
    cancelled, 2 when ``--timeout`` passed first, 3 when there is no such
    execution. It prints the execution as it stands then."""
    args = session.args
    try:
        record = _await_end(session, args.id, args.timeout)
    except ExecutionNotFound as exc:
        output.error(str(exc))
        return WAIT_NOT_FOUND
    _show_execution(session, record)
    if not record.is_final:
        output.error(
            f"execution {record.id!r} did not end within {args.timeout:g} s "
            f"(status {record.status})"
        )
        return WAIT_TIMEOUT
    return WAIT_COMPLETED if record.status == r.COMPLETED else WAIT_FAILED


def _await_end(session: Session, execution_id: str, timeout: float | None) -> ExecutionRecord:
    """The execution once it has ended, or as it stands at the timeout."""
    client = session.client()
    deadline = None if timeout is None else time.monotonic() + timeout
    told = False
    while True:
        record = client.get(execution_id)
        if record.status == r.STALLED and not told:
            # Not an end: it resumes once retried with code matching its log.
            told = True
            output.warning(
                f"execution {record.id!r} is stalled (its code no longer matches its log); "
                "it waits for `zart retry`"
            )
        left = None if deadline is None else deadline - time.monotonic()
        if record.is_final or (left is not None and left <= 0):
            return record
        # The store's wait ends early when something changed (a NOTIFY on
        # PostgreSQL, the file on SQLite): no busy loop, no missed end.
        client.store.wait(_LOOK_AGAIN if left is None else min(_LOOK_AGAIN, left))


def listing(session: Session) -> int:
    args = session.args
    records = session.client().list(
        status=args.status,
        task=args.task,
        parent_id=args.parent,
        search=args.search,
        limit=args.limit,
        offset=args.offset,
    )
    if args.json:  # as GET /api/v1/executions answers
        executions = [views.execution(rec) for rec in records]
        output.print_json({"executions": executions, "limit": args.limit, "offset": args.offset})
    else:
        output.print_lines(output.execution_rows(records))
    return 0


def history(session: Session) -> int:
    args = session.args
    records = session.client().history(args.id, run=args.run)
    if args.json:  # as GET /api/v1/executions/{id}/steps answers
        steps = [views.step(rec) for rec in records]
        output.print_json({"execution_id": args.id, "run": args.run, "steps": steps})
    else:
        output.print_lines(output.step_rows(records))
    return 0


def event(session: Session) -> int:
    args = session.args
    data = read_data(args.data)
    fresh = session.client().offer_event(args.id, args.name, data)
    if args.json:
        output.print_json({"execution_id": args.id, "event": args.name, "accepted": fresh})
    else:
        text = "delivered" if fresh else "ignored (an event of that name was offered before)"
        output.print_lines([text])
    return 0


def send(session: Session) -> int:
    args = session.args
    data = read_data(args.data)
    message_id = session.client().send(args.id, args.topic, data, idempotency_key=args.key)
    if args.json:
        document = {"execution_id": args.id, "topic": args.topic, "message_id": message_id}
        output.print_json(document)
    else:
        output.print_lines([f"sent message {message_id} on {output.clean(repr(args.topic))}"])
    return 0


def cancel(session: Session) -> int:
    args = session.args
    done = session.client(app=args.app).cancel(args.id)
    if args.json:
        output.print_json({"execution_id": args.id, "cancelled": done})
    else:
        output.print_lines(["cancelled" if done else "already finished"])
    return 0


def retry(session: Session) -> int:
    record = session.client().retry(session.args.id)
    if session.args.json:
        output.print_json(views.execution(record))
    else:
        output.print_lines([f"retrying {output.clean(record.id)} (attempt {record.attempt})"])
    return 0


def fork(session: Session) -> int:
    args = session.args
    client = session.client()
    new_id = client.fork(args.id, from_step=args.from_step, execution_id=args.new_id)
    if args.json:
        output.print_json(views.execution(client.get(new_id)))
    else:
        output.print_lines([new_id])
    return 0


def workers(session: Session) -> int:
    found = session.client().workers(include_dead=session.args.all)
    if session.args.json:  # as GET /api/v1/workers answers
        output.print_json({"workers": [views.worker(info) for info in found]})
    else:
        output.print_lines(output.worker_rows(found))
    return 0
