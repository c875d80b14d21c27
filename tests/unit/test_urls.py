"""``zart.connect``: which store a URL opens, what it migrates, and that
passwords never reach a message or a log line, in any form libpq reads.

Nothing here needs a server: a PostgreSQL store opens no connection until
its first operation, and the ones that try here point at a closed port.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import zart
from zart.stores.connect import connect, redact
from zart.stores.memory import MemoryStore
from zart.stores.postgres import PostgresStore
from zart.stores.sqlite import SqliteStore

CLOSED_PORT = "127.0.0.1:1"  # nothing listens there: connecting fails at once


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://ann:s3cret@db/app", "postgresql://ann:***@db/app"),
        ("postgres://ann:s3cret@db:5432/app?schema=z", "postgres://ann:***@db:5432/app?schema=z"),
        ("postgresql://:s3cret@db/app", "postgresql://:***@db/app"),
        # An unescaped "@" or "/" in the password: hidden whole.
        ("postgresql://ann:top@s3cret@db/app", "postgresql://ann:***@db/app"),
        ("postgresql://ann:top/s3cret@db/app", "postgresql://ann:***@db/app"),
        # libpq also takes it from the query...
        ("postgresql://ann@db/app?password=s3cret", "postgresql://ann@db/app?password=***"),
        (
            "postgresql://db/app?sslpassword=s3cret&user=ann",
            "postgresql://db/app?sslpassword=***&user=ann",
        ),
        # ...and from a key=value conninfo string, quoted or not.
        ("host=db password=s3cret user=ann", "host=db password=*** user=ann"),
        ("host=db password = 'top s3cret' user=ann", "host=db password = *** user=ann"),
        # Nothing to hide: unchanged.
        ("postgresql://ann@db/app", "postgresql://ann@db/app"),
        ("postgresql://db/app?x=a:b@c", "postgresql://db/app?x=a:b@c"),
        ("sqlite:///zart.db", "sqlite:///zart.db"),
    ],
)
def test_redact_hides_every_password_form(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert "s3cret" not in redact(url)


def test_a_conninfo_string_given_as_a_url_is_refused_without_its_password() -> None:
    with pytest.raises(zart.StoreError) as info:
        zart.connect("host=db password=s3cret")
    assert "unknown database URL scheme in 'host=db password=***'" in str(info.value)
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize("url", ["mongodb://ann:s3cret@db/app", "zart.db", ""])
def test_an_unknown_scheme_is_refused_naming_the_ones_there_are(url: str) -> None:
    with pytest.raises(zart.StoreError, match="unknown database URL scheme") as info:
        connect(url)
    assert "sqlite:///PATH" in str(info.value) and "postgresql://" in str(info.value)
    assert "s3cret" not in str(info.value)


def test_a_url_that_is_not_a_string_is_a_type_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="got PosixPath"):
        connect(tmp_path / "zart.db")  # type: ignore[arg-type]


def test_zart_connect_is_the_stores_connect() -> None:
    assert zart.connect is connect


def test_memory_url_opens_a_memory_store_with_its_options() -> None:
    store = connect("memory://", max_payload=10)
    assert isinstance(store, MemoryStore) and store.max_payload == 10


def test_sqlite_url_opens_a_migrated_sqlite_store(tmp_path: Path) -> None:
    store = connect(f"sqlite:///{tmp_path / 'zart.db'}")
    try:
        assert isinstance(store, SqliteStore) and store.path == str(tmp_path / "zart.db")
        assert store.list() == []  # migrated: an unmigrated file raises SchemaOutdated
    finally:
        store.close()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgres_url_opens_a_store_without_connecting_or_migrating(scheme: str) -> None:
    # Nothing listens on the port: connecting (or migrating) would raise here.
    store = connect(f"{scheme}://ann:s3cret@{CLOSED_PORT}/app?schema=z&prefix=p_")
    assert isinstance(store, PostgresStore)
    assert (store.schema, store.prefix) == ("z", "p_")
    store.close()


def test_postgres_migrate_true_migrates_and_a_failure_is_redacted() -> None:
    with pytest.raises(zart.StoreError) as info:
        connect(f"postgresql://ann:s3cret@{CLOSED_PORT}/app", migrate=True, connect_timeout=2)
    assert f"postgresql://ann:***@{CLOSED_PORT}/app" in str(info.value)
    assert "s3cret" not in str(info.value)


def test_options_override_the_urls_own_parameters() -> None:
    store = connect(f"postgresql://ann@{CLOSED_PORT}/app?schema=from_url", schema="given")
    assert isinstance(store, PostgresStore) and store.schema == "given"
    store.close()
