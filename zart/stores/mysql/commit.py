"""A commit on MySQL, and the other transitions that change several rows
(cancel, rerun), in as few round trips as their parts allow:

- a step's record alone: ``write_record``, one statement in autocommit,
  fenced by a locking read of the execution row;
- a run's last commit (records, state, and completing or failing): one
  round trip: the fence, the writes (each fenced too), COMMIT, and the
  statement that wakes the parent;
- anything else: one transaction of two round trips. The fence, the
  writes and the facts a rule needs (is the event there? which awaited
  children are open?) go in the first; the outcome the rule decides,
  COMMIT, and the parent's wake-up in the second. Rerunning children reads
  their rows first (one more).

A commit whose connection is lost is sent again once: its writes are
fenced upserts, so a repeat writes the same rows. When the first try of a
commit that ended the lease landed, the repeat finds the lease ended; the
execution's row then tells whether this lease holder ended it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ... import records as r
from ...errors import ExecutionNotFound, LeaseLost, StoreError
from ...records import Commit, Lease
from .. import rows, rules
from . import Steps
from .connection import BatchError, Conn, Result
from .values import naive as _t

if TYPE_CHECKING:
    from . import MySQLStore

log = logging.getLogger("zart")


def apply_commit(store: MySQLStore, lease: Lease, commit: Commit) -> bool:
    """``Store.commit`` on MySQL."""
    now = store.now()
    outcome = commit.outcome
    if (only := commit.only_record) is not None:
        params = _record_params(lease, only, now)
        if not store._do("commit", [("write_record", params)])[0].rowcount:
            raise LeaseLost(lease.execution_id)
        return True
    rest = (commit.children, commit.rerun_children, commit.consumed)
    if isinstance(outcome, r.Complete | r.Fail) and not any(rest):
        steps = _end_steps(lease, commit, outcome, now)
        done = _fenced(store, lease, lambda conn: _ending(store, conn, steps, lease))
    else:
        done = _fenced(store, lease, lambda conn: _transaction(store, conn, lease, commit, now))
    not_woken, ring, wake_failed = done
    if wake_failed:
        wake_parent_later(store, lease.execution_id)
    if ring:
        store._ring()
    return not_woken


def _record_params(lease: Lease, write: r.RecordWrite, now: datetime) -> dict[str, Any]:
    params = rows.record_params(write, _t)
    params.update(id=lease.execution_id, token=lease.token, now=_t(now))
    return params


# What a commit's op answers: True unless a suspend found its wake-up there
# already; whether to ring; whether the parent's wake-up failed after COMMIT.
Done = tuple[bool, bool, bool]


def _end_steps(lease: Lease, commit: Commit, outcome: r.Complete | r.Fail, now: datetime) -> Steps:
    ended = rules.ended(outcome)
    state = commit.state
    fence = {"id": lease.execution_id, "token": lease.token}
    end = {
        **fence,
        "now": _t(now),
        "status": ended.status,
        "record_status": ended.record_status,
        "output": rows.dump(ended.output),
        "error": rows.dump(ended.error),
        "has_state": state is not None,
        "state": rows.dump(state.value) if state is not None else None,
    }
    return [
        ("begin", None),
        ("fence", fence),
        *[("write_record", _record_params(lease, w, now)) for w in _last_writes(commit.records)],
        ("end_execution", end),
        ("commit", None),
        *wake_parent_steps(lease.execution_id, now),
    ]


def wake_parent_steps(eid: str, now: datetime) -> Steps:
    """What wakes ``eid``'s parent, after ``eid``'s COMMIT (queries.sql)."""
    params = {"id": eid, "now": _t(now)}
    return [("open_siblings", params), ("wake_parent_of", params)]


def _last_writes(records: Sequence[r.RecordWrite]) -> list[r.RecordWrite]:
    """The last write of each name, at the place of its first."""
    return list({w.name: w for w in records}.values())


def _ending(store: MySQLStore, conn: Conn, steps: Steps, lease: Lease) -> Done:
    """Send a commit's last round trip (its steps end with COMMIT and the
    parent's wake-up); a fence that found no lease raises LeaseLost (every
    write was fenced or is rolled back: nothing was written)."""
    out, wake_failed = _send_ending(store, conn, steps)
    if steps[1][0] == "fence" and out[1].first() is None:
        raise LeaseLost(lease.execution_id)
    return True, out[-1].rowcount > 0, wake_failed


def _send_ending(store: MySQLStore, conn: Conn, steps: Steps) -> tuple[list[Result], bool]:
    """``steps``, ending with COMMIT and a wake-up: when only the wake-up
    fails (a deadlock with a parent suspending, a lost connection), the
    commit stands, and the wake-up is tried again on its own."""
    try:
        return store._send(conn, steps), False
    except BatchError as exc:
        if exc.index <= [name for name, _ in steps].index("commit"):
            raise
        log.info("zart: a parent's wake-up after a commit failed: %s", exc.cause)
        done = [*exc.done]
        return done + [Result(0, ())] * (len(steps) - len(done)), True


def wake_parent_later(store: MySQLStore, eid: str) -> None:
    """Wake ``eid``'s parent if it awaits ``eid`` and no awaited sibling is
    open; a failure is left to ``wake_stranded``."""
    try:
        woke = store._do("wake_parent_of", wake_parent_steps(eid, store.now()))
    except StoreError as exc:
        log.warning("zart: could not wake the parent of %s (wake_stranded will): %s", eid, exc)
        return
    if woke[-1].rowcount:
        store._ring()


def _fenced(store: MySQLStore, lease: Lease, op: Callable[[Conn], Done]) -> Done:
    """``op``, retried once on a fresh connection when the connection is
    lost; a retry that finds the lease ended by its own first try succeeds.
    A claim or a cancel moves the token; only the lease holder's own commit
    takes the execution out of running and leaves the token as it was."""
    resumed = False

    def reconnecting() -> None:
        nonlocal resumed
        resumed = True

    def attempt(conn: Conn) -> Done:
        try:
            return op(conn)
        except LeaseLost:
            if not resumed:
                raise
            store._send(conn, [("rollback", None)])
            found = store._send(conn, [("status_of", {"id": lease.execution_id})])[0].first()
            if found is None or found[0] == r.RUNNING or found[1] != lease.token:
                raise
            log.info(
                "zart: the commit to %s landed before its connection was lost", lease.execution_id
            )
            # The wake-up that follows a finish may be what the lost
            # connection cut short (it is a no-op for anything else).
            return True, True, True

    return store._run("commit", attempt, reconnecting=reconnecting)  # type: ignore[no-any-return]


def _transaction(
    store: MySQLStore, conn: Conn, lease: Lease, commit: Commit, now: datetime
) -> Done:
    """The general commit: the fence, the writes and the facts in one round
    trip, the outcome and COMMIT in a second."""
    eid = lease.execution_id
    outcome = commit.outcome
    first: Steps = [("begin", None), ("fence", {"id": eid, "token": lease.token})]
    head = None
    reruns: Steps = []
    if commit.rerun_children:
        ids = tuple(commit.rerun_children)
        out = store._send(conn, [*first, ("rerun_facts", {"ids": ids})])
        head = _held(out[1], eid)
        reruns, first = _reruns(out[2].rows, ids, quiet=True, now=now), []
    asks = _asks(eid, outcome)
    out = store._send(conn, [*first, *reruns, *_writes(lease, commit, now), *asks])
    if head is None:
        head = _held(out[1], eid)
    answers = out[len(out) - len(asks) :] if asks else []
    final, woken = _outcome(lease, head, outcome, answers, now)
    ending = isinstance(outcome, r.Complete | r.Fail)
    steps: Steps = [*final, ("commit", None)]
    if ending:
        steps += wake_parent_steps(eid, now)
    result, wake_failed = (
        _send_ending(store, conn, steps)
        if ending
        else (
            store._send(conn, steps),
            False,
        )
    )
    ring = woken or bool(commit.children or commit.rerun_children) or _makes_due(outcome)
    return not woken, ring or (ending and result[-1].rowcount > 0), wake_failed


def _held(fence: Result, eid: str) -> tuple[int, int]:
    head = fence.first()
    if head is None:
        raise LeaseLost(eid)
    return int(head[0]), int(head[1])


def _writes(lease: Lease, commit: Commit, now: datetime) -> Steps:
    eid, t = lease.execution_id, _t(now)
    steps: Steps = [
        ("write_record", _record_params(lease, w, now)) for w in _last_writes(commit.records)
    ]
    for child in commit.children:
        steps.append(("insert_child", {**rows.new_params(child), "now": t}))
    if commit.consumed:
        steps.append(("consume_messages", {"id": eid, "messages": tuple(commit.consumed)}))
    if commit.state is not None:
        steps.append(("set_state", {"id": eid, "state": rows.dump(commit.state.value)}))
    return steps


def _asks(eid: str, outcome: r.Outcome | None) -> Steps:
    """The statements whose answers a suspend's rule needs."""
    if not isinstance(outcome, r.Suspend):
        return []
    asks: Steps = []
    if outcome.children:
        names = {"id": eid, "names": tuple(outcome.children)}
        asks += [("mark_awaited", names), ("awaited_children", names)]
    if outcome.event is not None:
        asks.append(("event_there", {"id": eid, "name": outcome.event}))
    if outcome.topic is not None:
        asks.append(("message_there", {"id": eid, "topic": outcome.topic}))
    return asks


