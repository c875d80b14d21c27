"""The authoring surface with bad input: the decorators and their options,
every command builder, retry policies, ``WorkerConfig``, ``zart.connect``
and the constructors of the hosts. Each bad value is refused where it is
given, naming the argument and what was wrong, before anything runs."""

from __future__ import annotations

import re
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import zart
from tests.badinput.cases import (
    BAD_COUNTS,
    BAD_DURATIONS,
    BAD_NAMES,
    BAD_TYPES,
    Bad,
    Entry,
    check_refused,
    ids,
    refusal,
)
from zart.stores.sqlite import SqliteStore
from zart.testing import TestEnv


def plain() -> int:
    return 1


def body(data: Any) -> Generator[Any, Any, None]:
    yield zart.now("t")


@zart.step("a-step")
def a_step() -> int:
    return 1


@zart.durable("a-workflow")
def a_workflow(data: Any) -> Generator[Any, Any, None]:
    yield zart.now("t")


SOON = datetime(2031, 1, 1, tzinfo=UTC)

NAMES = [
    Entry("step", "step name", lambda v: zart.step(v)(plain)),
    Entry("durable", "workflow name", lambda v: zart.durable(v)(body)),
    Entry("named", "name", lambda v: a_step().named(v)),
    Entry("call", "name", lambda v: zart.call(v, plain)),
    Entry("sleep", "name", lambda v: zart.sleep(v, 1)),
    Entry("sleep_until", "name", lambda v: zart.sleep_until(v, SOON)),
    Entry("wait_event", "name", lambda v: zart.wait_event(v)),
    Entry("receive-name", "name", lambda v: zart.receive(v, "topic")),
    Entry("receive-topic", "topic", lambda v: zart.receive("r", v)),
    Entry("capture", "name", lambda v: zart.capture(v, plain)),
    Entry("now", "name", lambda v: zart.now(v)),
    Entry("patched", "patch_id", lambda v: zart.patched(v)),
    Entry("deprecate_patch", "patch_id", lambda v: zart.deprecate_patch(v)),
    Entry("workflow-call-named", "name", lambda v: a_workflow(1).named(v)),
    Entry("registry-register", "task name", lambda v: zart.TaskRegistry().register(v, a_workflow)),
]


@pytest.mark.parametrize("bad", BAD_NAMES, ids=ids(BAD_NAMES))
@pytest.mark.parametrize("entry", NAMES, ids=ids(NAMES))
def test_a_bad_name_is_refused_naming_it(entry: Entry, bad: Bad) -> None:
    check_refused(lambda: entry.call(bad.value), entry.culprit, bad)


def test_a_patch_id_leaves_room_for_its_marker_prefix() -> None:
    bad = Bad("249-chars", "p" * 249, "249 characters long.*at most 248")
    for build in (zart.patched, zart.deprecate_patch):
        check_refused(lambda b=build: b(bad.value), "patch_id", bad)  # type: ignore[misc]


DURATIONS = [
    Entry("sleep", "duration", lambda v: zart.sleep("s", v)),
    Entry("wait_event", "timeout", lambda v: zart.wait_event("e", timeout=v)),
    Entry("receive", "timeout", lambda v: zart.receive("r", "t", timeout=v)),
    Entry("step-timeout", "step timeout", lambda v: zart.step("s", timeout=v)),
    Entry("durable-timeout", "workflow timeout", lambda v: zart.durable("w", timeout=v)),
    Entry("fixed-delay", "retry delay", lambda v: zart.RetryPolicy.fixed(1, v)),
    Entry("exponential-initial", "initial delay", lambda v: zart.RetryPolicy.exponential(1, v)),
    Entry(
        "exponential-max",
        "max delay",
        lambda v: zart.RetryPolicy.exponential(1, 1, max_delay=v),
    ),
    Entry("RetryPolicy-delay", "delay", lambda v: zart.RetryPolicy(kind="fixed", delay=v)),
    Entry("WorkerConfig-lease", "WorkerConfig.lease", lambda v: zart.WorkerConfig(lease=v)),
    Entry(
        "WorkerConfig-heartbeat",
        "WorkerConfig.heartbeat_interval",
        lambda v: zart.WorkerConfig(heartbeat_interval=v),
    ),
    Entry(
        "WorkerConfig-shutdown",
        "WorkerConfig.shutdown_timeout",
        lambda v: zart.WorkerConfig(shutdown_timeout=v),
    ),
    Entry(
        "WorkerConfig-poll",
        "WorkerConfig.poll_interval",
        lambda v: zart.WorkerConfig(poll_interval=v),
    ),
]


