"""``zart.connect(url)``: a store from a URL."""

from __future__ import annotations

import re
from typing import Any

from ..errors import StoreError
from .protocol import Store

# libpq takes a password in a URL's query (?password=) and in a key=value
# conninfo string (password='a b'), besides the URL's user:password@ part.
_SECRET_PARAM = re.compile(r"(?i)\b((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)")
SCHEMES = "memory://, sqlite:///PATH, postgresql://... or mysql://..."


def redact(url: str) -> str:
    """The URL (or libpq conninfo string) with every password replaced, safe
    for messages and logs."""
    text = _SECRET_PARAM.sub(r"\1***", url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    # The user part ends at the authority's last "@": a password holding an
    # unescaped "@" or "/" is hidden whole, whatever the driver makes of it.
    authority = rest.partition("?")[0]
    at = authority.rfind("@")
    user, colon, _ = authority[:at].partition(":") if at >= 0 else ("", "", "")
    if not colon:
        return text
    return f"{scheme}://{user}:***{rest[at:]}"


def connect(url: str, *, migrate: bool | None = None, **options: Any) -> Store:
    """A store for ``url``: ``memory://``, ``sqlite:///path.db``,
    ``postgresql://user:pass@host/db`` or ``mysql://user:pass@host/db``
    (``mariadb://`` too).

    SQLite, the embedded default, needs no setup: a new file is created and
    a file of an older schema migrated here, under the migration lock
    (``migrate=False`` opts out). PostgreSQL and MySQL migrate only when
    asked: ``migrate=True``, ``store.migrate()`` or ``zart migrate``. A
    schema newer than this code is refused everywhere. ``options`` go to the
    store's constructor (they override the URL's own parameters).
    """
    if not isinstance(url, str):
        raise TypeError(f"connect() takes a database URL string, got {type(url).__name__}")
    store = _open(url, options)
    try:
        if migrate if migrate is not None else url.startswith("sqlite:"):
            store.migrate()
    except BaseException:
        store.close()
        raise
    return store


def _open(url: str, options: dict[str, Any]) -> Store:
    if url.startswith("memory://"):
        from .memory import MemoryStore

        return MemoryStore(**options)
    if url.startswith("sqlite:"):
        from .sqlite import SqliteStore

        return SqliteStore.from_url(url, **options)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from .postgres import PostgresStore
        except ImportError as exc:  # the base install leaves psycopg out
            raise StoreError(
                f"cannot use {redact(url)!r}: PostgreSQL needs psycopg 3 and psycopg_pool "
                f"({exc}); install them with: pip install 'zart-durable[postgres]'"
            ) from None
        return PostgresStore.from_url(url, **options)
    if url.startswith(("mysql://", "mariadb://")):
        try:
            from .mysql import MySQLStore
        except ImportError as exc:  # the base install leaves mysqlclient out
            raise StoreError(
                f"cannot use {redact(url)!r}: MySQL needs mysqlclient ({exc}); install it "
                "with: pip install 'zart-durable[mysql]'"
            ) from None
        return MySQLStore.from_url(url, **options)
    raise StoreError(f"unknown database URL scheme in {redact(url)!r}: use {SCHEMES}")
