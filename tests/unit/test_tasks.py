"""The class layer and the decorator built on it: TaskHandler, TaskContext,
TaskRegistry, @zart.durable, and how inputs are typed."""

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import attrs
import pytest

import zart
from zart.testing import TestEnv


@attrs.define
class SignupData:
    email: str
    age: int


@dataclasses.dataclass
class Order:
    sku: str
    qty: int = 1


class Point(TypedDict):
    x: int
    y: int


# -- @zart.durable ----------------------------------------------------------


def test_durable_refuses_a_plain_function() -> None:
    with pytest.raises(TypeError, match="'plain'"):

        @zart.durable("plain")
        def plain(data: int) -> int:
            return data


def test_durable_refuses_an_async_function() -> None:
    with pytest.raises(TypeError, match="'coro'"):

        @zart.durable("coro")
        async def coro(data: int) -> int:
            return data


def test_durable_refuses_an_async_generator() -> None:
    with pytest.raises(TypeError, match="'agen'"):

        @zart.durable("agen")
        async def agen(data: int):  # type: ignore[no-untyped-def]
            yield data


def test_durable_refuses_a_two_argument_function() -> None:
    with pytest.raises(TypeError, match="'two'"):

        @zart.durable("two")
        def two(a: int, b: int):  # type: ignore[no-untyped-def]
            yield zart.sleep("x", 1)


@pytest.mark.parametrize("name", ["", "  "])
def test_durable_refuses_an_empty_name(name: str) -> None:
    with pytest.raises(ValueError, match="workflow name must not be empty or blank"):
        zart.durable(name)


@pytest.mark.parametrize("name", [None, 3])
def test_durable_refuses_a_name_that_is_no_string(name: Any) -> None:
    with pytest.raises(TypeError, match="workflow name must be a string"):
        zart.durable(name)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_durable_refuses_bad_max_retries(bad: Any) -> None:
    with pytest.raises(ValueError):
        zart.durable("x", max_retries=bad)


def test_durable_refuses_a_negative_timeout() -> None:
    with pytest.raises(ValueError):
        zart.durable("x", timeout=-5)


def test_durable_makes_a_task_handler_with_its_settings() -> None:
    def body(data: int):  # type: ignore[no-untyped-def]
        yield zart.sleep("x", 1)

    handler = zart.durable("report", max_retries=3, timeout=60, output=Order)(body)
    assert isinstance(handler, zart.TaskHandler)
    assert handler.task_name == "report"
    assert handler.max_retries() == 3
    assert handler.timeout() == timedelta(seconds=60)
    assert handler.output_type() is Order
    assert handler.input_type() is int
    assert handler.__wrapped__ is body  # type: ignore[attr-defined]


def test_durable_without_input_argument_runs() -> None:
    @zart.durable("noinput")
    def noinput():  # type: ignore[no-untyped-def]
        v = yield zart.call("one", lambda: 1)
        return v

    with TestEnv() as env:
        assert env.run(noinput) == 1


def test_calling_a_handler_builds_a_workflow_call_named_after_it() -> None:
    @zart.durable("child")
    def child(n: int):  # type: ignore[no-untyped-def]
        yield zart.sleep("x", 1)

    call = child(5)
    assert isinstance(call, zart.WorkflowCall)
    assert call.name == "child" and call.task_name == "child" and call.input == 5
    assert call.handler is child
    renamed = call.named("child-5")
    assert renamed.name == "child-5" and renamed.task_name == "child"
    assert isinstance(zart.schedule(call), zart.Schedule)


def test_decorating_registers_nothing_globally() -> None:
    @zart.durable("lonely")
    def lonely(n: int):  # type: ignore[no-untyped-def]
        yield zart.sleep("x", 1)

    assert "lonely" not in zart.TaskRegistry()


# -- TaskRegistry -------------------------------------------------------------


class Greeter(zart.TaskHandler):
    def run(self, ctx: zart.TaskContext, data: str):  # type: ignore[no-untyped-def,override]
        greeting = yield ctx.step("greet", lambda: f"hello {data}")
        return greeting


