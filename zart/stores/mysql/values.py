"""Times as the MySQL store keeps and reads them: naive UTC in DATETIME(6)
columns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def naive(when: datetime | None) -> datetime | None:
    """A time as the store keeps it: naive UTC (DATETIME(6) has no zone)."""
    return None if when is None else when.astimezone(UTC).replace(tzinfo=None)


def aware(when: Any) -> datetime | None:
    return None if when is None else when.replace(tzinfo=UTC)
