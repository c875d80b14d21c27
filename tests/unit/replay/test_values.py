"""Values round-trip: what a workflow receives is what the store reads back."""

from datetime import datetime, timedelta
from typing import Any

import attrs

import zart
from tests.unit.replay.helpers import (
    T_REPORT,
    Opaque,
    Report,
    Summary,
    failure,
)
from zart.testing import TestEnv

# -- typed values round-trip -----------------------------------------------------


@zart.step("make-report")
def make_report(title: str) -> Report:
    return Report(title, [1, 2, 3], T_REPORT)


@zart.step("summarize")
def summarize(report: Report) -> Summary:
    return Summary(len(report.pages), ("a", "b"))


def test_typed_results_arrive_typed_live_and_after_a_restart(zart_env: TestEnv) -> None:
    seen: list[tuple[Any, ...]] = []

    @zart.durable("typed")
    def typed(_: Any):  # type: ignore[no-untyped-def]
        report = yield make_report("q1")
        summary = yield summarize(report)
        pair = yield zart.call("pair", lambda: (1, 2))
        seen.append((report, summary, pair))
        yield zart.sleep("nap", timedelta(minutes=5))
        return {"title": report.title, "total": summary.total}

    eid = zart_env.schedule(typed)
    zart_env.run_until_idle()
    assert len(seen) == 1
    zart_env.restart()
    zart_env.advance(timedelta(minutes=5))
    assert zart_env.get(eid).status == "completed"
    assert len(seen) == 2
    live, replayed = seen
    assert live == replayed
    report, summary, _ = replayed
    assert type(report) is Report and report == Report("q1", [1, 2, 3], T_REPORT)
    assert isinstance(report.created, datetime)
    assert report.created == T_REPORT and report.created.tzinfo is not None
    assert type(summary) is Summary and summary.tags == ("a", "b")
    assert type(live[1].tags) is tuple
    # An untyped step's value is what JSON gives back, live as on replay.
    assert live[2] == [1, 2] and replayed[2] == [1, 2]
    assert zart_env.result(eid) == {"title": "q1", "total": 3}


def test_live_value_is_the_stored_copy_not_the_object_the_step_returned(
    zart_env: TestEnv,
) -> None:
    produced: list[Any] = []
    received: list[Any] = []

    def build() -> dict[str, Any]:
        value = {"items": [1, 2], "tuple": (3, 4)}
        produced.append(value)
        return value

    @zart.durable("copy")
    def copy(_: Any):  # type: ignore[no-untyped-def]
        got = yield zart.call("build", build)
        received.append(got)
        return None

    zart_env.run(copy)
    assert received[0] is not produced[0]
    assert received[0] == {"items": [1, 2], "tuple": [3, 4]}


def test_step_result_that_does_not_structure_is_thrown_into_the_workflow(
    zart_env: TestEnv,
) -> None:
    @zart.step("wrong")
    def wrong() -> Summary:
        return "not a summary"  # type: ignore[return-value]

    @zart.durable("mistyped")
    def mistyped(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield wrong()
        except zart.SerializationError as exc:
            return f"caught: {exc}"
        return "no error"

    out = zart_env.run(mistyped)
    assert out.startswith("caught:") and "'wrong'" in out


# -- errors the engine must turn into failures, not crashes ----------------------


@attrs.define
class CarriesOpaque(zart.BusinessError):
    thing: object


@attrs.define
class MistypedField(zart.BusinessError):
    needed: int


def test_business_error_with_unserializable_fields_fails_the_execution(
    zart_env: TestEnv,
) -> None:
    @zart.step("odd")
    def odd() -> None:
        raise CarriesOpaque(thing=Opaque())

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield odd()

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()  # must not raise
    err = failure(zart_env, eid)
    assert err.error_type.endswith("SerializationError") and "CarriesOpaque" in err.message


def test_business_error_whose_fields_do_not_read_back_fails_the_execution(
    zart_env: TestEnv,
) -> None:
    calls: list[int] = []

    @zart.step("odd")
    def odd() -> None:
        calls.append(1)
        raise MistypedField(needed="lots")  # type: ignore[arg-type]

    @zart.durable("wf")
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield odd()

    eid = zart_env.schedule(wf)
    zart_env.run_until_idle()  # must not raise
    assert zart_env.get(eid).status == "failed"
    zart_env.advance(timedelta(minutes=5))  # and the step is not run again
    assert calls == [1]


def test_a_stored_business_error_its_changed_class_cannot_read_is_thrown_as_serialization_error(
    zart_env: TestEnv,
) -> None:
    # The error was stored by code whose class took an int; the code that
    # replays it wants a list. Replay hands the workflow the SerializationError
    # in its place (as for a step result that no longer reads back) instead
    # of raising out of the interpreter on every resume.
    def version(field_type: Any) -> zart.TaskHandler:
        @attrs.define
        class Declined(zart.BusinessError):
            code: field_type  # type: ignore[valid-type]

        @zart.step("charge")
        def charge() -> None:
            raise Declined(code=7)

        @zart.durable("pay")
        def pay(_: Any):  # type: ignore[no-untyped-def]
            try:
                yield charge()
            except Declined as exc:
                yield zart.wait_event("go")
                return f"declined {exc.code}"
            except zart.SerializationError as exc:
                return f"unreadable: {exc}"

        return pay

    eid = zart_env.schedule(version(int))
    zart_env.run_until_idle()
    assert zart_env.get(eid).status == "waiting"
    zart_env.restart(registry=zart.TaskRegistry([version(list[str])]))
    zart_env.offer_event(eid, "go", None)
    zart_env.run_until_idle()  # must not raise
    out = zart_env.result(eid)
    assert out.startswith("unreadable: business error") and "Declined" in out, out


def test_a_stored_business_error_whose_constructor_changed_is_thrown_as_serialization_error(
    zart_env: TestEnv,
) -> None:
    def version(strict: bool) -> zart.TaskHandler:
        class Refused(zart.BusinessError):
            if strict:

                def __init__(self, message: str, code: int) -> None:
                    super().__init__(message)

        @zart.step("ask")
        def ask() -> None:
            raise Refused("no")

        @zart.durable("ask-wf")
        def wf(_: Any):  # type: ignore[no-untyped-def]
            try:
                yield ask()
            except Refused:
                yield zart.wait_event("go")
                return "refused"
            except zart.SerializationError as exc:
                return f"unreadable: {exc}"

        return wf

    eid = zart_env.schedule(version(False))
    zart_env.run_until_idle()
    zart_env.restart(registry=zart.TaskRegistry([version(True)]))
    zart_env.offer_event(eid, "go", None)
    zart_env.run_until_idle()
    out = zart_env.result(eid)
    assert "Refused" in out and "TypeError" in out, out
