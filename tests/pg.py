"""PostgreSQL for tests: the server URL, and a throwaway schema per test.

With CI=true a server that cannot be reached is a failure, not a skip: CI
must prove the PostgreSQL store, never quietly pass without it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    return os.environ.get("ZART_TEST_POSTGRES_URL", DEFAULT_URL)


def postgres_url_or_skip() -> str:
    url = postgres_url()
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required on CI but unreachable at {url}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {url}: {exc}")
    return url


@contextmanager
def scratch_schema(url: str) -> Iterator[str]:
    """A fresh schema, dropped afterwards."""
    import psycopg

    schema = f"zt_{uuid.uuid4().hex[:12]}"
    try:
        yield schema
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