def test_registry_registers_by_name_and_by_handler_name() -> None:
    @zart.durable("report-batch")
    def report_batch(n: int):  # type: ignore[no-untyped-def]
        yield zart.sleep("x", 1)

    registry = zart.TaskRegistry()
    greeter = Greeter()
    assert registry.register("greeter", greeter) is greeter
    registry.register(report_batch)
    assert registry.get("greeter") is greeter
    assert registry.get("report-batch") is report_batch
    assert sorted(registry.names()) == ["greeter", "report-batch"]
    assert "greeter" in registry and "missing" not in registry
    assert len(registry) == 2
    assert set(registry) == {greeter, report_batch}
    assert greeter.task_name == "greeter"


def test_registry_refuses_two_handlers_under_one_name() -> None:
    registry = zart.TaskRegistry()
    registry.register("greeter", Greeter())
    with pytest.raises(zart.DuplicateNameError) as info:
        registry.register("greeter", Greeter())
    assert info.value.name == "greeter"
    assert "greeter" in str(info.value)


def test_registry_refuses_two_decorated_workflows_with_one_name() -> None:
    def make():  # type: ignore[no-untyped-def]
        @zart.durable("same")
        def same(n: int):  # type: ignore[no-untyped-def]
            yield zart.sleep("x", 1)

        return same

    registry = zart.TaskRegistry([make()])
    with pytest.raises(zart.DuplicateNameError):
        registry.register(make())


def test_registering_the_same_object_again_is_fine() -> None:
    registry = zart.TaskRegistry()
    greeter = Greeter()
    registry.register("greeter", greeter)
    assert registry.register("greeter", greeter) is greeter
    assert registry.register(greeter) is greeter
    assert len(registry) == 1


def test_two_versions_of_one_workflow_live_in_two_registries() -> None:
    v1, v2 = Greeter(), Greeter()
    r1, r2 = zart.TaskRegistry(), zart.TaskRegistry()
    r1.register("greeter", v1)
    r2.register("greeter", v2)
    assert r1.get("greeter") is v1 and r2.get("greeter") is v2


def test_unknown_task_name_raises_naming_it() -> None:
    registry = zart.TaskRegistry()
    registry.register("greeter", Greeter())
    with pytest.raises(zart.UnknownTaskError) as info:
        registry.get("nope")
    assert info.value.task_name == "nope"
    assert "'nope'" in str(info.value)
    assert isinstance(info.value, zart.ZartError)


def test_unnamed_handler_needs_an_explicit_name() -> None:
    with pytest.raises(ValueError):
        zart.TaskRegistry().register(Greeter())


def test_calling_an_unnamed_handler_is_refused() -> None:
    with pytest.raises(zart.UnknownTaskError):
        Greeter()("x")


def test_register_needs_a_task_handler() -> None:
    with pytest.raises(TypeError):
        zart.TaskRegistry().register("x", lambda: None)  # type: ignore[arg-type]


class NotAGenerator(zart.TaskHandler):
    def run(self, ctx: zart.TaskContext, data: Any) -> Any:  # type: ignore[override]
        return 42


class NoRun(zart.TaskHandler):
    pass


@pytest.mark.parametrize("cls", [NotAGenerator, NoRun])
def test_a_handler_whose_run_is_not_a_generator_is_refused(cls: type) -> None:
    with pytest.raises(TypeError, match="'bad'"):
        zart.TaskRegistry().register("bad", cls())
    with TestEnv() as env, pytest.raises(TypeError):
        handler = cls()
        handler.task_name = "bad"
        env.schedule(handler)
    assert env.list() == []


# -- input types ----------------------------------------------------------------


class TypedByAnnotation(zart.TaskHandler):
    def run(self, ctx: zart.TaskContext, data: SignupData):  # type: ignore[no-untyped-def,override]
        yield ctx.now()
        return {"type": type(data).__name__, "age": data.age}


def test_input_type_from_the_run_annotation() -> None:
    assert TypedByAnnotation().input_type() is SignupData


