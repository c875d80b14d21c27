"""``zart.testing.TestEnv`` with bad input: its client surface, its clock
(negative, NaN and infinite steps), its fault injection and its constructor.
Each is refused naming the argument, and the env's executions and clock are
as they were."""

from __future__ import annotations

import math
import re
from collections.abc import Generator, Iterator
from datetime import timedelta
from typing import Any

import pytest

import zart
from tests.badinput.cases import (
    BAD_DURATIONS,
    BAD_NAMES,
    UNSTORABLE_VALUES,
    Bad,
    Entry,
    check_refused,
    ids,
    snapshot,
)
from zart.testing import TestEnv

LIMIT = 1000


@zart.step("fetch")
def fetch(n: int) -> int:
    return n


@zart.durable("sleepy")
def sleepy(n: int) -> Generator[Any, Any, int]:
    yield zart.sleep("nap", timedelta(hours=1))
    got = yield zart.wait_event("go")
    return int((yield fetch(n))) + int(got)


@pytest.fixture
def env() -> Iterator[TestEnv]:
    with TestEnv(zart.TaskRegistry([sleepy]), max_payload=LIMIT) as env:
        env.schedule(sleepy, 1, execution_id="napping")
        env.run_until_idle()
        assert env.get("napping").status == "sleeping"
        yield env


@pytest.fixture
def unchanged(env: TestEnv) -> Iterator[None]:
    """The env's executions and its clock are as they were."""
    before, now = snapshot(env.client), env.now()
    yield
    assert snapshot(env.client) == before
    assert env.now() == now


NAMES = [
    Entry("schedule-id", "execution_id", lambda e, v: e.schedule(sleepy, 1, execution_id=v)),
    Entry("schedule-task", "task", lambda e, v: e.schedule(v, 1)),
    Entry("run-task", "task", lambda e, v: e.run(v, 1)),
    Entry("offer_event-id", "execution_id", lambda e, v: e.offer_event(v, "go", 1)),
    Entry("offer_event-name", "event name", lambda e, v: e.offer_event("napping", v, 1)),
    Entry("send-id", "execution_id", lambda e, v: e.send(v, "inbox", 1)),
    Entry("send-topic", "topic", lambda e, v: e.send("napping", v, 1)),
    Entry("get", "execution_id", lambda e, v: e.get(v)),
    Entry("history", "execution_id", lambda e, v: e.history(v)),
    Entry("list-task", "task", lambda e, v: e.list(task=v)),
    Entry("result", "execution_id", lambda e, v: e.result(v)),
    Entry("cancel", "execution_id", lambda e, v: e.cancel(v)),
    Entry("retry", "execution_id", lambda e, v: e.retry(v)),
    Entry("check_determinism", "execution_id", lambda e, v: e.check_determinism(v)),
    Entry("replace_step", "step name", lambda e, v: e.replace_step(v, fetch.__wrapped__)),
    Entry("crash_after", "step name", lambda e, v: e.crash_after(v)),
]


@pytest.mark.parametrize("bad", BAD_NAMES, ids=ids(BAD_NAMES))
@pytest.mark.parametrize("entry", NAMES, ids=ids(NAMES))
@pytest.mark.usefixtures("unchanged")
def test_a_bad_id_or_name_is_refused_naming_it(env: TestEnv, entry: Entry, bad: Bad) -> None:
    check_refused(lambda: entry.call(env, bad.value), entry.culprit, bad)


CLOCK = [
    Entry("advance", "advance", lambda e, v: e.advance(v)),
    Entry("advance_until_idle", "limit", lambda e, v: e.advance_until_idle(v)),
]


@pytest.mark.parametrize("bad", BAD_DURATIONS, ids=ids(BAD_DURATIONS))
@pytest.mark.parametrize("entry", CLOCK, ids=ids(CLOCK))
@pytest.mark.usefixtures("unchanged")
def test_the_clock_refuses_a_bad_step_and_stays_put(env: TestEnv, entry: Entry, bad: Bad) -> None:
    check_refused(lambda: entry.call(env, bad.value), entry.culprit, bad)


