"""The database a chaos run uses: a SQLite file, a scratch PostgreSQL schema
(its connections named, so faults hit only the workers'), or a scratch
MySQL database; migrated, and dropped afterwards."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import zart

from .cluster import PostgresFaults

POSTGRES = os.environ.get("ZART_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL = os.environ.get("ZART_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")


@contextlib.contextmanager
def database(kind: str, folder: Path) -> Iterator[tuple[str, PostgresFaults | None]]:
    """The URL of a fresh, migrated store of ``kind``; for PostgreSQL, the
    faults that can be done to it."""
    tag = uuid.uuid4().hex[:10]
    if kind == "sqlite":
        url = f"sqlite:///{folder / 'chaos.db'}"
        zart.connect(url).close()
        yield url, None
    elif kind == "postgres":
        with _postgres_schema(f"chaos_{tag}") as schema:
            name = f"zart-chaos-{tag}"
            url = f"{POSTGRES}?schema={schema}&application_name={name}"
            zart.connect(url, migrate=True).close()
            yield url, PostgresFaults(url=POSTGRES, application_name=name)
    elif kind == "mysql":
        with _mysql_database(f"chaos_{tag}") as url:
            zart.connect(url, migrate=True).close()
            yield url, None
    else:
        raise ValueError(f"unknown store {kind!r}: sqlite, postgres or mysql")


@contextlib.contextmanager
def _postgres_schema(schema: str) -> Iterator[str]:
    import psycopg

    try:
        yield schema
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextlib.contextmanager
def _mysql_database(name: str) -> Iterator[str]:
    from tests.mysql import admin, in_database

    with admin(MYSQL) as conn:
        conn.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield in_database(MYSQL, name)
    finally:
        with admin(MYSQL) as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
