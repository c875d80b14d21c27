"""Characters no store keeps: NUL (U+0000), which PostgreSQL's TEXT and jsonb
cannot hold, and the surrogate code points U+D800..U+DFFF, which a
Python str can hold (``os.fsdecode`` of bytes that are not UTF-8,
``errors="surrogateescape"``) but which are not Unicode text: PostgreSQL
refuses a lone one and fuses a high+low pair into the one character they
encode. zart refuses them everywhere a value becomes a document or a name, on
every store alike, and writes them as visible escapes in error text."""

from __future__ import annotations

import enum
import itertools
import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

import zart
from tests.store_kinds import STORE_KINDS, open_store
from zart.cli import main as cli_main
from zart.failures import error_document, rebuild, step_document
from zart.host import Host
from zart.serde import to_json
from zart.stores.memory import MemoryStore
from zart.testing import TestEnv


@attrs.frozen
class Unstorable:
    """A piece of text no store keeps, and how zart's messages show it."""

    text: str
    held: str  # what the messages call it
    shown: str  # the first unstorable character, as a document error shows it
    shown_in_name: str  # the same, as a name error shows it (beside a repr)
    escaped: str  # the whole text, as error documents write it

    @property
    def doc_message(self) -> str:
        """A regex for the reason a document holding ``text`` is refused."""
        reason = f"{self.held} ({self.shown})"
        return re.escape(reason) + r".*, which zart does not store"

    @property
    def name_message(self) -> str:
        """A regex for the reason a name holding ``text`` is refused."""
        return re.escape(f"holds {self.held} ({self.shown_in_name})")

    @property
    def codes(self) -> list[int]:
        """``text`` as code points: a workflow input that is itself storable."""
        return [ord(c) for c in self.text]


NUL = Unstorable("\x00", "a NUL character", "\\u0000", "\\x00", "\\x00")
HIGH = Unstorable("\ud800", "a lone surrogate", "\\ud800", "\\ud800", "\\ud800")
# What errors="surrogateescape" makes of the byte 0xff.
LOW = Unstorable(b"\xff".decode("utf-8", "surrogateescape"), "a lone surrogate", *["\\udcff"] * 3)
# A high+low pair in a str is two code points, not U+1F600: PostgreSQL would
# hand back the one character, so the value would not read back as written.
PAIR = Unstorable("\ud83d\ude00", "a lone surrogate", "\\ud83d", "\\ud83d", "\\ud83d\\ude00")
CASES = [NUL, HIGH, LOW, PAIR]
CASE_IDS = ["nul", "high-surrogate", "low-surrogate", "surrogate-pair"]

_BAD = re.compile("[\x00\ud800-\udfff]")


@pytest.fixture(params=CASES, ids=CASE_IDS)
def bad(request: pytest.FixtureRequest) -> Unstorable:
    case: Unstorable = request.param
    return case


def _strings(document: Any) -> Iterator[str]:
    """Every string in ``document``, dict keys included."""
    if isinstance(document, str):
        yield document
    elif isinstance(document, dict):
        for key, item in document.items():
            yield key
            yield from _strings(item)
    elif isinstance(document, list):
        for item in document:
            yield from _strings(item)


def storable(document: Any) -> bool:
    """True when no string in ``document`` (keys included) holds a NUL or a
    surrogate code point."""
    return not any(_BAD.search(text) for text in _strings(document))


def has_unstorable(text: str) -> bool:
    """The oracle, written apart from zart's check."""
    return any(c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF for c in text)


# -- serde: documents ------------------------------------------------------


def test_a_plain_string_is_refused_naming_what(bad: Unstorable) -> None:
    with pytest.raises(zart.SerializationError, match=bad.doc_message) as info:
        to_json(f"a{bad.text}b", "input of task 'wf'")
    assert str(info.value).startswith("input of task 'wf': ")
    assert info.value.what == "input of task 'wf'"
    assert isinstance(info.value, zart.ZartError)
    assert isinstance(info.value, TypeError)  # SerializationError's other base


