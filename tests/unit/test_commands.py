"""Commands and the authoring layer: validation on construction, step
decorators, name templates, ad-hoc steps and retry policies."""

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

import zart
from zart.names import MAX_LENGTH, check_name, child_id
from zart.retry import RetryPolicy, parse_duration
from zart.testing import TestEnv

AWARE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def _noop() -> None:
    return None


# -- validation on construction -------------------------------------------


NAMED_COMMANDS = pytest.mark.parametrize(
    "build",
    [
        lambda n: zart.sleep(n, 5),
        lambda n: zart.sleep_until(n, AWARE),
        lambda n: zart.wait_event(n),
        lambda n: zart.capture(n, _noop),
        lambda n: zart.now(n),
        lambda n: zart.call(n, _noop),
        lambda n: zart.receive(n, "topic"),
        lambda n: zart.receive("item", n),
        lambda n: zart.patched(n),
        lambda n: zart.deprecate_patch(n),
        lambda n: zart.call("a", _noop).named(n),
    ],
    ids=[
        "sleep",
        "sleep_until",
        "wait_event",
        "capture",
        "now",
        "call",
        "receive",
        "receive-topic",
        "patched",
        "deprecate_patch",
        "named",
    ],
)


@pytest.mark.parametrize("name", ["", "   "])
@NAMED_COMMANDS
def test_every_named_command_refuses_an_empty_name(build: Any, name: str) -> None:
    with pytest.raises(ValueError, match="must not be empty or blank"):
        build(name)


@pytest.mark.parametrize("name", [None, 3, b"nap"])
@NAMED_COMMANDS
def test_every_named_command_refuses_a_name_that_is_no_string(build: Any, name: Any) -> None:
    with pytest.raises(TypeError, match=f"must be a string, got {type(name).__name__}"):
        build(name)


def test_step_decorator_refuses_an_empty_name() -> None:
    with pytest.raises(ValueError):
        zart.step("")(_noop)
    with pytest.raises(ValueError):
        zart.step("  ")(_noop)


def test_named_refuses_an_empty_name() -> None:
    with pytest.raises(ValueError):
        zart.call("a", _noop).named("")
    with pytest.raises(ValueError):
        zart.sleep("a", 1).named("")


def test_sleep_until_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError):
        zart.sleep_until("nap", datetime(2030, 1, 1, 12, 0))


@pytest.mark.parametrize("bad", ["2030-01-01T00:00:00+00:00", 1893456000, AWARE.date()])
def test_sleep_until_refuses_a_non_datetime(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        zart.sleep_until("nap", bad)


def test_sleep_until_accepts_any_aware_datetime() -> None:
    cmd = zart.sleep_until("nap", datetime(2030, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))))
    assert cmd.until is not None and cmd.until.utcoffset() == timedelta(hours=2)
    assert cmd.duration is None


@pytest.mark.parametrize("bad", [-1, -0.5, timedelta(seconds=-1)])
def test_negative_durations_are_refused(bad: Any) -> None:
    with pytest.raises(ValueError):
        zart.sleep("nap", bad)
    with pytest.raises(ValueError):
        zart.wait_event("ev", timeout=bad)
    with pytest.raises(ValueError):
        zart.step("s", timeout=bad)


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_durations_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="must be finite"):
        zart.sleep("nap", bad)
    with pytest.raises(ValueError, match="step timeout must be finite"):
        zart.step("s", timeout=bad)


@pytest.mark.parametrize("bad", [1e300, 10**20])
def test_durations_past_what_a_timedelta_holds_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match=r"step timeout is too large: 1e\+(300|20) s"):
        zart.step("s", timeout=bad)


def test_a_negative_duration_is_shown_in_seconds() -> None:
    with pytest.raises(ValueError, match=r"must not be negative, got -3 s$"):
        zart.step("s", timeout=timedelta(seconds=-3))


@pytest.mark.parametrize("bad", ["5s", True, [1]])
def test_durations_of_the_wrong_type_are_refused(bad: Any) -> None:
    with pytest.raises(TypeError):
        zart.sleep("nap", bad)


def test_durations_accept_timedelta_int_and_float_seconds() -> None:
    assert zart.sleep("a", 90).duration == timedelta(seconds=90)
    assert zart.sleep("a", 1.5).duration == timedelta(seconds=1.5)
    assert zart.sleep("a", timedelta(hours=2)).duration == timedelta(hours=2)
    assert zart.wait_event("e", timeout=30).timeout == timedelta(seconds=30)
    assert zart.wait_event("e").timeout is None