def _outcome(
    lease: Lease,
    head: tuple[int, int],
    outcome: r.Outcome | None,
    answers: Sequence[Result],
    now: datetime,
) -> tuple[Steps, bool]:
    """What the rules make of ``outcome``, as statements; and whether a
    suspend found its wake-up there already."""
    eid, (run, attempt) = lease.execution_id, head
    t = _t(now)
    if outcome is None:
        return [], False
    if isinstance(outcome, r.Suspend):
        return _suspend(eid, outcome, answers, now)
    if isinstance(outcome, r.Complete | r.Fail):
        ended = rules.ended(outcome)
        params = {
            "id": eid,
            "token": lease.token,
            "now": t,
            "status": ended.status,
            "record_status": ended.record_status,
            "output": rows.dump(ended.output),
            "error": rows.dump(ended.error),
            "has_state": False,
            "state": None,
        }
        return [("end_execution", params)], False
    if isinstance(outcome, r.RetryExecution):
        again = rules.retried(outcome, attempt=attempt, run=run)
        return [("run_again", _again(eid, again, now, rerun=False))], False
    if isinstance(outcome, r.ContinueAsNew):
        again = rules.continued(outcome, now=now, run=run)
        params = {"id": eid, "wake_at": _t(again.wake_at), "run": again.run, "now": t}
        params["input"] = rows.dump(again.input)
        kept = {"id": eid, "oldest_kept": again.run - outcome.keep_runs}
        return [("continue_run", params), ("drop_old_runs", kept)], False
    return [("stall", {"id": eid, "error": rows.dump(outcome.error), "now": t})], False