def test_the_surrogate_message_in_full() -> None:
    with pytest.raises(zart.SerializationError) as info:
        to_json({"files": ["ok", LOW.text]}, "result of step 'ls'")
    assert str(info.value) == (
        "result of step 'ls': cannot convert dict: a string holds a lone surrogate "
        "(\\udcff), not valid Unicode, which zart does not store at ['files'][1]"
    )


@pytest.mark.parametrize(
    ("build", "place"),
    [
        (lambda c: ["ok", ["deeper", "a" + c]], "at [1][1]"),
        (lambda c: {"k": {"inner": ["x", c]}}, "at ['k']['inner'][1]"),
        (lambda c: {f"a{c}b": 1}, "in a key"),
        (lambda c: {"outer": {f"k{c}": 1}}, "in a key at ['outer']"),
        (lambda c: ("tuple", c), "at [1]"),
        (lambda c: {"s": {c}}, "at ['s'][0]"),
        (lambda c: ["é", {"ü": "ok", "k": [f"😀{c}"]}], "at [1]['k'][0]"),
    ],
)
def test_refused_inside_containers_and_located(
    bad: Unstorable, build: Callable[[str], Any], place: str
) -> None:
    with pytest.raises(zart.SerializationError, match=bad.doc_message) as info:
        to_json(build(bad.text), "result of step 'x'")
    assert str(info.value).startswith("result of step 'x': ")
    assert str(info.value).endswith(place)


def test_the_first_unstorable_string_is_the_one_named() -> None:
    value = {"a": ["fine", f"x{HIGH.text}"], "b": NUL.text}
    with pytest.raises(zart.SerializationError, match=HIGH.doc_message) as info:
        to_json(value, "v")
    assert str(info.value).endswith("at ['a'][1]")


def test_refused_in_an_attrs_field(bad: Unstorable) -> None:
    @attrs.define
    class Order:
        sku: str
        notes: list[str]

    with pytest.raises(zart.SerializationError, match=bad.doc_message):
        to_json(Order("A", ["fine", f"bad{bad.text}"]), "output of task 'wf'")


def test_str_subclasses_and_enums_are_checked_too(bad: Unstorable) -> None:
    class Name(str):
        pass

    code = enum.Enum("Code", {"BAD": f"b{bad.text}d"})

    with pytest.raises(zart.SerializationError, match=bad.doc_message):
        to_json(Name(f"a{bad.text}"), "what")
    with pytest.raises(zart.SerializationError, match=bad.doc_message):
        to_json(code["BAD"], "what")


def test_the_character_a_surrogate_pair_encodes_is_stored() -> None:
    assert to_json("😀", "v") == "\U0001f600"
    assert to_json({"😀": ["😀"]}, "v") == {"😀": ["😀"]}
    with pytest.raises(zart.SerializationError, match=PAIR.doc_message):
        to_json("\ud83d\ude00", "v")  # the two halves are not the character


@pytest.mark.parametrize(
    "text",
    [
        "\\u0000",
        "\\\\u0000",
        "\\\\\\u0000",
        "x\\u0000y",
        "\\",
        "u0000",
        "\\x00",
        "\\\\x00",
        "\\ud800",
        "\\\\ud800",
        "\\ud83d\\ude00",
        "\\udcff",
    ],
)
def test_literal_escape_text_is_not_the_character_and_round_trips(text: str) -> None:
    assert not has_unstorable(text)
    assert to_json(text, "v") == text
    document = {text: [text, {"k": text}]}
    assert to_json(document, "v") == document


def test_refused_exactly_when_an_unstorable_character_is_there() -> None:
    # Every string of up to four pieces from these, alone and in containers:
    # backslash runs of either parity next to real NULs and surrogates,
    # look-alike escape text, and characters that are fine.
    pieces = ["\\", "u0000", "ud800", "\x00", "\ud800", "\udfff", "é", '"']
    for n in range(1, 5):
        for parts in itertools.product(pieces, repeat=n):
            text = "".join(parts)
            for value in (text, [text], {"k": text}, {text: 0}, [[{"x": [text]}]]):
                if has_unstorable(text):
                    with pytest.raises(zart.SerializationError, match="zart does not store"):
                        to_json(value, "v")
                else:
                    assert to_json(value, "v") == value


