"""A workflow sees the same values live and on replay, on every store.

The live pass hands the generator a step's result as the interpreter
recorded it; a replay hands it what the store gives back. A store that
rewrites documents (PostgreSQL's jsonb did: sorted keys, 1e16 read back as
an int) makes the two differ, and code that derives a name from a value then
yields a new step on replay: a step already done runs again.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import zart

CALLS: list[str] = []


@zart.step("config")
def config() -> Any:
    return {"zeta": 1e16, "alpha": -0.0, "b": 1}


@zart.step("charge-{label}")
def charge(label: str) -> str:
    CALLS.append(label)
    return label


@zart.durable("replayed-values")
def replayed_values(data: Any) -> Generator[Any, Any, Any]:
    cfg = yield config()
    live = [list(cfg), repr(cfg["zeta"]), repr(cfg["alpha"])]
    yield charge(repr(cfg["zeta"]))
    yield zart.wait_event("go")  # suspends: the rest runs on a replay
    return {"live": live, "replay": [list(cfg), repr(cfg["zeta"]), repr(cfg["alpha"])]}


def test_a_replay_sees_the_values_the_live_pass_saw(store: Any) -> None:
    CALLS.clear()
    registry = zart.TaskRegistry([replayed_values])
    client = zart.Client(store, registry)
    worker = zart.Worker(store, registry)
    eid = client.schedule("replayed-values", None)
    worker.run_until_idle()
    client.offer_event(eid, "go", True)
    worker.run_until_idle()
    out = client.result(eid, timeout=10)
    assert out["live"] == out["replay"] == [["zeta", "alpha", "b"], "1e+16", "-0.0"]
    assert CALLS == ["1e+16"]
    assert [s.name for s in client.history(eid)] == ["config", "charge-1e+16", "go"]