def test_sleep_needs_exactly_one_of_duration_and_until() -> None:
    with pytest.raises(ValueError):
        zart.Sleep(name="nap")
    with pytest.raises(ValueError):
        zart.Sleep(name="nap", duration=timedelta(1), until=AWARE)


def test_wait_all_refuses_non_handles() -> None:
    with pytest.raises(TypeError, match="handles"):
        zart.wait_all(["not-a-handle"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="handles"):
        zart.wait_all([zart.Handle(name="a", execution_id="e:a"), zart.call("x", _noop)])  # type: ignore[list-item]


def test_wait_all_accepts_any_iterable_of_handles() -> None:
    handles = [zart.Handle(name=n, execution_id=f"e:{n}") for n in "abc"]
    cmd = zart.wait_all(iter(handles), return_exceptions=True)
    assert cmd.handles == tuple(handles)
    assert cmd.return_exceptions is True
    assert zart.wait_all([]).handles == ()


def test_schedule_refuses_anything_but_steps_and_workflow_calls() -> None:
    with pytest.raises(TypeError):
        zart.schedule(_noop)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        zart.schedule(zart.sleep("nap", 1))  # type: ignore[arg-type]


def test_capture_and_call_need_callables() -> None:
    with pytest.raises(TypeError):
        zart.capture("c", 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        zart.call("c", "not callable")  # type: ignore[arg-type]


def test_commands_are_frozen() -> None:
    cmd = zart.sleep("nap", 1)
    with pytest.raises(AttributeError):
        cmd.name = "other"  # type: ignore[misc]
    step = zart.call("s", _noop)
    with pytest.raises(AttributeError):
        step.name = "other"  # type: ignore[misc]


def test_now_is_a_capture_of_datetime() -> None:
    cmd = zart.now("started")
    assert isinstance(cmd, zart.Capture)
    assert cmd.name == "started" and cmd.fn is None and cmd.type is datetime


# -- @zart.step -----------------------------------------------------------


def test_calling_a_step_builds_a_command_and_runs_nothing() -> None:
    calls: list[int] = []

    @zart.step("send")
    def send(x: int) -> int:
        calls.append(x)
        return x

    cmd = send(3)
    assert isinstance(cmd, zart.Step)
    assert calls == []
    assert cmd.name == "send" and cmd.args == (3,) and dict(cmd.kwargs) == {}
    assert cmd.fn is send.__wrapped__
    assert cmd.result_type is int


def test_step_decorator_on_async_def() -> None:
    @zart.step("fetch")
    async def fetch(url: str) -> str:
        return url

    assert isinstance(fetch, zart.StepFunction)
    assert fetch.is_async
    cmd = fetch("http://x")
    assert isinstance(cmd, zart.Step) and cmd.name == "fetch"
    assert asyncio.run(cmd.fn(*cmd.args)) == "http://x"
    assert cmd.result_type is str


def test_wrapped_is_the_original_function_and_still_callable() -> None:
    def original(a: int, b: int = 2) -> int:
        return a + b

    decorated = zart.step("add")(original)
    assert decorated.__wrapped__ is original
    assert decorated.__wrapped__(1) == 3
    assert decorated.__name__ == "original"


def test_named_returns_a_renamed_copy() -> None:
    @zart.step("notify")
    def notify(n: int) -> None: ...

    cmd = notify(3)
    renamed = cmd.named("notify-3")
    assert renamed.name == "notify-3" and cmd.name == "notify"
    assert renamed.args == (3,) and renamed.fn is cmd.fn
    assert renamed.step_id == "notify"  # replay still knows which step it is


def test_named_works_on_every_named_command() -> None:
    assert zart.sleep("a", 1).named("b").name == "b"
    assert zart.wait_event("a").named("b").name == "b"
    assert zart.capture("a", _noop).named("b").name == "b"
    assert zart.call("a", _noop).named("b").name == "b"


@zart.step("process-report-{index}")
def process_report(index: int, report: str, region: str = "eu") -> str:
    return f"{index}:{report}:{region}"


@zart.step("deploy-{region}-{index}")
def deploy(index: int, *, region: str = "eu-west") -> None: ...


def test_template_filled_from_positional_args() -> None:
    assert process_report(7, "r").name == "process-report-7"


def test_template_filled_from_keyword_args() -> None:
    assert process_report(index=8, report="r").name == "process-report-8"
    assert process_report(report="r", index=9).name == "process-report-9"


def test_template_filled_from_defaults_and_keyword_only() -> None:
    assert deploy(1).name == "deploy-eu-west-1"
    assert deploy(2, region="us-east").name == "deploy-us-east-2"

    @zart.step("region-{region}")
    def in_region(report: str, region: str = "eu") -> None: ...

    assert in_region("r").name == "region-eu"
    assert in_region("r", "us").name == "region-us"
    assert in_region("r", region="ap").name == "region-ap"


def test_template_fields_named_wherever_they_sit_among_positional_args() -> None:
    @zart.step("{b}-{a}-{b}")
    def pair(a: int, b: str, c: int = 0) -> None: ...

    # Every argument by position, some by keyword, and a default left out:
    # each way of calling names the step the same.
    assert pair(1, "x", 3).name == "x-1-x"
    assert pair(1, "x").name == "x-1-x"
    assert pair(1, b="x").name == "x-1-x"
    assert pair(1, "x", c=3).name == "x-1-x"
    with pytest.raises(TypeError, match=r"step '\{b\}-\{a\}-\{b\}'"):
        pair(1, "x", 3, 4)  # type: ignore[call-arg]


def test_template_with_format_spec() -> None:
    @zart.step("item-{index:03d}")
    def item(index: int) -> None: ...

    assert item(7).name == "item-007"


def test_template_with_attribute_access() -> None:
    class Report:
        id = "r-42"

    @zart.step("publish-{report.id}")
    def publish(report: Report) -> None: ...

    assert publish(Report()).name == "publish-r-42"


class _Tagged:
    tag = "t9"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{a}", "7"),
        ("{a:03d}-{b!r}", "007-'x'"),
        ("{{literal}}-{a}-}}{{", "{literal}-7-}{"),
        ("{c.tag}-{d[k]}-{d[k]!s:>4}", "t9-v-   v"),
        ("{b:{a}}", "x      "),  # a field inside a format spec
        ("{a}{a}{b}", "77x"),
    ],
)
def test_a_template_names_the_same_however_the_step_is_called(template: str, expected: str) -> None:
    @zart.step(template)
    def f(a: int, b: str, c: Any, d: dict[str, str]) -> None: ...

    args: tuple[Any, ...] = (7, "x", _Tagged(), {"k": "v"})
    assert f(*args).name == expected  # all by position: the fast path
    assert f(7, "x", c=_Tagged(), d={"k": "v"}).name == expected
    assert f(a=7, b="x", c=_Tagged(), d={"k": "v"}).name == expected