def test_other_documents_still_pass() -> None:
    fine = ["é", "\u0001", "\t\n", "\ud7ff", "\ue000", "\uffff", "😀", "\U0010ffff"]
    value = {"a": [1, 2.5, None, True, *fine], "b": {c: c for c in fine}}
    assert to_json(value, "v") == value
    for text in fine:
        assert to_json(text, "v") == text
    plain = "noop-1"
    assert to_json(plain, "v") is plain


# -- failures: error text --------------------------------------------------


def test_error_document_writes_it_as_a_visible_escape(bad: Unstorable) -> None:
    try:
        raise ValueError(f"x{bad.text}y")
    except ValueError as exc:
        doc = error_document(exc)
    assert doc["type"] == "ValueError"
    assert doc["message"] == f"x{bad.escaped}y"
    assert f"ValueError: x{bad.escaped}y" in doc["traceback"]
    assert storable(doc)


def test_every_unstorable_character_is_escaped_as_repr_shows_it() -> None:
    message = "a\x00b\ud800c\udcff😀\ud83d\ude00é"
    doc = error_document(ValueError(message))
    assert doc["message"] == "a\\x00b\\ud800c\\udcff😀\\ud83d\\ude00é"
    assert doc["message"] == repr(message)[1:-1]


def test_step_document_writes_it_as_a_visible_escape(bad: Unstorable) -> None:
    last_attempt = {
        "type": f"Bad{bad.text}Type",
        "message": f"went {bad.text} wrong",
        "traceback": f"Traceback: {bad.text}",
    }
    doc = step_document(f"charge{bad.text}", last_attempt, 3, False)
    assert doc["step"] == f"charge{bad.escaped}"
    assert doc["message"] == f"went {bad.escaped} wrong"
    assert doc["error_type"] == f"Bad{bad.escaped}Type"
    assert doc["traceback"] == f"Traceback: {bad.escaped}"
    assert storable(doc)
    rebuilt = rebuild(doc)
    assert isinstance(rebuilt, zart.RetryExhausted)
    assert rebuilt.message == f"went {bad.escaped} wrong"


def test_a_step_failure_raised_by_hand_is_escaped(bad: Unstorable, zart_env: TestEnv) -> None:
    # A StepFailed carries its own text: nothing escaped it before.
    @zart.durable("gives-up")
    def gives_up(_: Any):  # type: ignore[no-untyped-def]
        yield zart.call("s", _noop)
        raise zart.RetryExhausted("s", f"Bad{bad.text}", f"no{bad.text}", 2)

    eid = zart_env.schedule(gives_up)
    zart_env.run_until_idle()
    error = zart_env.get(eid).error
    assert error is not None and storable(error)
    assert (error["error_type"], error["message"]) == (f"Bad{bad.escaped}", f"no{bad.escaped}")


class PlainRefusal(zart.BusinessError):
    pass


@attrs.define
class FieldRefusal(zart.BusinessError):
    why: str


def test_business_error_message_is_escaped_and_bad_fields_still_record(
    bad: Unstorable,
) -> None:
    doc = error_document(PlainRefusal(f"no{bad.text}pe"))
    assert doc["kind"] == "business"
    assert doc["message"] == f"no{bad.escaped}pe"
    # Fields are data and cannot be escaped, but the failure must still be
    # recordable: it is stored as the SerializationError that refused them.
    doc = error_document(FieldRefusal(f"a{bad.text}b"))
    assert doc["kind"] == "error"
    assert doc["type"] == "zart.errors.SerializationError"
    assert "fields of FieldRefusal" in doc["message"]
    assert re.search(bad.doc_message, doc["message"])
    assert storable(doc)


# -- names -----------------------------------------------------------------


async def _noop() -> None:
    return None


@zart.step("charge-{ref}")
def charge(ref: str) -> str:
    return ref


@pytest.mark.parametrize(
    "build",
    [
        lambda c: zart.call(f"a{c}b", _noop),
        lambda c: zart.sleep(f"nap{c}", 1),
        lambda c: zart.wait_event(f"ev{c}"),
        lambda c: zart.capture(f"cap{c}", lambda: 1),
        lambda c: charge(f"ref{c}"),
        lambda c: zart.call("ok", _noop).named(f"re{c}named"),
    ],
)
def test_command_names_are_refused(bad: Unstorable, build: Callable[[str], Any]) -> None:
    with pytest.raises(ValueError, match=bad.name_message):
        build(bad.text)


