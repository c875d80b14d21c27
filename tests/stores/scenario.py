"""What the store tests share: a fixed clock, a lease, one claim, a fan-out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from zart import records as r
from zart.records import Commit, NewExecution, RecordWrite

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def claim_one(store: Any, now: datetime = T0, tasks: Any = None) -> r.Claimed:
    got = store.claim(worker="w1", tasks=tasks, now=now, lease=LEASE, limit=1)
    assert len(got) == 1, got
    return got[0]


def fan_out(store: Any, n: int, parent: str = "p", *, wait: bool = False) -> r.Claimed:
    """``parent`` claimed, with ``n`` step children ``{parent}:c0``..
    scheduled (records ``c0``.. pending) in one commit; the parent's claim.
    ``wait``: the same commit waits for them all, as ``wait_all`` does."""
    store.create(NewExecution(id=parent, task_name="t"), T0)
    c = claim_one(store)
    assert c.record.id == parent, c
    recs = tuple(
        RecordWrite(
            name=f"c{i}",
            kind=r.K_SCHEDULE,
            status=r.R_PENDING,
            seq=i + 1,
            step="child",
            child_id=f"{parent}:c{i}",
        )
        for i in range(n)
    )
    kids = tuple(
        NewExecution(
            id=f"{parent}:c{i}", task_name="child", input=i, parent_id=parent, parent_step=f"c{i}"
        )
        for i in range(n)
    )
    wait_all = r.Suspend(children=tuple(rec.name for rec in recs)) if wait else None
    store.commit(c.lease, Commit(records=recs, children=kids, outcome=wait_all), at(1))
    return c