@pytest.mark.parametrize("value", ["", "  ", "a\x00b", "a\ud800b"])
def test_a_template_filled_with_an_unstorable_or_empty_value_is_refused(value: str) -> None:
    @zart.step("{v}")
    def f(v: str) -> None: ...

    with pytest.raises(ValueError, match="name"):
        f(value)


def test_a_step_function_builds_the_same_step_as_the_constructor() -> None:
    @zart.step("send-{to}", retry="fixed(2, 1s)", timeout=5)
    def send(to: str, *, urgent: bool = False) -> int:
        return 1

    built = send("bo", urgent=True)
    expected = zart.Step(
        name="send-bo",
        fn=send.__wrapped__,
        args=("bo",),
        kwargs={"urgent": True},
        retry=RetryPolicy.parse("fixed(2, 1s)"),
        timeout=timedelta(seconds=5),
        step_id="send-{to}",
        result_type=int,
    )
    fields = [a.name for a in attrs.fields(zart.Step)]
    assert [getattr(built, f) for f in fields] == [getattr(expected, f) for f in fields]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.name = "other"  # type: ignore[misc]


def test_templated_steps_keep_the_template_as_identity() -> None:
    cmd = process_report(3, "r")
    assert cmd.step_id == "process-report-{index}"
    assert cmd.named("report-3").step_id == "process-report-{index}"


def test_template_call_with_missing_argument_raises_type_error() -> None:
    with pytest.raises(TypeError, match="process-report"):
        process_report(report="r")  # type: ignore[call-arg]


def test_template_naming_a_missing_parameter_fails_at_decoration() -> None:
    with pytest.raises(ValueError, match="'region'"):

        @zart.step("deploy-{region}")
        def deploy_nowhere(index: int) -> None: ...


def test_template_naming_several_missing_parameters_names_them_all() -> None:
    with pytest.raises(ValueError) as info:

        @zart.step("x-{alpha}-{beta}-{index}")
        def f(index: int) -> None: ...

    assert "'alpha'" in str(info.value) and "'beta'" in str(info.value)
    assert "'index'" not in str(info.value).split("names")[1].split("which")[0]


