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
from .names import UNSTORABLE
from .serde import converter, from_json, to_json

# A stored traceback keeps its last characters (where the error was raised):
# enough to debug, bounded so that a deep recursion cannot fill the store.
TRACEBACK_LIMIT = 8192


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
    step: str, last_attempt: dict[str, Any], attempts: int, timeout: bool
) -> dict[str, Any]:
    """A step that failed for good, with its last attempt's error and traceback.
    Its text is escaped here too: a ``StepFailed`` raised by hand brings its
    own, unchecked."""
    doc = {
        "kind": "step",
        "type": "StepTimeout" if timeout else "RetryExhausted",
        "step": _text(step),
        "error_type": _text(str(last_attempt.get("type", "unknown"))),
        "message": _text(str(last_attempt.get("message", ""))),
        "attempts": attempts,
    }
    if "traceback" in last_attempt:
        doc["traceback"] = _text(str(last_attempt["traceback"]))
    return doc


def attempt_error(exc: BaseException | None, timed_out: str | None = None) -> dict[str, Any]:
    """The stored form of one failed attempt of a step: ``exc``, or a
    timeout described by ``timed_out``."""
    if timed_out is not None or exc is None:
        return {"kind": "error", "type": "timeout", "message": timed_out or "timed out"}
    return _plain_document(exc)


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
        doc = {"type": exc.error_type, "message": exc.message}
        if exc.step_traceback is not None:
            doc["traceback"] = exc.step_traceback
        return step_document(exc.step, doc, exc.attempts, isinstance(exc, StepTimeout))
    return _plain_document(exc)


def _plain_document(exc: BaseException) -> dict[str, Any]:
    trace = "".join(traceback.format_exception(exc))
    if len(trace) > TRACEBACK_LIMIT:
        trace = "...\n" + trace[-TRACEBACK_LIMIT:]
    return {
        "kind": "error",
        "type": _text(type_name(exc)),
        "message": _text(str(exc)),
        "traceback": _text(trace),
    }


def rebuild(
    document: dict[str, Any], execution_id: str = "", *, strict: bool = False
) -> BaseException:
    """The exception a workflow receives for a stored error document.

    A business error that the code can no longer build from its stored form
    (its class changed since) comes back as the SerializationError saying
    why, which is what the workflow receives in its place, as a step result
    that no longer reads back is; with ``strict`` (the live run's check that
    what it stores reads back) that error is raised instead.
    """
    try:
        return _read(document, execution_id)
    except SerializationError as exc:
        if strict:
            raise
        return exc


def _read(document: dict[str, Any], execution_id: str) -> BaseException:
    kind = document.get("kind")
    if kind == "business":
        return _read_business(document)
    if kind == "step":
        step_cls = StepTimeout if document.get("type") == "StepTimeout" else RetryExhausted
        trace = document.get("traceback")
        return step_cls(
            str(document.get("step")),
            str(document.get("error_type")),
            str(document.get("message")),
            int(document.get("attempts", 0)),
            step_traceback=trace if isinstance(trace, str) else None,
        )
    if document.get("type") == "Cancelled":
        return Cancelled(execution_id)
    return ExecutionFailed(execution_id, document)


def _read_business(document: dict[str, Any]) -> BaseException:
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