def test_class_handler_with_annotated_ctx_gets_typed_input() -> None:
    with TestEnv() as env:
        env.registry.register("typed", TypedByAnnotation())
        assert env.run("typed", SignupData("a@b.c", 5)) == {"type": "SignupData", "age": 5}


def test_input_type_from_the_run_annotation_when_ctx_is_unannotated() -> None:
    class Typed(zart.TaskHandler):
        def run(self, ctx, data: SignupData):  # type: ignore[no-untyped-def]
            yield ctx.now()
            return {"type": type(data).__name__, "age": data.age}

    assert Typed().input_type() is SignupData
    with TestEnv() as env:
        env.registry.register("typed", Typed())
        assert env.run("typed", {"email": "x", "age": 9}) == {"type": "SignupData", "age": 9}


def test_input_type_from_a_data_class_attribute() -> None:
    class WithData(zart.TaskHandler):
        Data = Order

        def run(self, ctx, data):  # type: ignore[no-untyped-def]
            yield ctx.now()
            return {"type": type(data).__name__, "sku": data.sku, "qty": data.qty}

    assert WithData().input_type() is Order
    with TestEnv() as env:
        env.registry.register("with-data", WithData())
        assert env.run("with-data", {"sku": "A1"}) == {"type": "Order", "sku": "A1", "qty": 1}


def test_unannotated_input_is_plain_json() -> None:
    class Plain(zart.TaskHandler):
        def run(self, ctx, data):  # type: ignore[no-untyped-def]
            yield ctx.now()
            return data

    assert Plain().input_type() is Any


def test_an_input_type_named_before_it_is_defined_resolves_once_it_is() -> None:
    def body(data: "DefinedLater"):  # type: ignore[name-defined,no-untyped-def]  # noqa: F821
        yield zart.sleep("x", 1)

    handler = zart.durable("later")(body)
    assert handler.input_type() is Any  # not resolvable yet, and not kept
    globals()["DefinedLater"] = Order
    try:
        assert handler.input_type() is Order
        del globals()["DefinedLater"]
        assert handler.input_type() is Order  # resolved once, then kept
    finally:
        globals().pop("DefinedLater", None)


def _echo_type(data: Any) -> dict[str, Any]:
    return {"type": type(data).__name__, "value": data}


@attrs.define
class Described:
    type: str
    ok: bool


def test_attrs_input_structures() -> None:
    seen: list[Any] = []

    @zart.durable("signup")
    def signup(data: SignupData):  # type: ignore[no-untyped-def]
        seen.append(data)
        yield zart.now("t")
        return data.age + 1

    with TestEnv() as env:
        assert env.run(signup, SignupData("a@b.c", 41)) == 42
        assert env.run(signup, {"email": "x@y.z", "age": 7}) == 8
    assert seen == [SignupData("a@b.c", 41), SignupData("x@y.z", 7)]


def test_dataclass_input_structures() -> None:
    seen: list[Any] = []

    @zart.durable("order")
    def order(data: Order):  # type: ignore[no-untyped-def]
        seen.append(data)
        yield zart.now("t")
        return data.qty

    with TestEnv() as env:
        assert env.run(order, Order("A", 3)) == 3
        assert env.run(order, {"sku": "B"}) == 1
    assert seen == [Order("A", 3), Order("B", 1)]
    assert all(type(s) is Order for s in seen)


def test_typeddict_input_structures() -> None:
    seen: list[Any] = []

    @zart.durable("point")
    def point(data: Point):  # type: ignore[no-untyped-def]
        seen.append(data)
        yield zart.now("t")
        return data["x"] + data["y"]

    with TestEnv() as env:
        assert env.run(point, {"x": 1, "y": 2}) == 3
    assert seen == [{"x": 1, "y": 2}]


@pytest.mark.parametrize("value", [3, "text", [1, "a", None], {"k": {"n": [1.5, True]}}, None])
def test_plain_json_input_passes_through(value: Any) -> None:
    @zart.durable("json")
    def echo(data: Any):  # type: ignore[no-untyped-def]
        yield zart.now("t")
        return data

    with TestEnv() as env:
        assert env.run(echo, value) == value


