"""The one place that reads the wall clock.

Everything else is handed ``now``. The module-attribute lookup below is on
purpose: freezegun swaps ``datetime.datetime``, so ``zart.testing`` moves
this clock (and ``datetime.now()`` inside steps) with its virtual time.
"""

from __future__ import annotations

import datetime as _dt


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)
