"""``zart``'s flags: where ``--db`` and ``-v`` go, the values each flag
refuses (one line, exit 2, nothing touched), help text, and the two ways
to start it."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import APP, Zart, base_env, client
from zart.cli import build_parser


def _status(url: str, eid: str) -> str:
    with client(url) as c:
        return c.get(eid).status


@pytest.mark.parametrize("where", ["before", "after"])
def test_db_goes_before_or_after_the_subcommand(bare: Zart, url: str, where: str) -> None:
    def run(*argv: str) -> str:
        args = ["--db", url, *argv] if where == "before" else [*argv, "--db", url]
        return bare.ok(*args).out

    assert "migrated" in run("migrate")
    eid = run("schedule", "cli-double", "--data", "21", "--id", "e1", "--app", APP).strip()
    assert eid == "e1"
    run("worker", "--app", APP, "--until-idle", "--concurrency", "2")
    assert json.loads(run("status", "e1", "--json"))["output"] == 42
    assert "e1" in run("list") and "completed" in run("list")
    assert json.loads(run("history", "e1", "--json"))["steps"][0]["name"] == "double"


def test_db_after_the_subcommand_wins_over_one_before(bare: Zart, tmp_path: Path) -> None:
    first, second = (f"sqlite:///{tmp_path / name}" for name in ("one.db", "two.db"))
    assert bare.ok("--db", first, "migrate", "--db", second).out.strip() == f"migrated {second}"
    assert not (tmp_path / "one.db").exists()


def test_db_comes_from_the_environment_when_not_given(zart_cli: Zart, url: str) -> None:
    assert zart_cli.ok("migrate").out.strip() == f"migrated {url}"


def test_without_a_database_it_is_zart_db_in_the_current_directory(
    bare: Zart, tmp_path: Path
) -> None:
    assert bare.ok("migrate").out.strip() == "migrated sqlite:///zart.db"
    assert (tmp_path / "zart.db").exists()


def test_verbose_goes_before_or_after_the_subcommand(bare: Zart, url: str) -> None:
    assert bare("-v", "--db", url, "migrate").code == 0
    verbose = bare("worker", "--app", APP, "--db", url, "--until-idle", "-v")
    assert verbose.code == 0 and "INFO zart: worker " in verbose.err
    quiet = bare("worker", "--app", APP, "--db", url, "--until-idle")
    assert quiet.code == 0 and quiet.err == ""


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--concurrency", "0", "positive integer"),
        ("--concurrency", "-2", "positive integer"),
        ("--concurrency", "many", "positive integer"),
        ("--lease", "0", "positive number of seconds"),
        ("--lease", "-3", "positive number of seconds"),
        ("--lease", "inf", "positive number of seconds"),
        ("--lease", "nan", "positive number of seconds"),
        ("--poll-interval", "0", "positive number of seconds"),
        ("--poll-interval", "soon", "positive number of seconds"),
        ("--shutdown-timeout", "-1", "number of seconds, 0 or more"),
        ("--metrics-port", "-1", "port number (0-65535)"),
        ("--metrics-port", "65536", "port number (0-65535)"),
    ],
)
def test_worker_refuses_bad_settings_naming_the_flag(
    zart_cli: Zart, url: str, flag: str, value: str, says: str
) -> None:
    zart_cli.ok("schedule", "cli-double", "--data", "1", "--id", "e1")
    refused = zart_cli("worker", "--app", APP, "--until-idle", f"{flag}={value}")
    assert refused.code == 2
    assert f"argument {flag}: must be a {says}, got {value!r}" in refused.error()
    assert _status(url, "e1") == "pending"  # nothing ran, nothing was touched


@pytest.mark.parametrize("flag", ["--lease", "--poll-interval", "--shutdown-timeout"])
def test_worker_refuses_settings_past_a_day_before_touching_the_database(
    zart_cli: Zart, tmp_path: Path, flag: str
) -> None:
    refused = zart_cli("worker", "--app", APP, "--until-idle", f"{flag}=100000")
    assert refused.code == 2
    assert f"argument {flag}: must be at most 86400 s (a day)" in refused.error()
    assert list(tmp_path.iterdir()) == []


def test_worker_takes_a_shutdown_timeout(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("schedule", "cli-double", "--data", "2", "--id", "e1")
    zart_cli.ok("worker", "--app", APP, "--until-idle", "--shutdown-timeout", "0")
    assert _status(url, "e1") == "completed"


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--limit", "0", "a positive integer"),
        ("--limit", "-5", "a positive integer"),
        ("--limit", "lots", "a positive integer"),
        ("--offset", "-1", "a whole number, 0 or more"),
        ("--offset", "1.5", "a whole number, 0 or more"),
    ],
)
def test_list_refuses_a_bad_limit_or_offset_naming_the_flag(
    zart_cli: Zart, flag: str, value: str, says: str
) -> None:
    zart_cli.ok("migrate")
    refused = zart_cli("list", f"{flag}={value}")
    assert refused.code == 2
    assert f"argument {flag}: must be {says}, got {value!r}" in refused.error()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["list", "--colour"], "unrecognized arguments: --colour"),
        (["list", "--status", "done"], "argument --status: invalid choice: 'done'"),
        (["wait", "e1", "--timeout", "nan"], "argument --timeout: must be a number of seconds"),
        (["serve", "--port", "http"], "argument --port: must be a port number"),
        (["history", "e1", "--run", "0"], "argument --run: must be a positive integer"),
        (["event", "e1"], "the following arguments are required: NAME"),
        (["check"], "the following arguments are required: --app"),
    ],
)
def test_a_bad_command_line_is_one_line_and_exit_2(
    zart_cli: Zart, tmp_path: Path, argv: list[str], says: str
) -> None:
    refused = zart_cli(*argv)
    assert refused.code == 2 and refused.out == ""
    assert says in refused.error()
    assert list(tmp_path.iterdir()) == []  # no database was opened


def _flags(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += [(f"{name} {flag}", a) for flag, a in _flags(sub)]
        else:
            found.append((action.dest, action))
    return found


def test_every_flag_and_argument_has_help() -> None:
    flags = _flags(build_parser())
    assert len(flags) > 50  # every subcommand's
    missing = [name for name, action in flags if not action.help]
    assert missing == []


def test_help_lists_every_subcommand(bare: Zart) -> None:
    text = bare.ok("--help").out
    for name in (
        "migrate", "worker", "schedule", "status", "wait", "list", "history", "event",
        "send", "cancel", "retry", "fork", "schedules", "workers", "check", "serve",
    ):  # fmt: skip
        assert f"    {name} " in text, name
    assert "--json" in bare.ok("history", "--help").out


def test_the_console_script_and_python_m_zart_are_the_same_command(
    tmp_path: Path, url: str
) -> None:
    script = Path(sys.executable).parent / "zart"
    env = base_env(ZART_DATABASE_URL=url)
    python = [sys.executable, "-m"]
    for command in ([str(script)], [*python, "zart"], [*python, "zart.cli"]):
        done = subprocess.run(
            [*command, "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert (done.returncode, done.stdout) == (0, f"migrated {url}\n"), done.stderr