def test_list_of_attrs_input_structures() -> None:
    @zart.durable("many")
    def many(data: list[SignupData]):  # type: ignore[no-untyped-def]
        yield zart.now("t")
        return [type(d).__name__ for d in data]

    with TestEnv() as env:
        out = env.run(many, [{"email": "a", "age": 1}, SignupData("b", 2)])
    assert out == ["SignupData", "SignupData"]


def test_input_that_does_not_structure_fails_at_schedule_and_stores_nothing() -> None:
    @zart.durable("signup")
    def signup(data: SignupData):  # type: ignore[no-untyped-def]
        yield zart.now("t")

    with TestEnv() as env:
        with pytest.raises(zart.SerializationError) as info:
            env.schedule(signup, {"email": "a@b.c", "age": "old"}, execution_id="s-1")
        message = str(info.value)
        assert "'signup'" in message
        assert "age" in message
        with pytest.raises(zart.SerializationError, match="email"):
            env.schedule(signup, {"age": 3})
        assert env.list() == []
        with pytest.raises(zart.ExecutionNotFound):
            env.get("s-1")


def test_input_that_is_not_json_fails_at_schedule() -> None:
    @zart.durable("anything")
    def anything(data: Any):  # type: ignore[no-untyped-def]
        yield zart.now("t")

    with TestEnv() as env:
        with pytest.raises(zart.SerializationError, match="'anything'"):
            env.schedule(anything, object())
        with pytest.raises(zart.SerializationError, match="nan is not valid JSON"):
            env.schedule(anything, float("nan"))
        # Deep inside a value, the message says where.
        with pytest.raises(zart.SerializationError, match=r"inf is not valid JSON at \['a'\]\[1\]"):
            env.schedule(anything, {"a": [1, float("inf")]})
        # A value JSON cannot hold is named first, not a NaN beside it.
        with pytest.raises(zart.SerializationError, match="object is not JSON serializable"):
            env.schedule(anything, [object(), float("nan")])
        assert env.list() == []


# -- strict values: JSON of the wrong kind is refused, never coerced ---------------


@attrs.define
class Fields:
    flag: bool = True
    count: int = 1
    label: str = "a"
    note: str | None = None


FIELD_OF = {bool: "flag", int: "count", str: "label"}

MISMATCHES = pytest.mark.parametrize(
    ("type_", "value", "reason"),
    [
        (bool, "no", "expected bool, got str"),
        (bool, None, "expected bool, got null"),
        (int, 1.9, "expected int, got float"),
        (int, "7", "expected int, got str"),
        (int, True, "expected int, got bool"),
        (str, None, "expected str, got null"),
        (str, ["a"], "expected str, got array"),
    ],
    ids=[
        "no-for-bool",
        "null-for-bool",
        "1.9-for-int",
        "7-for-int",
        "true-for-int",
        "null-for-str",
        "list-for-str",
    ],
)


def _nested(type_: type, value: Any) -> tuple[dict[str, Any], str]:
    """A Fields document with ``value`` in the field of ``type_``, and its path."""
    field = FIELD_OF[type_]
    return {"flag": True, "count": 1, "label": "a", field: value}, f"$.{field}"


def _scalar_task(type_: type) -> zart.TaskHandler:
    class Scalar(zart.TaskHandler):
        Data = type_

        def run(self, ctx, data):  # type: ignore[no-untyped-def]
            yield ctx.now()
            return data

    handler = Scalar()
    handler.task_name = "scalar"
    return handler


@zart.durable("fields")
def fields_wf(data: Fields):  # type: ignore[no-untyped-def]
    yield zart.now("t")
    return [data.flag, data.count, data.label, data.note]


@MISMATCHES
def test_an_input_of_the_wrong_kind_is_refused_at_schedule_naming_the_path(
    zart_env: TestEnv, type_: type, value: Any, reason: str
) -> None:
    zart_env.registry.register(_scalar_task(type_))
    with pytest.raises(zart.SerializationError) as info:
        zart_env.client.schedule("scalar", value)
    assert str(info.value) == f"input of task 'scalar': {reason}"
    document, path = _nested(type_, value)
    with pytest.raises(zart.SerializationError) as info:
        zart_env.client.schedule(fields_wf, document, execution_id="f-1")
    assert str(info.value) == f"input of task 'fields' at {path}: {reason}"
    assert info.value.what == "input of task 'fields'"
    assert zart_env.list() == []


