"""``Client.run`` drives one workflow inline: its pauses follow that
workflow's own timers, whatever else the store holds.

The stores here keep their own clocks (real time passes while ``run``
sleeps), unlike the contract suite's, which stand still until moved.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import zart
from tests.store_kinds import STORE_KINDS, open_store


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    with open_store(request.param, tmp_path) as s:
        yield s


@zart.durable("nap")
def nap(data: Any) -> Generator[Any, Any, str]:
    yield zart.sleep("nap", timedelta(seconds=0.3))
    return "rested"


@zart.durable("bystander")
def bystander(data: Any) -> Generator[Any, Any, None]:
    return None
    yield  # a generator


class _Counting:
    """The store, counting the calls ``run`` makes while it waits."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def next_wake(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self._store.next_wake(*args, **kwargs)


def test_run_sleeps_through_its_timer_while_other_work_is_due(store: Any) -> None:
    registry = zart.TaskRegistry([nap, bystander])
    zart.Client(store, registry).schedule("bystander", None)  # due now, never run here
    counting = _Counting(store)
    client = zart.Client(counting, registry)
    assert client.run(nap) == "rested"
    # Two pauses at most (the sleep, and a wake-up a clock tick early); a
    # pause cut to zero by the bystander made thousands.
    assert counting.calls <= 5
    assert store.get(store.list(task="bystander")[0].id).status == "pending"
