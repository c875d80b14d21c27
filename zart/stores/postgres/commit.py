"""A commit on PostgreSQL, in as few round trips as its parts allow:

- a step's record alone: ``commit_record``, one statement;
- a run's last commit (records, state, and completing or failing): one
  statement, ``commit_end``, then ``wake_parent`` when a parent awaits it;
- anything else: one transaction in pipeline mode. The fence, the writes
  and the facts a rule needs (is the event there? which awaited children
  are open?) go in one round trip; the outcome the rule decides, and
  COMMIT, in a second. Rerunning children reads their rows first.

A commit whose connection is lost is sent again once: its writes are
fenced upserts, so a repeat writes the same rows. When the first try of a
commit that ended the lease landed, the repeat finds the lease ended; the
execution's row then tells whether this lease holder ended it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ... import records as r
from ...errors import ExecutionNotFound, LeaseLost
from ...records import Commit, Lease
from .. import rows, rules
from .connection import Conn, transaction

if TYPE_CHECKING:
    from . import PostgresStore

log = logging.getLogger("zart")


def apply_commit(store: PostgresStore, lease: Lease, commit: Commit) -> bool:
    """``Store.commit`` on PostgreSQL."""
    now = store.now()
    outcome = commit.outcome
    if (only := commit.only_record) is not None:
        params = {**rows.record_params(only, _same), "id": lease.execution_id}
        params.update(token=lease.token, now=now)
        if store._one("commit_record", params) is None:
            raise LeaseLost(lease.execution_id)
        return True
    rest = (commit.children, commit.rerun_children, commit.consumed)
    if isinstance(outcome, r.Complete | r.Fail) and not any(rest):
        _end(store, lease, commit, outcome, now)
        return True
    return _fenced(store, lease, lambda conn: _transaction(store, conn, lease, commit, now))


def _same(when: Any) -> Any:
    return when


def _arrays(records: Sequence[r.RecordWrite]) -> dict[str, Any]:
    """Records as the column arrays of ``write_records``/``commit_end``; the
    last write of a name wins, at the place of the first."""
    last = list({w.name: w for w in records}.values())
    return {
        "names": [w.name for w in last],
        "seqs": [w.seq for w in last],
        "kinds": [w.kind for w in last],
        "statuses": [w.status for w in last],
        "steps": [w.step for w in last],
        "results": [rows.dump(w.result) for w in last],
        "record_errors": [rows.dump(w.error) for w in last],
        "attempts": [w.attempts for w in last],
        "attempt_errors": [rows.dump_errors(w.errors) for w in last],
        "wakes": [w.wake_at for w in last],
        "child_ids": [w.child_id for w in last],
        "execution_attempts": [w.execution_attempt for w in last],
        "starts": [w.started_at for w in last],
    }


def _end(
    store: PostgresStore, lease: Lease, commit: Commit, outcome: r.Complete | r.Fail, now: datetime
) -> None:
    ended = rules.ended(outcome)
    state = commit.state
    params = {
        "id": lease.execution_id,
        "token": lease.token,
        "now": now,
        "status": ended.status,
        "record_status": ended.record_status,
        "output": rows.dump(ended.output),
        "error": rows.dump(ended.error),
        "has_state": state is not None,
        "state": rows.dump(state.value) if state is not None else None,
        **_arrays(commit.records),
    }

    def op(conn: Conn) -> bool:
        fenced = store._exec(conn, "commit_end", params).fetchone()
        if fenced is None:
            raise LeaseLost(lease.execution_id)
        parent, awaited = fenced
        if parent is not None and awaited:
            store._exec(conn, "wake_parent", store._base(parent=parent))
        return True

    _fenced(store, lease, op)


def _fenced(store: PostgresStore, lease: Lease, op: Any) -> bool:
    """``op``, retried once on a fresh connection when the connection is
    lost; a retry that finds the lease ended by its own first try succeeds.
    A claim or a cancel moves the token; only the lease holder's own commit
    takes the execution out of running and leaves the token as it was."""
    resumed = False

    def reconnecting() -> None:
        nonlocal resumed
        resumed = True

    def attempt(conn: Conn) -> bool:
        try:
            return bool(op(conn))
        except LeaseLost:
            if not resumed:
                raise
            found = store._exec(conn, "status_of", {"id": lease.execution_id}).fetchone()
            if found is None or found[0] == r.RUNNING or found[1] != lease.token:
                raise
            log.info(
                "zart: the commit to %s landed before its connection was lost", lease.execution_id
            )
            # The wake-up that follows a finish may be what the lost
            # connection cut short (it is a no-op for anything else).
            wake_parent_of(store, conn, lease.execution_id)
            return True

    return bool(store._run("commit", attempt, reconnecting=reconnecting))


def _transaction(
    store: PostgresStore, conn: Conn, lease: Lease, commit: Commit, now: datetime
) -> bool:
    """The general commit; True unless a suspend found its wake-up there.
    Reading a result in pipeline mode sends everything queued before it:
    the fence, the writes and the facts travel together."""
    eid = lease.execution_id
    outcome = commit.outcome
    with transaction(conn):
        fence = store._exec(conn, "fence", {"id": eid, "token": lease.token})
        head = None
        if commit.rerun_children:
            head = _held(fence, eid)
            rerun(store, conn, commit.rerun_children, quiet=True)
        base = {"id": eid, "now": now}
        if commit.records:
            store._exec(conn, "write_records", {**base, **_arrays(commit.records)})
        if commit.children:
            store._exec(conn, "insert_children", {**base, **_children(commit.children)})
        if commit.consumed:
            store._exec(conn, "consume_messages", {"id": eid, "messages": list(commit.consumed)})
        if commit.state is not None:
            store._exec(conn, "set_state", {"id": eid, "state": rows.dump(commit.state.value)})
        asked = _ask(store, conn, eid, outcome)
        if head is None:
            head = _held(fence, eid)
        woken = _apply(store, conn, eid, head, outcome, asked, now)
        if woken or commit.children or commit.rerun_children or _due_now(outcome):
            store._exec(conn, "notify", {"channel": store.channel})
    if isinstance(outcome, r.Complete | r.Fail):  # as after the one-statement finish (_end)
        wake_parent_of(store, conn, eid)
    return not woken


def wake_parent_of(store: PostgresStore, conn: Conn, eid: str) -> None:
    """Wake ``eid``'s parent when it awaits ``eid`` and no awaited sibling is
    open. A statement of its own, after the commit that ended ``eid``: its
    snapshot sees every sibling that committed before it began."""
    row = store._exec(conn, "parent_of", {"id": eid}).fetchone()
    if row is not None and row[0] is not None and row[1]:
        store._exec(conn, "wake_parent", store._base(parent=row[0]))


def _held(fence: Any, eid: str) -> tuple[Any, Any]:
    head = fence.fetchone()
    if head is None:
        raise LeaseLost(eid)
    return head[0], head[1]


def _children(children: Sequence[r.NewExecution]) -> dict[str, Any]:
    return {
        "child_ids": [c.id for c in children],
        "tasks": [c.task_name for c in children],
        "kinds": [c.kind for c in children],
        "inputs": [rows.dump(c.input) for c in children],
        "steps": [c.parent_step for c in children],
        "roots": [c.root_id for c in children],
        "traces": [rows.dump(c.trace) for c in children],
        "format_version": r.FORMAT_VERSION,
    }


def _ask(store: PostgresStore, conn: Conn, eid: str, outcome: r.Outcome | None) -> list[Any]:
    """Queue the statements whose answers a suspend's rule needs."""
    if not isinstance(outcome, r.Suspend):
        return []
    asked = []
    if outcome.children:
        asked.append(
            store._exec(conn, "mark_awaited", {"id": eid, "names": list(outcome.children)})
        )
    if outcome.event is not None:
        asked.append(store._exec(conn, "event_there", {"id": eid, "name": outcome.event}))
    if outcome.topic is not None:
        asked.append(store._exec(conn, "message_there", {"id": eid, "topic": outcome.topic}))
    return asked