def test_an_input_of_the_right_kinds_runs_and_null_fills_an_optional_field(
    zart_env: TestEnv,
) -> None:
    document = {"flag": False, "count": 7, "label": "x", "note": None}
    assert zart_env.run(fields_wf, document) == [False, 7, "x", None]
    assert zart_env.run(fields_wf, {**document, "note": "n"}) == [False, 7, "x", "n"]
    assert zart_env.run(_scalar_task(float), 2) == 2  # an int is a JSON number


def test_every_field_of_the_wrong_kind_is_named(zart_env: TestEnv) -> None:
    with pytest.raises(zart.SerializationError) as info:
        zart_env.client.schedule(fields_wf, {"flag": "no", "count": "7", "label": None})
    assert str(info.value) == (
        "input of task 'fields' at $.flag: expected bool, got str; "
        "at $.count: expected int, got str; at $.label: expected str, got null"
    )


@MISMATCHES
def test_a_step_result_of_the_wrong_kind_is_thrown_in_at_the_yield(
    zart_env: TestEnv, type_: type, value: Any, reason: str
) -> None:
    document, path = _nested(type_, value)
    caught: list[str] = []

    @zart.durable("reads")
    def reads(_: Any):  # type: ignore[no-untyped-def]
        for name, result, declared in [("scalar", value, type_), ("fields", document, Fields)]:
            try:
                yield zart.Step(name=name, fn=lambda r=result: r, result_type=declared)
            except zart.SerializationError as exc:
                caught.append(str(exc))
        yield zart.sleep("nap", 5)
        return "caught"

    eid = zart_env.schedule(reads)
    zart_env.run_until_idle()
    expected = [
        f"result of step 'scalar': {reason}",
        f"result of step 'fields' at {path}: {reason}",
    ]
    assert caught == expected
    zart_env.restart()
    zart_env.advance(5)
    assert zart_env.result(eid) == "caught"
    assert caught == expected * 2  # a replay reads the stored result the same way
    scalar, fields, _ = zart_env.history(eid)
    assert (scalar.status, scalar.result) == ("completed", value)  # stored as it came
    assert (fields.status, fields.result) == ("completed", document)


def test_a_step_result_of_the_wrong_kind_uncaught_fails_the_execution(zart_env: TestEnv) -> None:
    @zart.step("approve")
    def approve() -> Fields:
        return {"flag": "no"}  # type: ignore[return-value]

    @zart.durable("approves")
    def approves(_: Any):  # type: ignore[no-untyped-def]
        return (yield approve())

    eid = zart_env.schedule(approves)
    zart_env.run_until_idle()
    with pytest.raises(zart.ExecutionFailed) as info:
        zart_env.result(eid)
    assert info.value.error_type == "zart.errors.SerializationError"
    assert info.value.message == "result of step 'approve' at $.flag: expected bool, got str"


@MISMATCHES
def test_an_event_payload_of_the_wrong_kind_is_raised_at_the_wait(
    zart_env: TestEnv, type_: type, value: Any, reason: str
) -> None:
    document, path = _nested(type_, value)

    @zart.durable("waits")
    def waits(_: Any):  # type: ignore[no-untyped-def]
        caught = []
        for name, declared in [("approved", type_), ("details", Fields)]:
            try:
                yield zart.wait_event(name, type=declared)
            except zart.SerializationError as exc:
                caught.append(str(exc))
        return caught

    eid = zart_env.schedule(waits)
    zart_env.run_until_idle()
    assert zart_env.offer_event(eid, "approved", value)
    assert zart_env.offer_event(eid, "details", document)
    zart_env.run_until_idle()
    assert zart_env.result(eid) == [
        f"payload of event 'approved': {reason}",
        f"payload of event 'details' at {path}: {reason}",
    ]


