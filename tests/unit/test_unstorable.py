"""The NUL character (U+0000): PostgreSQL stores it neither in JSONB nor in
TEXT, so zart refuses it everywhere a value becomes a document or a name, on
every store alike, and writes it as a visible ``\\x00`` in error text."""

from __future__ import annotations

import enum
import itertools
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

import zart
from tests.store_kinds import STORE_KINDS, open_store
from zart.cli import main as cli_main
from zart.failures import error_document, rebuild, step_document
from zart.memory import MemoryStore
from zart.serde import to_json
from zart.testing import TestEnv

NUL_MESSAGE = r"NUL character \(\\u0000\), which zart does not store \(PostgreSQL cannot\)"


def no_nul_anywhere(document: Any) -> bool:
    """True when no string in ``document`` (keys included) holds a NUL."""
    return "\x00" not in json.dumps(document, ensure_ascii=False)


# -- serde: documents ------------------------------------------------------


def test_a_plain_string_with_nul_is_refused_naming_what() -> None:
    with pytest.raises(zart.SerializationError, match=NUL_MESSAGE) as info:
        to_json("a\x00b", "input of task 'wf'")
    assert str(info.value).startswith("input of task 'wf': ")
    assert info.value.what == "input of task 'wf'"
    assert isinstance(info.value, zart.ZartError)
    assert isinstance(info.value, TypeError)  # SerializationError's other base


@pytest.mark.parametrize(
    ("value", "place"),
    [
        (["ok", ["deeper", "a\x00"]], "at [1][1]"),
        ({"k": {"inner": ["x", "\x00"]}}, "at ['k']['inner'][1]"),
        ({"a\x00b": 1}, "in a key"),
        ({"outer": {"k\x00": 1}}, "in a key at ['outer']"),
        (("tuple", "\x00"), "at [1]"),
        ({"s": {"\x00"}}, "at ['s'][0]"),
    ],
)
def test_nul_inside_containers_is_refused_and_located(value: Any, place: str) -> None:
    with pytest.raises(zart.SerializationError, match=NUL_MESSAGE) as info:
        to_json(value, "result of step 'x'")
    assert str(info.value).startswith("result of step 'x': ")
    assert str(info.value).endswith(place)


def test_nul_in_an_attrs_field_is_refused() -> None:
    @attrs.define
    class Order:
        sku: str
        notes: list[str]

    with pytest.raises(zart.SerializationError, match=NUL_MESSAGE):
        to_json(Order("A", ["fine", "bad\x00"]), "output of task 'wf'")


def test_str_subclasses_and_enums_are_checked_too() -> None:
    class Name(str):
        pass

    class Code(enum.Enum):
        BAD = "b\x00d"

    with pytest.raises(zart.SerializationError, match=NUL_MESSAGE):
        to_json(Name("a\x00"), "what")
    with pytest.raises(zart.SerializationError, match=NUL_MESSAGE):
        to_json(Code.BAD, "what")


@pytest.mark.parametrize(
    "text",
    ["\\u0000", "\\\\u0000", "\\\\\\u0000", "x\\u0000y", "\\", "u0000", "\\x00", "\\\\x00"],
)
def test_a_literal_backslash_u0000_is_not_a_nul_and_round_trips(text: str) -> None:
    assert "\x00" not in text
    assert to_json(text, "v") == text
    document = {text: [text, {"k": text}]}
    assert to_json(document, "v") == document


def test_refused_exactly_when_a_nul_is_there() -> None:
    # Every string of up to five pieces from these, alone and in containers:
    # backslash runs of either parity next to real NULs and look-alike text.
    pieces = ["\\", "u0000", "\x00", "a", '"']
    for n in range(1, 6):
        for parts in itertools.product(pieces, repeat=n):
            text = "".join(parts)
            for value in (text, [text], {"k": text}, {text: 0}, [[{"x": [text]}]]):
                if "\x00" in text:
                    with pytest.raises(zart.SerializationError, match=NUL_MESSAGE):
                        to_json(value, "v")
                else:
                    assert to_json(value, "v") == value


def test_other_documents_still_pass() -> None:
    value = {"a": [1, 2.5, None, True, "é", "\u0001"], "b": {"c": "\t\n"}}
    assert to_json(value, "v") == value


# -- failures: error text --------------------------------------------------


