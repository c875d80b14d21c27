"""Which database ``zart`` opens, what it creates, and how it says that a
database cannot be used: one line, exit 2, no password, nothing created."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import APP, Zart, client


def _status(url: str, eid: str) -> str:
    with client(url) as c:
        return c.get(eid).status


def test_an_unknown_scheme_names_the_url_without_its_password(bare: Zart) -> None:
    refused = bare("migrate", "--db", "mysqlx://ann:s3cret@db.example/app")
    assert refused.code == 2
    message = refused.error()
    assert "mysqlx://ann:***@db.example/app" in message and "s3cret" not in refused.err


def test_a_postgres_server_that_cannot_be_reached_is_one_line_without_the_password(
    bare: Zart,
) -> None:
    # Port 1 refuses at once: no server listens there.
    url = "postgresql://ann:s3cret@127.0.0.1:1/app?connect_timeout=5"
    for argv in (["list"], ["status", "e1"], ["migrate"]):
        refused = bare(*argv, "--db", url)
        assert refused.code == 2
        message = refused.error()
        assert "cannot connect to postgresql://ann:***@127.0.0.1:1/app" in message
        assert "s3cret" not in refused.err


def test_postgres_without_psycopg_says_what_to_install(bare: Zart, tmp_path: Path) -> None:
    # The base install has no psycopg: a package that fails to import, found
    # first on the path, stands in for it.
    fake = tmp_path / "nopsycopg" / "psycopg"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named psycopg')\n")
    url = "postgresql://ann:s3cret@db.example/app"
    path = f"{fake.parent}:{bare.env['PYTHONPATH']}"
    refused = bare("migrate", "--db", url, env={"PYTHONPATH": path})
    assert refused.code == 2
    message = refused.error()
    assert "postgresql://ann:***@db.example/app" in message and "s3cret" not in message
    assert "pip install 'zart-durable[postgres]'" in message


def test_store_settings_in_the_url_reach_the_worker(bare: Zart, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    refused = bare("migrate", "--db", f"{db}?synchronous=bogus")
    assert refused.code == 2
    assert "bad SQLite URL" in refused.err and "synchronous must be one of" in refused.err
    assert list(tmp_path.iterdir()) == []  # no file named after the query
    bare.ok("migrate", "--db", f"{db}?synchronous=NORMAL&busy_timeout=1")
    assert sorted(p.name for p in tmp_path.iterdir())[0] == "w.db"


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
        (".app:registry", "name a module by its absolute name (MODULE[:ATTR])"),
    ],
)
def test_worker_refuses_an_app_that_is_no_registry_saying_why(
    zart_cli: Zart, url: str, app: str, says: str
) -> None:
    zart_cli.ok("schedule", "cli-double", "--data", "1", "--id", "e1")
    refused = zart_cli("worker", "--app", app, "--until-idle")
    assert refused.code == 2
    assert f"--app {app!r}: {says}" in refused.error()
    assert _status(url, "e1") == "pending"


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "e1"],
        ["wait", "e1"],
        ["history", "e1"],
        ["list"],
        ["cancel", "e1"],
        ["retry", "e1"],
        ["event", "e1", "go"],
        ["send", "e1", "topic"],
        ["workers"],
        ["check", "--app", APP],
        ["serve", "--port", "1"],
    ],
)
def test_a_mistyped_sqlite_path_is_an_error_that_creates_no_file(
    bare: Zart, tmp_path: Path, argv: list[str]
) -> None:
    typo = tmp_path / "zrat.db"
    refused = bare("--db", f"sqlite:///{typo}", *argv)
    assert refused.code == 2  # for wait too: no database is no "not found"
    message = refused.error()
    assert f"no SQLite database at {str(typo)!r}" in message and "check the path" in message
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
    bare: Zart, tmp_path: Path, argv: list[str]
) -> None:
    fresh = tmp_path / "fresh.db"
    bare.ok("--db", f"sqlite:///{fresh}", *argv)
    assert fresh.exists()
    assert bare("--db", f"sqlite:///{fresh}", "list").code == 0


def test_a_file_that_is_not_sqlite_is_a_clear_error(bare: Zart, tmp_path: Path) -> None:
    other = tmp_path / "notes.db"
    other.write_text("these are not the droids\n" * 100)
    for argv in (["list"], ["worker", "--app", APP, "--until-idle"]):
        refused = bare("--db", f"sqlite:///{other}", *argv)
        assert refused.code == 2
        message = refused.error()
        assert str(other) in message and "not a database" in message
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


def test_a_read_only_file_is_a_clear_error(bare: Zart, tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    sqlite3.connect(old).execute("CREATE TABLE t (x)").connection.close()
    with _read_only(old):
        refused = bare("--db", f"sqlite:///{old}", "worker", "--app", APP, "--until-idle")
        assert refused.code == 2
        message = refused.error()
        assert str(old) in message and "readonly" in message.replace("-", "").replace(" ", "")