def test_an_event_payload_of_the_wrong_kind_uncaught_fails_the_execution(
    zart_env: TestEnv,
) -> None:
    @zart.durable("waits")
    def waits(_: Any):  # type: ignore[no-untyped-def]
        approved = yield zart.wait_event("approved", type=bool)
        return approved

    eid = zart_env.schedule(waits)
    zart_env.run_until_idle()
    zart_env.offer_event(eid, "approved", "no")
    zart_env.run_until_idle()
    with pytest.raises(zart.ExecutionFailed) as info:
        zart_env.result(eid)
    assert info.value.message == "payload of event 'approved': expected bool, got str"
    eid = zart_env.schedule(waits)
    zart_env.offer_event(eid, "approved", False)
    zart_env.run_until_idle()
    assert zart_env.result(eid) is False


@MISMATCHES
def test_an_output_read_back_as_the_wrong_kind_is_refused_by_result(
    zart_env: TestEnv, type_: type, value: Any, reason: str
) -> None:
    document, path = _nested(type_, value)

    @zart.durable("outputs")
    def outputs(data: Any):  # type: ignore[no-untyped-def]
        yield zart.now("t")
        return data

    scalar = zart_env.schedule(outputs, {"out": value})
    nested = zart_env.schedule(outputs, {"out": document})
    zart_env.run_until_idle()
    with pytest.raises(zart.SerializationError) as info:
        zart_env.client.result(scalar, type=dict[str, type_])
    assert str(info.value) == f"output of execution {scalar!r} at $['out']: {reason}"
    with pytest.raises(zart.SerializationError) as info:
        zart_env.client.result(nested, type=dict[str, Fields])
    assert str(info.value) == f"output of execution {nested!r} at $['out']{path[1:]}: {reason}"
    # The output is kept as it was produced; read untyped it comes back.
    assert zart_env.client.result(scalar) == {"out": value}
    assert zart_env.get(nested).status == "completed"


def test_an_output_of_the_wrong_kind_for_its_declared_type_fails_at_the_return(
    zart_env: TestEnv,
) -> None:
    @zart.durable("declared", output=dict[str, bool])
    def declared(data: Any):  # type: ignore[no-untyped-def]
        yield zart.now("t")
        return data

    eid = zart_env.schedule(declared, {"flag": "no"})
    zart_env.run_until_idle()
    with pytest.raises(zart.ExecutionFailed) as info:
        zart_env.result(eid)
    assert info.value.message == "output of task 'declared' at $['flag']: expected bool, got str"
    assert zart_env.get(eid).output is None
    assert zart_env.run(declared, {"flag": False}) == {"flag": False}


# -- outputs read back as they were returned ----------------------------------------


def test_a_set_output_is_refused_naming_the_task(zart_env: TestEnv) -> None:
    @zart.durable("sets")
    def sets(_: Any):  # type: ignore[no-untyped-def]
        yield zart.now("t")
        return {1, 2}

    eid = zart_env.schedule(sets)
    zart_env.run_until_idle()
    with pytest.raises(zart.ExecutionFailed) as info:
        zart_env.result(eid)
    assert info.value.error_type == "zart.errors.SerializationError"
    assert info.value.message.startswith(
        "output of task 'sets': cannot convert set: JSON would read it back as array [1, 2]"
    )
    assert zart_env.get(eid).output is None


def test_a_set_output_declared_as_a_set_reads_back_as_one(zart_env: TestEnv) -> None:
    @zart.durable("sets", output=set[int])
    def sets(_: Any):  # type: ignore[no-untyped-def]
        yield zart.now("t")
        return {1, 2}

    eid = zart_env.schedule(sets)
    zart_env.run_until_idle()
    assert zart_env.result(eid) == {1, 2}
    assert sorted(zart_env.get(eid).output) == [1, 2]
    assert zart.Client(zart_env.store, zart.TaskRegistry([sets])).result(eid) == {1, 2}


def test_a_tuple_output_comes_back_as_a_list(zart_env: TestEnv) -> None:
    @zart.durable("tuples")
    def tuples(_: Any):  # type: ignore[no-untyped-def]
        yield zart.now("t")
        return (1, (2, "b"), {"k": ()})

    assert zart_env.run(tuples) == [1, [2, "b"], {"k": []}]