def _suspend(
    eid: str, outcome: r.Suspend, answers: Sequence[Result], now: datetime
) -> tuple[Steps, bool]:
    open_children = 0
    facts = list(answers)
    if outcome.children:
        facts.pop(0)  # mark_awaited: its row count only
        open_children = sum(status is None for (status,) in facts.pop(0).rows)
    there = bool(facts[0].rows[0][0]) if facts else False
    woken = rules.woken_by_suspend_facts(
        outcome, event_there=there, message_there=there, open_children=open_children
    )
    row = rules.suspended(outcome, already_woken=woken, now=now)
    params = {"id": eid, "status": row.status, "wake_at": _t(row.wake_at), "now": _t(now)}
    params["waiting_for"] = row.waiting_for
    return [("set_row", params)], woken


def _makes_due(outcome: r.Outcome | None) -> bool:
    """Whether ``outcome`` makes the execution due at once or sets a timer:
    idle workers look again (a timer's time may come before their next
    look)."""
    if isinstance(outcome, r.RetryExecution | r.ContinueAsNew):
        return True
    return isinstance(outcome, r.Suspend) and outcome.wake_at is not None


def _again(eid: str, again: rules.Again, now: datetime, *, rerun: bool) -> dict[str, Any]:
    return {
        "id": eid,
        "wake_at": _t(again.wake_at),
        "attempt": again.attempt,
        "run": again.run,
        "error": rows.dump(again.error),
        "rerun": rerun,
        "now": _t(now),
    }


def _reruns(
    facts: Sequence[Sequence[Any]], ids: Sequence[str], *, quiet: bool, now: datetime
) -> Steps:
    """The statements that run failed, cancelled or stalled executions
    again (their rows read and locked: ``rerun_facts``). ``quiet``: a
    parent's rerun of children, one of which may run again already
    (another process retried it)."""
    found = {row[0]: row[1:] for row in facts}
    steps: Steps = []
    for eid in ids:
        if eid not in found:
            raise ExecutionNotFound(eid)
        status, attempt, run = found[eid]
        if quiet and status not in r.RETRYABLE_STATUSES:
            continue
        again = rules.rerun(eid, status, attempt=attempt, run=run, now=now)
        steps.append(("run_again", _again(eid, again, now, rerun=True)))
    return steps


def rerun_steps(store: MySQLStore, conn: Conn, ids: Sequence[str], *, quiet: bool) -> Steps:
    """In a new transaction, lock ``ids``; the statements that rerun them."""
    out = store._send(conn, [("begin", None), ("rerun_facts", {"ids": tuple(ids)})])
    return _reruns(out[1].rows, ids, quiet=quiet, now=store.now())


def cancel(store: MySQLStore, execution_id: str) -> bool:
    """``Store.cancel``: the execution and its unfinished descendants, in
    one transaction; then the parents outside the tree that awaited one of
    them are woken (after the COMMIT, as a finishing child's are)."""
    ended = rules.cancelled()
    now = _t(store.now())

    def op(conn: Conn) -> tuple[bool, bool]:
        out = store._send(conn, [("begin", None), ("lock_tree", {"id": execution_id})])
        tree = out[1].rows
        top = next((row for row in tree if row[0] == execution_id), None)
        if top is None:
            raise ExecutionNotFound(execution_id)
        if top[1] in r.FINAL_STATUSES:
            store._send(conn, [("rollback", None)])
            return False, False
        ids = tuple(row[0] for row in tree)
        parents = sorted({row[2] for row in tree if row[2] is not None and row[3]} - set(ids))
        params = {"ids": ids, "record_status": ended.record_status, "now": now}
        params["error"] = rows.dump(ended.error)
        wakes: Steps = [("wake_parent", {"parent": p, "now": now}) for p in parents]
        try:
            done = store._send(conn, [("cancel_rows", params), ("commit", None), *wakes])
        except BatchError as exc:
            if exc.index < 2:
                raise
            log.info("zart: waking a parent after a cancel failed (wake_stranded will): %s", exc)
            return True, True
        return True, any(result.rowcount for result in done[2:])

    cancelled, woke = store._run("cancel", op, retry=False)
    if woke:
        store._ring()
    return cancelled  # type: ignore[no-any-return]
