"""``zart.Client`` with bad input, on every store: each public method is
refused naming the argument and what was wrong, and nothing stored changes
(every record, history and log compared before and after).

One store of each kind serves the whole module: it holds an execution
waiting for an event, a completed one and a failed one, and its payload
limit is 1,000 bytes so that values over it stay small."""

from __future__ import annotations

import math
import re
from collections.abc import Generator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import zart
from tests.badinput.cases import (
    BAD_NAMES,
    BAD_TYPES,
    UNSTORABLE_VALUES,
    Bad,
    Entry,
    check_refused,
    ids,
    snapshot,
)
from tests.store_kinds import STORE_KINDS, open_store

LIMIT = 1000
HOUR = timedelta(hours=1)


@zart.step("double")
def double(n: int) -> int:
    return 2 * n


@zart.durable("doubler")
def doubler(n: int) -> Generator[Any, Any, int]:
    return (yield double(n))


@zart.durable("waiter")
def waiter(data: Any) -> Generator[Any, Any, Any]:
    return (yield zart.wait_event("go"))


@zart.step("explode")
def explode() -> None:
    raise RuntimeError("boom")


@zart.durable("doomed")
def doomed(data: Any) -> Generator[Any, Any, None]:
    yield explode()


@pytest.fixture(scope="module", params=STORE_KINDS)
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[zart.Client]:
    tmp: Path = tmp_path_factory.mktemp(request.param)
    with open_store(request.param, tmp) as store:
        store.max_payload = LIMIT
        client = zart.Client(store, zart.TaskRegistry([doubler, waiter, doomed]))
        client.schedule(waiter, None, execution_id="waiting")
        client.schedule(doubler, 21, execution_id="done")
        client.schedule(doomed, None, execution_id="failed")
        zart.Worker(store, client.registry).run_until_idle()
        client.send("waiting", "inbox", {"kept": True})
        client.create_schedule("hourly", doubler, 1, every=timedelta(hours=1))
        assert [client.get(e).status for e in ("waiting", "done", "failed")] == [
            "waiting",
            "completed",
            "failed",
        ]
        yield client


@pytest.fixture
def unchanged(client: zart.Client) -> Iterator[None]:
    """The test leaves every stored execution as it found it."""
    before = snapshot(client)
    yield
    assert snapshot(client) == before


NAMES = [
    Entry("schedule-id", "execution_id", lambda c, v: c.schedule(doubler, 1, execution_id=v)),
    Entry("schedule-task", "task", lambda c, v: c.schedule(v, 1)),
    Entry("run-id", "execution_id", lambda c, v: c.run(doubler, 1, execution_id=v)),
    Entry("run-task", "task", lambda c, v: c.run(v, 1)),
    Entry("offer_event-id", "execution_id", lambda c, v: c.offer_event(v, "go", 1)),
    Entry("offer_event-name", "event name", lambda c, v: c.offer_event("waiting", v, 1)),
    Entry("send-id", "execution_id", lambda c, v: c.send(v, "inbox", 1)),
    Entry("send-topic", "topic", lambda c, v: c.send("waiting", v, 1)),
    Entry(
        "send-key", "idempotency_key", lambda c, v: c.send("waiting", "inbox", 1, idempotency_key=v)
    ),
    Entry("get", "execution_id", lambda c, v: c.get(v)),
    Entry("history", "execution_id", lambda c, v: c.history(v)),
    Entry("list-task", "task", lambda c, v: c.list(task=v)),
    Entry("list-parent_id", "parent_id", lambda c, v: c.list(parent_id=v)),
    Entry("counts-task", "task", lambda c, v: c.counts(task=v)),
    Entry("served-task", "task", lambda c, v: c.served(v)),
    Entry("cancel", "execution_id", lambda c, v: c.cancel(v)),
    Entry("retry", "execution_id", lambda c, v: c.retry(v)),
    Entry("fork-source", "source", lambda c, v: c.fork(v, from_step="double")),
    Entry("fork-from_step", "from_step", lambda c, v: c.fork("done", from_step=v)),
    Entry("fork-id", "execution_id", lambda c, v: c.fork("done", from_step="x", execution_id=v)),
    Entry("result", "execution_id", lambda c, v: c.result(v, timeout=0)),
    Entry(
        "create_schedule", "schedule_id", lambda c, v: c.create_schedule(v, doubler, 1, every=HOUR)
    ),
    Entry("get_schedule", "schedule_id", lambda c, v: c.get_schedule(v)),
    Entry("pause_schedule", "schedule_id", lambda c, v: c.pause_schedule(v)),
    Entry("resume_schedule", "schedule_id", lambda c, v: c.resume_schedule(v)),
    Entry("delete_schedule", "schedule_id", lambda c, v: c.delete_schedule(v)),
    Entry("trigger_schedule", "schedule_id", lambda c, v: c.trigger_schedule(v)),
]


