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

_SCALARS = (str, int, bool, type(None))
_NUL_REASON = (
    "a string holds a NUL character (\\u0000), which zart does not store (PostgreSQL cannot)"
)
# json.dumps writes NUL as the six characters \u0000. Inside a JSON string
# each backslash opens an escape, so a \u0000 is a NUL only when an even run
# of backslashes (escaped backslashes) precedes it: "\\u0000" is a backslash
# followed by the text u0000.
_DUMPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
# Types whose structure hook hands back an equal value of the same type.
_SELF_STRUCTURED = frozenset({str, int, bool, float})


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


def to_json(value: Any, what: str) -> Any:
    """``value`` as a JSON document (plain dicts, lists, str, numbers, None).

    Raises ``SerializationError`` naming ``what`` and the value's type when
    the value has no JSON form, or when a string in it (a value or a key)
    holds a NUL character: PostgreSQL cannot store one, and a document must
    be storable on every store alike.
    """
    kind = type(value)
    if kind in _SCALARS:
        if kind is str and "\x00" in value:
            raise SerializationError(what, kind, _NUL_REASON)
        return value
    if kind is float:
        if not math.isfinite(value):
            raise SerializationError(what, kind, f"{value} is not valid JSON")
        return value
    try:
        plain = converter.unstructure(value)
        # The dump/load pair is the proof: whatever survives it is exactly
        # what a store will hand back, tuples turned to lists and all.
        text = json.dumps(plain, allow_nan=False)
        document = json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SerializationError(what, kind, _describe(exc)) from None
    if "\\u0000" in text and _DUMPED_NUL.search(text):
        raise SerializationError(what, kind, f"{_NUL_REASON}{_nul_place(document)}")
    return document


def _nul_place(document: Any) -> str:
    """Where the first NUL in ``document`` sits, as `` at ['key'][0]``."""
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        node, path = stack.pop()
        where = f" at {path}" if path else ""
        if isinstance(node, str):
            if "\x00" in node:
                return where
        elif isinstance(node, dict):
            if any("\x00" in key for key in node):
                return f" in a key{where}"
            stack.extend((item, f"{path}[{key!r}]") for key, item in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(node))))
    return ""


def from_json(document: Any, type_: Any, what: str) -> Any:
    """Structure a JSON document into ``type_`` (``Any``: the document itself)."""
    if type_ is Any or type_ is None or (type_ is type(None) and document is None):
        return document
    if type(document) is type_ and type_ in _SELF_STRUCTURED:
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
