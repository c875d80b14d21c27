"""check_determinism on runs whose log does not hold every outcome the code met.

A live run can end, or go on, past something the log never recorded: a step
whose result has no stored form, a child input with no stored form, a task
timeout, a cancellation, a write the store refused, an execution still in
flight. Each test runs such a workflow, checks it with the same code (it must
pass) and with code changed at that point (it must raise NonDeterminismError).
The plain cases live in test_determinism.py.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

import zart
from tests.store_kinds import open_store
from zart.decisions import Finish
from zart.host import Host
from zart.interpreter import Interpreter
from zart.names import child_id
from zart.records import Commit, Fail, Lease
from zart.stores.memory import MemoryStore
from zart.testing import TestEnv
from zart.verify import check, scheduled_step

Body = Callable[[Any], Iterator[Any]]


@attrs.define
class Unstorable(zart.BusinessError):
    """A business error whose field has no JSON form."""

    thing: Any


@attrs.define
class Mistyped(zart.BusinessError):
    """A business error whose stored field does not structure back into it."""

    count: int


class Opaque:
    """Has no JSON form."""


@zart.step("reserve")
def reserve() -> str:
    return "r-1"


@zart.step("fetch")
def fetch() -> Any:
    return Opaque()


@zart.step("refuse")
def refuse_unstorably() -> None:
    raise Unstorable(Opaque())


@zart.step("refuse")
def refuse_mistyped() -> None:
    raise Mistyped("many")  # type: ignore[arg-type]


@zart.step("notify")
def notify() -> None:
    return None


@zart.durable("child", max_retries=0)
def child(n: int) -> Iterator[Any]:
    yield zart.sleep("nap", 1)
    return n


def handler(body: Body, name: str = "wf", **options: Any) -> zart.TaskHandler:
    return zart.durable(name, **options)(body)


def run(env: TestEnv, body: Body, **options: Any) -> str:
    env.registry.register(child)
    eid = env.schedule(handler(body, **options))
    env.run_until_idle()
    return eid


def check_with(env: TestEnv, eid: str, body: Body, **options: Any) -> None:
    """check_determinism with ``body`` as the new code of the workflow."""
    env.restart(registry=zart.TaskRegistry([handler(body, **options), child]))
    env.check_determinism(eid)


def failed_with(env: TestEnv, eid: str) -> dict[str, Any]:
    record = env.get(eid)
    assert record.status == "failed"
    assert record.error is not None
    return record.error


# -- a step whose result has no stored form ----------------------------------


def unstorable_result(_: Any):  # type: ignore[no-untyped-def]
    yield reserve()
    try:
        yield fetch()
    except Exception:  # never reached: the live run fails at the step
        yield notify()
        return "caught"
    return "unreachable"


def unstorable_nul(_: Any):  # type: ignore[no-untyped-def]
    yield reserve()
    yield zart.call("fetch", lambda: "a\x00b")


@pytest.mark.parametrize("body", [unstorable_result, unstorable_nul], ids=["object", "nul"])
def test_a_step_result_with_no_stored_form_is_logged_as_the_failure(
    zart_env: TestEnv, body: Body
) -> None:
    eid = run(zart_env, body)
    error = failed_with(zart_env, eid)
    assert error["type"] == "zart.errors.SerializationError"
    assert error["message"].startswith("result of step 'fetch': ")
    fetched = zart_env.history(eid)[-1]
    assert (fetched.name, fetched.kind, fetched.status) == ("fetch", "step", "failed")
    assert fetched.error == error and fetched.attempts == 1 and fetched.result is None
    zart_env.check_determinism(eid)
    check_with(zart_env, eid, body)


def test_replay_ends_at_the_unstorable_step_as_the_live_run_did(zart_env: TestEnv) -> None:
    # The live run never threw into the generator, so replay does not
    # either: the `except` that would turn it into "caught" stays unreached.
    eid = run(zart_env, unstorable_result)
    record = zart_env.get(eid)
    decision = Interpreter(handler(unstorable_result), record, zart_env.store.load(eid)).start(
        zart_env.now()
    )
    assert isinstance(decision, Finish)
    assert decision.commit.outcome == Fail(error=record.error)
    assert decision.commit.records == ()
    assert zart_env.run_until_idle() == 0


def test_code_changed_at_the_unstorable_step_is_non_deterministic(zart_env: TestEnv) -> None:
    eid = run(zart_env, unstorable_result)

    def renamed(_: Any):  # type: ignore[no-untyped-def]
        yield reserve()
        yield fetch().named("load")

    def other_step(_: Any):  # type: ignore[no-untyped-def]
        yield reserve()
        yield notify().named("fetch")

    def dropped(_: Any):  # type: ignore[no-untyped-def]
        yield reserve()
        return "done"

    with pytest.raises(zart.NonDeterminismError) as info:
        check_with(zart_env, eid, renamed)
    assert info.value.name == "load"
    with pytest.raises(zart.NonDeterminismError) as info:
        check_with(zart_env, eid, other_step)
    assert info.value.name == "fetch" and "'notify'" in info.value.yielded
    # A step the code no longer reaches is no mismatch: the log is keyed by
    # name. Retried under that code, the execution ends without it.
    check_with(zart_env, eid, dropped)
    zart_env.retry(eid)
    zart_env.run_until_idle()
    assert zart_env.result(eid) == "done"


@pytest.mark.parametrize(
    ("step", "reason"),
    [(refuse_unstorably, "fields of Unstorable"), (refuse_mistyped, "business error Mistyped")],
    ids=["fields-unstorable", "fields-do-not-read-back"],
)
def test_a_business_error_with_no_stored_form_is_logged_as_the_failure(
    zart_env: TestEnv, step: Callable[[], zart.Step], reason: str
) -> None:
    def body(_: Any):  # type: ignore[no-untyped-def]
        yield reserve()
        try:
            yield step()
        except zart.BusinessError:
            return "caught"

    eid = run(zart_env, body)
    error = failed_with(zart_env, eid)
    assert error["type"] == "zart.errors.SerializationError"
    assert error["message"].startswith(reason)
    refused = zart_env.history(eid)[-1]
    assert (refused.name, refused.status, refused.error) == ("refuse", "failed", error)
    zart_env.check_determinism(eid)

    def renamed(_: Any):  # type: ignore[no-untyped-def]
        yield reserve()
        yield step().named("decline")

    with pytest.raises(zart.NonDeterminismError):
        check_with(zart_env, eid, renamed)


def test_a_spent_retry_policy_still_throws_into_the_workflow_on_replay(
    zart_env: TestEnv,
) -> None:
    def body(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield zart.call("flaky", _raise, retry="fixed(1, 1s)")
        except zart.RetryExhausted as exc:
            yield notify()
            return exc.error_type

    eid = run(zart_env, body)
    zart_env.advance(1)
    assert zart_env.result(eid) == "RuntimeError"
    assert zart_env.history(eid)[0].error["kind"] == "step"  # type: ignore[index]
    zart_env.check_determinism(eid)


def _raise() -> None:
    raise RuntimeError("down")


# -- a child input with no stored form -------------------------------------------


def test_a_child_input_with_no_stored_form_is_worked_out_again_on_replay(
    zart_env: TestEnv,
) -> None:
    def body(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield zart.schedule(child(Opaque()))  # type: ignore[arg-type]
        except zart.SerializationError:
            yield notify()
        h = yield zart.schedule(child(3).named("typed"))
        return (yield zart.wait_all([h]))

    eid = run(zart_env, body)
    zart_env.advance(1)
    assert zart_env.result(eid) == [3]
    assert [s.name for s in zart_env.history(eid)] == ["notify", "typed"]
    zart_env.check_determinism(eid)
    check_with(zart_env, eid, body)

    def now_storable(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield zart.schedule(child(1))
        except zart.SerializationError:
            yield notify()
        h = yield zart.schedule(child(3).named("typed"))
        return (yield zart.wait_all([h]))

    with pytest.raises(zart.NonDeterminismError) as info:
        check_with(zart_env, eid, now_storable)
    assert info.value.name == "child"


def test_an_uncaught_child_input_error_fails_and_checks(zart_env: TestEnv) -> None:
    def body(_: Any):  # type: ignore[no-untyped-def]
        yield reserve()
        yield zart.schedule(child([1]))  # type: ignore[arg-type]

    eid = run(zart_env, body)
    assert failed_with(zart_env, eid)["type"] == "zart.errors.SerializationError"
    assert zart_env.history(eid)[0].name == "reserve" and len(zart_env.history(eid)) == 1
    zart_env.check_determinism(eid)

    def storable(_: Any):  # type: ignore[no-untyped-def]
        yield reserve()
        yield zart.schedule(child(1))

    with pytest.raises(zart.NonDeterminismError):
        check_with(zart_env, eid, storable)


# -- runs stopped from outside the generator ---------------------------------------


def sleeper(_: Any):  # type: ignore[no-untyped-def]
    yield reserve()
    yield zart.sleep("cool-off", 100)
    yield notify()
    return "done"


def sleep_as_step(_: Any):  # type: ignore[no-untyped-def]
    yield reserve()
    yield zart.call("cool-off", lambda: None)
    return "done"


def step_added_before(_: Any):  # type: ignore[no-untyped-def]
    yield reserve()
    yield notify().named("warn")
    yield zart.sleep("cool-off", 100)
    return "done"


def reserve_dropped(_: Any):  # type: ignore[no-untyped-def]
    yield zart.sleep("cool-off", 100)
    return "done"


CHANGED_AT_THE_STOP = [sleep_as_step, step_added_before]


def assert_stopped_run_checks(env: TestEnv, eid: str, **options: Any) -> None:
    env.check_determinism(eid)
    check_with(env, eid, sleeper, **options)
    check_with(env, eid, reserve_dropped, **options)  # a removed step is no mismatch
    for changed in CHANGED_AT_THE_STOP:
        with pytest.raises(zart.NonDeterminismError):
            check_with(env, eid, changed, **options)


def test_a_run_still_in_flight_checks_as_far_as_its_log_goes(zart_env: TestEnv) -> None:
    eid = run(zart_env, sleeper)
    assert zart_env.get(eid).status == "sleeping"
    assert_stopped_run_checks(zart_env, eid)


def test_a_cancelled_run_checks_as_far_as_its_log_goes(zart_env: TestEnv) -> None:
    eid = run(zart_env, sleeper)
    zart_env.cancel(eid)
    assert zart_env.get(eid).status == "cancelled"
    assert_stopped_run_checks(zart_env, eid)


def test_a_run_cancelled_before_it_ran_checks(zart_env: TestEnv) -> None:
    eid = zart_env.schedule(handler(sleeper))
    zart_env.cancel(eid)
    zart_env.check_determinism(eid)


def test_a_run_past_its_task_timeout_checks_as_far_as_its_log_goes(zart_env: TestEnv) -> None:
    eid = run(zart_env, sleeper, timeout=timedelta(seconds=50))
    zart_env.advance(60)
    assert failed_with(zart_env, eid)["type"] == "zart.errors.TaskTimeout"
    assert_stopped_run_checks(zart_env, eid, timeout=timedelta(seconds=50))


def test_a_task_timeout_during_a_step_backoff_checks(zart_env: TestEnv) -> None:
    def body(_: Any):  # type: ignore[no-untyped-def]
        yield reserve()
        yield zart.call("flaky", _raise, retry="fixed(3, 100s)")

    eid = run(zart_env, body, timeout=timedelta(seconds=50))
    zart_env.advance(60)
    assert failed_with(zart_env, eid)["type"] == "zart.errors.TaskTimeout"
    assert zart_env.history(eid)[-1].status == "retrying"
    zart_env.check_determinism(eid)

    def renamed(_: Any):  # type: ignore[no-untyped-def]
        yield reserve()
        yield zart.call("unreliable", _raise, retry="fixed(3, 100s)")

    with pytest.raises(zart.NonDeterminismError):
        check_with(zart_env, eid, renamed, timeout=timedelta(seconds=50))


def test_a_run_that_failed_by_its_own_code_does_not_stop_short(zart_env: TestEnv) -> None:
    # A failure the generator raised is replayed, not taken as a stop: code
    # that would now go on past it does not match the log.
    def body(_: Any):  # type: ignore[no-untyped-def]
        yield reserve()
        raise ValueError("no")

    eid = run(zart_env, body)
    zart_env.check_determinism(eid)

    def goes_on(_: Any):  # type: ignore[no-untyped-def]
        yield reserve()
        yield notify()

    with pytest.raises(zart.NonDeterminismError) as info:
        check_with(zart_env, eid, goes_on)
    assert info.value.name == "notify"


# -- errors the code raises again on replay ----------------------------------------


def test_a_duplicate_name_the_live_run_stalled_on_is_raised_by_the_check(
    zart_env: TestEnv,
) -> None:
    def body(_: Any):  # type: ignore[no-untyped-def]
        yield reserve()
        yield reserve()

    eid = run(zart_env, body)
    record = zart_env.get(eid)
    assert record.status == "stalled" and record.attempt == 0
    assert record.error is not None
    assert record.error["type"] == "zart.errors.DuplicateNameError"
    with pytest.raises(zart.DuplicateNameError) as info:
        zart_env.check_determinism(eid)
    assert str(info.value) == record.error["message"]

    def fixed(_: Any):  # type: ignore[no-untyped-def]
        yield reserve()
        yield reserve().named("reserve-again")
        return "done"

    check_with(zart_env, eid, fixed)
    zart_env.retry(eid)
    zart_env.run_until_idle()
    assert zart_env.result(eid) == "done"


def test_an_invalid_command_the_live_run_failed_with_checks(zart_env: TestEnv) -> None:
    def body(_: Any):  # type: ignore[no-untyped-def]
        yield reserve()
        yield 42

    eid = run(zart_env, body)
    assert failed_with(zart_env, eid)["type"] == "zart.errors.InvalidCommand"
    zart_env.check_determinism(eid)


def test_a_duplicate_name_new_code_brings_is_still_raised(zart_env: TestEnv) -> None:
    def body(_: Any):  # type: ignore[no-untyped-def]
        yield reserve()

    eid = run(zart_env, body)

    def doubled(_: Any):  # type: ignore[no-untyped-def]
        yield reserve()
        yield reserve()

    with pytest.raises(zart.DuplicateNameError):
        check_with(zart_env, eid, doubled)


# -- captures -----------------------------------------------------------------------


def test_a_caught_capture_failure_checks(zart_env: TestEnv) -> None:
    # Live, the raw exception is thrown in and nothing is logged; the check
    # calls the capture again to tell that case from a missing record.
    def body(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield zart.capture("draw", _raise)
        except RuntimeError:
            return "caught"

    eid = run(zart_env, body)
    assert zart_env.result(eid) == "caught"
    assert zart_env.history(eid) == []
    zart_env.check_determinism(eid)


def test_a_capture_that_no_longer_fails_is_a_mismatch(zart_env: TestEnv) -> None:
    # The same name, now returning a value: live it would have been logged,
    # so a log without it no longer matches the code.
    raising = [True]

    def draw() -> int:
        if raising[0]:
            raise RuntimeError("drawn dry")
        return 7

    def body(_: Any):  # type: ignore[no-untyped-def]
        try:
            value = yield zart.capture("draw", draw)
        except RuntimeError:
            return "caught"
        return value

    eid = run(zart_env, body)
    assert zart_env.result(eid) == "caught"
    raising[0] = False
    with pytest.raises(zart.NonDeterminismError, match="draw"):
        zart_env.check_determinism(eid)


def test_a_step_scheduled_after_a_caught_capture_failure_is_found_by_replay() -> None:
    # What a worker without the step in its cache does to run a step child:
    # replay the parent's log up to the schedule. The capture before it
    # failed and was not logged; replay must get past it, not give up.
    @zart.durable("parent")
    def parent(_: Any):  # type: ignore[no-untyped-def]
        with contextlib.suppress(RuntimeError):
            yield zart.capture("draw", _raise)
        handle = yield zart.schedule(notify())
        yield zart.wait_all([handle])
        return "done"

    store = MemoryStore()
    registry = zart.TaskRegistry([parent])
    eid = zart.Client(store, registry).schedule(parent)
    host = Host(store, registry)
    [claimed] = host.claim(1)
    host.process(claimed)  # the parent runs up to its wait; its child is not run
    child_record = store.get(child_id(eid, "notify"))
    assert child_record.status == "pending" and child_record.kind == "step"
    # A new process: no step cached from the parent's run.
    found = scheduled_step(store, Host(store, registry), child_record)
    assert isinstance(found, zart.Step) and found.name == "notify"


# -- on real stores ----------------------------------------------------------------


def check_on(store: Any, registry: zart.TaskRegistry, eid: str) -> None:
    """What TestEnv.check_determinism does, on any store."""
    record = store.get(eid)
    check(registry.get(record.task_name), record, store.load(eid), record.updated_at)


def test_an_unstorable_step_result_keeps_its_outcome_after_a_reopen_on_sqlite(
    tmp_path: Path,
) -> None:
    calls: list[str] = []

    def body(_: Any):  # type: ignore[no-untyped-def]
        yield reserve()
        try:
            yield zart.call("fetch", lambda: calls.append("ran") or Opaque())
        except Exception:
            return "caught"

    registry = zart.TaskRegistry([handler(body)])
    with open_store("sqlite", tmp_path) as store:
        eid = zart.Client(store, registry).schedule("wf")
        assert len(Host(store, registry).tick()) == 1
    assert calls == ["ran"]
    with open_store("sqlite", tmp_path) as store:  # a new process on the same file
        record = store.get(eid)
        assert record.status == "failed"
        assert [(s.name, s.status) for s in store.history(eid)] == [
            ("reserve", "completed"),
            ("fetch", "failed"),
        ]
        assert store.history(eid)[-1].error == record.error
        assert Host(store, registry).tick() == []  # ended: nothing to claim
        # A replay of the stored log, as a resume would run it, ends the
        # execution the same way and runs nothing.
        decision = Interpreter(handler(body), record, store.load(eid)).start(record.updated_at)
        assert isinstance(decision, Finish) and decision.commit.outcome == Fail(error=record.error)
        check_on(store, registry, eid)
        assert store.get(eid) == record
    assert calls == ["ran"]


@zart.durable("long-result")
def long_result(_: Any):  # type: ignore[no-untyped-def]
    yield reserve()
    yield zart.call("big", lambda: "x" * 5_000)
    return "done"


def test_a_run_failed_by_a_refused_write_checks_on_sqlite(tmp_path: Path) -> None:
    registry = zart.TaskRegistry([long_result])
    with open_store("sqlite", tmp_path) as store:
        eid = zart.Client(store, registry).schedule(long_result)
        # The host runs on this thread's connection: lower SQLite's length
        # limit there so the long result is really refused.
        store._db.get().setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 2_000)
        assert len(Host(store, registry).tick()) == 1
        assert store.get(eid).error["type"] == "zart.errors.WriteRejected"
        assert [s.name for s in store.history(eid)] == ["reserve"]
        check_on(store, registry, eid)

        @zart.durable("long-result")
        def renamed(_: Any):  # type: ignore[no-untyped-def]
            yield reserve().named("hold")
            yield zart.call("big", lambda: "x" * 5_000)

        with pytest.raises(zart.NonDeterminismError):
            check_on(store, zart.TaskRegistry([renamed]), eid)


class RefusingStore(MemoryStore):
    """Refuses any commit that holds a record named ``big``, as a database
    refuses a value past its limits."""

    def commit(self, lease: Lease, commit: Commit) -> bool:
        if any(w.name == "big" for w in commit.records):
            raise zart.WriteRejected(f"refused {lease.execution_id}")
        return super().commit(lease, commit)


def test_a_run_failed_by_a_refused_write_checks_on_memory() -> None:
    store = RefusingStore()
    registry = zart.TaskRegistry([long_result])
    eid = zart.Client(store, registry).schedule(long_result)
    assert len(Host(store, registry).tick()) == 1
    assert store.get(eid).error["type"] == "zart.errors.WriteRejected"  # type: ignore[index]
    check_on(store, registry, eid)
