"""``MySQLStore.fork``: a new execution with a copy of another's log up to
a step, in one transaction (what is copied: ``rules.fork``). The source's
row is locked while its log is read, so no commit of its lease holder
lands in between."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ... import records as r
from ...errors import ExecutionAlreadyExists, ExecutionNotFound
from .. import rows, rules
from . import Steps, _created, _record
from .connection import DUPLICATE_KEY, BatchError, Conn, errno
from .values import aware
from .values import naive as _t

if TYPE_CHECKING:
    from . import MySQLStore


def fork(store: MySQLStore, execution_id: str, from_step: str, new_id: str) -> r.ExecutionRecord:
    now = store.now()
    t = _t(now)
    source = {"id": execution_id, "ids": (execution_id,)}

    def op(conn: Conn) -> r.ExecutionRecord:
        out = store._send(
            conn,
            [
                ("begin", None),
                ("lock_status", source),
                ("get", source),
                ("load_head", source),
                ("load_records", source),
                ("load_events", source),
                ("load_messages", source),
            ],
        )
        if out[1].first() is None:
            raise ExecutionNotFound(execution_id)
        head = out[3].rows[0]
        log = rows.logs([(execution_id, head[1])], out[4].rows, out[5].rows, out[6].rows, aware)
        plan = rules.fork(
            _record(out[2].rows[0]), log[execution_id], from_step=from_step, new_id=new_id
        )
        params = {**rows.new_params(plan.new), "now": t}
        try:
            store._send(conn, [("create", params)])
        except BatchError as exc:
            if errno(exc.cause) != DUPLICATE_KEY:
                raise
            found = store._send(conn, [("status_of", {"id": new_id})])[0].first()
            raise ExecutionAlreadyExists(new_id, found[0] if found else None) from None
        store._send(conn, [*_copies(plan, t), ("commit", None)])
        return _created(plan.new, params, now, r.PENDING, now)

    record: r.ExecutionRecord = store._run("fork", op, retry=False)
    store._ring()
    return record


def _copies(plan: rules.Fork, t: object) -> Steps:
    eid = plan.new.id
    steps: Steps = [
        ("insert_record", {**rows.record_params(write, _t), "id": eid, "now": t})
        for write in plan.records
    ]
    steps.append(("set_seq", {"id": eid, "seq": plan.last_seq}))
    for name, payload in plan.events.items():
        steps.append(
            ("insert_event", {"id": eid, "name": name, "payload": rows.dump(payload), "now": t})
        )
    for topic, payload in plan.messages:
        steps.append(
            (
                "insert_message",
                {"id": eid, "topic": topic, "payload": rows.dump(payload), "now": t, "key": None},
            )
        )
    return steps
