"""``PostgresStore.fork``: a new execution with a copy of another's log up
to a step, in one transaction (what is copied: ``rules.fork``). The
source's row is locked while its log is read, so no commit of its lease
holder lands in between."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ... import records as r
from ...errors import ExecutionAlreadyExists
from .. import rows, rules
from . import _new, _record
from .connection import Conn, transaction

if TYPE_CHECKING:
    from . import PostgresStore


def fork(store: PostgresStore, execution_id: str, from_step: str, new_id: str) -> r.ExecutionRecord:
    def op(conn: Conn) -> r.ExecutionRecord:
        with transaction(conn):
            store._locked_status(conn, execution_id)
            source = _record(store._answer(conn, "get", {"id": execution_id}))
            run, seq = store._answer(conn, "load_head", {"id": execution_id})
            log = store._logs(conn, [(execution_id, run, seq)])[execution_id]
            plan = rules.fork(source, log, from_step=from_step, new_id=new_id)
            created = store._exec(conn, "create", store._base(**_new(plan.new))).fetchone()
            if created is None:
                (status, _) = store._answer(conn, "status_of", {"id": new_id})
                raise ExecutionAlreadyExists(new_id, status)
            _copy(store, conn, plan)
        return _record(created)

    return store._run("fork", op, retry=False)  # type: ignore[no-any-return]


def _copy(store: PostgresStore, conn: Conn, plan: rules.Fork) -> None:
    eid, now = plan.new.id, store.now()
    for write in plan.records:
        params = {**rows.record_params(write, _same), "id": eid, "now": now}
        store._exec(conn, "insert_record", params)
    store._exec(conn, "set_seq", {"id": eid, "seq": plan.last_seq})
    for name, payload in plan.events.items():
        params = {"id": eid, "name": name, "payload": rows.dump(payload), "now": now}
        store._exec(conn, "insert_event", params)
    for topic, payload in plan.messages:
        params = {"id": eid, "topic": topic, "payload": rows.dump(payload), "now": now, "key": None}
        store._exec(conn, "insert_message", params)


def _same(when: object) -> object:
    return when
