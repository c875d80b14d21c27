"""Errors as stored documents, and back.

Three shapes, told apart by ``kind``:
- ``business``: a ``BusinessError`` with its fields; rebuilt through the
  subclass registry into the same type with the same fields.
- ``step``: a step that failed for good (``RetryExhausted``/``StepTimeout``).
- ``error``: any other exception that ended an execution; rebuilt as
  ``ExecutionFailed`` (its class is never imported from a stored name).

Messages and tracebacks are text for people and come from any exception, so
a character in them that PostgreSQL cannot store is written as a visible
escape instead of refusing: a NUL as ``\\x00``, a surrogate code point as
``\\ud800`` (as ``repr`` shows them). An error is always recordable.
"""

from __future__ import annotations

import re
import traceback
from typing import Any

import attrs

from .errors import (
    BusinessError,
    Cancelled,
    ExecutionFailed,
    RetryExhausted,
    SerializationError,
    StepFailed,
    StepTimeout,
    UnknownBusinessError,
    business_error_name,
    lookup_business_error,
)
from .serde import UNSTORABLE, converter, from_json, to_json

_TRACEBACK_LINES = 12


def _text(value: str) -> str:
    """``value`` with each NUL written as the four characters ``\\x00`` and
    each surrogate code point as the six characters ``\\udXXX``."""
    if value.isascii() and "\x00" not in value:
        return value
    return UNSTORABLE.sub(_escape, value)


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    return "\\x00" if char == "\x00" else f"\\u{ord(char):04x}"


def type_name(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def business_document(exc: BusinessError) -> dict[str, Any]:
    cls = type(exc)
    fields: Any = {}
    if attrs.has(cls):
        fields = to_json(converter.unstructure(exc), f"fields of {cls.__qualname__}")
    return {
        "kind": "business",
        "type": _text(business_error_name(cls)),
        "message": _text(str(exc)),
        "fields": fields,
    }


def step_document(
    step: str, error_type: str, message: str, attempts: int, timeout: bool
) -> dict[str, Any]:
    return {
        "kind": "step",
        "type": "StepTimeout" if timeout else "RetryExhausted",
        "step": _text(step),
        "error_type": _text(error_type),
        "message": _text(message),
        "attempts": attempts,
    }


def error_document(exc: BaseException) -> dict[str, Any]:
    """The stored form of any exception that ends an attempt or an execution."""
    if isinstance(exc, BusinessError):
        try:
            return business_document(exc)
        except SerializationError as bad_fields:
            # Fields that cannot be stored must not stop the failure being
            # stored: record why, as any other error.
            return _plain_document(bad_fields)
    if isinstance(exc, StepFailed):
        return step_document(
            exc.step, exc.error_type, exc.message, exc.attempts, isinstance(exc, StepTimeout)
        )
    return _plain_document(exc)


def _plain_document(exc: BaseException) -> dict[str, Any]:
    lines = traceback.format_exception(exc)
    return {
        "kind": "error",
        "type": _text(type_name(exc)),
        "message": _text(str(exc)),
        "traceback": _text("".join(lines[-_TRACEBACK_LINES:])),
    }


def rebuild(document: dict[str, Any], execution_id: str = "") -> BaseException:
    """The exception a workflow receives for a stored error document.

    Never raises: a business error that the code can no longer build from
    its stored form (its class changed since the error was stored) comes
    back as the SerializationError saying why, and is what the workflow
    receives in its place, as a step result that no longer reads back is.
    """
    try:
        return read_error(document, execution_id)
    except SerializationError as exc:
        return exc


def read_error(document: dict[str, Any], execution_id: str = "") -> BaseException:
    """``rebuild``, raising SerializationError when a business error cannot
    be built from ``document`` (the live run's check that it reads back)."""
    kind = document.get("kind")
    if kind == "business":
        cls = lookup_business_error(str(document.get("type")))
        fields = document.get("fields") or {}
        if cls is None:
            return UnknownBusinessError(str(document.get("type")), dict(fields))
        what = f"business error {cls.__qualname__}"
        if attrs.has(cls):
            built: BaseException = from_json(fields, cls, what)
            return built
        try:
            return cls(document.get("message", ""))
        except Exception as exc:  # a constructor that no longer takes the message
            raise SerializationError(what, cls, f"{type(exc).__name__}: {exc}") from None
    if kind == "step":
        step_cls = StepTimeout if document.get("type") == "StepTimeout" else RetryExhausted
        return step_cls(
            str(document.get("step")),
            str(document.get("error_type")),
            str(document.get("message")),
            int(document.get("attempts", 0)),
        )
    if document.get("type") == "Cancelled":
        return Cancelled(execution_id)
    return ExecutionFailed(execution_id, document)
