"""The command line with bad input, as a user types it: ``zart`` run as a
subprocess, with raw bytes in argv that are not UTF-8, names past the
limit, empty names, bad numbers and bad ``--data``. Each is exit status 2
and one line on stderr naming the culprit, never a traceback, and the
database is as it was."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from tests.badinput.cases import snapshot
from tests.cli.conftest import Zart, client, drive

APP = "tests.cli.app"
LIMIT = 1000


@attrs.frozen
class Arg:
    label: str
    value: str | bytes
    says: str

    def __str__(self) -> str:
        return self.label

    def text(self) -> str:
        """As ``zart`` sees it: bytes that are not UTF-8 as surrogate escapes."""
        return self.value if isinstance(self.value, str) else os.fsdecode(self.value)


BAD_ARGS = [
    Arg("not-utf8", b"caf\xe9", "lone surrogate"),
    Arg("256-chars", "n" * 256, "is 256 characters long; ids and names hold at most 255"),
    Arg("100000-chars", "n" * 100_000, "is 100000 characters long"),
    Arg("empty", "", "must not be empty or blank"),
]

# Each command line with ``{}`` where the bad argument goes, and the name
# the error must give it.
COMMANDS = [
    (("status", "{}"), "execution_id"),
    (("history", "{}"), "execution_id"),
    (("wait", "{}", "--timeout", "0"), "execution_id"),
    (("cancel", "{}"), "execution_id"),
    (("retry", "{}"), "execution_id"),
    (("event", "{}", "go", "--data", "1"), "execution_id"),
    (("event", "a1", "{}", "--data", "1"), "event name"),
    (("send", "{}", "in", "--data", "1"), "execution_id"),
    (("send", "a1", "{}", "--data", "1"), "topic"),
    (("schedule", "{}", "--data", "1"), "task name"),
    (("schedule", "approval", "--app", APP, "--data", '"o"', "--id", "{}"), "execution_id"),
    (("list", "--task", "{}"), "task"),
    (("list", "--parent", "{}"), "parent_id"),
    (("fork", "a1", "--from-step", "{}"), "from_step"),
    (("fork", "a1", "--from-step", "go", "--id", "{}"), "execution_id"),
]


def _label(argv: tuple[str, ...]) -> str:
    return "-".join(a.strip("-") for a in argv if a not in ("{}", APP, "1", '"o"'))


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Zart:
    """``zart`` on a database holding ``a1``, waiting for the event ``go``
    (payloads limited to 1,000 bytes)."""
    tmp: Path = tmp_path_factory.mktemp("cli")
    url = f"sqlite:///{tmp / 'cli.db'}?max_payload={LIMIT}"
    zart = Zart(tmp, url)
    zart.ok("schedule", "approval", "--app", APP, "--data", '"o"', "--id", "a1")
    drive(url)
    (tmp / "big.json").write_text('"' + "x" * LIMIT + '"')
    (tmp / "latin1.json").write_bytes(b'"caf\xe9"')
    return zart


@pytest.fixture
def unchanged(cli: Zart) -> Iterator[None]:
    """The database is as the test found it."""
    with client(cli.url or "") as c:
        before = snapshot(c)
    yield
    with client(cli.url or "") as c:
        assert snapshot(c) == before


def refused(cli: Zart, *argv: str | bytes, input: bytes | None = None) -> str:
    """Run ``zart`` with raw ``argv``: exit 2, nothing on stdout, one line on
    stderr (the runner fails on a traceback); that line."""
    raw = [a if isinstance(a, bytes) else os.fsencode(a) for a in argv]
    result = cli(*(os.fsdecode(a) for a in raw), input=input)
    assert result.code == 2, result
    assert result.out == ""
    return result.error()


@pytest.mark.parametrize("bad", BAD_ARGS, ids=[str(a) for a in BAD_ARGS])
@pytest.mark.parametrize(("argv", "culprit"), COMMANDS, ids=[_label(argv) for argv, _ in COMMANDS])
@pytest.mark.usefixtures("unchanged")
def test_a_bad_argument_is_exit_2_and_one_line_naming_it(
    cli: Zart, argv: tuple[str, ...], culprit: str, bad: Arg
) -> None:
    line = refused(cli, *(bad.value if a == "{}" else a for a in argv))
    assert culprit in line and bad.says in line, line
    assert len(line) < 400


DATA = [
    Arg("not-utf8", b'"caf\xe9"', "--data is not UTF-8 text"),
    Arg("not-utf8-file", "@latin1.json", "--data @latin1.json is not UTF-8 text"),
    Arg("over-the-limit", "@big.json", f"over the payload limit of {LIMIT:,} bytes"),
    Arg(
        "lone-surrogate", '"\\ud800"', "--data: cannot convert str: a string holds a lone surrogate"
    ),
    Arg("NUL", '["\\u0000"]', "a string holds a NUL character (\\u0000), which zart"),
    Arg("NaN", "NaN", "--data"),
    Arg("deep", "[" * 60_000 + "]" * 60_000, "--data is nested too deeply to read"),
    Arg("empty", "", "--data is not valid JSON"),
]


@pytest.mark.parametrize("bad", DATA, ids=[str(a) for a in DATA])
@pytest.mark.parametrize(
    "argv",
    [("event", "a1", "go"), ("send", "a1", "in"), ("schedule", "approval", "--app", APP)],
    ids=["event", "send", "schedule"],
)
@pytest.mark.usefixtures("unchanged")
def test_bad_data_is_exit_2_and_one_line_saying_what_is_wrong(
    cli: Zart, argv: tuple[str, ...], bad: Arg
) -> None:
    line = refused(cli, *argv, "--data", bad.value)
    assert bad.says in line, line


@pytest.mark.usefixtures("unchanged")
def test_data_over_the_limit_on_standard_input_is_refused(cli: Zart) -> None:
    line = refused(cli, "event", "a1", "go", "--data", "-", input=b'"' + b"x" * LIMIT + b'"')
    assert line.startswith("payload of event 'go' is 1,002 bytes of JSON, over the payload limit")


OPTIONS: list[tuple[tuple[str, ...], str]] = [
    (("list", "--limit", "-1"), "argument --limit: must be a positive integer, got '-1'"),
    (("list", "--limit", "nan"), "argument --limit: must be a positive integer, got 'nan'"),
    (("list", "--limit", "9" * 30), "argument --limit: must be a positive integer"),
    (("list", "--offset", "-1"), "argument --offset: must be a whole number, 0 or more"),
    (("list", "--status", "asleep"), "argument --status: invalid choice: 'asleep'"),
    (("list", "--search", "caf\udce9"), "search 'caf\\udce9' holds a lone surrogate"),
    (("history", "a1", "--run", "0"), "argument --run"),
    (("wait", "a1", "--timeout", "nan"), "argument --timeout: must be a number of seconds"),
    (("wait", "a1", "--timeout", "-1"), "argument --timeout: must be a number of seconds"),
    (("worker", "--app", APP, "--concurrency", "0"), "argument --concurrency"),
    (("worker", "--app", APP, "--lease", "inf"), "argument --lease"),
    (("worker", "--app", APP, "--lease", "-3"), "argument --lease"),
    (("worker", "--app", "caf\udce9"), "--app 'caf\\udce9': cannot import"),
    (("worker", "--app", "tests.cli.app:nope"), "has no attribute 'nope'"),
    (("serve", "--port", "70000"), "argument --port: must be a port number"),
    (
        ("--db", "oracle://me:s3cret@db/x", "list"),
        "unknown database URL scheme in 'oracle://me:***@db/x'",
    ),
    (("--db", "sqlite:///nowhere/x.db", "status", "a1"), "no SQLite database at"),
    (("retry", "a1"), "cannot retry execution 'a1': it is waiting"),
    (("schedule", "nope", "--app", APP, "--data", "1"), "unknown task 'nope'"),
    (("schedule", "cli-double", "--app", APP, "--data", '"2"'), "expected int, got str"),
]


@pytest.mark.parametrize(("argv", "says"), OPTIONS, ids=["-".join(argv[:3]) for argv, _ in OPTIONS])
@pytest.mark.usefixtures("unchanged")
def test_a_bad_option_is_exit_2_and_one_line_saying_which(
    cli: Zart, argv: tuple[str, ...], says: str
) -> None:
    line = refused(cli, *argv)
    assert says in line, line
    assert "s3cret" not in line


def test_names_of_sql_metacharacters_work_from_the_command_line(cli: Zart) -> None:
    name = "'; DROP TABLE executions; --"
    cli.ok("schedule", "approval", "--app", APP, "--data", '"%s"', "--id", name)
    cli.ok("event", name, "go", "--data", '"?"')
    drive(cli.url or "")
    assert cli.ok("status", name, "--json").json()["output"] == {"order": "%s", "answer": "?"}
    found = cli.ok("list", "--search", "'", "--json").json()["executions"]
    assert [r["id"] for r in found] == [name]
