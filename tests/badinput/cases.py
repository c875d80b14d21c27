"""The bad inputs, as tables, and the checks every refusal must pass.

A ``Bad`` is one bad value and a pattern of what the refusal must say about
it; an ``Entry`` is one way into zart taking one argument, and the name the
refusal must give that argument. Each test module crosses the two.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs

import zart


@attrs.frozen
class Bad:
    label: str
    value: Any
    says: str  # a regex: what the message must say of the value

    def __str__(self) -> str:
        return self.label


@attrs.frozen
class Entry:
    label: str
    culprit: str  # what the message must call the argument
    call: Callable[..., Any]

    def __str__(self) -> str:
        return self.label


def ids(rows: list[Any]) -> list[str]:
    return [str(row) for row in rows]


# Ids and names: at most 255 characters of storable text (zart.MAX_NAME_LENGTH).
BAD_NAMES = [
    Bad("int", 123, "must be a string"),
    Bad("bytes", b"name", "must be a string"),
    Bad("list", ["a"], "must be a string"),
    Bad("empty", "", "empty"),
    Bad("blank", " \t", "empty or blank"),
    Bad("256-chars", "n" * 256, "256 characters long.*at most 255"),
    Bad("100000-chars", "n" * 100_000, "100000 characters long.*at most 255"),
    Bad("lone-surrogate", "\ud800", "lone surrogate"),
    # What os.fsdecode makes of the bytes b"caf\xe9" (Latin-1, not UTF-8).
    Bad("undecodable-bytes", "caf\udce9", "lone surrogate"),
    Bad("NUL", "a\x00b", "NUL"),
]

# Durations: a timedelta or seconds, finite, not negative.
BAD_DURATIONS = [
    Bad("negative", -1, "negative|positive"),
    Bad("negative-timedelta", timedelta(seconds=-1), "negative|positive"),
    Bad("NaN", math.nan, "finite"),
    Bad("inf", math.inf, "finite"),
    Bad("-inf", -math.inf, "finite"),
    Bad("1e300", 1e300, "too large|at most"),
    Bad("str", "5s", "timedelta or seconds|number of seconds"),
    Bad("bool", True, "timedelta or seconds|number of seconds"),
]

# Whole numbers (retries, limits, sizes).
BAD_COUNTS = [
    Bad("negative", -1, "at least|non-negative"),
    Bad("float", 1.5, "whole number|integer"),
    Bad("str", "3", "whole number|integer"),
    Bad("bool", True, "whole number|integer"),
    Bad("NaN", math.nan, "whole number|integer"),
]

# Where a declared type belongs (output=, type=).
BAD_TYPES = [
    Bad("int", 5, "must be a type"),
    Bad("str", "int", "must be a type"),
    Bad("list", [int], "must be a type"),
]

# Values no store keeps, or no JSON holds.
UNSTORABLE_VALUES = [
    Bad("lone-surrogate", {"note": "\ud800"}, "lone surrogate"),
    Bad("NUL", ["a\x00b"], "NUL"),
    Bad("bytes", b"\xff\xfe", "not JSON serializable"),
    Bad("NaN", math.nan, "not valid JSON"),
    Bad("inf", [math.inf], "not valid JSON|not JSON compliant"),
    Bad("object", object(), "cannot convert"),
]

# Names made of SQL metacharacters: ordinary names, stored and read back exactly.
SQL_NAMES = [
    "'; DROP TABLE executions; --",
    "%s",
    "%(x)s",
    "?",
    "$1",
    ":name",
    "\\",
    "\\'",
    "'",
    '"quoted"',
    "`x`",
    "a%",
    "_",
    "*",
    "x' OR '1'='1",
    "é✓🎉",
    "n" * 255,
]

# What a refusal may be: zart's own words, never a driver's or a codec's.
ALLOWED = (zart.ZartError, ValueError, TypeError)
NOT_OURS = (UnicodeError, json.JSONDecodeError, OverflowError)


def refusal(call: Callable[[], Any]) -> BaseException:
    """The exception ``call()`` is refused with; fails the test if it is
    accepted, or refused with anything but a clear error of zart's."""
    try:
        call()
    except ALLOWED as exc:
        assert not isinstance(exc, NOT_OURS), f"{type(exc).__name__} leaked: {exc}"
        module = type(exc).__module__
        assert module == "builtins" or module.startswith("zart"), f"{module}: {exc}"
        return exc
    raise AssertionError("accepted")


def check_refused(call: Callable[[], Any], culprit: str, bad: Bad) -> str:
    """``call()`` is refused naming ``culprit`` and saying what ``bad`` says;
    the message."""
    message = str(refusal(call))
    assert culprit in message, f"{culprit!r} not named in: {message[:300]}"
    assert re.search(bad.says, message), f"{bad.says!r} not said in: {message[:300]}"
    assert len(message) < 1000, f"a message of {len(message)} characters"
    return message


def snapshot(client: zart.Client) -> list[Any]:
    """Everything stored: each execution's record, history and log, and
    the recurring schedules."""
    records = client.list(limit=1000)
    stored = [(rec, client.history(rec.id), client.store.load(rec.id)) for rec in records]
    return [*stored, client.list_schedules()]
