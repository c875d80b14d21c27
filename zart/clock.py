"""The one place that reads the wall clock.

Everything else is handed ``now``. The module-attribute lookup below is on
purpose: freezegun swaps ``datetime.datetime``, so ``zart.testing`` moves
this clock (and ``datetime.now()`` inside steps) with its virtual time.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def checked_clock(clock: Callable[[], _dt.datetime], where: str) -> Callable[[], _dt.datetime]:
    """``clock``, once one reading shows it tells aware datetimes. The stores
    keep instants: a naive reading would be taken as UTC by one store,
    refused by another and compared as is by the memory store."""
    if not callable(clock):
        raise TypeError(
            f"{where}: clock must be a function returning the time, got {type(clock).__name__}"
        )
    reading = clock()
    if not isinstance(reading, _dt.datetime):
        raise TypeError(f"{where}: clock() must return a datetime, got {type(reading).__name__}")
    if reading.tzinfo is None or reading.utcoffset() is None:
        raise ValueError(
            f"{where}: clock() returned the naive datetime {reading!r}; "
            "return timezone-aware ones, e.g. datetime.now(datetime.UTC)"
        )
    return clock
