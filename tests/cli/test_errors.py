"""User mistakes: each is one line on stderr and exit status 2, never a
traceback (the runner fails any test whose stderr holds one)."""

from __future__ import annotations

import subprocess

import pytest

from tests.cli.conftest import DEADLINE, Zart, client, rows

DEEP = "[" * 60_000 + "]" * 60_000


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "nope"],
        ["history", "nope"],
        ["event", "nope", "go"],
        ["send", "nope", "topic"],
        ["cancel", "nope"],
        ["retry", "nope"],
    ],
)
def test_an_unknown_id_is_one_line_and_exit_2(zart_cli: Zart, argv: list[str]) -> None:
    zart_cli.ok("migrate")
    refused = zart_cli(*argv)
    assert refused.code == 2 and refused.out == ""
    assert refused.error() == "no execution with id 'nope'"


@pytest.mark.parametrize(
    ("argv", "data", "says"),
    [
        (["schedule", "cli-double"], "{", "--data is not valid JSON: Expecting property name"),
        (["event", "a1", "go"], "[1,", "--data is not valid JSON: Expecting value"),
        (["send", "a1", "in"], "yes", "--data is not valid JSON: Expecting value"),
        (["event", "a1", "go"], "NaN", "--data"),
        (["schedule", "cli-double"], DEEP, "--data is nested too deeply to read"),
        (["schedule", "cli-double"], "[" * 3000 + "]" * 3000, "--data"),
    ],
)
def test_bad_json_data_is_one_line_and_exit_2(
    zart_cli: Zart, argv: list[str], data: str, says: str
) -> None:
    zart_cli.ok("schedule", "approval", "--data", '"o"', "--id", "a1")
    refused = zart_cli(*argv, "--data", data)
    assert refused.code == 2
    assert says in refused.error()
    with client(zart_cli.url or "") as c:
        assert [rec.id for rec in c.list()] == ["a1"]  # nothing created
        assert c.store.load("a1").events == {}  # nothing delivered


@pytest.mark.parametrize("source", ["stdin", "file"])
def test_deep_json_from_a_file_or_stdin_is_one_line(zart_cli: Zart, source: str) -> None:
    zart_cli.ok("migrate")
    if source == "file":
        (zart_cli.cwd / "deep.json").write_text(DEEP)
        refused = zart_cli("schedule", "cli-double", "--data", "@deep.json")
        assert refused.error() == "--data @deep.json is nested too deeply to read"
    else:
        refused = zart_cli("schedule", "cli-double", "--data", "-", input=DEEP)
        assert refused.error() == "--data - (standard input) is nested too deeply to read"
    assert refused.code == 2


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ("@missing.json", "--data @missing.json: cannot read 'missing.json': No such file"),
        ("@", "--data @: name a file after the @"),
        ("@.", "--data @.: cannot read '.': Is a directory"),
    ],
)
def test_a_data_file_that_cannot_be_read_is_one_line(zart_cli: Zart, data: str, says: str) -> None:
    zart_cli.ok("migrate")
    refused = zart_cli("schedule", "cli-double", "--data", data)
    assert refused.code == 2 and refused.error().startswith(says)


def test_data_on_stdin_that_is_not_utf8_is_one_line(zart_cli: Zart) -> None:
    zart_cli.ok("migrate")
    refused = zart_cli("schedule", "cli-double", "--data", "-", input=b'"caf\xe9"')
    assert refused.code == 2
    assert refused.error().startswith("--data - (standard input) is not UTF-8 text")


def test_a_name_no_store_can_hold_is_one_line(zart_cli: Zart) -> None:
    zart_cli.ok("migrate")
    too_long = zart_cli("status", "x" * 300)
    assert too_long.code == 2 and "execution_id" in too_long.error()
    # An argv byte that is not UTF-8 arrives as a surrogate: refused, not stored.
    done = subprocess.run(
        [*zart_cli.command("schedule"), b"caf\xe9", "--data", "1"],
        cwd=zart_cli.cwd,
        env=zart_cli.env,
        capture_output=True,
        timeout=DEADLINE,
    )
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 2 and "Traceback" not in err
    assert len(err.splitlines()) == 1 and err.startswith("zart: error: task name")


def test_control_characters_in_names_are_shown_escaped(zart_cli: Zart) -> None:
    zart_cli.ok("schedule", "red\x1b[31mtask", "--data", "1", "--id", "bell\x07")
    listed = zart_cli.ok("list").out
    assert "\x1b" not in listed and "\x07" not in listed
    assert rows(listed)[1][:3] == ["bell\\x07", "red\\x1b[31mtask", "red\\x1b[31mtask"]
    assert zart_cli.ok("list", "--json").json()["executions"][0]["task"] == "red\x1b[31mtask"


def test_a_reader_that_goes_away_ends_list_quietly(zart_cli: Zart) -> None:
    for i in range(3):
        zart_cli.ok("schedule", "cli-double", "--data", "1", "--id", f"e{i}")
    # A pipe whose reader has closed: the first write raises BrokenPipeError.
    listing = zart_cli.popen("list")
    assert listing.stdout is not None and listing.stderr is not None
    listing.stdout.close()
    err = listing.stderr.read().decode()
    assert listing.wait(DEADLINE) == 1
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_an_event_or_message_for_an_execution_that_ended_is_refused(zart_cli: Zart) -> None:
    zart_cli.ok("schedule", "approval", "--data", '"o"', "--id", "a1")
    zart_cli.ok("cancel", "a1")
    event = zart_cli("event", "a1", "go", "--data", "1")
    assert event.code == 2
    assert event.error() == "cannot deliver event 'go': execution 'a1' is cancelled"
    message = zart_cli("send", "a1", "in", "--data", "1")
    assert message.code == 2
    assert message.error() == "cannot send on 'in': execution 'a1' is cancelled"
