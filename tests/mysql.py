"""MySQL/MariaDB for tests: the server URL, and a throwaway database per test.

With CI=true a server that cannot be reached is a failure, not a skip: CI
must prove the MySQL store, never quietly pass without it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

DEFAULT_URL = "mysql://root@127.0.0.1:3306/test"


def mysql_url() -> str:
    return os.environ.get("ZART_TEST_MYSQL_URL", DEFAULT_URL)


def admin(url: str) -> Any:
    """A plain autocommit driver connection to ``url``'s server and database."""
    import MySQLdb

    from zart.stores.mysql.connection import parse_url

    target, _ = parse_url(url)
    return MySQLdb.connect(**target.options(), charset="utf8mb4", autocommit=True)


def mysql_url_or_skip() -> str:
    url = mysql_url()
    try:
        with admin(url) as conn:
            conn.cursor().execute("SELECT 1")
    except Exception as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"MySQL is required on CI but unreachable at {url}: {exc}")
        pytest.skip(f"MySQL unreachable at {url}: {exc}")
    return url


def in_database(url: str, database: str) -> str:
    """``url`` with its database replaced (its query kept)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A fresh database on ``url``'s server; its URL, dropped afterwards."""
    name = f"zt_{uuid.uuid4().hex[:12]}"
    with admin(url) as conn:
        conn.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield in_database(url, name)
    finally:
        with admin(url) as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
