"""One cattrs converter for everything zart stores: inputs, outputs, step
results, event payloads and error fields.

The rule that keeps replay honest: a value is never handed to a workflow as
it was produced, only as it reads back from JSON. ``to_json`` turns a value
into a JSON document (checking it really is one); ``from_json`` structures a
document into the declared type. Live and replayed runs both go through
``from_json``, so they see identical values. No pickle, no eval: reading a
document can only build plain data and the declared types.
"""

from __future__ import annotations

import json
import math
import re
import typing
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import cattrs
from cattrs.errors import BaseValidationError

from .errors import SerializationError

_OTHER_SCALARS = (int, bool, type(None))
# What no store keeps in a string. NUL: PostgreSQL's TEXT (ids, names) cannot
# hold it, nor can jsonb, to which users' own SQL may cast a document. A
# surrogate code point (U+D800..U+DFFF): half of a UTF-16 pair, never a
# character, yet a Python str can hold one (os.fsdecode of undecodable bytes,
# errors="surrogateescape"). TEXT refuses it (not UTF-8), and in a document a
# high+low pair, written as two \udXXX escapes, reads back as the one
# character they encode. Memory and SQLite would keep both; zart refuses them
# everywhere, so that every store holds the same documents and names.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# json.dumps writes NUL as the six characters \u0000. Inside a JSON string
# each backslash opens an escape, so a \u0000 is a NUL only when an even run
# of backslashes (escaped backslashes) precedes it: "\\u0000" is a backslash
# followed by the text u0000. Surrogates are dumped raw (ensure_ascii=False),
# so the text holds one exactly when a string in the document does.
_DUMPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)
# Types whose structure hook hands back an equal value of the same type.
SELF_STRUCTURED = frozenset({str, int, bool, float})


def make_converter() -> cattrs.Converter:
    """A converter that knows the types workflows commonly pass around."""
    conv = cattrs.Converter(detailed_validation=True)
    conv.register_unstructure_hook(datetime, datetime.isoformat)
    conv.register_structure_hook(datetime, lambda v, _: _parse_datetime(v))
    conv.register_unstructure_hook(date, date.isoformat)
    conv.register_structure_hook(date, lambda v, _: date.fromisoformat(v))
    conv.register_unstructure_hook(timedelta, timedelta.total_seconds)
    conv.register_structure_hook(timedelta, lambda v, _: timedelta(seconds=v))
    conv.register_unstructure_hook(UUID, str)
    conv.register_structure_hook(UUID, lambda v, _: v if isinstance(v, UUID) else UUID(v))
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(Decimal, lambda v, _: Decimal(str(v)))
    conv.register_unstructure_hook(set, list)
    conv.register_unstructure_hook(frozenset, list)
    return conv


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


converter = make_converter()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseValidationError):
        return "; ".join(cattrs.transform_error(exc))
    return f"{type(exc).__name__}: {exc}"


def unstorable_char(text: str) -> str | None:
    """The first character of ``text`` that zart does not store (a NUL or a
    surrogate code point), or None when every store keeps ``text`` as is."""
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
    return f"{held}, which zart does not store (PostgreSQL cannot)"


def to_json(value: Any, what: str) -> Any:
    """``value`` as a JSON document (plain dicts, lists, str, numbers, None).

    Raises ``SerializationError`` naming ``what`` and the value's type when
    the value has no JSON form, or when a string in it (a value or a key)
    holds a NUL character or a surrogate code point: PostgreSQL cannot store
    either, and a document must be storable on every store alike.
    """
    kind = type(value)
    if kind is str:
        # The common case costs a flag test and a memchr; the regex runs
        # only on text that is not ASCII (or that holds a NUL).
        if (value.isascii() and "\x00" not in value) or not UNSTORABLE.search(value):
            return value
        raise SerializationError(what, kind, _refusal(value))
    if kind in _OTHER_SCALARS:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise SerializationError(what, kind, f"{value} is not valid JSON")
        return value
    try:
        plain = converter.unstructure(value)
        # The dump/load pair is the proof: whatever survives it is exactly
        # what a store will hand back, tuples turned to lists and all.
        text = _ENCODER.encode(plain)
        document = json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SerializationError(what, kind, _describe(exc)) from None
    if ("\\u0000" in text and _DUMPED_NUL.search(text)) or (
        not text.isascii() and _SURROGATE.search(text)
    ):
        raise SerializationError(what, kind, _refusal(document))
    return document


def _refusal(document: Any) -> str:
    """Why ``document`` is refused: its first string (in document order, a
    dict's keys before its values) holding a character zart does not store,
    what that character is and where it sits, as `` at ['key'][0]``."""
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        node, path = stack.pop()
        where = f" at {path}" if path else ""
        if isinstance(node, str):
            char = unstorable_char(node)
            if char is not None:
                return f"a string holds {unstorable_reason(char)}{where}"
        elif isinstance(node, dict):
            for key in node:
                char = unstorable_char(key)
                if char is not None:
                    return f"a string holds {unstorable_reason(char)} in a key{where}"
            stack.extend((item, f"{path}[{key!r}]") for key, item in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(node))))
    return "a string holds a character zart does not store"


def from_json(document: Any, type_: Any, what: str) -> Any:
    """Structure a JSON document into ``type_`` (``Any``: the document itself)."""
    if type_ is Any or type_ is None or (type_ is type(None) and document is None):
        return document
    if type(document) is type_ and type_ in SELF_STRUCTURED:
        return document
    try:
        return converter.structure(document, type_)
    except Exception as exc:
        raise SerializationError(what, type_, _describe(exc)) from None


def return_type(fn: Any) -> Any:
    """The declared return type of ``fn`` (``Any`` when there is none)."""
    target = getattr(fn, "__wrapped__", fn)
    try:
        hints = typing.get_type_hints(target)
    except Exception:
        return Any
    hint = hints.get("return", Any)
    return Any if hint is type(None) else hint