@pytest.mark.parametrize("bad", BAD_DURATIONS, ids=ids(BAD_DURATIONS))
@pytest.mark.parametrize("entry", DURATIONS, ids=ids(DURATIONS))
def test_a_bad_duration_is_refused_naming_it(entry: Entry, bad: Bad) -> None:
    check_refused(lambda: entry.call(bad.value), entry.culprit, bad)


COUNTS = [
    Entry("durable-max_retries", "max_retries", lambda v: zart.durable("w", max_retries=v)),
    Entry("durable-keep_runs", "keep_runs", lambda v: zart.durable("w", keep_runs=v)),
    Entry("fixed-retries", "retries", lambda v: zart.RetryPolicy.fixed(v, 1)),
    Entry("exponential-retries", "retries", lambda v: zart.RetryPolicy.exponential(v, 1)),
    Entry(
        "WorkerConfig-concurrency",
        "WorkerConfig.concurrency",
        lambda v: zart.WorkerConfig(concurrency=v),
    ),
    Entry(
        "WorkerConfig-batch_size",
        "WorkerConfig.batch_size",
        lambda v: zart.WorkerConfig(batch_size=v),
    ),
    Entry("MemoryStore-max_payload", "max_payload", lambda v: zart.MemoryStore(max_payload=v)),
    Entry(
        "SqliteStore-max_payload",
        "max_payload",
        lambda v: SqliteStore(":memory:", max_payload=v),
    ),
]


@pytest.mark.parametrize("bad", BAD_COUNTS, ids=ids(BAD_COUNTS))
@pytest.mark.parametrize("entry", COUNTS, ids=ids(COUNTS))
def test_a_bad_count_is_refused_naming_it(entry: Entry, bad: Bad) -> None:
    check_refused(lambda: entry.call(bad.value), entry.culprit, bad)


TYPES = [
    Entry("durable-output", "output", lambda v: zart.durable("w", output=v)),
    Entry("wait_event-type", "type", lambda v: zart.wait_event("e", type=v)),
    Entry("receive-type", "type", lambda v: zart.receive("r", "t", type=v)),
]


@pytest.mark.parametrize("bad", BAD_TYPES, ids=ids(BAD_TYPES))
@pytest.mark.parametrize("entry", TYPES, ids=ids(TYPES))
def test_a_value_where_a_type_belongs_is_refused(entry: Entry, bad: Bad) -> None:
    check_refused(lambda: entry.call(bad.value), entry.culprit, bad)


NAIVE = datetime(2031, 1, 1, 12, 0)
DATETIMES = [
    Bad("naive", NAIVE, "timezone-aware"),
    Bad("str", "2031-01-01T12:00:00Z", "must be a datetime"),
    Bad("timestamp", 1_900_000_000, "must be a datetime"),
    Bad("date", NAIVE.date(), "must be a datetime"),
]


@pytest.mark.parametrize("bad", DATETIMES, ids=ids(DATETIMES))
def test_sleep_until_takes_an_aware_datetime_only(bad: Bad) -> None:
    check_refused(lambda: zart.sleep_until("s", bad.value), "sleep 's' until", bad)


@pytest.mark.parametrize("bad", DATETIMES[:2], ids=ids(DATETIMES[:2]))
def test_a_test_env_starts_at_an_aware_datetime_only(bad: Bad) -> None:
    check_refused(lambda: TestEnv(start=bad.value), "VirtualClock", Bad("", None, "naive|datetime"))


BAD_SPECS = [
    "",
    "   ",
    "sometimes",
    "fixed",
    "fixed()",
    "fixed(3)",
    "fixed(-1, 1s)",
    "fixed(3, -1s)",
    "fixed(3, 1 parsec)",
    "fixed(3, 1e400s)",
    "fixed(3, 99999999999999999999d)",
    "fixed(³, 1s)",
    "exponential(3, 1s, 0.5)",
    "exponential(3, 1s, nan)",
    "exponential(3, 1s, inf)",
    "exponential(3, 1s, 2, 1s, 5)",
    "none(1)",
    "fixed(3, 1s); DROP TABLE executions",
    "x" * 100_000,
    "fixed(3, " + "9" * 100_000 + "x)",
    "fixed(3, " + "9" * 100_000 + "s)",
    "\ud800",
]