def test_the_name_message_in_full() -> None:
    with pytest.raises(ValueError) as info:
        zart.call(f"a{HIGH.text}", _noop)
    assert str(info.value) == (
        "name 'a\\ud800' holds a lone surrogate (\\ud800), not valid Unicode, "
        "which zart does not store"
    )


def test_task_names_are_refused(bad: Unstorable) -> None:
    shown = re.escape(repr(f"a{bad.text}b"))
    with pytest.raises(ValueError, match=f"workflow name {shown} {bad.name_message}"):

        @zart.durable(f"a{bad.text}b")
        def wf(_: Any):  # type: ignore[no-untyped-def]
            yield zart.call("s", _noop)

    @zart.durable("fine")
    def fine(_: Any):  # type: ignore[no-untyped-def]
        yield zart.call("s", _noop)

    registry = zart.TaskRegistry()
    with pytest.raises(ValueError, match=f"task name .* {bad.name_message}"):
        registry.register(f"x{bad.text}", fine)
    assert len(registry) == 0
    registry.register(fine)
    with pytest.raises(ValueError, match="task name"):
        registry.resolve(f"fine{bad.text}")


@zart.durable("ok")
def ok_wf(_: Any):  # type: ignore[no-untyped-def]
    return (yield zart.call("s", lambda: 1))


def test_the_client_refuses_ids_and_names(bad: Unstorable) -> None:
    client = zart.Client(MemoryStore(), zart.TaskRegistry([ok_wf]))
    eid = client.schedule(ok_wf)
    bad_id = f"id{bad.text}"
    calls = [
        ("execution_id", lambda: client.schedule(ok_wf, execution_id=bad_id)),
        ("task name", lambda: client.schedule(f"ok{bad.text}")),
        ("execution_id", lambda: client.offer_event(bad_id, "ev")),
        ("event name", lambda: client.offer_event(eid, f"ev{bad.text}")),
        ("execution_id", lambda: client.get(bad_id)),
        ("execution_id", lambda: client.history(bad_id)),
        ("execution_id", lambda: client.cancel(bad_id)),
        ("execution_id", lambda: client.result(bad_id, timeout=0)),
        ("task", lambda: client.list(task=f"ok{bad.text}")),
        ("parent_id", lambda: client.list(parent_id=bad_id)),
        ("execution_id", lambda: client.run(ok_wf, execution_id=bad_id)),
    ]
    for what, call in calls:
        with pytest.raises(ValueError, match=f"{what} .* {bad.name_message}"):
            call()
    assert [rec.id for rec in client.list()] == [eid]  # nothing was created
    assert client.get(eid).status == "pending"


def test_the_test_env_refuses_them_too(bad: Unstorable, zart_env: TestEnv) -> None:
    zart_env.registry.register(ok_wf)
    eid = zart_env.schedule(ok_wf)
    with pytest.raises(ValueError, match="event name"):
        zart_env.offer_event(eid, f"e{bad.text}")
    with pytest.raises(ValueError, match="execution_id"):
        zart_env.schedule(ok_wf, execution_id=f"e{bad.text}")
    with pytest.raises(ValueError, match="execution_id"):
        zart_env.get(f"e{bad.text}")
    with pytest.raises(ValueError, match="task"):
        zart_env.list(task=f"e{bad.text}")


# -- workflows: in the test env ----------------------------------------------
# The workflows take the text as code points: the input itself is storable.


@zart.durable("returns-unstorable")
def returns_unstorable(codes: list[int]):  # type: ignore[no-untyped-def]
    yield zart.call("before", lambda: "fine")
    return (yield zart.call("bad", lambda: "a" + "".join(map(chr, codes)) + "b"))


@zart.durable("raises-unstorable")
def raises_unstorable(codes: list[int]):  # type: ignore[no-untyped-def]
    yield zart.call("before", lambda: "fine")
    raise ValueError("x" + "".join(map(chr, codes)) + "y")


