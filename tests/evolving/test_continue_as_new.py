"""continue_as_new: the same execution starts its next run with new input, an
empty log and its attempts reset; earlier runs' logs are kept as asked."""

from __future__ import annotations

import gc
import sys

import pytest

import zart
from tests.engine import Engine
from zart.testing import TestEnv

polled: list[int] = []


@zart.step("poll")
def poll(n: int) -> int:
    polled.append(n)
    return n * 10


def _poller(keep_runs: int) -> zart.TaskHandler:
    @zart.durable("poller", keep_runs=keep_runs)
    def poller(n: int):  # type: ignore[no-untyped-def]
        seen = yield poll(n)
        if n == 4:
            return seen
        yield zart.continue_as_new(n + 1)

    return poller


@pytest.fixture(autouse=True)
def _fresh() -> None:
    polled.clear()


def test_each_run_starts_afresh_and_the_result_is_the_last_runs_output(engine: Engine) -> None:
    client = engine.deploy(_poller(keep_runs=1))
    eid = client.schedule("poller", 1, execution_id="poller")
    engine.run()
    assert client.result(eid) == 40 and polled == [1, 2, 3, 4]
    record = client.get(eid)
    assert record.run == 4 and record.input == 4 and record.attempt == 0
    [now] = client.history(eid)
    assert (now.name, now.result) == ("poll", 40)
    [before] = client.history(eid, run=3)
    assert before.result == 30
    assert client.history(eid, run=2) == [] and client.history(eid, run=1) == []


def test_keep_runs_zero_drops_every_earlier_log(engine: Engine) -> None:
    client = engine.deploy(_poller(keep_runs=0))
    eid = client.schedule("poller", 2)
    engine.run()
    assert client.result(eid) == 40
    assert [client.history(eid, run=n) for n in (1, 2)] == [[], []]


def test_keep_runs_must_be_a_count() -> None:
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="keep_runs must be a non-negative integer"):
            zart.durable("x", keep_runs=bad)(lambda _: iter(()))


@zart.durable("counter", keep_runs=0)
def counter(n: int):  # type: ignore[no-untyped-def]
    for i in range(1000):
        yield zart.now(f"tick-{i}")
    n += 1000
    if n == 100_000:
        yield zart.wait_event("halfway")
    if n == 1_000_000:
        return n
    yield zart.continue_as_new(n)


def _blocks() -> int:
    gc.collect()
    return sys.getallocatedblocks()


def test_a_million_iterations_keep_one_short_log_and_flat_memory(zart_env: TestEnv) -> None:
    eid = zart_env.schedule(counter, 0)
    zart_env.run_until_idle()
    assert zart_env.get(eid).run == 100 and zart_env.get(eid).status == "waiting"
    at_100k = _blocks()
    zart_env.offer_event(eid, "halfway")
    zart_env.run_until_idle()
    at_1m = _blocks()
    assert zart_env.result(eid) == 1_000_000 and zart_env.get(eid).run == 1000
    assert len(zart_env.history(eid)) == 1000
    assert all(zart_env.history(eid, run=n) == [] for n in (1, 500, 999))
    # 900,000 iterations later: a record kept per iteration would be
    # millions of blocks; what remains is noise.
    assert at_1m - at_100k < 20_000, (at_100k, at_1m)