@pytest.mark.parametrize("spec", BAD_SPECS, ids=[repr(s[:30]) for s in BAD_SPECS])
@pytest.mark.parametrize(
    "where",
    [
        lambda spec: zart.step("s", retry=spec),
        lambda spec: zart.call("s", plain, retry=spec),
        zart.RetryPolicy.parse,
    ],
    ids=["step", "call", "RetryPolicy.parse"],
)
def test_a_malformed_retry_spec_raises_value_error_quoting_it(where: Any, spec: str) -> None:
    error = refusal(lambda: where(spec))
    assert isinstance(error, ValueError)
    message = str(error)
    assert message.startswith(f"bad retry spec {spec[:20]!r}"[:-1]), message[:200]
    assert len(message) < 300


POLICY_FIELDS = [
    (lambda: zart.RetryPolicy(kind="sometimes"), "kind", "'none', 'fixed' or 'exponential'"),
    (lambda: zart.RetryPolicy(kind="fixed", retries=-1), "retries", "non-negative"),
    (lambda: zart.RetryPolicy.exponential(1, 1, multiplier=0.5), "multiplier", ">= 1"),
    (lambda: zart.RetryPolicy.exponential(1, 1, multiplier=float("inf")), "multiplier", "finite"),
    (lambda: zart.RetryPolicy.exponential(1, 1, multiplier="2"), "multiplier", "a number"),
    (
        lambda: zart.RetryPolicy.exponential(1, 1, multiplier=timedelta(1)),
        "multiplier",
        "a number",
    ),
    (lambda: zart.RetryPolicy.exponential(1, 1, multiplier=True), "multiplier", "a number"),
    (lambda: zart.RetryPolicy(kind="fixed", max_delay="1m"), "max_delay", "timedelta"),
]


@pytest.mark.parametrize(("build", "culprit", "says"), POLICY_FIELDS)
def test_a_retry_policy_built_by_hand_checks_every_field(
    build: Any, culprit: str, says: str
) -> None:
    check_refused(build, culprit, Bad("", None, re.escape(says)))


WRONG_TYPES = [
    ("schedule-int", lambda: zart.schedule(5), "zart.schedule", "step call or a workflow call"),
    ("schedule-fn", lambda: zart.schedule(plain), "zart.schedule", "step call or a workflow"),
    ("wait_all-int", lambda: zart.wait_all(5), "wait_all", "list of handles"),
    ("wait_all-str", lambda: zart.wait_all("h1"), "wait_all", "list of handles"),
    ("wait_all-items", lambda: zart.wait_all([5]), "wait_all", "handles from zart.schedule"),
    ("capture-fn", lambda: zart.capture("c", 5), "zart.capture('c'", "needs a callable"),
    ("call-fn", lambda: zart.call("c", "plain"), "zart.call('c'", "needs a callable"),
    ("step-decorates", lambda: zart.step("s")(5), "@zart.step('s')", "decorates a function"),
    ("durable-plain", lambda: zart.durable("w")(plain), "@zart.durable('w')", "not a generator"),
    ("durable-async", lambda: zart.durable("w")(_coroutine), "@zart.durable('w')", "is async"),
    ("on_failure", lambda: zart.durable("w", on_failure=5), "on_failure", "a workflow"),
    ("on_failure-fn", lambda: zart.on_failure(plain), "on_failure", "a workflow"),
    ("retry-int", lambda: zart.step("s", retry=3), "retry", "RetryPolicy or a string"),
    ("register-int", lambda: zart.TaskRegistry().register(5), "register()", "a TaskHandler"),
    ("registry-items", lambda: zart.TaskRegistry([plain]), "register()", "a TaskHandler"),
    ("register-fn", lambda: zart.TaskRegistry().register("t", plain), "register('t'", "Handler"),
    ("WorkerConfig-kw", lambda: zart.WorkerConfig(concurency=2), "concurency", "unexpected"),
]