@pytest.mark.parametrize("bad", BAD_NAMES, ids=ids(BAD_NAMES))
@pytest.mark.parametrize("entry", NAMES, ids=ids(NAMES))
@pytest.mark.usefixtures("unchanged")
def test_a_bad_id_or_name_is_refused_naming_it(client: zart.Client, entry: Entry, bad: Bad) -> None:
    check_refused(lambda: entry.call(client, bad.value), entry.culprit, bad)


PAYLOADS = [
    Entry("schedule", "input of task 'waiter'", lambda c, v: c.schedule(waiter, v)),
    Entry("run", "input of task 'waiter'", lambda c, v: c.run(waiter, v)),
    Entry("offer_event", "payload of event 'go'", lambda c, v: c.offer_event("waiting", "go", v)),
    Entry("send", "message on topic 'inbox'", lambda c, v: c.send("waiting", "inbox", v)),
]
OVER = [
    Bad("string", "x" * LIMIT, f"1,002 bytes of JSON, over the payload limit of {LIMIT:,}"),
    Bad("list", list(range(300)), f"over the payload limit of {LIMIT:,}"),
    Bad(
        "50-MB", "x" * 50_000_000, f"50,000,002 bytes of JSON, over the payload limit of {LIMIT:,}"
    ),
]


@pytest.mark.parametrize("bad", OVER + UNSTORABLE_VALUES, ids=ids(OVER + UNSTORABLE_VALUES))
@pytest.mark.parametrize("entry", PAYLOADS, ids=ids(PAYLOADS))
@pytest.mark.usefixtures("unchanged")
def test_a_payload_over_the_limit_or_unstorable_is_refused_at_once(
    client: zart.Client, entry: Entry, bad: Bad
) -> None:
    check_refused(lambda: entry.call(client, bad.value), entry.culprit, bad)


@pytest.mark.usefixtures("unchanged")
def test_a_payload_just_under_the_limit_is_not_what_is_refused(client: zart.Client) -> None:
    # The refusals above are the limit's: one byte less is refused for
    # another reason (the execution is not waiting, the task's input type).
    text = "x" * (LIMIT - 2)
    with pytest.raises(zart.EventRejected):
        client.offer_event("done", "go", text)
    with pytest.raises(zart.SerializationError, match="expected int, got str"):
        client.schedule(doubler, text)


INPUTS = [
    Bad("str-for-int", "21", "expected int, got str"),
    Bad("float-for-int", 1.5, "expected int, got float"),
    Bad("bool-for-int", True, "expected int, got bool"),
    Bad("null-for-int", None, "expected int, got null"),
]


@pytest.mark.parametrize("bad", INPUTS, ids=ids(INPUTS))
@pytest.mark.parametrize(
    "call",
    [lambda c, v: c.schedule("doubler", v), lambda c, v: c.run(doubler, v)],
    ids=["schedule", "run"],
)
@pytest.mark.usefixtures("unchanged")
def test_an_input_of_the_wrong_kind_is_refused_naming_the_task(
    client: zart.Client, call: Any, bad: Bad
) -> None:
    check_refused(lambda: call(client, bad.value), "input of task 'doubler'", bad)


COUNTS = [
    Entry("list-limit", "limit", lambda c, v: c.list(limit=v)),
    Entry("list-offset", "offset", lambda c, v: c.list(offset=v)),
    Entry("history-run", "run", lambda c, v: c.history("done", run=v)),
]
BAD_COUNTS = [
    Bad("negative", -1, "at least"),
    Bad("NaN", math.nan, "whole number"),
    Bad("float", 2.0, "whole number"),
    Bad("str", "5", "whole number"),
    Bad("bool", True, "whole number"),
    Bad("2**70", 2**70, "at most 2\\*\\*63 - 1"),
]


@pytest.mark.parametrize("bad", BAD_COUNTS, ids=ids(BAD_COUNTS))
@pytest.mark.parametrize("entry", COUNTS, ids=ids(COUNTS))
@pytest.mark.usefixtures("unchanged")
def test_a_bad_count_is_refused_naming_it(client: zart.Client, entry: Entry, bad: Bad) -> None:
    check_refused(lambda: entry.call(client, bad.value), entry.culprit, bad)


WAITS = [
    Entry("result-timeout", "timeout", lambda c, v: c.result("waiting", timeout=v)),
    Entry("run-timeout", "timeout", lambda c, v: c.run(doubler, 1, timeout=v)),
]
BAD_WAITS = [
    Bad("negative", -1, ">= 0"),
    Bad("-inf", -math.inf, ">= 0"),
    Bad("NaN", math.nan, ">= 0"),
    Bad("str", "5", "number of seconds"),
    Bad("bool", True, "number of seconds"),
]


@pytest.mark.parametrize("bad", BAD_WAITS, ids=ids(BAD_WAITS))
@pytest.mark.parametrize("entry", WAITS, ids=ids(WAITS))
@pytest.mark.usefixtures("unchanged")
def test_a_bad_timeout_is_refused_naming_it(client: zart.Client, entry: Entry, bad: Bad) -> None:
    check_refused(lambda: entry.call(client, bad.value), entry.culprit, bad)