@pytest.mark.parametrize("template", ["x-{}", "x-{0}", "x-{", "x-}"])
def test_positional_or_malformed_templates_are_refused(template: str) -> None:
    with pytest.raises(ValueError):
        zart.step(template)(lambda a: a)


@pytest.mark.parametrize(
    "spec",
    [
        "exponential(x, 1s)",
        "fixed(3)",
        "bogus",
        "fixed(3, 1parsec)",
        "none(1)",
        "exponential(3)",
        "fixed(-1, 1s)",
        "fixed(3, 1s, 2)",
        "exponential(1, 1s, 0.5)",
    ],
)
def test_malformed_retry_spec_raises_value_error_at_decoration(spec: str) -> None:
    with pytest.raises(ValueError) as info:

        @zart.step("s", retry=spec)
        def s() -> None: ...

    assert spec in str(info.value)  # the error quotes the spec it refused


def test_retry_of_wrong_type_is_refused_at_decoration() -> None:
    with pytest.raises(TypeError):
        zart.step("s", retry=3)  # type: ignore[arg-type]


def test_step_carries_its_retry_policy() -> None:
    @zart.step("s", retry="fixed(3, 1s)")
    def s() -> None: ...

    assert s().retry == RetryPolicy.fixed(3, timedelta(seconds=1))

    @zart.step("t")
    def t() -> None: ...

    assert t().retry == RetryPolicy.none()


def test_step_timeout_is_carried() -> None:
    @zart.step("s", timeout=5)
    def s() -> None: ...

    assert s().timeout == timedelta(seconds=5)


def test_a_step_called_with_arguments_that_do_not_bind_raises_at_the_call() -> None:
    @zart.step("plain")
    def plain(a: int, *, flag: bool = False) -> int:
        return a

    with pytest.raises(TypeError, match=r"^step 'plain': missing a required argument: 'a'"):
        plain()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"^step 'plain': too many positional arguments"):
        plain(1, 2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"^step 'plain': got an unexpected keyword .*'b'"):
        plain(1, b=2)  # type: ignore[call-arg]
    assert plain(1).args == (1,)
    assert dict(plain(a=1, flag=True).kwargs) == {"a": 1, "flag": True}