def test_after_a_refused_step_the_clock_still_fires_the_timer(env: TestEnv) -> None:
    for bad in (-1, math.nan, math.inf):
        with pytest.raises(ValueError):
            env.advance(bad)
    env.advance(timedelta(minutes=59))
    assert env.get("napping").status == "sleeping"
    env.advance(timedelta(minutes=1))
    assert env.get("napping").status == "waiting"


ROUNDS = [
    Bad("zero", 0, "at least 1"),
    Bad("negative", -5, "at least 1"),
    Bad("float", 2.5, "whole number"),
    Bad("NaN", math.nan, "whole number"),
    Bad("str", "10", "whole number"),
]


@pytest.mark.parametrize("bad", ROUNDS, ids=ids(ROUNDS))
@pytest.mark.usefixtures("unchanged")
def test_run_until_idle_refuses_a_bad_round_count(env: TestEnv, bad: Bad) -> None:
    check_refused(lambda: env.run_until_idle(bad.value), "max_rounds", bad)


OVER = [Bad("over", "x" * LIMIT, f"over the payload limit of {LIMIT:,}")]
PAYLOADS = [
    Entry("schedule", "input of task 'sleepy'", lambda e, v: e.schedule(sleepy, v)),
    Entry("run", "input of task 'sleepy'", lambda e, v: e.run(sleepy, v)),
    Entry("offer_event", "payload of event 'go'", lambda e, v: e.offer_event("napping", "go", v)),
    Entry("send", "message on topic 'inbox'", lambda e, v: e.send("napping", "inbox", v)),
]


@pytest.mark.parametrize("bad", OVER + UNSTORABLE_VALUES, ids=ids(OVER + UNSTORABLE_VALUES))
@pytest.mark.parametrize("entry", PAYLOADS, ids=ids(PAYLOADS))
@pytest.mark.usefixtures("unchanged")
def test_a_payload_over_the_limit_or_unstorable_is_refused(
    env: TestEnv, entry: Entry, bad: Bad
) -> None:
    check_refused(lambda: entry.call(env, bad.value), entry.culprit, bad)


OTHERS = [
    ("replace_step-fn", lambda e: e.replace_step("fetch", 5), "replace_step('fetch'", "callable"),
    ("restart-registry", lambda e: e.restart([sleepy]), "restart", "TaskRegistry"),
    ("result-running", lambda e: e.result("napping"), "'napping'", "has not finished"),
    ("result-unknown", lambda e: e.result("nope"), "'nope'", "no execution"),
    ("list-status", lambda e: e.list(status="asleep"), "unknown status 'asleep'", "one of"),
    ("list-limit", lambda e: e.list(limit=0), "limit", "at least 1"),
    ("history-run", lambda e: e.history("napping", run=0), "run", "at least 1"),
    (
        "schedule-str-for-int",
        lambda e: e.schedule(sleepy, "1"),
        "input of task 'sleepy'",
        "got str",
    ),
]


@pytest.mark.parametrize(
    ("call", "culprit", "says"), [row[1:] for row in OTHERS], ids=[row[0] for row in OTHERS]
)
@pytest.mark.usefixtures("unchanged")
def test_other_mistakes_are_refused_saying_which(
    env: TestEnv, call: Any, culprit: str, says: str
) -> None:
    check_refused(lambda: call(env), culprit, Bad("", None, re.escape(says)))


def test_a_refused_fault_injection_leaves_the_env_working(env: TestEnv) -> None:
    with pytest.raises(TypeError):
        env.restart(zart.MemoryStore())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        env.replace_step("fetch", None)  # type: ignore[arg-type]
    env.advance(timedelta(hours=1))
    env.offer_event("napping", "go", 10)
    env.run_until_idle()
    assert env.result("napping") == 11  # the real step ran, on the env's own registry
