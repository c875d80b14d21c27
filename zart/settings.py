"""Checks for the numbers users configure: seconds and counts.

A setting is checked where it is given, so that a bad one fails with its
name, not later inside a thread, a pool or a C call that cannot say which.
"""

from __future__ import annotations

import math
from datetime import timedelta

# No timing setting needs more: leases are renewed by heartbeats, waits are
# retried. It also keeps ``now + setting`` far from datetime's end, and
# milliseconds within the 32-bit ints that SQLite's busy timeout takes.
LONGEST_SETTING = timedelta(days=1)


def seconds(what: str, value: object, *, zero: bool = False) -> float:
    """``value`` as seconds: a real number, finite, above zero (or at zero
    when ``zero``) and at most a day. Raises ValueError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number of seconds, got {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"{what} must be finite, got {value!r}")
    if seconds < 0 or (seconds == 0 and not zero):
        least = "at least 0" if zero else "positive"
        raise ValueError(f"{what} must be {least}, got {value!r}")
    longest = LONGEST_SETTING.total_seconds()
    if seconds > longest:
        raise ValueError(f"{what} must be at most {longest:g} s (a day), got {value!r}")
    return seconds


def parse_seconds(what: str, text: str, *, zero: bool = False) -> float:
    """``seconds`` for a setting given as text (a URL parameter)."""
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{what} must be a number of seconds, got {text!r}") from None
    return seconds(what, number, zero=zero)


# The widest integer a store's columns and LIMIT/OFFSET take.
MOST = 2**63 - 1


def count(what: str, value: object, *, least: int) -> int:
    """``value`` as a whole number from ``least`` to ``MOST``; ValueError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    if value < least:
        raise ValueError(f"{what} must be at least {least}, got {value!r}")
    if value > MOST:
        raise ValueError(f"{what} must be at most 2**63 - 1, got {value!r}")
    return value


def wait_seconds(what: str, value: object) -> float | None:
    """A caller's wait: None (as long as it takes) or seconds >= 0, where
    inf means None. NaN would never compare past a deadline: refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"{what} must be None or a number of seconds >= 0, got {value!r}")
    return None if value == math.inf else float(value)


def parse_count(what: str, text: str, *, least: int) -> int:
    """``count`` for a setting given as text (a URL parameter)."""
    try:
        number = int(text)
    except ValueError:
        raise ValueError(f"{what} must be a whole number, got {text!r}") from None
    return count(what, number, least=least)


def payload_limit(value: object) -> int | None:
    """A store's ``max_payload``: None (no limit) or a number of bytes >= 1."""
    return None if value is None else count("max_payload", value, least=1)