def test_a_step_call_that_does_not_bind_fails_the_workflow_and_runs_nothing(
    zart_env: TestEnv,
) -> None:
    calls: list[int] = []

    @zart.step("add")
    def add(a: int, b: int) -> int:
        calls.append(a)
        return a + b

    @zart.durable("adds")
    def adds(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("nap", 0)
        return (yield add(1))  # type: ignore[call-arg]

    eid = zart_env.schedule(adds)
    zart_env.run_until_idle()
    with pytest.raises(zart.ExecutionFailed, match="step 'add': missing a required argument"):
        zart_env.result(eid)
    assert calls == []
    assert [s.name for s in zart_env.history(eid)] == ["nap"]


# -- zart.call ------------------------------------------------------------


def test_call_builds_a_step_from_any_callable() -> None:
    calls: list[Any] = []
    cmd = zart.call("fetch", lambda a, b=0: calls.append((a, b)), 1, b=2, retry="fixed(2, 1s)")
    assert isinstance(cmd, zart.Step)
    assert calls == []
    assert cmd.name == "fetch" and cmd.args == (1,) and dict(cmd.kwargs) == {"b": 2}
    assert cmd.retry == RetryPolicy.fixed(2, 1)
    cmd.fn(*cmd.args, **cmd.kwargs)
    assert calls == [(1, 2)]


def test_call_takes_the_return_annotation_as_result_type() -> None:
    def typed() -> dict[str, int]:
        return {}

    assert zart.call("t", typed).result_type == dict[str, int]
    assert zart.call("t", lambda: 1).result_type is Any


def test_call_with_malformed_retry_raises_value_error() -> None:
    with pytest.raises(ValueError):
        zart.call("t", _noop, retry="fixed(3)")


def test_call_on_bound_method() -> None:
    class Greeter:
        def greet(self, who: str) -> str:
            return f"hi {who}"

    cmd = zart.call("greet", Greeter().greet, "bob")
    assert cmd.fn(*cmd.args) == "hi bob"
    assert cmd.result_type is str


# -- RetryPolicy ----------------------------------------------------------


def _delays(policy: RetryPolicy, upto: int = 10) -> list[float | None]:
    out: list[float | None] = []
    for n in range(1, upto + 1):
        d = policy.delay_after(n)
        out.append(None if d is None else d.total_seconds())
    return out


def test_exponential_waits_1_2_4_8_16_then_gives_up() -> None:
    policy = RetryPolicy.parse("exponential(5, 1s)")
    assert _delays(policy, 7) == [1, 2, 4, 8, 16, None, None]
    assert policy == RetryPolicy.exponential(5, timedelta(seconds=1))


def test_fixed_waits_the_same_delay_then_gives_up() -> None:
    policy = RetryPolicy.parse("fixed(3, 1s)")
    assert _delays(policy, 5) == [1, 1, 1, None, None]
    assert policy == RetryPolicy.fixed(3, 1)


def test_none_never_retries() -> None:
    assert _delays(RetryPolicy.parse("none"), 3) == [None, None, None]
    assert RetryPolicy.parse(None) == RetryPolicy.none()
    assert RetryPolicy.none().retries == 0


def test_exponential_with_multiplier_and_max_delay() -> None:
    policy = RetryPolicy.parse("exponential(5, 1s, 3, 10s)")
    assert _delays(policy, 6) == [1, 3, 9, 10, 10, None]
    assert policy == RetryPolicy.exponential(5, 1, multiplier=3, max_delay=10)
    assert _delays(RetryPolicy.exponential(4, 2, max_delay=timedelta(seconds=5)), 5) == [
        2,
        4,
        5,
        5,
        None,
    ]


def test_zero_retries_gives_up_at_once() -> None:
    assert _delays(RetryPolicy.parse("fixed(0, 1s)"), 2) == [None, None]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("2s", 2), ("1.5m", 90), ("3h", 10800), ("1d", 86400), (" 2 s ", 2)],
)
def test_duration_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_spec_units_are_honoured() -> None:
    assert RetryPolicy.parse("fixed(2, 500ms)").delay == timedelta(milliseconds=500)
    assert RetryPolicy.parse("fixed(2, 2m)").delay == timedelta(minutes=2)
    assert RetryPolicy.parse("exponential(2, 1h)").delay == timedelta(hours=1)
    assert RetryPolicy.parse("fixed(2, 1d)").delay == timedelta(days=1)


def test_parse_passes_a_policy_through() -> None:
    p = RetryPolicy.fixed(1, 1)
    assert RetryPolicy.parse(p) is p


@pytest.mark.parametrize(
    "policy",
    [
        RetryPolicy.none(),
        RetryPolicy.fixed(3, 1),
        RetryPolicy.fixed(2, 0.25),
        RetryPolicy.exponential(5, 1),
        RetryPolicy.exponential(4, 2, multiplier=3),
    ],
    ids=str,
)
def test_string_form_parses_back_to_the_same_policy(policy: RetryPolicy) -> None:
    assert RetryPolicy.parse(str(policy)) == policy


def test_string_form_keeps_max_delay() -> None:
    policy = RetryPolicy.exponential(5, 1, max_delay=10)
    assert RetryPolicy.parse(str(policy)) == policy


def test_policy_constructors_validate() -> None:
    with pytest.raises(ValueError):
        RetryPolicy.fixed(-1, 1)
    with pytest.raises(ValueError):
        RetryPolicy.fixed(1, -1)
    with pytest.raises(ValueError):
        RetryPolicy.exponential(1, 1, multiplier=0.5)
    with pytest.raises(ValueError):
        RetryPolicy(kind="sometimes")


# -- a command where a value belongs: "did you forget 'yield'?" -----------------


@zart.step("send-{to}")
def send_to(to: str, when: Any = None) -> str:
    return f"sent to {to}"


def _one(value: Any) -> Any:
    return value


@pytest.mark.parametrize(
    ("build", "where"),
    [
        (lambda cmd: send_to("bo", cmd), "step 'send-{to}': argument 1"),
        (lambda cmd: send_to("bo", when=cmd), "step 'send-{to}': argument 'when'"),
        (lambda cmd: send_to(cmd), "step 'send-{to}': argument 0"),
        (lambda cmd: zart.call("c", _one, cmd), "step 'c': argument 0"),
        (lambda cmd: zart.call("c", _one, value=cmd), "step 'c': argument 'value'"),
    ],
    ids=["positional", "keyword", "in-the-template", "call", "call-keyword"],
)
@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (zart.now("at"), "the command Capture 'at'"),
        (zart.call("fetch", _noop), "the command Step 'fetch'"),
        (zart.schedule(zart.call("fetch", _noop)), "the command Schedule 'fetch'"),
        (zart.wait_all([]), "the command WaitAll"),
    ],
    ids=["capture", "step", "schedule", "wait_all"],
)
def test_a_command_passed_to_a_step_asks_whether_yield_was_forgotten(
    build: Any, where: str, command: Any, shown: str
) -> None:
    with pytest.raises(TypeError) as info:
        build(command)
    message = str(info.value)
    assert message.startswith(f"{where}: it holds {shown}, not its result: ")
    assert "did you forget 'yield'?" in message


