"""What the store tests share: a clock the test moves, a lease, one claim,
a fan-out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from zart import records as r
from zart.records import Commit, NewExecution, RecordWrite

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class ManualClock:
    """The store's clock in a test: it stands still until told to move."""

    def __init__(self) -> None:
        self.time = T0

    def __call__(self) -> datetime:
        return self.time

    def to(self, seconds: float) -> datetime:
        """Set the clock to T0 + ``seconds``; the new time."""
        self.time = at(seconds)
        return self.time


def claim_one(store: Any, tasks: Any = None) -> r.Claimed:
    got = store.claim(worker="w1", tasks=tasks, lease=LEASE, limit=1)
    assert len(got) == 1, got
    return got[0]


def claim_all(
    store: Any, tasks: Any = None, limit: int = 100, under: str | None = None
) -> list[r.Claimed]:
    return list(store.claim(worker="w1", tasks=tasks, lease=LEASE, limit=limit, under=under))


def step_write(name: str, result: Any = None, *, seq: int = 1, **kw: Any) -> RecordWrite:
    return RecordWrite(name=name, kind=r.K_STEP, status=r.R_COMPLETED, result=result, seq=seq, **kw)


def fan_out(
    store: Any, clock: ManualClock, n: int, parent: str = "p", *, wait: bool = False
) -> r.Claimed:
    """``parent`` claimed, with ``n`` step children ``{parent}:c0``..
    scheduled (records ``c0``.. pending) in one commit; the parent's claim.
    ``wait``: the same commit waits for them all, as ``wait_all`` does."""
    clock.to(0)
    store.create(NewExecution(id=parent, task_name="t"))
    c = claim_one(store, tasks=["t"])
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
            id=f"{parent}:c{i}",
            task_name="child",
            input=i,
            parent_id=parent,
            parent_step=f"c{i}",
            root_id=parent,
        )
        for i in range(n)
    )
    wait_all = r.Suspend(children=tuple(rec.name for rec in recs)) if wait else None
    clock.to(1)
    store.commit(c.lease, Commit(records=recs, children=kids, outcome=wait_all))
    return c


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Until ``check()`` holds; a failed assertion after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        threading.Event().wait(0.01)  # a poll interval, not a wait for the outcome


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """``fn`` run on a thread of its own; its ``value`` or ``error`` lands in the dict."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out