def test_error_document_writes_nul_as_a_visible_escape() -> None:
    try:
        raise ValueError("x\x00y")
    except ValueError as exc:
        doc = error_document(exc)
    assert doc["type"] == "ValueError"
    assert doc["message"] == "x\\x00y"
    assert "ValueError: x\\x00y" in doc["traceback"]
    assert no_nul_anywhere(doc)


def test_step_document_writes_nul_as_a_visible_escape() -> None:
    doc = step_document("charge", "Bad\x00Type", "went \x00 wrong", 3, False)
    assert doc["message"] == "went \\x00 wrong"
    assert doc["error_type"] == "Bad\\x00Type"
    assert no_nul_anywhere(doc)
    rebuilt = rebuild(doc)
    assert isinstance(rebuilt, zart.RetryExhausted)
    assert rebuilt.message == "went \\x00 wrong"


class PlainRefusal(zart.BusinessError):
    pass


@attrs.define
class FieldRefusal(zart.BusinessError):
    why: str


def test_business_error_message_is_escaped_and_bad_fields_still_record() -> None:
    doc = error_document(PlainRefusal("no\x00pe"))
    assert doc["kind"] == "business"
    assert doc["message"] == "no\\x00pe"
    # Fields are data and cannot be escaped, but the failure must still be
    # recordable: it is stored as the SerializationError that refused them.
    doc = error_document(FieldRefusal("a\x00b"))
    assert doc["kind"] == "error"
    assert doc["type"] == "zart.errors.SerializationError"
    assert "fields of FieldRefusal" in doc["message"]
    assert "NUL character" in doc["message"]
    assert no_nul_anywhere(doc)


# -- names -----------------------------------------------------------------


async def _noop() -> None:
    return None


@zart.step("charge-{ref}")
def charge(ref: str) -> str:
    return ref


@pytest.mark.parametrize(
    "build",
    [
        lambda: zart.call("a\x00b", _noop),
        lambda: zart.sleep("nap\x00", 1),
        lambda: zart.wait_event("ev\x00"),
        lambda: zart.capture("cap\x00", lambda: 1),
        lambda: charge("ref\x00"),
        lambda: zart.call("ok", _noop).named("re\x00named"),
    ],
)
def test_command_names_with_nul_are_refused(build: Any) -> None:
    with pytest.raises(ValueError, match=r"holds a NUL character \(\\x00\)"):
        build()


def test_task_names_with_nul_are_refused() -> None:
    with pytest.raises(ValueError, match="workflow name 'a\\\\x00b' holds a NUL"):

        @zart.durable("a\x00b")
        def wf(_: Any):  # type: ignore[no-untyped-def]
            yield zart.call("s", _noop)

    @zart.durable("fine")
    def fine(_: Any):  # type: ignore[no-untyped-def]
        yield zart.call("s", _noop)

    registry = zart.TaskRegistry()
    with pytest.raises(ValueError, match="task name 'x\\\\x00' holds a NUL"):
        registry.register("x\x00", fine)
    assert len(registry) == 0
    registry.register(fine)
    with pytest.raises(ValueError, match="task name"):
        registry.resolve("fine\x00")


@zart.durable("ok")
def ok_wf(_: Any):  # type: ignore[no-untyped-def]
    return (yield zart.call("s", lambda: 1))


def test_the_client_refuses_ids_and_names_with_nul() -> None:
    client = zart.Client(MemoryStore(), zart.TaskRegistry([ok_wf]))
    eid = client.schedule(ok_wf)
    calls = [
        ("execution_id", lambda: client.schedule(ok_wf, execution_id="id\x00")),
        ("task name", lambda: client.schedule("ok\x00")),
        ("execution_id", lambda: client.offer_event("id\x00", "ev")),
        ("event name", lambda: client.offer_event(eid, "ev\x00")),
        ("execution_id", lambda: client.get("id\x00")),
        ("execution_id", lambda: client.history("id\x00")),
        ("execution_id", lambda: client.cancel("id\x00")),
        ("execution_id", lambda: client.result("id\x00", timeout=0)),
        ("task name", lambda: client.list(task="ok\x00")),
        ("parent_id", lambda: client.list(parent_id="id\x00")),
        ("execution_id", lambda: client.run(ok_wf, execution_id="id\x00")),
    ]
    for what, call in calls:
        with pytest.raises(ValueError, match=f"{what} .* holds a NUL character"):
            call()
    assert [rec.id for rec in client.list()] == [eid]  # nothing was created
    assert client.get(eid).status == "pending"


