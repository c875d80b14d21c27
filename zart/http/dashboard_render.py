"""The dashboard's templates and the filters they use to show values.

Autoescaping is on for every template, whatever its name: anything a page
shows that came from a user (ids, names, inputs, results, error messages,
tracebacks) is text, never markup. No filter here returns ``Markup``: the
HTML around a value lives in the templates, where it is escaped.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"

# A value shown in a table cell is cut here; the whole is one click away.
PREVIEW = 96


def pretty(value: Any) -> str:
    """A JSON document as indented text (non-ASCII kept as it is)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def preview(value: Any, limit: int = PREVIEW) -> str:
    """A value on one line, cut to ``limit`` characters."""
    text = compact(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_long(value: Any, limit: int = PREVIEW) -> bool:
    """Whether ``preview`` cuts the value (or hides its layout)."""
    return (isinstance(value, dict | list) and bool(value)) or len(compact(value)) > limit


def parse_time(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def ago(value: str | datetime | None, now: datetime) -> str:
    """``value`` relative to ``now``: "12 s ago", "in 3 min", "just now"."""
    when = parse_time(value)
    if when is None:
        return "—"
    seconds = (now - when).total_seconds()
    span = abs(seconds)
    if span < 1:
        return "just now"
    if span < 60:
        text = f"{span:.0f} s"
    elif span < 3600:
        text = f"{span // 60:.0f} min"
    elif span < 86400:
        text = f"{span // 3600:.0f} h"
    else:
        text = f"{span // 86400:.0f} d"
    return f"{text} ago" if seconds > 0 else f"in {text}"


def duration(seconds: float | None) -> str:
    """A duration for people: "12 ms", "1.5 s", "3 min 4 s", "2 h 5 min"."""
    if seconds is None:
        return "—"
    if seconds < 0.001:
        return "<1 ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def span(seconds: float | None) -> str:
    """A schedule's interval or jitter, exactly: "30 s", "5 min", "1 h 30 min"."""
    if seconds is None:
        return "—"
    whole = int(seconds)
    if whole != seconds or whole < 60:
        return f"{seconds:g} s"
    parts = [(whole // 86400, "d"), (whole % 86400 // 3600, "h"), (whole % 3600 // 60, "min")]
    parts.append((whole % 60, "s"))
    return " ".join(f"{n} {unit}" for n, unit in parts if n)


def absolute(value: str | datetime | None) -> str:
    """The ISO time, as the title of a relative one."""
    when = parse_time(value)
    return "" if when is None else when.isoformat()


def execution_path(execution_id: str) -> str:
    """An execution page's path, whatever its id holds: every character but
    letters, digits and ``-_.~`` is escaped (a ``/`` too). An id that is
    only dots would be a ``.``/``..`` segment a browser resolves away: it
    goes in the query instead."""
    if execution_id.strip(".") == "":
        return f"/executions/?id={quote(execution_id, safe='')}"
    return f"/executions/{quote(execution_id, safe='')}"


@jinja2.pass_context
def _url(context: Any, path: str) -> str:
    root: str = context["mount"]
    return root + path


@jinja2.pass_context
def _exec_url(context: Any, execution_id: str) -> str:
    root: str = context["mount"]
    return root + execution_path(execution_id)


@jinja2.pass_context
def _ago(context: Any, value: str | datetime | None) -> str:
    return ago(value, context["now"])


def environment() -> jinja2.Environment:
    """The templates, escaped everywhere; a missing variable is an error
    (a page with a silent hole would show nothing, not a bug)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        pretty=pretty,
        preview=preview,
        is_long=is_long,
        ago=_ago,
        absolute=absolute,
        duration=duration,
        span=span,
    )
    env.globals.update(url=_url, exec_url=_exec_url)
    return env