OTHERS = [
    ("list-status", lambda c: c.list(status="done"), "unknown status 'done'", "expected one of"),
    ("list-status-int", lambda c: c.list(status=3), "unknown status 3", "expected one of"),
    ("list-search-int", lambda c: c.list(search=3), "search", "must be a string"),
    ("list-search-surrogate", lambda c: c.list(search="do\ud800"), "search", "lone surrogate"),
    ("list-search-NUL", lambda c: c.list(search="do\x00"), "search", "NUL"),
    ("result-type", lambda c: c.result("done", type=5), "type", "must be a type"),
    ("run-type", lambda c: c.run(doubler, 1, type="int"), "type", "must be a type"),
    ("retry-running", lambda c: c.retry("waiting"), "'waiting'", "it is waiting"),
    ("retry-completed", lambda c: c.retry("done"), "'done'", "it is completed"),
    ("schedule-exists", lambda c: c.schedule(doubler, 1, execution_id="done"), "'done'", "exists"),
    ("schedule-unknown", lambda c: c.schedule("nope", 1), "unknown task 'nope'", "registered"),
    ("offer-finished", lambda c: c.offer_event("failed", "go", 1), "'failed'", "is failed"),
    ("send-finished", lambda c: c.send("done", "inbox", 1), "'done'", "is completed"),
    ("fork-unknown-step", lambda c: c.fork("done", from_step="nope"), "'nope'", "no record named"),
    ("get-unknown", lambda c: c.get("nope"), "'nope'", "no execution"),
    ("result-running", lambda c: c.result("waiting", timeout=0), "'waiting'", "did not finish"),
]


@pytest.mark.parametrize(
    ("call", "culprit", "says"), [row[1:] for row in OTHERS], ids=[row[0] for row in OTHERS]
)
@pytest.mark.usefixtures("unchanged")
def test_other_mistakes_are_refused_saying_which(
    client: zart.Client, call: Any, culprit: str, says: str
) -> None:
    check_refused(lambda: call(client), culprit, Bad("", None, re.escape(says)))


SCHEDULES = [
    ("no-cron-no-every", {}, "create_schedule", "exactly one of cron= and every="),
    ("cron-and-every", {"cron": "0 2 * * *", "every": HOUR}, "create_schedule", "exactly one"),
    ("cron-minute-61", {"cron": "61 * * * *"}, "cron expression '61 * * * *'", "Bad minute"),
    ("cron-injection", {"cron": "'; DROP TABLE x"}, "cron expression", "Wrong number of fields"),
    ("cron-int", {"cron": 5}, "cron", "cron expression"),
    ("cron-surrogate", {"cron": "\ud800 * * * *"}, "cron expression", "Bad minute"),
    ("every-negative", {"every": -HOUR}, "every", "must not be negative, got -3600 s"),
    ("every-zero", {"every": 0}, "every", "more than zero"),
    ("every-str", {"every": "1h"}, "every", "timedelta or seconds"),
    ("every-NaN", {"every": math.nan}, "every", "finite"),
    ("timezone-unknown", {"every": HOUR, "timezone": "Mars/Base"}, "time zone 'Mars/Base'", "IANA"),
    ("timezone-path", {"every": HOUR, "timezone": "../../etc/passwd"}, "time zone", "IANA"),
    ("timezone-int", {"every": HOUR, "timezone": 5}, "timezone", "time zone name"),
    ("overlap", {"every": HOUR, "overlap": "sometimes"}, "overlap policy 'sometimes'", "skip"),
    ("catchup-negative", {"every": HOUR, "catchup": -HOUR}, "catchup", "must not be negative"),
    ("jitter-NaN", {"every": HOUR, "jitter": math.nan}, "jitter", "finite"),
    ("paused-str", {"every": HOUR, "paused": "yes"}, "paused", "True or False"),
    ("cron-huge", {"cron": "x" * 100_000}, "cron expression 'xxx", "..."),
    ("exists", {"every": HOUR, "_id": "hourly"}, "'hourly'", "already exists"),
    ("input-over-limit", {"every": HOUR, "_data": "x" * LIMIT}, "input of task 'doubler'", "over"),
    ("input-kind", {"every": HOUR, "_data": "1"}, "input of task 'doubler'", "expected int"),
]


@pytest.mark.parametrize(
    ("options", "culprit", "says"),
    [row[1:] for row in SCHEDULES],
    ids=[row[0] for row in SCHEDULES],
)
@pytest.mark.usefixtures("unchanged")
def test_a_bad_recurring_schedule_is_refused_naming_the_option(
    client: zart.Client, options: dict[str, Any], culprit: str, says: str
) -> None:
    given = dict(options)
    sid, data = given.pop("_id", "nightly"), given.pop("_data", 1)
    create = lambda: client.create_schedule(sid, doubler, data, **given)  # noqa: E731
    check_refused(create, culprit, Bad("", None, re.escape(says)))


@pytest.mark.parametrize("bad", BAD_TYPES, ids=ids(BAD_TYPES))
@pytest.mark.usefixtures("unchanged")
def test_result_takes_a_type_not_a_value(client: zart.Client, bad: Bad) -> None:
    check_refused(lambda: client.result("done", type=bad.value), "type", bad)