def _apply(
    store: PostgresStore,
    conn: Conn,
    eid: str,
    head: tuple[Any, Any],
    outcome: r.Outcome | None,
    asked: list[Any],
    now: datetime,
) -> bool:
    """Write what the rules make of ``outcome``; True when a suspend found
    its wake-up there already."""
    run, attempt = head
    params: dict[str, Any] = {"id": eid, "now": now}
    if outcome is None:
        return False
    if isinstance(outcome, r.Suspend):
        return _suspend(store, conn, params, outcome, asked, now)
    if isinstance(outcome, r.Complete | r.Fail):
        ended = rules.ended(outcome)
        params.update(
            status=ended.status,
            record_status=ended.record_status,
            output=rows.dump(ended.output),
            error=rows.dump(ended.error),
        )
        store._exec(conn, "end_execution", params)
    elif isinstance(outcome, r.RetryExecution):
        _again(store, conn, eid, rules.retried(outcome, attempt=attempt, run=run), now, rerun=False)
    elif isinstance(outcome, r.ContinueAsNew):
        again = rules.continued(outcome, now=now, run=run)
        params.update(wake_at=again.wake_at, run=again.run, input=rows.dump(again.input))
        store._exec(conn, "continue_run", params)
        kept = {"id": eid, "oldest_kept": again.run - outcome.keep_runs}
        store._exec(conn, "drop_old_runs", kept)
    else:
        store._exec(conn, "stall", {**params, "error": rows.dump(outcome.error)})
    return False


