"""The ``zart`` command line: where ``--db`` may go, and flags it refuses."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import zart
from zart.cli import main as cli_main

APP = "tests.unit.cli_app"


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def _status(url: str, eid: str) -> str:
    store = zart.connect(url)
    try:
        return store.get(eid).status
    finally:
        store.close()


@pytest.mark.parametrize("where", ["before", "after"])
def test_db_goes_before_or_after_the_subcommand(
    db: str, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(*argv: str) -> str:
        args = ["--db", db, *argv] if where == "before" else [*argv, "--db", db]
        assert cli_main(args) == 0
        return capsys.readouterr().out

    assert "migrated" in run("migrate")
    eid = run("schedule", "cli-double", "--data", "21", "--id", "e1", "--app", APP).strip()
    assert eid == "e1"
    run("worker", "--app", APP, "--until-idle", "--concurrency", "2")
    assert json.loads(run("status", "e1"))["output"] == 42
    assert "e1\tcli-double\tcompleted" in run("list")
    assert json.loads(run("history", "e1"))["name"] == "double"


def test_db_after_the_subcommand_wins_over_one_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = (f"sqlite:///{tmp_path / name}" for name in ("one.db", "two.db"))
    assert cli_main(["--db", first, "migrate", "--db", second]) == 0
    assert capsys.readouterr().out.strip() == f"migrated {second}"
    assert not (tmp_path / "one.db").exists()


def test_db_comes_from_the_environment_when_not_given(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZART_DATABASE_URL", db)
    assert cli_main(["migrate"]) == 0
    assert capsys.readouterr().out.strip() == f"migrated {db}"


def test_verbose_goes_before_or_after_the_subcommand(db: str) -> None:
    assert cli_main(["-v", "--db", db, "migrate"]) == 0
    assert cli_main(["migrate", "--db", db, "--verbose"]) == 0


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
    ],
)
def test_worker_refuses_bad_settings_naming_the_flag(
    db: str, flag: str, value: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["--db", db, "migrate"]) == 0
    assert cli_main(["--db", db, "schedule", "cli-double", "--data", "1", "--id", "e1"]) == 0
    with pytest.raises(SystemExit) as exit_:
        cli_main(["worker", "--app", APP, "--db", db, "--until-idle", f"{flag}={value}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: must be a {says}, got {value!r}" in err
    assert _status(db, "e1") == "pending"  # nothing ran, nothing was touched


@pytest.mark.parametrize("flag", ["--lease", "--poll-interval", "--shutdown-timeout"])
def test_worker_refuses_settings_past_a_day_before_touching_the_database(
    tmp_path: Path, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'never.db'}"
    with pytest.raises(SystemExit) as exit_:
        cli_main(["worker", "--app", APP, "--db", url, "--until-idle", f"{flag}=100000"])
    assert exit_.value.code == 2
    assert f"argument {flag}: must be at most 86400 s (a day)" in capsys.readouterr().err
    assert not (tmp_path / "never.db").exists()


def test_worker_takes_a_shutdown_timeout(db: str) -> None:
    assert cli_main(["--db", db, "migrate"]) == 0
    assert cli_main(["--db", db, "schedule", "cli-double", "--data", "2", "--id", "e1"]) == 0
    args = ["worker", "--app", APP, "--db", db, "--until-idle", "--shutdown-timeout", "0"]
    assert cli_main(args) == 0
    assert _status(db, "e1") == "completed"


@pytest.mark.parametrize("value", ["0", "-5", "lots"])
def test_list_refuses_a_bad_limit_naming_the_flag(
    db: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["--db", db, "migrate"]) == 0
    with pytest.raises(SystemExit) as exit_:
        cli_main(["--db", db, "list", f"--limit={value}"])
    assert exit_.value.code == 2
    assert f"argument --limit: must be a positive integer, got {value!r}" in capsys.readouterr().err


def test_unknown_scheme_names_the_url_without_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli_main(["migrate", "--db", "mysqlx://ann:s3cret@db.example/app"]) == 2
    err = capsys.readouterr().err
    assert "mysqlx://ann:***@db.example/app" in err and "s3cret" not in err


def test_store_settings_in_the_url_reach_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    monkeypatch.setenv("ZART_DATABASE_URL", f"{db}?synchronous=bogus")
    assert cli_main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "bad SQLite URL" in err and "synchronous must be one of" in err
    assert list(tmp_path.iterdir()) == []  # no file named after the query
    monkeypatch.setenv("ZART_DATABASE_URL", f"{db}?synchronous=NORMAL&busy_timeout=1")
    assert cli_main(["migrate"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir())[0] == "w.db"


def test_postgres_without_psycopg_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The base install has no psycopg: `import psycopg` fails as it would there.
    for name in [m for m in sys.modules if m.startswith("zart.stores.postgres")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)
    url = "postgresql://ann:s3cret@db.example/app"
    with pytest.raises(zart.StoreError, match=r"pip install 'zart-durable\[postgres\]'"):
        zart.connect(url)
    assert cli_main(["migrate", "--db", url]) == 2
    err = capsys.readouterr().err
    assert "postgresql://ann:***@db.example/app" in err and "s3cret" not in err
    assert "zart-durable[postgres]" in err


@pytest.mark.parametrize(
    ("app", "says"),
    [
        ("no_such_module_zart", "cannot import 'no_such_module_zart'"),
        (f"{APP}:missing", f"module '{APP}' has no attribute 'missing'"),
        (
            "json",
            "module 'json' has no attribute 'registry' (name the registry: --app MODULE:ATTR)",
        ),
        (
            "json:dumps",
            "json.dumps must be a TaskRegistry or a list of task handlers, got function",
        ),
        (":registry", "name a module by its absolute name (MODULE[:ATTR])"),
        (".cli_app:registry", "name a module by its absolute name (MODULE[:ATTR])"),
    ],
)
def test_worker_refuses_an_app_that_is_no_registry_saying_why(
    db: str, app: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["--db", db, "migrate"]) == 0
    assert cli_main(["--db", db, "schedule", "cli-double", "--data", "1", "--id", "e1"]) == 0
    assert cli_main(["--db", db, "worker", "--app", app, "--until-idle"]) == 2
    assert f"--app {app!r}: {says}" in capsys.readouterr().err
    assert _status(db, "e1") == "pending"


def test_a_reader_that_goes_away_ends_list_quietly(db: str, tmp_path: Path) -> None:
    import subprocess

    assert cli_main(["--db", db, "migrate"]) == 0
    for i in range(3):
        assert cli_main(["--db", db, "schedule", "cli-double", "--data", "1", "--id", f"e{i}"]) == 0
    # A pipe whose reader has closed: the first write raises BrokenPipeError.
    zart_list = subprocess.Popen(
        [sys.executable, "-m", "zart.cli", "--db", db, "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert zart_list.stdout is not None and zart_list.stderr is not None
    zart_list.stdout.close()
    err = zart_list.stderr.read().decode()
    assert zart_list.wait(30) == 1
    assert "Traceback" not in err and "BrokenPipe" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "e1"],
        ["history", "e1"],
        ["list"],
        ["cancel", "e1"],
        ["event", "e1", "go"],
    ],
)
def test_a_mistyped_sqlite_path_is_an_error_that_creates_no_file(
    tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "zrat.db"
    assert cli_main(["--db", f"sqlite:///{typo}", *argv]) == 2
    err = capsys.readouterr().err
    assert f"no SQLite database at {str(typo)!r}" in err and "check the path" in err
    assert "Traceback" not in err
    assert not typo.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["schedule", "cli-double", "--data", "1", "--id", "e1"],
        ["worker", "--app", APP, "--until-idle"],
        ["migrate"],
    ],
)
def test_commands_that_start_work_create_and_migrate_a_new_sqlite_file(
    tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = tmp_path / "fresh.db"
    assert cli_main(["--db", f"sqlite:///{fresh}", *argv]) == 0
    assert fresh.exists()
    assert cli_main(["--db", f"sqlite:///{fresh}", "list"]) == 0


def test_a_file_that_is_not_sqlite_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "notes.db"
    other.write_text("these are not the droids\n" * 100)
    for argv in (["list"], ["worker", "--app", APP, "--until-idle"]):
        assert cli_main(["--db", f"sqlite:///{other}", *argv]) == 2
        err = capsys.readouterr().err
        assert str(other) in err and "not a database" in err and "Traceback" not in err
    assert other.read_text().startswith("these are not")


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """``path`` made read-only, even for root (which ignores mode bits): an
    immutable file where chattr works."""
    os.chmod(path, stat.S_IRUSR)
    immutable = False
    if os.access(path, os.W_OK):
        immutable = subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
        if not immutable:
            pytest.skip("cannot make a file read-only here (root, and no chattr)")
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def test_a_read_only_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old.db"
    sqlite3.connect(old).execute("CREATE TABLE t (x)").connection.close()
    with _read_only(old):
        assert cli_main(["--db", f"sqlite:///{old}", "worker", "--app", APP, "--until-idle"]) == 2
        err = capsys.readouterr().err
        assert str(old) in err and "readonly" in err.replace("-", "").replace(" ", "")
        assert "Traceback" not in err
