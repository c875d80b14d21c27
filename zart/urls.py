"""``zart.connect(url)``: a store from a URL."""

from __future__ import annotations

import re
from typing import Any

from .errors import StoreError
from .store import Store

# libpq takes a password in a URL's query (?password=) and in a key=value
# conninfo string (password='a b'), besides the URL's user:password@ part.
_SECRET_PARAM = re.compile(r"(?i)\b((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)")


def redact(url: str) -> str:
    """The URL (or libpq conninfo string) with every password replaced, safe
    for messages and logs."""
    text = _SECRET_PARAM.sub(r"\1***", url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    # The user part ends at the authority's last "@": a password holding an
    # unescaped "@" or "/" is hidden whole, whatever libpq makes of it.
    authority = rest.partition("?")[0]
    at = authority.rfind("@")
    user, colon, _ = authority[:at].partition(":") if at >= 0 else ("", "", "")
    if not colon:
        return text
    return f"{scheme}://{user}:***{rest[at:]}"


def connect(url: str, **options: Any) -> Store:
    """``memory://``, ``sqlite:///path.db`` (``sqlite:///:memory:`` too) or
    ``postgresql://user:pass@host/db``. Options go to the store's constructor."""
    if url.startswith("memory://"):
        from .memory import MemoryStore

        return MemoryStore()
    if url.startswith("sqlite://"):
        from .sqlite import SqliteStore

        sqlite_store: Store = SqliteStore.from_url(url, **options)
        return sqlite_store
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from .postgres import PostgresStore
        except ImportError as exc:  # the base install leaves psycopg out
            raise StoreError(
                f"cannot use {redact(url)!r}: PostgreSQL needs psycopg 3 and psycopg_pool "
                f"({exc}); install them with: pip install 'zart-durable[postgres]'"
            ) from None

        pg_store: Store = PostgresStore.from_url(url, **options)
        return pg_store
    raise StoreError(
        f"unknown database URL scheme in {redact(url)!r}: "
        "use memory://, sqlite:///PATH or postgresql://..."
    )
