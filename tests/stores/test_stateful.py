"""Random operation sequences through the memory store (the model) and a SQL
store side by side: after every operation both must answer alike.

Hypothesis drives creations, claims, commits of every kind, events,
messages, cancels, retries, releases, heartbeats, lost wake-ups and the
clock; each answer (or error type) is compared, and then every execution
and every log.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.mysql import mysql_url_or_skip, scratch_database
from tests.pg import postgres_url_or_skip, scratch_schema
from tests.stores.scenario import LEASE, ManualClock
from zart import records as r
from zart.errors import ZartError
from zart.records import Commit, NewExecution, RecordWrite
from zart.stores.memory import MemoryStore

IDS = ["e0", "e1", "e2", "e3"]
TASKS = ["a", "b"]
NAMES = ["s0", "s1", "s2", "s3"]
EVENTS = ["go", "stop"]
TOPICS = ["inbox"]


def _answer(call: Any) -> Any:
    """A call's result, or the type of the zart error it raised."""
    try:
        return ("ok", call())
    except ZartError as exc:
        return ("error", type(exc).__name__)


class StoresAgree(RuleBasedStateMachine):
    """Memory and another store, fed the same operations."""

    other_kind = "sqlite"
    tmp: Path

    @initialize()
    def open(self) -> None:
        self.clock = ManualClock()
        self.model = MemoryStore(clock=self.clock)
        self._exit = contextlib.ExitStack()
        self.other = self._exit.enter_context(_open(self.other_kind, self.tmp, self.clock))
        self.leases: dict[str, tuple[r.Lease, r.Lease, int]] = {}  # id -> model, other, next seq
        self.seconds = 0.0

    def teardown(self) -> None:
        self._exit.close()

    def both(self, op: str, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        mine = _answer(lambda: getattr(self.model, op)(*args, **kwargs))
        theirs = _answer(lambda: getattr(self.other, op)(*args, **kwargs))
        return mine, theirs

    def same(self, op: str, *args: Any, **kwargs: Any) -> Any:
        mine, theirs = self.both(op, *args, **kwargs)
        assert mine == theirs, (op, args, kwargs, mine, theirs)
        return mine

    # -- operations: one rule draws them, weighted towards what leads somewhere
    @rule(data=st.data())
    def act(self, data: st.DataObject) -> None:
        ops = ["create"] * 3 + ["claim"] * 3 + ["tick"] * 2 + ["offer_event", "send", "cancel"]
        ops += ["retry", "heartbeat", "wake_stranded"]
        if self.leases:
            ops += ["commit_step"] * 3 + ["commit_outcome"] * 5 + ["release"]
        getattr(self, data.draw(st.sampled_from(ops), label="op"))(data)

    def create(self, data: st.DataObject) -> None:
        eid, task = data.draw(st.sampled_from(IDS)), data.draw(st.sampled_from(TASKS))
        self.same(
            "create",
            NewExecution(id=eid, task_name=task, input={"n": data.draw(st.integers(0, 9))}),
        )

    def claim(self, data: st.DataObject) -> None:
        tasks = data.draw(st.sampled_from([None, ["a"], ["b"], ["a", "b"]]))
        limit = data.draw(st.integers(1, 3))
        mine, theirs = self.both("claim", worker="w", tasks=tasks, lease=LEASE, limit=limit)
        assert mine[0] == theirs[0] == "ok"
        assert [(c.record, c.log) for c in mine[1]] == [(c.record, c.log) for c in theirs[1]]
        for m, o in zip(mine[1], theirs[1], strict=True):
            self.leases[m.record.id] = (m.lease, o.lease, m.log.last_seq + 1)

    def _commit(self, eid: str, commit_for: Any) -> None:
        model_lease, other_lease, seq = self.leases[eid]
        commit = commit_for(seq)
        mine = _answer(lambda: self.model.commit(model_lease, commit))
        theirs = _answer(lambda: self.other.commit(other_lease, commit))
        assert mine == theirs, (eid, commit, mine, theirs)
        self.leases[eid] = (model_lease, other_lease, seq + len(commit.records))
        if mine[0] == "error" or commit.outcome is not None:
            del self.leases[eid]

    def commit_step(self, data: st.DataObject) -> None:
        eid = data.draw(st.sampled_from(sorted(self.leases)))
        name, value = data.draw(st.sampled_from(NAMES)), data.draw(st.integers())

        def write(seq: int) -> Commit:
            step = RecordWrite(
                name=f"{name}-{seq}", kind=r.K_STEP, status=r.R_COMPLETED, seq=seq, result=value
            )
            return Commit(records=(step,))

        self._commit(eid, write)

    def commit_outcome(self, data: st.DataObject) -> None:
        eid = data.draw(st.sampled_from(sorted(self.leases)))
        later = self.clock() + timedelta(seconds=data.draw(st.integers(1, 60)))
        outcomes: dict[str, Any] = {
            "complete": r.Complete(output={"done": eid}),
            "fail": r.Fail(error={"type": "E", "message": "m"}),
            "business": r.Fail(error={"type": "app.B"}, business=True),
            "sleep": r.Suspend(wake_at=later),
            "event": r.Suspend(event=data.draw(st.sampled_from(EVENTS)), wake_at=later),
            "topic": r.Suspend(topic="inbox"),
            "retry": r.RetryExecution(error={"type": "E"}, wake_at=later),
            "stall": r.Stall(error={"type": "zart.errors.NonDeterminismError"}),
            "continue": r.ContinueAsNew(input={"n": 0}, keep_runs=1),
        }
        outcome = data.draw(st.sampled_from([*outcomes, "children"]))
        if outcome == "children":
            self._commit(eid, lambda seq: _fan_out(eid, seq))
        else:
            self._commit(eid, lambda seq: Commit(outcome=outcomes[outcome]))

    def offer_event(self, data: st.DataObject) -> None:
        eid, name = data.draw(st.sampled_from(IDS)), data.draw(st.sampled_from(EVENTS))
        self.same("offer_event", eid, name, data.draw(st.integers()))

    def send(self, data: st.DataObject) -> None:
        mine, theirs = self.both("send", data.draw(st.sampled_from(IDS)), "inbox", 1)
        assert mine[0] == theirs[0] and (mine[0] == "ok" or mine == theirs)

    def cancel(self, data: st.DataObject) -> None:
        eid = data.draw(st.sampled_from(IDS + [f"{i}:k0" for i in IDS]))
        self.same("cancel", eid)
        self.leases.pop(eid, None)

    def retry(self, data: st.DataObject) -> None:
        self.same("retry", data.draw(st.sampled_from(IDS + [f"{i}:k0" for i in IDS])))

    def release(self, data: st.DataObject) -> None:
        eid = data.draw(st.sampled_from(sorted(self.leases)))
        model_lease, other_lease, _ = self.leases.pop(eid)
        self.model.release(model_lease)
        self.other.release(other_lease)

    def heartbeat(self, data: st.DataObject) -> None:
        held = list(self.leases.values())
        lost_mine = self.model.heartbeat([m for m, _, _ in held], LEASE)
        lost_theirs = self.other.heartbeat([o for _, o, _ in held], LEASE)
        assert [x.execution_id for x in lost_mine] == [x.execution_id for x in lost_theirs]

    def tick(self, data: st.DataObject) -> None:
        self.seconds += data.draw(st.sampled_from([1, 10, 31, 61]))
        self.clock.to(self.seconds)

    def wake_stranded(self, data: st.DataObject) -> None:
        self.same("wake_stranded")

    # -- what both must agree on ------------------------------------------------
    @invariant()
    def agree(self) -> None:
        if not hasattr(self, "model"):
            return
        known = [e.id for e in self.model.list(limit=100)]
        assert known == [e.id for e in self.other.list(limit=100)]
        for eid in known:
            assert self.model.get(eid) == self.other.get(eid), eid
            assert _comparable(self.model.load(eid)) == _comparable(self.other.load(eid)), eid
        assert self.model.counts() == self.other.counts()
        assert self.model.next_wake(None) == self.other.next_wake(None)
        assert self.model.unknown_tasks(["a"]) == self.other.unknown_tasks(["a"])


def _fan_out(eid: str, seq: int) -> Commit:
    kid = NewExecution(id=f"{eid}:k0", task_name="b", parent_id=eid, parent_step="k0", root_id=eid)
    rec = RecordWrite(
        name="k0",
        kind=r.K_SCHEDULE,
        status=r.R_PENDING,
        seq=seq,
        step="workflow:b",
        child_id=kid.id,
    )
    return Commit(records=(rec,), children=(kid,), outcome=r.Suspend(children=("k0",)))


def _comparable(log: r.Log) -> Any:
    """A log as both stores must give it; message ids are each store's own."""
    messages = {t: [m.payload for m in q] for t, q in log.messages.items()}
    return (log.records, log.events, messages, log.last_seq)


@contextlib.contextmanager
def _open(kind: str, tmp: Path, clock: ManualClock) -> Iterator[Any]:
    if kind == "sqlite":
        from zart.stores.sqlite import SqliteStore

        store = SqliteStore(str(tmp / f"{uuid.uuid4().hex}.db"), clock=clock, synchronous="OFF")
        store.migrate()
        try:
            yield store
        finally:
            store.close()
        return
    if kind == "mysql":
        from zart.stores.mysql import MySQLStore

        with scratch_database(mysql_url_or_skip()) as url:
            store = MySQLStore(url, clock=clock, max_size=2)
            store.migrate()
            try:
                yield store
            finally:
                store.close()
        return
    from zart.stores.postgres import PostgresStore

    url = postgres_url_or_skip()
    with scratch_schema(url) as schema:
        store = PostgresStore(url, schema=schema, clock=clock, max_size=2)
        store.migrate()
        try:
            yield store
        finally:
            store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres", "mysql"])
def test_a_sql_store_agrees_with_the_memory_model(kind: str, tmp_path: Path) -> None:
    machine = type(f"StoresAgree_{kind}", (StoresAgree,), {"other_kind": kind, "tmp": tmp_path})
    examples = 60 if kind == "sqlite" else 30
    run = settings(
        max_examples=examples,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )(machine).TestCase
    run().runTest()