def test_the_test_env_refuses_them_too(zart_env: TestEnv) -> None:
    zart_env.registry.register(ok_wf)
    eid = zart_env.schedule(ok_wf)
    with pytest.raises(ValueError, match="event name"):
        zart_env.offer_event(eid, "e\x00")
    with pytest.raises(ValueError, match="execution_id"):
        zart_env.schedule(ok_wf, execution_id="e\x00")
    with pytest.raises(ValueError, match="execution_id"):
        zart_env.get("e\x00")
    with pytest.raises(ValueError, match="task name"):
        zart_env.list(task="e\x00")


# -- workflows: in the test env ----------------------------------------------


@zart.durable("returns-nul")
def returns_nul(_: Any):  # type: ignore[no-untyped-def]
    yield zart.call("before", lambda: "fine")
    return (yield zart.call("bad", lambda: "a\x00b"))


@zart.durable("raises-nul")
def raises_nul(_: Any):  # type: ignore[no-untyped-def]
    yield zart.call("before", lambda: "fine")
    raise ValueError("x\x00y")


def _fails_with_step_named(store: Any, eid: str) -> None:
    record = store.get(eid)
    assert record.status == "failed"
    assert record.error["type"] == "zart.errors.SerializationError"
    assert record.error["message"].startswith("result of step 'bad': ")
    assert "NUL character" in record.error["message"]
    assert no_nul_anywhere(record.error)
    assert [step.name for step in store.history(eid)] == ["before"]


def test_a_step_returning_nul_fails_the_execution_naming_the_step(zart_env: TestEnv) -> None:
    eid = zart_env.schedule(returns_nul)
    zart_env.run_until_idle()
    with pytest.raises(zart.ExecutionFailed, match=r"result of step 'bad'.*NUL character"):
        zart_env.result(eid)
    _fails_with_step_named(zart_env.store, eid)
    assert zart_env.run_until_idle() == 0  # ended, not re-run


def test_a_workflow_raising_with_nul_fails_with_an_escaped_message(zart_env: TestEnv) -> None:
    eid = zart_env.schedule(raises_nul)
    zart_env.run_until_idle()
    with pytest.raises(zart.ExecutionFailed) as info:
        zart_env.result(eid)
    assert info.value.message == "x\\x00y"
    error = zart_env.get(eid).error
    assert error["type"] == "ValueError"
    assert error["message"] == "x\\x00y"
    assert no_nul_anywhere(error)