def test_a_datetime_output_needs_its_type_declared(zart_env: TestEnv) -> None:
    # Built outside the env's frozen clock: a real datetime, where the
    # converter reads one back as freezegun's FakeDatetime while the env drives.
    when = datetime(2030, 1, 1, tzinfo=UTC)

    @zart.durable("untyped")
    def untyped(_: Any):  # type: ignore[no-untyped-def]
        yield zart.now("t")
        return when

    @zart.durable("typed", output=datetime)
    def typed(_: Any):  # type: ignore[no-untyped-def]
        yield zart.now("t")
        return when

    with pytest.raises(zart.ExecutionFailed, match=r"output of task 'untyped': .* as str"):
        zart_env.run(untyped)
    assert zart_env.run(typed) == when


# -- the class form, every TaskContext method ------------------------------------


class Onboarding(zart.TaskHandler):
    Data = SignupData

    def __init__(self) -> None:
        self.calls = []
        self.datas: list[Any] = []
        self.ids: list[str] = []

    def run(self, ctx: zart.TaskContext, data: SignupData):  # type: ignore[no-untyped-def,override]
        self.ids.append(ctx.execution_id)
        cid = yield ctx.step("create-customer", self._create, data.email)
        flaky = yield ctx.step_with_retry(
            "flaky", zart.RetryPolicy.fixed(1, timedelta(seconds=5)), self._flaky
        )
        ctx.set_data({"progress": 1})
        self.datas.append(ctx.data)
        yield ctx.sleep(timedelta(minutes=30))  # sleep-1
        started = yield ctx.now()  # now-1
        yield ctx.sleep_until(started + timedelta(minutes=10))  # sleep-2
        approval = yield ctx.wait_for_event("approval", timeout=timedelta(hours=1))
        h1 = yield ctx.schedule_step("provision", self._provision, cid)
        h2 = yield ctx.schedule(zart.call("bill", self._bill, cid))
        provisioned, billed = yield ctx.wait_all([h1, h2])
        token = yield ctx.capture("token", lambda: "tok-1")
        ctx.set_data({"progress": 2})
        return {
            "customer_id": cid,
            "flaky": flaky,
            "approval": approval,
            "provisioned": provisioned,
            "billed": billed,
            "token": token,
            "execution": ctx.execution_id,
        }

    def _create(self, email: str) -> str:
        self.calls.append("create")
        return f"cus-{email}"

    def _flaky(self) -> str:
        self.calls.append("flaky")
        if self.calls.count("flaky") == 1:
            raise RuntimeError("first try fails")
        return "ok"

    def _provision(self, cid: str) -> str:
        self.calls.append("provision")
        return f"prov-{cid}"

    def _bill(self, cid: str) -> str:
        self.calls.append("bill")
        return f"bill-{cid}"


def test_class_form_with_every_task_context_method() -> None:
    handler = Onboarding()
    with TestEnv() as env:
        env.registry.register("onboarding", handler)
        eid = env.schedule("onboarding", SignupData("a@b.c", 30), execution_id="onb-1")
        env.run_until_idle()
        rec = env.get(eid)
        assert rec.status == "sleeping"  # retry backoff of "flaky"
        assert rec.state is None
        env.advance(timedelta(seconds=5))
        rec = env.get(eid)
        assert rec.status == "sleeping"  # sleep-1
        assert rec.state == {"progress": 1}
        env.advance(timedelta(minutes=30))
        assert env.get(eid).status == "sleeping"  # sleep-2
        env.advance(timedelta(minutes=10))
        rec = env.get(eid)
        assert rec.status == "waiting" and rec.waiting_for == "event:approval"
        env.offer_event(eid, "approval", {"by": "boss"})
        env.run_until_idle()
        rec = env.get(eid)
        assert rec.status == "completed", rec.error
        assert rec.state == {"progress": 2}
        assert env.result(eid) == {
            "customer_id": "cus-a@b.c",
            "flaky": "ok",
            "approval": {"by": "boss"},
            "provisioned": "prov-cus-a@b.c",
            "billed": "bill-cus-a@b.c",
            "token": "tok-1",
            "execution": "onb-1",
        }
        names = [s.name for s in env.history(eid)]
        assert names == [
            "create-customer",
            "flaky",
            "sleep-1",
            "now-1",
            "sleep-2",
            "approval",
            "provision",
            "bill",
            "token",
        ]
        kinds = [s.kind for s in env.history(eid)]
        assert kinds == [
            "step",
            "step",
            "sleep",
            "capture",
            "sleep",
            "event",
            "schedule",
            "schedule",
            "capture",
        ]
        sleep2 = env.history(eid)[4]
        now1 = env.history(eid)[3]
        assert sleep2.wake_at == datetime.fromisoformat(now1.result) + timedelta(minutes=10)
    assert handler.calls == ["create", "flaky", "flaky", "provision", "bill"]
    assert set(handler.ids) == {"onb-1"}
    assert handler.datas and all(d == {"progress": 1} for d in handler.datas)


