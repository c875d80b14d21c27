"""Helpers shared by the example tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import zart
from zart.testing import TestEnv


def drive(env: TestEnv, eid: str, max_turns: int = 100) -> None:
    """Run, then jump the virtual clock to the next due timer, until the
    execution ends. Fails if it waits on something time cannot bring (an
    event without a deadline)."""
    for _ in range(max_turns):
        env.run_until_idle()
        if env.get(eid).is_final:
            return
        wake = env.store.next_wake(env.registry.names())
        if wake is None:
            raise AssertionError(f"{eid} is stuck: {env.get(eid)}")
        env.advance(max(wake - env.now(), timedelta(0)))
    raise AssertionError(f"{eid} did not finish in {max_turns} turns")


class Calls(Counter[str]):
    """Counts step executions by step name (``calls["check-mail"]``)."""

    def count(self, env: TestEnv, name: str, fn: Callable[..., Any]) -> None:
        """Steps of ``name`` (a name or a ``{param}`` template) run ``fn``
        and count each call under the running step's name."""
        fn = getattr(fn, "__wrapped__", fn)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self[zart.context().step or name] += 1
            return fn(*args, **kwargs)

        env.replace_step(name, counted)
