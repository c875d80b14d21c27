"""``SqliteStore.fork``: a new execution with a copy of another's log up
to a step, in one write transaction (what is copied: ``rules.fork``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ... import records as r
from ...errors import ExecutionAlreadyExists, ExecutionNotFound
from .. import rows, rules

if TYPE_CHECKING:
    from . import SqliteStore


def fork(store: SqliteStore, execution_id: str, from_step: str, new_id: str) -> r.ExecutionRecord:
    now = rows.micros(store.now())
    with store._db.tx(write=True) as conn:
        head = store._run(conn, "get", {"id": execution_id}).fetchone()
        if head is None:
            raise ExecutionNotFound(execution_id)
        source = rows.execution(head, rows.from_micros)
        num, _, seq = store._run(conn, "load_head", {"id": execution_id}).fetchone()
        log = store._log(conn, execution_id, num, source.run, seq)
        plan = rules.fork(source, log, from_step=from_step, new_id=new_id)
        row = store._run(conn, "insert_execution", {**rows.new_params(plan.new), "now": now})
        created = row.fetchone()
        if created is None:
            taken = rows.execution(
                store._run(conn, "get", {"id": new_id}).fetchone(), rows.from_micros
            )
            raise ExecutionAlreadyExists(new_id, taken.status)
        for write in plan.records:
            params = {**rows.record_params(write, rows.micros), "id": new_id, "now": now}
            store._run(conn, "insert_record", params)
        store._run(conn, "set_seq", {"id": new_id, "seq": plan.last_seq})
        for name, payload in plan.events.items():
            params = {"id": new_id, "name": name, "payload": rows.dump(payload), "now": now}
            store._run(conn, "insert_event", params)
        for topic, payload in plan.messages:
            params = {
                "id": new_id,
                "topic": topic,
                "payload": rows.dump(payload),
                "now": now,
                "key": None,
            }
            store._run(conn, "insert_message", params)
    store._ring()
    return rows.execution(created, rows.from_micros)