def test_context_data_starts_empty_and_reflects_set_data() -> None:
    seen: list[Any] = []

    class Stateful(zart.TaskHandler):
        def run(self, ctx, data):  # type: ignore[no-untyped-def]
            seen.append(ctx.data)
            ctx.set_data({"n": 1})
            seen.append(ctx.data)
            yield ctx.now()
            return "done"

    with TestEnv() as env:
        env.registry.register("stateful", Stateful())
        eid = env.schedule("stateful")
        env.run_until_idle()
        assert env.get(eid).state == {"n": 1}
    assert seen == [None, {"n": 1}]


def test_set_data_refuses_non_json() -> None:
    class Bad(zart.TaskHandler):
        def run(self, ctx, data):  # type: ignore[no-untyped-def]
            ctx.set_data(object())
            yield ctx.now()

    with TestEnv() as env:
        env.registry.register("bad", Bad())
        eid = env.schedule("bad")
        env.run_until_idle()
        rec = env.get(eid)
        assert rec.status == "failed"
        assert rec.error is not None and "SerializationError" in rec.error["type"]


def test_class_max_retries_and_timeout_are_honoured() -> None:
    attempts: list[int] = []

    class Fragile(zart.TaskHandler):
        def run(self, ctx, data):  # type: ignore[no-untyped-def]
            attempts.append(zart.context().current_attempt)
            yield ctx.now()
            raise RuntimeError("always")

        def max_retries(self) -> int:
            return 2

    class Slow(zart.TaskHandler):
        def run(self, ctx, data):  # type: ignore[no-untyped-def]
            yield ctx.sleep(timedelta(hours=2))

        def timeout(self) -> timedelta | None:
            return timedelta(hours=1)

    with TestEnv() as env:
        env.registry.register("fragile", Fragile())
        env.registry.register("slow", Slow())
        f = env.schedule("fragile")
        s = env.schedule("slow")
        env.run_until_idle()
        assert attempts == [0, 1, 2]
        assert env.get(f).status == "failed" and env.get(f).attempt == 2
        assert env.get(s).status == "sleeping"
        env.advance(timedelta(hours=1))
        rec = env.get(s)
        assert rec.status == "failed"
        assert rec.error is not None and rec.error["type"].endswith("TaskTimeout")


def test_sleep_auto_names_count_per_execution_and_replay_the_same() -> None:
    class Sleepy(zart.TaskHandler):
        def run(self, ctx, data):  # type: ignore[no-untyped-def]
            yield ctx.sleep(10)
            yield ctx.sleep(10)
            yield ctx.sleep(10, name="named")
            yield ctx.sleep(10)

    with TestEnv() as env:
        env.registry.register("sleepy", Sleepy())
        eid = env.schedule("sleepy")
        env.run_until_idle()
        for _ in range(4):
            env.advance(10)
        assert env.get(eid).status == "completed"
        assert [s.name for s in env.history(eid)] == ["sleep-1", "sleep-2", "named", "sleep-3"]
