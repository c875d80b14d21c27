"""``zart.connect(url)``: a store from a URL."""

from __future__ import annotations

import re
from typing import Any

from .errors import StoreError
from .store import Store


def redact(url: str) -> str:
    """The URL with any password replaced, safe for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


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
