"""zart.testing.TestEnv and the zart_env fixture: the virtual clock and the
fault-injection helpers the other unit tests rely on."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import zart
from zart.testing import TestEnv

START = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_fixture_is_a_fresh_test_env(zart_env: TestEnv) -> None:
    assert isinstance(zart_env, TestEnv)
    assert len(zart_env.registry) == 0
    assert zart_env.list() == []


def test_virtual_clock_starts_where_asked_and_moves_on_advance() -> None:
    with TestEnv(start=START) as env:
        assert env.now() == START
        assert datetime.now(UTC) == START
        env.advance(timedelta(hours=2))
        assert env.now() == START + timedelta(hours=2)
        env.advance(30)
        assert env.now() == START + timedelta(hours=2, seconds=30)
        with pytest.raises(ValueError):
            env.advance(-1)


def test_steps_see_virtual_time() -> None:
    @zart.durable("clock")
    def clock(_: Any):  # type: ignore[no-untyped-def]
        first = yield zart.call("read", lambda: datetime.now(UTC).isoformat())
        yield zart.sleep("nap", timedelta(days=1))
        second = yield zart.call("read-again", lambda: datetime.now(UTC).isoformat())
        return [first, second]

    with TestEnv(start=START) as env:
        eid = env.schedule(clock)
        env.run_until_idle()
        env.advance(timedelta(days=1))
        assert env.result(eid) == [START.isoformat(), (START + timedelta(days=1)).isoformat()]


def test_result_of_a_running_execution_is_a_zart_error(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("nap", 10)

    eid = zart_env.schedule(wf)
    with pytest.raises(zart.ZartError) as info:
        zart_env.result(eid)
    assert not isinstance(info.value, zart.ExecutionFailed)
    zart_env.run_until_idle()
    with pytest.raises(zart.ZartError, match="sleeping"):
        zart_env.result(eid)


def test_run_until_idle_counts_runs(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("nap", 10)

    zart_env.schedule(wf)
    zart_env.schedule(wf)
    assert zart_env.run_until_idle() == 2
    assert zart_env.run_until_idle() == 0
    assert zart_env.advance(10) == 2


def test_replace_step_by_name_and_by_template(zart_env: TestEnv) -> None:
    @zart.step("charge-{n}")
    def charge(n: int) -> str:
        return f"real-{n}"

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        a = yield charge(1)
        b = yield charge(2)
        c = yield zart.call("email", lambda: "sent")
        return [a, b, c]

    zart_env.replace_step("charge-{n}", lambda n: f"fake-{n}")
    zart_env.replace_step("charge-2", lambda n: "only-two")
    zart_env.replace_step("email", lambda: "not sent")
    assert zart_env.run(wf) == ["fake-1", "only-two", "not sent"]


def test_run_schedules_runs_and_returns(zart_env: TestEnv) -> None:
    @zart.durable("wf")
    def wf(n: int):  # type: ignore[no-untyped-def]
        return (yield zart.call("inc", lambda: n + 1))

    assert zart_env.run(wf, 41) == 42
    assert zart_env.list(task="wf")[0].status == "completed"


def test_crash_after_fires_once(zart_env: TestEnv) -> None:
    calls: list[str] = []

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield zart.call("a", lambda: calls.append("a"))
        yield zart.call("b", lambda: calls.append("b"))
        return "ok"

    zart_env.crash_after("a")
    first = zart_env.schedule(wf)
    zart_env.run_until_idle()
    zart_env.restart()
    zart_env.run_until_idle()
    second = zart_env.schedule(wf)  # the crash was used up
    zart_env.run_until_idle()
    assert zart_env.result(first) == zart_env.result(second) == "ok"
    assert calls == ["a", "b", "a", "b"]


def test_restart_with_a_new_registry_runs_new_code(zart_env: TestEnv) -> None:
    def version(tag: str) -> zart.TaskHandler:
        @zart.durable("wf")
        def wf(_: Any):  # type: ignore[no-untyped-def]
            yield zart.sleep("nap", 10)
            return (yield zart.call(f"tag-{tag}", lambda: tag))

        return wf

    eid = zart_env.schedule(version("old"))
    zart_env.run_until_idle()
    zart_env.restart(registry=zart.TaskRegistry([version("new")]))
    zart_env.advance(10)
    assert zart_env.result(eid) == "new"