def test_nul_in_input_output_event_state_and_capture(zart_env: TestEnv) -> None:
    @zart.durable("echo")
    def echo(data: Any):  # type: ignore[no-untyped-def]
        return (yield zart.call("s", lambda: data))

    with pytest.raises(zart.SerializationError, match=r"input of task 'echo'.*NUL"):
        zart_env.schedule(echo, {"k": "v\x00"})
    assert zart_env.list() == []

    @zart.durable("outputs-nul")
    def outputs_nul(_: Any):  # type: ignore[no-untyped-def]
        yield zart.call("s", _noop)
        return ["\x00"]

    with pytest.raises(zart.ExecutionFailed, match=r"output of task 'outputs-nul'.*NUL"):
        zart_env.run(outputs_nul)

    @zart.durable("waits")
    def waits(_: Any):  # type: ignore[no-untyped-def]
        return (yield zart.wait_event("go"))

    eid = zart_env.schedule(waits)
    zart_env.run_until_idle()
    with pytest.raises(zart.SerializationError, match=r"payload of event 'go'.*NUL"):
        zart_env.offer_event(eid, "go", {"\x00": 1})
    assert zart_env.get(eid).status == "waiting"

    class State(zart.TaskHandler):
        def run(self, ctx: zart.TaskContext, data: Any):  # type: ignore[no-untyped-def]
            yield ctx.step("s", _noop)
            ctx.set_data({"k": "\x00"})
            yield ctx.step("t", _noop)

    zart_env.registry.register("state", State())
    with pytest.raises(zart.ExecutionFailed, match=r"state of execution.*NUL"):
        zart_env.run("state")

    @zart.durable("captures")
    def captures(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield zart.capture("c", lambda: "a\x00")
        except zart.SerializationError as exc:
            return str(exc)
        return "stored"

    assert zart_env.run(captures).startswith("capture 'c': ")


def test_nul_in_a_step_error_is_escaped_through_retries(zart_env: TestEnv) -> None:
    def boom() -> None:
        raise RuntimeError("bad\x00news")

    @zart.durable("retries")
    def retries(_: Any):  # type: ignore[no-untyped-def]
        yield zart.call("boom", boom, retry="fixed(2, 1s)")

    eid = zart_env.schedule(retries)
    zart_env.run_until_idle()
    retrying = zart_env.history(eid)[0]
    assert retrying.error is not None and retrying.error["message"] == "bad\\x00news"
    zart_env.advance(timedelta(seconds=1))
    zart_env.advance(timedelta(seconds=1))
    with pytest.raises(zart.ExecutionFailed, match="bad\\\\x00news"):
        zart_env.result(eid)
    assert no_nul_anywhere(zart_env.get(eid).error)
    assert all(no_nul_anywhere(step.error) for step in zart_env.history(eid))


def test_business_errors_with_nul(zart_env: TestEnv) -> None:
    def refuse() -> None:
        raise PlainRefusal("no\x00")

    @zart.durable("catches")
    def catches(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield zart.call("refuse", refuse)
        except PlainRefusal as exc:
            return str(exc)

    assert zart_env.run(catches) == "no\\x00"

    @zart.durable("raises-field")
    def raises_field(_: Any):  # type: ignore[no-untyped-def]
        yield zart.call("s", _noop)
        raise FieldRefusal("a\x00")

    eid = zart_env.schedule(raises_field)
    zart_env.run_until_idle()  # used to crash the host, leaving it to re-run
    with pytest.raises(zart.ExecutionFailed, match=r"fields of FieldRefusal.*NUL"):
        zart_env.result(eid)


# -- every store ---------------------------------------------------------------


@pytest.fixture(params=STORE_KINDS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    with open_store(request.param, tmp_path) as s:
        yield s


@zart.durable("look-alike")
def look_alike(data: Any):  # type: ignore[no-untyped-def]
    got = yield zart.call("echo", lambda: data)
    return {"got": got, "made": (yield zart.call("make", lambda: {"\\u0000": "\\\\u0000"}))}


def test_every_store_fails_a_step_returning_nul_the_same_way(any_store: Any) -> None:
    client = zart.Client(any_store, zart.TaskRegistry([returns_nul]))
    with pytest.raises(zart.ExecutionFailed, match=r"result of step 'bad'.*NUL character"):
        client.run(returns_nul, execution_id="nul-1", timeout=30)
    _fails_with_step_named(any_store, "nul-1")


def test_every_store_records_an_escaped_error_message(any_store: Any) -> None:
    client = zart.Client(any_store, zart.TaskRegistry([raises_nul]))
    with pytest.raises(zart.ExecutionFailed) as info:
        client.run(raises_nul, execution_id="nul-2", timeout=30)
    assert info.value.message == "x\\x00y"
    error = any_store.get("nul-2").error
    assert error["message"] == "x\\x00y"
    assert no_nul_anywhere(error)


def test_every_store_keeps_a_literal_backslash_u0000(any_store: Any) -> None:
    client = zart.Client(any_store, zart.TaskRegistry([look_alike]))
    data = ["\\u0000", {"\\\\u0000": "\\x00"}]
    out = client.run(look_alike, data, execution_id="nul-3", timeout=30)
    assert out == {"got": data, "made": {"\\u0000": "\\\\u0000"}}
    assert any_store.get("nul-3").input == data
    assert [step.result for step in any_store.history("nul-3")] == [data, out["made"]]


def test_every_store_refuses_names_and_payloads_before_writing(any_store: Any) -> None:
    @zart.durable("waits")
    def waits(_: Any):  # type: ignore[no-untyped-def]
        return (yield zart.wait_event("go"))

    client = zart.Client(any_store, zart.TaskRegistry([waits]))
    eid = client.schedule(waits, execution_id="nul-4")
    with pytest.raises(ValueError, match="execution_id"):
        client.get("nul-4\x00")
    with pytest.raises(ValueError, match="event name"):
        client.offer_event(eid, "go\x00", 1)
    with pytest.raises(zart.SerializationError, match="payload of event 'go'"):
        client.offer_event(eid, "go", "a\x00")
    assert client.offer_event(eid, "go", "fine")
    assert [rec.id for rec in client.list()] == ["nul-4"]


# -- the command line ----------------------------------------------------------


def test_cli_refuses_nul_in_raw_json_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    assert cli_main(["--db", db, "migrate"]) == 0
    code = cli_main(["--db", db, "schedule", "anything", "--data", '{"k": "\\u0000"}'])
    assert code == 2
    assert "--data" in capsys.readouterr().err
    assert cli_main(["--db", db, "schedule", "anything", "--data", '"\\\\u0000"']) == 0