def _suspend(
    store: PostgresStore,
    conn: Conn,
    params: dict[str, Any],
    outcome: r.Suspend,
    asked: list[Any],
    now: datetime,
) -> bool:
    open_children = 0
    answers = list(asked)
    if outcome.children:
        open_children = sum(status is None for (status,) in answers.pop(0).fetchall())
    there = bool(answers[0].fetchone()[0]) if answers else False
    woken = rules.woken_by_suspend_facts(
        outcome, event_there=there, message_there=there, open_children=open_children
    )
    row = rules.suspended(outcome, already_woken=woken, now=now)
    params.update(status=row.status, wake_at=row.wake_at, waiting_for=row.waiting_for)
    store._exec(conn, "set_row", params)
    return woken


def _due_now(outcome: r.Outcome | None) -> bool:
    return isinstance(outcome, r.RetryExecution | r.ContinueAsNew)


def _again(
    store: PostgresStore, conn: Conn, eid: str, again: rules.Again, now: datetime, *, rerun: bool
) -> None:
    params = {
        "id": eid,
        "wake_at": again.wake_at,
        "attempt": again.attempt,
        "run": again.run,
        "error": rows.dump(again.error),
        "rerun": rerun,
        "now": now,
    }
    store._exec(conn, "run_again", params)


def rerun(store: PostgresStore, conn: Conn, ids: Sequence[str], *, quiet: bool) -> None:
    """Run failed, cancelled or stalled executions again, inside the
    caller's transaction. ``quiet``: a parent's rerun of children, one of
    which may run again already (another process retried it)."""
    now = store.now()
    found = {
        row[0]: row[1:] for row in store._exec(conn, "rerun_facts", {"ids": list(ids)}).fetchall()
    }
    for eid in ids:
        if eid not in found:
            raise ExecutionNotFound(eid)
        status, attempt, run = found[eid]
        if quiet and status not in r.RETRYABLE_STATUSES:
            continue
        again = rules.rerun(eid, status, attempt=attempt, run=run, now=now)
        _again(store, conn, eid, again, now, rerun=True)