async def _coroutine(data: Any) -> None:
    return None


@pytest.mark.parametrize(
    ("build", "culprit", "says"), [row[1:] for row in WRONG_TYPES], ids=[r[0] for r in WRONG_TYPES]
)
def test_a_value_of_the_wrong_kind_is_refused_naming_what_it_wanted(
    build: Any, culprit: str, says: str
) -> None:
    check_refused(build, culprit, Bad("", None, re.escape(says)))


BAD_URLS = [
    Bad("int", 5, "database URL string"),
    Bad("bytes", b"sqlite:///x.db", "database URL string"),
    Bad("empty", "", "unknown database URL scheme"),
    Bad("scheme", "oracle://db", "unknown database URL scheme in 'oracle://db'"),
    Bad("surrogate", "\ud800", "unknown database URL scheme"),
    Bad("no-path", "sqlite://", "bad SQLite URL"),
    Bad("sqlite-param", "sqlite:///x.db?mode=ro", "unknown parameter 'mode'"),
    Bad("sqlite-payload", "sqlite:///x.db?max_payload=-5", "max_payload"),
    Bad("sqlite-timeout", "sqlite:///x.db?busy_timeout=nan", "busy_timeout must be finite"),
    Bad("pg-timeout", "postgresql://u@127.0.0.1/db?connect_timeout=-1", "connect_timeout"),
    Bad("pg-payload", "postgresql://u@127.0.0.1/db?max_payload=lots", "max_payload"),
    Bad("pg-prefix", "postgresql://u@127.0.0.1/db?prefix=" + "p" * 40, "prefix"),
]


@pytest.mark.parametrize("bad", BAD_URLS, ids=ids(BAD_URLS))
def test_connect_refuses_a_bad_url_saying_what_is_wrong(
    bad: Bad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    check_refused(lambda: zart.connect(bad.value), "", bad)
    assert list(tmp_path.iterdir()) == []  # no database file made


def test_connect_redacts_a_password_in_its_refusal() -> None:
    message = str(refusal(lambda: zart.connect("oracle://me:s3cret@db/x")))
    assert "s3cret" not in message and "me:***@db" in message


CONSTRUCTORS = [
    ("Client-store", lambda: zart.Client("sqlite:///x.db"), "Client", "takes a store"),
    (
        "Client-registry",
        lambda: zart.Client(zart.MemoryStore(), [a_workflow]),
        "Client",
        "Registry",
    ),
    ("Worker-store", lambda: zart.Worker(None, zart.TaskRegistry()), "Worker", "takes a store"),
    ("Worker-registry", lambda: zart.Worker(zart.MemoryStore(), None), "Worker", "TaskRegistry"),
    (
        "Worker-config",
        lambda: zart.Worker(zart.MemoryStore(), zart.TaskRegistry(), {"concurrency": 2}),
        "Worker",
        "WorkerConfig",
    ),
    (
        "AsyncWorker-config",
        lambda: zart.AsyncWorker(zart.MemoryStore(), zart.TaskRegistry(), 4),
        "AsyncWorker",
        "WorkerConfig",
    ),
    ("TestEnv-registry", lambda: TestEnv([a_workflow]), "TestEnv", "TaskRegistry"),
    ("TestEnv-lease", lambda: TestEnv(lease=-5), "lease", "negative"),
    ("TestEnv-lease-nan", lambda: TestEnv(lease=float("nan")), "lease", "finite"),
    ("TestEnv-max_payload", lambda: TestEnv(max_payload=0), "max_payload", "at least 1"),
    ("MemoryStore-clock", lambda: zart.MemoryStore(clock=5), "MemoryStore: clock", "function"),
    (
        "MemoryStore-naive-clock",
        lambda: zart.MemoryStore(clock=lambda: NAIVE),
        "MemoryStore",
        "naive",
    ),
]


@pytest.mark.parametrize(
    ("build", "culprit", "says"),
    [row[1:] for row in CONSTRUCTORS],
    ids=[r[0] for r in CONSTRUCTORS],
)
def test_hosts_and_stores_refuse_wrong_parts_when_built(
    build: Any, culprit: str, says: str
) -> None:
    check_refused(build, culprit, Bad("", None, re.escape(says)))
