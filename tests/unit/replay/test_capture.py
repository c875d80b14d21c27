"""Capture and now: recorded once, replayed after."""

from datetime import datetime, timedelta
from typing import Any

import zart
from zart.testing import TestEnv

# -- capture and now -------------------------------------------------------------


def test_capture_and_now_replay_the_recorded_value(zart_env: TestEnv) -> None:
    draws: list[int] = []
    seen: list[tuple[Any, Any]] = []

    def draw() -> int:
        draws.append(1)
        return 100 + len(draws)

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        value = yield zart.capture("draw", draw)
        started = yield zart.now("started")
        seen.append((value, started))
        yield zart.sleep("nap", timedelta(hours=1))
        return {"value": value, "started": started.isoformat()}

    t0 = zart_env.now()
    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    zart_env.restart()
    zart_env.advance(timedelta(hours=1))
    assert draws == [1]
    assert seen[0] == seen[1] == (101, t0)
    assert isinstance(seen[1][1], datetime) and seen[1][1].tzinfo is not None
    assert zart_env.result(eid) == {"value": 101, "started": t0.isoformat()}
    kinds = [(s.name, s.kind) for s in zart_env.history(eid)]
    assert kinds == [("draw", "capture"), ("started", "capture"), ("nap", "sleep")]


def test_failing_capture_is_thrown_into_the_workflow_and_not_recorded(
    zart_env: TestEnv,
) -> None:
    def broken() -> int:
        raise KeyError("nope")

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield zart.capture("broken", broken)
        except KeyError:
            return "caught"

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()
    assert zart_env.result(eid) == "caught"
    assert zart_env.history(eid) == []