def _fails_with_step_named(store: Any, eid: str, bad: Unstorable) -> None:
    record = store.get(eid)
    assert record.status == "failed"
    assert record.error["type"] == "zart.errors.SerializationError"
    assert record.error["message"].startswith("result of step 'bad': ")
    assert re.search(bad.doc_message, record.error["message"])
    assert storable(record.error)
    steps = {step.name: step for step in store.history(eid)}
    assert steps["before"].status == "completed"
    # Never a completed 'bad' (its result has no stored form); a log may keep
    # it as failed, with the error that failed the execution.
    assert "bad" not in steps or steps["bad"].status == "failed"
    assert all(storable(step.error) and storable(step.result) for step in steps.values())


def test_a_step_returning_it_fails_the_execution_naming_the_step(
    bad: Unstorable, zart_env: TestEnv
) -> None:
    eid = zart_env.schedule(returns_unstorable, bad.codes)
    zart_env.run_until_idle()
    with pytest.raises(zart.ExecutionFailed, match=rf"result of step 'bad'.*{bad.doc_message}"):
        zart_env.result(eid)
    _fails_with_step_named(zart_env.store, eid, bad)
    assert zart_env.run_until_idle() == 0  # ended, not re-run


def test_a_workflow_raising_with_it_fails_with_an_escaped_message(
    bad: Unstorable, zart_env: TestEnv
) -> None:
    eid = zart_env.schedule(raises_unstorable, bad.codes)
    zart_env.run_until_idle()
    with pytest.raises(zart.ExecutionFailed) as info:
        zart_env.result(eid)
    assert info.value.message == f"x{bad.escaped}y"
    error = zart_env.get(eid).error
    assert error["type"] == "ValueError"
    assert error["message"] == f"x{bad.escaped}y"
    assert storable(error)


