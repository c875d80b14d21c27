"""Ids and names: what every store can key on, checked where they are given.

An execution id, a task, step, event, topic, schedule or patch name is a
non-empty string of at most ``MAX_LENGTH`` characters with no NUL and no lone
surrogate. The length is one documented limit for every store: it fits
PostgreSQL's and MySQL's index key limits with room to spare, so a name is
refused at the call that gave it, never by an index deep inside a commit.
"""

from __future__ import annotations

import hashlib
import re

MAX_LENGTH = 255
_REPR_NUL = "\\x00"

# What no store keeps in a string. NUL: PostgreSQL's text cannot hold it. A
# surrogate code point (U+D800..U+DFFF) is half of a UTF-16 pair, never a
# character, yet a Python str can hold one (os.fsdecode of undecodable
# bytes); PostgreSQL and MySQL refuse it as text that is not UTF-8.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_char(text: str) -> str | None:
    """The first character of ``text`` that zart does not store, or None."""
    if text.isascii():  # O(1) in CPython: a flag on the string
        return "\x00" if "\x00" in text else None
    found = UNSTORABLE.search(text)
    return None if found is None else found.group()


def unstorable_reason(char: str, nul: str = "\\u0000") -> str:
    """Why a string holding ``char`` (from ``unstorable_char``) is refused;
    ``nul`` is how a NUL is shown (``\\x00`` beside a Python repr)."""
    if char == "\x00":
        held = f"a NUL character ({nul})"
    else:
        held = f"a lone surrogate (\\u{ord(char):04x}), not valid Unicode"
    return f"{held}, which zart does not store"


def is_plain_name(value: object) -> bool:
    """Whether ``value`` is a usable name for sure (ASCII, no NUL, not
    blank, short enough): what ``check_name`` accepts, decided in one look."""
    return (
        type(value) is str
        and 0 < len(value) <= MAX_LENGTH
        and value.isascii()
        and "\x00" not in value
        and not value.isspace()
    )


def _blank(value: str) -> bool:
    """Only whitespace (Python's, and a byte-order mark: what JSON Schema's
    ``\\s`` takes for whitespace too), or nothing at all."""
    return all(c.isspace() or c == "\ufeff" for c in value)


def check_name(what: str, value: object) -> str:
    """``value`` if it is a usable id or name; else ``TypeError`` (not a
    string) or ``ValueError`` naming ``what`` and saying what is wrong."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__} {value!r}")
    if _blank(value):
        raise ValueError(f"{what} must not be empty or blank, got {value!r}")
    if len(value) > MAX_LENGTH:
        raise ValueError(
            f"{what} is {len(value)} characters long; ids and names hold at most "
            f"{MAX_LENGTH} ({value[:40]!r}...)"
        )
    char = unstorable_char(value)
    if char is not None:
        # As the repr of the value shows a NUL.
        raise ValueError(f"{what} {value!r} holds {unstorable_reason(char, nul=_REPR_NUL)}")
    return value


def child_id(parent_id: str, name: str) -> str:
    """The id of the child scheduled under ``name``: ``parent:name``, so a
    replayed schedule finds the same child. Past ``MAX_LENGTH`` (deep trees,
    long names) the tail is a digest of the whole, still unique and stable."""
    full = f"{parent_id}:{name}"
    if len(full) <= MAX_LENGTH:
        return full
    digest = hashlib.sha256(full.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"{full[: MAX_LENGTH - len(digest) - 2]}:~{digest}"