def test_a_step_given_a_command_fails_the_workflow_before_running_it(zart_env: TestEnv) -> None:
    sent: list[Any] = []

    @zart.step("notify")
    def notify(at: Any) -> None:
        sent.append(at)

    @zart.durable("forgets", max_retries=3)
    def forgets(_: Any):  # type: ignore[no-untyped-def]
        yield notify(zart.now("at"))

    @zart.durable("remembers")
    def remembers(_: Any):  # type: ignore[no-untyped-def]
        yield notify((yield zart.now("at")))
        return "ok"

    eid = zart_env.schedule(forgets)
    zart_env.run_until_idle()
    with pytest.raises(zart.ExecutionFailed) as info:
        zart_env.result(eid)
    # An InvalidCommand (a TypeError): it fails at once, spending no retry.
    assert info.value.error_type == "zart.errors.InvalidCommand"
    assert zart_env.get(eid).attempt == 0
    assert "step 'notify': argument 0: it holds the command Capture 'at'" in info.value.message
    assert "did you forget 'yield'?" in info.value.message
    assert sent == [] and zart_env.history(eid) == []
    assert zart_env.run(remembers) == "ok"
    assert sent == [zart_env.now()]


def _forgot_yield_failure(env: TestEnv, eid: str, what: str, command: str) -> None:
    env.run_until_idle()
    with pytest.raises(zart.ExecutionFailed) as info:
        env.result(eid)
    assert info.value.error_type == "zart.errors.SerializationError"
    assert info.value.message.startswith(f"{what}: ")
    assert f"it holds the command {command}, not its result" in info.value.message
    assert "did you forget 'yield'?" in info.value.message


@pytest.mark.parametrize(
    "output",
    [lambda: zart.now("t"), lambda: {"at": zart.now("t")}, lambda: [1, (2, zart.now("t"))]],
    ids=["the-command", "in-a-dict", "in-a-tuple-in-a-list"],
)
def test_a_command_returned_by_a_workflow_fails_it_saying_forgot_yield(
    zart_env: TestEnv, output: Any
) -> None:
    @zart.durable("returns")
    def returns(_: Any):  # type: ignore[no-untyped-def]
        yield zart.sleep("nap", 0)
        return output()

    eid = zart_env.schedule(returns)
    _forgot_yield_failure(zart_env, eid, "output of task 'returns'", "Capture 't'")
    assert zart_env.get(eid).output is None


@zart.durable("child")
def child_wf(data: Any):  # type: ignore[no-untyped-def]
    yield zart.sleep("nap", 0)
    return data


def test_a_command_in_a_child_workflows_input_fails_the_parent_saying_forgot_yield(
    zart_env: TestEnv,
) -> None:
    @zart.durable("parent")
    def parent(_: Any):  # type: ignore[no-untyped-def]
        return (yield child_wf({"when": zart.now("t")}))

    zart_env.registry.register(child_wf)
    eid = zart_env.schedule(parent)
    _forgot_yield_failure(zart_env, eid, "input of child workflow 'child'", "Capture 't'")
    assert zart_env.client.list(parent_id=eid) == []  # no child was created