def test_in_input_output_event_state_and_capture(bad: Unstorable, zart_env: TestEnv) -> None:
    text = bad.text

    @zart.durable("echo")
    def echo(data: Any):  # type: ignore[no-untyped-def]
        return (yield zart.call("s", lambda: data))

    with pytest.raises(zart.SerializationError, match=rf"input of task 'echo'.*{bad.doc_message}"):
        zart_env.schedule(echo, {"k": f"v{text}"})
    assert zart_env.list() == []

    @zart.durable("outputs")
    def outputs(_: Any):  # type: ignore[no-untyped-def]
        yield zart.call("s", _noop)
        return [text]

    with pytest.raises(zart.ExecutionFailed, match=rf"output of task 'outputs'.*{bad.doc_message}"):
        zart_env.run(outputs)

    @zart.durable("waits")
    def waits(_: Any):  # type: ignore[no-untyped-def]
        return (yield zart.wait_event("go"))

    eid = zart_env.schedule(waits)
    zart_env.run_until_idle()
    with pytest.raises(zart.SerializationError, match=rf"payload of event 'go'.*{bad.doc_message}"):
        zart_env.offer_event(eid, "go", {text: 1})
    assert zart_env.get(eid).status == "waiting"

    class State(zart.TaskHandler):
        def run(self, ctx: zart.TaskContext, data: Any):  # type: ignore[no-untyped-def]
            yield ctx.step("s", _noop)
            ctx.set_data({"k": text})
            yield ctx.step("t", _noop)

    zart_env.registry.register("state", State())
    with pytest.raises(zart.ExecutionFailed, match=rf"state of execution.*{bad.doc_message}"):
        zart_env.run("state")

    @zart.durable("captures")
    def captures(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield zart.capture("c", lambda: f"a{text}")
        except zart.SerializationError as exc:
            return str(exc)
        return "stored"

    assert zart_env.run(captures).startswith("capture 'c': ")


def test_in_a_step_error_it_is_escaped_through_retries(bad: Unstorable, zart_env: TestEnv) -> None:
    def boom() -> None:
        raise RuntimeError(f"bad{bad.text}news")

    @zart.durable("retries")
    def retries(_: Any):  # type: ignore[no-untyped-def]
        yield zart.call("boom", boom, retry="fixed(2, 1s)")

    eid = zart_env.schedule(retries)
    zart_env.run_until_idle()
    retrying = zart_env.history(eid)[0]
    assert retrying.error is not None and retrying.error["message"] == f"bad{bad.escaped}news"
    zart_env.advance(timedelta(seconds=1))
    zart_env.advance(timedelta(seconds=1))
    with pytest.raises(zart.ExecutionFailed, match=re.escape(f"bad{bad.escaped}news")):
        zart_env.result(eid)
    assert storable(zart_env.get(eid).error)
    assert all(storable(step.error) for step in zart_env.history(eid))


def test_business_errors_with_it(bad: Unstorable, zart_env: TestEnv) -> None:
    def refuse() -> None:
        raise PlainRefusal(f"no{bad.text}")

    @zart.durable("catches")
    def catches(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield zart.call("refuse", refuse)
        except PlainRefusal as exc:
            return str(exc)

    assert zart_env.run(catches) == f"no{bad.escaped}"

    @zart.durable("raises-field")
    def raises_field(_: Any):  # type: ignore[no-untyped-def]
        yield zart.call("s", _noop)
        raise FieldRefusal(f"a{bad.text}")

    eid = zart_env.schedule(raises_field)
    zart_env.run_until_idle()  # used to crash the host, leaving it to re-run
    with pytest.raises(zart.ExecutionFailed, match=rf"fields of FieldRefusal.*{bad.doc_message}"):
        zart_env.result(eid)


# -- every store ---------------------------------------------------------------


@pytest.fixture(params=STORE_KINDS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    with open_store(request.param, tmp_path) as s:
        yield s


# Text that looks like what zart refuses but is not, and characters outside
# the surrogate range that need a surrogate pair in UTF-16 (and in JSON's
# \u escapes): every store hands all of it back exactly.
LOOK_ALIKES = ["\\u0000", "\\\\u0000", "\\x00", "\\ud800", "\\ud83d\\ude00", "\\udcff"]
REAL = ["é", "😀", "\U0010ffff", "\ud7ff", "\ue000"]


@zart.durable("look-alike")
def look_alike(data: Any):  # type: ignore[no-untyped-def]
    got = yield zart.call("echo", lambda: data)
    made = yield zart.call("make", lambda: {text: [text, *REAL] for text in LOOK_ALIKES})
    return {"got": got, "made": made}


def test_every_store_fails_a_step_returning_it_the_same_way(
    any_store: Any, bad: Unstorable
) -> None:
    registry = zart.TaskRegistry([returns_unstorable])
    client = zart.Client(any_store, registry)
    match = rf"result of step 'bad'.*{bad.doc_message}"
    with pytest.raises(zart.ExecutionFailed, match=match):
        client.run(returns_unstorable, bad.codes, execution_id="bad-1", timeout=30)
    _fails_with_step_named(any_store, "bad-1", bad)
    assert Host(any_store, registry).tick() == []  # ended, never a crash loop


def test_every_store_records_an_escaped_error_message(any_store: Any, bad: Unstorable) -> None:
    client = zart.Client(any_store, zart.TaskRegistry([raises_unstorable]))
    with pytest.raises(zart.ExecutionFailed) as info:
        client.run(raises_unstorable, bad.codes, execution_id="bad-2", timeout=30)
    assert info.value.message == f"x{bad.escaped}y"
    error = any_store.get("bad-2").error
    assert error["message"] == f"x{bad.escaped}y"
    assert f"ValueError: x{bad.escaped}y" in error["traceback"]
    assert storable(error)


def test_every_store_keeps_look_alike_text_and_real_characters(any_store: Any) -> None:
    client = zart.Client(any_store, zart.TaskRegistry([look_alike]))
    data = [*LOOK_ALIKES, *REAL, {"\\\\u0000": "\\x00", "😀": "\\ud800"}]
    out = client.run(look_alike, data, execution_id="bad-3", timeout=30)
    made = {text: [text, *REAL] for text in LOOK_ALIKES}
    assert out == {"got": data, "made": made}
    assert any_store.get("bad-3").input == data
    assert [step.result for step in any_store.history("bad-3")] == [data, made]


def test_every_store_refuses_names_and_payloads_before_writing(
    any_store: Any, bad: Unstorable
) -> None:
    @zart.durable("waits")
    def waits(_: Any):  # type: ignore[no-untyped-def]
        return (yield zart.wait_event("go"))

    client = zart.Client(any_store, zart.TaskRegistry([waits]))
    eid = client.schedule(waits, execution_id="bad-4")
    with pytest.raises(ValueError, match="execution_id"):
        client.get(f"bad-4{bad.text}")
    with pytest.raises(ValueError, match="execution_id"):
        client.schedule(waits, execution_id=f"bad-5{bad.text}")
    with pytest.raises(ValueError, match="event name"):
        client.offer_event(eid, f"go{bad.text}", 1)
    with pytest.raises(zart.SerializationError, match="payload of event 'go'"):
        client.offer_event(eid, "go", f"a{bad.text}")
    assert client.offer_event(eid, "go", "fine")
    assert [rec.id for rec in client.list()] == ["bad-4"]


# -- the command line ----------------------------------------------------------


@pytest.fixture
def cli_db(tmp_path: Path) -> str:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    assert cli_main(["--db", db, "migrate"]) == 0
    return db


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ('{"k": "\\u0000"}', 2),
        ('{"k": "\\ud800"}', 2),
        ('["\\udcff"]', 2),
        ('{"\\ude00": 1}', 2),
        ('"\\\\u0000"', 0),
        ('"\\\\ud800"', 0),
        # A high+low pair of JSON escapes is one character: it is stored.
        ('"\\ud83d\\ude00"', 0),
    ],
)
def test_cli_holds_raw_json_data_to_the_document_rules(
    cli_db: str, capsys: pytest.CaptureFixture[str], data: str, code: int
) -> None:
    assert cli_main(["--db", cli_db, "schedule", "anything", "--data", data]) == code
    if code:
        assert "--data" in capsys.readouterr().err
    else:
        capsys.readouterr()
        assert cli_main(["--db", cli_db, "list", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)["executions"]
        assert [doc["task"] for doc in listed] == ["anything"]


def test_cli_refuses_it_in_names_and_ids(
    bad: Unstorable, cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # On POSIX an argv byte that is not UTF-8 arrives as a surrogate.
    text = bad.text
    eid_arg = ["--db", cli_db, "schedule", "t", "--id", "ok"]
    assert cli_main(eid_arg) == 0
    for argv, what in [
        (["schedule", f"t{text}"], "task name"),
        (["schedule", "t", "--id", f"i{text}"], "execution_id"),
        (["status", f"ok{text}"], "execution_id"),
        (["history", f"ok{text}"], "execution_id"),
        (["cancel", f"ok{text}"], "execution_id"),
        (["event", f"ok{text}", "go"], "execution_id"),
        (["event", "ok", f"go{text}"], "event name"),
        (["list", "--task", f"t{text}"], "task"),
    ]:
        capsys.readouterr()
        assert cli_main(["--db", cli_db, *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"zart: error: {what} ")
        assert re.search(bad.name_message, err)
    capsys.readouterr()
    assert cli_main(["--db", cli_db, "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["executions"]
    assert [doc["task"] for doc in listed] == ["t"]  # only the first schedule


@pytest.mark.parametrize(
    ("bad_id", "reason"),
    [
        (None, "must be a string, got NoneType None"),
        (5, "must be a string, got int 5"),
        ("", "must not be empty or blank, got ''"),
    ],
)
def test_the_client_refuses_an_id_that_is_no_string(bad_id: Any, reason: str) -> None:
    # These used to reach the store, which answered "no execution with id None".
    client = zart.Client(MemoryStore(), zart.TaskRegistry([ok_wf]))
    eid = client.schedule(ok_wf)
    calls = [
        lambda: client.offer_event(bad_id, "ev"),
        lambda: client.get(bad_id),
        lambda: client.history(bad_id),
        lambda: client.cancel(bad_id),
        lambda: client.result(bad_id, timeout=0),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=f"^execution_id {re.escape(reason)}$"):
            call()
    if bad_id is not None:  # None is a fresh id there
        with pytest.raises(ValueError, match=f"^execution_id {re.escape(reason)}$"):
            client.schedule(ok_wf, execution_id=bad_id)
        with pytest.raises(ValueError, match=f"^parent_id {re.escape(reason)}$"):
            client.list(parent_id=bad_id)
    assert [rec.id for rec in client.list()] == [eid]
    assert client.get(eid).status == "pending"
