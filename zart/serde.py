"""One cattrs converter and one JSON text codec for everything zart stores:
inputs, outputs, step results, event payloads, messages and error fields.

The rule that keeps replay honest: a value is never handed to a workflow as
it was produced, only as it reads back from JSON. ``to_json`` turns a value
into a JSON document (checking it really is one, and that it fits the
payload limit); ``from_json`` structures a document into the declared type,
strictly: JSON of the wrong kind is refused, never coerced. Live and
replayed runs both go through ``from_json``, so they see identical values.
No pickle, no eval: reading a document can only build plain data and the
declared types.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import typing
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any
from uuid import UUID

import attrs
import cattrs
from cattrs.cols import (
    is_mapping,
    is_sequence,
    list_structure_factory,
    mapping_structure_factory,
)
from cattrs.errors import BaseValidationError
from cattrs.gen import make_dict_structure_fn
from cattrs.gen.typeddicts import make_dict_structure_fn as make_typeddict_structure_fn
from cattrs.v import format_exception

from .commands import Command
from .errors import PayloadTooLarge, SerializationError
from .names import UNSTORABLE, unstorable_char, unstorable_reason

DEFAULT_MAX_PAYLOAD = 1024 * 1024  # bytes of JSON text, per value
_SURROGATE = re.compile("[\ud800-\udfff]")
# json.dumps writes NUL as the six characters \u0000. Inside a JSON string
# each backslash opens an escape, so a \u0000 is a NUL only when an even run
# of backslashes (escaped backslashes) precedes it.
_DUMPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_SCALARS = (int, bool, type(None))
# Types whose structure hook hands back an equal value of the same type.
SELF_STRUCTURED = frozenset({str, int, bool, float})
_JSON_KINDS = {
    dict: "object",
    list: "array",
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    type(None): "null",
}


class WrongKind(ValueError):
    """JSON of another kind than the declared type takes."""

    def __init__(self, expected: str, value: Any) -> None:
        super().__init__(f"expected {expected}, got {_kind(value)}")


def _kind(value: Any) -> str:
    return _JSON_KINDS.get(type(value), type(value).__name__)


# -- the text codec --------------------------------------------------------------


def dumps(document: Any) -> str:
    """A JSON document as text, as every store writes it. An int or a str
    (the common step results) is written without the encoder's machinery:
    the same text, at a fraction of the cost."""
    kind = type(document)
    if kind is int:
        return int.__repr__(document)
    if kind is str:
        return encode_basestring(document)
    return _ENCODER.encode(document)


def loads(text: str) -> Any:
    return json.loads(text)


# -- the converter ---------------------------------------------------------------


def _strict_int(value: Any, _: Any) -> int:
    if type(value) is not int:
        raise WrongKind("int", value)
    return value


def _strict_float(value: Any, _: Any) -> float:
    if type(value) not in (int, float):
        raise WrongKind("float", value)
    return float(value)


def _strict_bool(value: Any, _: Any) -> bool:
    if type(value) is not bool:
        raise WrongKind("bool", value)
    return value


def _strict_str(value: Any, _: Any) -> str:
    if type(value) is not str:
        raise WrongKind("str", value)
    return value


def _parse_datetime(value: Any, _: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if type(value) is not str:
        raise WrongKind("an ISO 8601 datetime string", value)
    return datetime.fromisoformat(value)


def _parse_date(value: Any, _: Any) -> date:
    if type(value) is not str:
        raise WrongKind("an ISO 8601 date string", value)
    return date.fromisoformat(value)


def _parse_timedelta(value: Any, _: Any) -> timedelta:
    if type(value) not in (int, float):
        raise WrongKind("seconds (a number)", value)
    return timedelta(seconds=value)


def _guarded(
    base: Callable[[Any, Any], Any], needs: type, expected: str
) -> Callable[[Any, Any], Any]:
    """``base``, once the JSON value is of kind ``needs`` (a list for a
    sequence, an object for a mapping or a class)."""

    def hook(value: Any, type_: Any) -> Any:
        if type(value) is not needs:
            raise WrongKind(expected, value)
        return base(value, type_)

    return hook


def _is_sequence_like(type_: Any) -> bool:
    origin = typing.get_origin(type_) or type_
    if origin in (str, bytes):
        return False
    return is_sequence(type_) or origin in (set, frozenset, tuple)


def _is_record_like(type_: Any) -> bool:
    return isinstance(type_, type) and (attrs.has(type_) or dataclasses.is_dataclass(type_))


def make_converter() -> cattrs.Converter:
    """The converter: the types workflows commonly pass around, structured
    strictly (``"7"`` is no int, ``"no"`` no bool, ``null`` no str)."""
    conv = cattrs.Converter(detailed_validation=True)
    for type_, hook in (
        (int, _strict_int),
        (float, _strict_float),
        (bool, _strict_bool),
        (str, _strict_str),
        (datetime, _parse_datetime),
        (date, _parse_date),
        (timedelta, _parse_timedelta),
    ):
        conv.register_structure_hook(type_, hook)
    conv.register_unstructure_hook(datetime, datetime.isoformat)
    conv.register_unstructure_hook(date, date.isoformat)
    conv.register_unstructure_hook(timedelta, timedelta.total_seconds)
    conv.register_unstructure_hook(UUID, str)
    conv.register_structure_hook(UUID, lambda v, _: v if isinstance(v, UUID) else UUID(v))
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(Decimal, lambda v, _: Decimal(str(v)))
    conv.register_unstructure_hook(set, list)
    conv.register_unstructure_hook(frozenset, list)
    conv.register_unstructure_hook_func(_is_command, _refuse_command)
    _guard_containers(conv)
    return conv


def _guard_containers(conv: cattrs.Converter) -> None:
    """Sequences take JSON arrays, mappings and classes take objects: cattrs
    would iterate a dict's keys into a list, or a string's characters."""

    def sequence_factory(type_: Any) -> Callable[[Any, Any], Any]:
        return _guarded(_container_hook(conv, type_), list, "array")

    def object_factory(type_: Any) -> Callable[[Any, Any], Any]:
        return _guarded(_container_hook(conv, type_), dict, "object")

    conv.register_structure_hook_factory(_is_sequence_like, sequence_factory)
    conv.register_structure_hook_factory(
        lambda t: is_mapping(t) or _is_record_like(t) or typing.is_typeddict(t), object_factory
    )


def _container_hook(conv: cattrs.Converter, type_: Any) -> Any:
    """The hook cattrs generates for a container type, bound to ``conv`` so
    that what the container holds is structured strictly too."""
    if _is_record_like(type_):
        return make_dict_structure_fn(type_, conv)
    if typing.is_typeddict(type_):
        return make_typeddict_structure_fn(type_, conv)
    if is_mapping(type_):
        return mapping_structure_factory(type_, conv)
    origin = typing.get_origin(type_) or type_
    args = typing.get_args(type_)
    if origin in (set, frozenset):
        element = args[0] if args else Any
        items = list_structure_factory(list[element], conv)  # type: ignore[valid-type]
        return lambda value, _: origin(items(value, list))
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        return lambda value, _: _hetero_tuple(conv, value, args)
    if origin is tuple:
        inner = args[0] if args else Any
        items = list_structure_factory(list[inner], conv)  # type: ignore[valid-type]
        return lambda value, _: tuple(items(value, list))
    return list_structure_factory(type_, conv)


def _hetero_tuple(
    conv: cattrs.Converter, value: list[Any], args: tuple[Any, ...]
) -> tuple[Any, ...]:
    if len(value) != len(args):
        raise ValueError(f"expected an array of {len(args)} items, got {len(value)}")
    return tuple(conv.structure(item, arg) for item, arg in zip(value, args, strict=True))


def _is_command(type_: Any) -> bool:
    return isinstance(type_, type) and issubclass(type_, Command)


def _refuse_command(value: Any) -> Any:
    raise TypeError(forgot_yield(value))


def forgot_yield(value: Any) -> str:
    """What to say of a command found where a value belongs."""
    name = getattr(value, "name", None) or getattr(getattr(value, "target", None), "name", "")
    called = f" {type(value).__name__} {name!r}" if name else f" {type(value).__name__}"
    return (
        f"it holds the command{called}, not its result: did you forget 'yield'? "
        "(a command runs only when the workflow yields it)"
    )


converter = make_converter()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseValidationError):
        lines = cattrs.transform_error(exc, format_exception=_format)
        return "; ".join(_located(line) for line in lines)
    if isinstance(exc, WrongKind):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _format(exc: BaseException, type_: Any) -> str:
    # cattrs words a ValueError as "expected <type>" alone: a wrong kind
    # keeps what it got ("expected bool, got str"), as it does at the top.
    if isinstance(exc, WrongKind):
        return str(exc)
    return format_exception(exc, type_)


def _located(line: str) -> str:
    """cattrs says 'invalid value ... @ $.path': put the path first."""
    message, at, path = line.rpartition(" @ ")
    if not at:
        return line
    prefix = "invalid value for type, "
    message = message.removeprefix(prefix)
    return message if path == "$" else f"at {path}: {message}"


# -- to and from documents -------------------------------------------------------


def to_json(value: Any, what: str, *, limit: int | None = DEFAULT_MAX_PAYLOAD) -> Any:
    """``value`` as a JSON document (plain dicts, lists, str, numbers, None).

    Raises ``SerializationError`` naming ``what`` when the value has no JSON
    form, holds a command (a missing ``yield``), or holds a string with a NUL
    or a lone surrogate (no store keeps either); ``PayloadTooLarge`` when its
    JSON text is longer than ``limit`` bytes.
    """
    kind = type(value)
    if kind is str:
        if not ((value.isascii() and "\x00" not in value) or not UNSTORABLE.search(value)):
            raise SerializationError(what, kind, _refusal(value))
        if limit is not None and len(value) * 4 > limit:  # UTF-8 takes at most 4 bytes a char
            _check_size(what, len(dumps(value).encode("utf-8")), limit)
        return value
    if kind in _SCALARS:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise SerializationError(what, kind, f"{value} is not valid JSON")
        return value
    if isinstance(value, Command):
        raise SerializationError(what, kind, forgot_yield(value))
    try:
        plain = converter.unstructure(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SerializationError(what, kind, _describe(exc)) from None
    try:
        # The dump/load pair is the proof: whatever survives it is exactly
        # what a store will hand back, tuples turned to lists and all.
        text = dumps(plain)
        document = json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        nan = isinstance(exc, ValueError) and "Out of range float" in str(exc)
        raise SerializationError(
            what, kind, (nan and _non_finite(plain)) or _describe(exc)
        ) from None
    if ("\\u0000" in text and _DUMPED_NUL.search(text)) or (
        not text.isascii() and _SURROGATE.search(text)
    ):
        raise SerializationError(what, kind, _refusal(document))
    if limit is not None and len(text) * (1 if text.isascii() else 4) > limit:
        _check_size(what, len(text.encode("utf-8")), limit)
    return document


def _check_size(what: str, size: int, limit: int) -> None:
    if size > limit:
        raise PayloadTooLarge(what, size, limit)


def _nodes(document: Any) -> Iterator[tuple[Any, str, bool]]:
    """Every value of ``document`` and every dict key, in document order (a
    dict's keys before its values), each with where it sits (``['key'][0]``,
    empty at the top) and whether it is a key."""
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        node, path = stack.pop()
        yield node, path, False
        if isinstance(node, dict):
            yield from ((key, path, True) for key in node)
            stack.extend((item, f"{path}[{key!r}]") for key, item in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(node))))


def _refusal(document: Any) -> str:
    """Why ``document`` is refused: its first string holding a character
    zart does not store, what that character is and where it sits."""
    for node, path, is_key in _nodes(document):
        char = unstorable_char(node) if isinstance(node, str) else None
        if char is not None:
            return f"a string holds {unstorable_reason(char)}{' in a key' if is_key else ''}" + (
                f" at {path}" if path else ""
            )
    return "a string holds a character zart does not store"


def _non_finite(document: Any) -> str | None:
    """Where ``document`` holds a NaN or an infinity, which JSON cannot."""
    for node, path, _ in _nodes(document):
        if type(node) is float and not math.isfinite(node):
            return f"{node} is not valid JSON" + (f" at {path}" if path else "")
    return None


# Values where a declared type belongs (``output=5``, ``type="int"``): refused
# where they are given, not when a value is first read back into them.
_NOT_TYPES = (int, float, str, bytes, list, dict, tuple, set, frozenset)


def check_type(what: str, value: Any) -> Any:
    """``value`` if it can be a declared type (a class, ``list[str]``,
    ``int | None``, ``Any``); ``TypeError`` naming ``what`` for a plain value."""
    if isinstance(value, _NOT_TYPES):
        raise TypeError(
            f"{what} must be a type (int, a class, list[str], ...), "
            f"got {type(value).__name__} {value!r:.80}"
        )
    return value


def from_json(document: Any, type_: Any, what: str) -> Any:
    """Structure a JSON document into ``type_`` (``Any``: the document itself).
    JSON of the wrong kind raises ``SerializationError`` naming ``what`` and
    where in the value it went wrong; nothing is coerced."""
    if type_ is Any or type_ is None or (type_ is type(None) and document is None):
        return document
    if type(document) is type_ and type_ in SELF_STRUCTURED:
        return document
    try:
        return converter.structure(document, type_)
    except Exception as exc:
        raise SerializationError(what, type_, _describe(exc), reading=True) from None


def check_faithful(value: Any, document: Any, type_: Any, what: str) -> None:
    """Refuse a value that its JSON form would read back as something else
    (a set as a list, a datetime as a string): a caller
    reading it back would not get what the code returned. With a declared
    ``type_`` the value must survive structuring into it; an attrs or
    dataclass value is read back into its own class."""
    target = type_
    if target is Any and _is_record_like(type(value)):
        target = type(value)
    back = document if target is Any else from_json(document, target, what)
    if not _same(back, value):
        hint = "" if type_ is not Any else "; return plain JSON values or declare the type"
        raise SerializationError(
            what, type(value), f"JSON would read it back as {_kind(back)} {back!r:.80}{hint}"
        )


def _same(a: Any, b: Any) -> bool:
    """Whether ``a`` (read back) is ``b`` (produced). A tuple reads back as
    a list, and counts as the same: both are JSON arrays, and code that
    indexes or iterates one works on the other; a set does not."""
    if type(b) is tuple and type(a) is list:
        b = list(b)
    if _type(a) is not _type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _type(value: Any) -> type:
    kind = type(value)
    if kind.__module__ == "freezegun.api":
        # While TestEnv drives, freezegun makes the converter read a datetime
        # back as its FakeDatetime: a subclass standing in for the real one.
        return next(c for c in kind.__mro__ if c.__module__ == "datetime")
    return kind


def return_type(fn: Any) -> Any:
    """The declared return type of ``fn`` (``Any`` when there is none)."""
    target = getattr(fn, "__wrapped__", fn)
    try:
        hints = typing.get_type_hints(target)
    except Exception:
        return Any
    hint = hints.get("return", Any)
    return Any if hint is type(None) else hint