def test_a_command_in_a_child_input_is_thrown_at_the_schedule_and_catchable(
    zart_env: TestEnv,
) -> None:
    @zart.durable("parent")
    def parent(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield zart.schedule(child_wf([zart.now("t")]))
        except zart.SerializationError as exc:
            caught = str(exc)
        when = yield zart.now("t")
        got = yield child_wf([when]).named("fixed")
        return [caught, got]

    zart_env.registry.register(child_wf)
    caught, got = zart_env.run(parent)
    assert "did you forget 'yield'?" in caught
    assert got == [zart_env.now().isoformat()]


def test_a_command_in_a_continue_as_new_input_is_thrown_at_the_yield(zart_env: TestEnv) -> None:
    seen: list[Any] = []

    @zart.durable("poller")
    def poller(data: Any):  # type: ignore[no-untyped-def]
        seen.append(data)
        if data is not None:
            return data
        try:
            yield zart.continue_as_new({"since": zart.now("since")})
        except zart.SerializationError as exc:
            assert "did you forget 'yield'?" in str(exc)
        yield zart.continue_as_new({"since": (yield zart.now("since"))})

    eid = zart_env.schedule(poller)
    zart_env.run_until_idle()
    at = zart_env.now().isoformat()
    assert zart_env.result(eid) == {"since": at}
    assert seen == [None, {"since": at}]
    assert zart_env.get(eid).run == 2


def test_a_continue_as_new_input_is_held_to_the_input_type(zart_env: TestEnv) -> None:
    @zart.durable("counter")
    def counter(n: int):  # type: ignore[no-untyped-def]
        yield zart.sleep("tick", 1)
        if n >= 2:
            return n
        try:
            yield zart.continue_as_new(str(n + 1))
        except zart.SerializationError as exc:
            assert str(exc) == ("input of task 'counter' (continue_as_new): expected int, got str")
        yield zart.continue_as_new(n + 1)

    eid = zart_env.schedule(counter, 0)
    zart_env.advance_until_idle()
    assert zart_env.result(eid) == 2
    assert zart_env.get(eid).run == 3

    @zart.durable("uncaught")
    def uncaught(n: int):  # type: ignore[no-untyped-def]
        yield zart.continue_as_new({"n": zart.now("t")})

    eid = zart_env.schedule(uncaught, 0)
    _forgot_yield_failure(
        zart_env, eid, "input of task 'uncaught' (continue_as_new)", "Capture 't'"
    )
    assert zart_env.get(eid).run == 1


# -- ids and names: at most 255 characters ------------------------------------------


LONGEST = "n" * MAX_LENGTH
TOO_LONG = LONGEST + "n"


def _too_long(what: str) -> str:
    return rf"^{what} is 256 characters long; ids and names hold at most 255 \('nnnn"


@pytest.mark.parametrize(
    ("build", "what"),
    [
        (lambda n: zart.sleep(n, 5), "name"),
        (lambda n: zart.wait_event(n), "name"),
        (lambda n: zart.capture(n, _noop), "name"),
        (lambda n: zart.now(n), "name"),
        (lambda n: zart.call(n, _noop), "name"),
        (lambda n: zart.call("a", _noop).named(n), "name"),
        (lambda n: zart.receive(n, "topic"), "name"),
        (lambda n: zart.receive("item", n), "topic"),
        (lambda n: zart.step(n)(_noop), "step name"),
        (lambda n: zart.step("{value}")(_one)(n), "name"),
        (lambda n: zart.durable(n), "workflow name"),
        (lambda n: zart.Handle(name="h", execution_id=n), "execution_id"),
    ],
    ids=[
        "sleep",
        "wait_event",
        "capture",
        "now",
        "call",
        "named",
        "receive",
        "receive-topic",
        "step-decorator",
        "step-template",
        "durable",
        "handle",
    ],
)
def test_a_name_takes_255_characters_and_refuses_256_naming_the_argument(
    build: Any, what: str
) -> None:
    build(LONGEST)
    with pytest.raises(ValueError, match=_too_long(what)):
        build(TOO_LONG)


def test_a_template_filled_past_255_characters_is_refused() -> None:
    @zart.step("item-{key}")
    def item(key: str) -> None: ...

    assert item("k" * 250).name == "item-" + "k" * 250
    with pytest.raises(ValueError, match="is 256 characters long"):
        item("k" * 251)


@pytest.mark.parametrize("build", [zart.patched, zart.deprecate_patch])
def test_a_patch_id_leaves_room_for_its_marker_in_the_log(build: Any) -> None:
    room = MAX_LENGTH - len("@patch:")
    assert build("p" * room).name == "p" * room
    with pytest.raises(ValueError, match=rf"^patch_id is {room + 1} characters long"):
        build("p" * (room + 1))


def test_names_of_255_characters_run_end_to_end(zart_env: TestEnv) -> None:
    patch = "p" * (MAX_LENGTH - len("@patch:"))

    @zart.durable("t" * MAX_LENGTH)
    def longest(_: Any):  # type: ignore[no-untyped-def]
        patched = yield zart.patched(patch)
        got = yield zart.call("s" * MAX_LENGTH, lambda: "stepped")
        yield zart.sleep("z" * MAX_LENGTH, 5)
        payload = yield zart.wait_event("e" * MAX_LENGTH)
        message = yield zart.receive("m" * MAX_LENGTH, "q" * MAX_LENGTH)
        return [patched, got, payload, message]

    eid = zart_env.schedule(longest, execution_id="i" * MAX_LENGTH)
    assert eid == "i" * MAX_LENGTH
    zart_env.advance(5)
    zart_env.offer_event(eid, "e" * MAX_LENGTH, "offered")
    zart_env.send(eid, "q" * MAX_LENGTH, "sent")
    zart_env.run_until_idle()
    assert zart_env.result(eid) == [True, "stepped", "offered", "sent"]
    assert zart_env.get(eid).task_name == "t" * MAX_LENGTH
    names = [s.name for s in zart_env.history(eid)]
    assert names == ["@patch:" + patch, *(c * MAX_LENGTH for c in "szem")]
    assert all(len(name) <= MAX_LENGTH for name in names)


def test_ids_and_names_of_256_characters_are_refused_by_the_engine(zart_env: TestEnv) -> None:
    @zart.durable("waits")
    def waits(_: Any):  # type: ignore[no-untyped-def]
        return (yield zart.wait_event("go"))

    zart_env.registry.register(waits)
    eid = zart_env.schedule(waits)
    zart_env.run_until_idle()
    refused = [
        ("execution_id", lambda: zart_env.schedule(waits, execution_id=TOO_LONG)),
        ("execution_id", lambda: zart_env.get(TOO_LONG)),
        ("execution_id", lambda: zart_env.offer_event(TOO_LONG, "go")),
        ("event name", lambda: zart_env.offer_event(eid, TOO_LONG)),
        ("topic", lambda: zart_env.send(eid, TOO_LONG)),
        ("task name", lambda: zart_env.schedule(TOO_LONG)),
        ("task name", lambda: zart.TaskRegistry().register(TOO_LONG, waits)),
    ]
    for what, call in refused:
        with pytest.raises(ValueError, match=_too_long(what)):
            call()
    assert [rec.id for rec in zart_env.list()] == [eid]
    assert zart_env.get(eid).status == "waiting"
    assert zart_env.history(eid)[0].status == "waiting"


def test_a_child_id_is_parent_colon_name_while_that_fits() -> None:
    assert child_id("order-1", "charge") == "order-1:charge"
    fits = "p" * (MAX_LENGTH - 2)
    assert child_id(fits, "c") == fits + ":c"  # exactly 255


def test_a_child_id_past_255_characters_is_shortened_stable_and_unique() -> None:
    parent = "p" * MAX_LENGTH
    ids = {child_id(parent, f"child-{i}") for i in range(1000)}
    assert len(ids) == 1000
    for cid in ids:
        assert len(cid) <= MAX_LENGTH
        assert check_name("child id", cid) == cid
        assert cid.startswith(parent[:100])
    assert child_id(parent, "child-7") == child_id(parent, "child-7")  # a replay finds it
    # One character past the limit is enough to shorten it.
    assert len(child_id("p" * (MAX_LENGTH - 1), "c")) <= MAX_LENGTH


def test_child_ids_of_a_deep_tree_stay_within_255_characters() -> None:
    ids = ["r" * MAX_LENGTH]
    for depth in range(100):
        ids.append(child_id(ids[-1], f"level-{depth}-" + "x" * 200))
    assert all(len(cid) <= MAX_LENGTH for cid in ids)
    assert len(set(ids)) == len(ids)


@zart.durable("level")
def level(depth: int):  # type: ignore[no-untyped-def]
    if depth == 0:
        yield zart.sleep("leaf-nap", 1)
        return ["leaf"]
    below = yield level(depth - 1).named(f"level-{depth}-" + "x" * 150)
    return [*below, depth]


def test_a_deep_tree_of_children_with_long_names_runs(zart_env: TestEnv) -> None:
    zart_env.registry.register(level)
    root = zart_env.schedule(level, 6, execution_id="r" * MAX_LENGTH)
    zart_env.advance_until_idle()
    assert zart_env.result(root) == ["leaf", 1, 2, 3, 4, 5, 6]
    tree = zart_env.list(limit=100)
    assert len(tree) == 7
    by_id = {rec.id: rec for rec in tree}
    assert all(len(cid) <= MAX_LENGTH for cid in by_id)
    for rec in tree:
        assert rec.status == "completed"
        if rec.id != root:
            assert rec.parent_id in by_id
            assert rec.id == child_id(rec.parent_id, rec.parent_step)
