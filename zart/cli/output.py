"""What the command line prints: JSON documents for ``--json``, tables and
field lists for people, and one-line errors.

``--json`` prints one document per command, indented, its records as
``zart.views`` makes them (the HTTP API's too). People get the same records as aligned columns under
a header, times in local time to the second, and any text that came from a
user (names, ids, results) with its control characters escaped: a task
name holding an escape sequence must not drive the terminal.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from ..records import (
    COMPLETED,
    R_COMPLETED,
    R_FINAL,
    R_RETRYING,
    R_WAITING,
    ExecutionRecord,
    ScheduleRecord,
    StepRecord,
    WorkerInfo,
)

# Control characters, and the format characters that reorder or hide text.
_HIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
# Past this many characters a table cell is cut (ids never are: they get copied).
NAME_WIDTH = 40
DETAIL_WIDTH = 60


def print_json(document: Any) -> None:
    """One JSON document on stdout. ASCII only, so that any terminal or
    pipe encoding carries it."""
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def print_lines(lines: Sequence[str]) -> None:
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")


def error(message: str) -> None:
    """``zart: error: ...`` on one line of stderr."""
    sys.stderr.write(f"zart: error: {one_line(message)}\n")


def note(message: str) -> None:
    """Where a long-running command listens: stderr, stdout being for output."""
    sys.stderr.write(f"zart: {one_line(message)}\n")
    sys.stderr.flush()


def warning(message: str) -> None:
    sys.stderr.write(f"zart: warning: {one_line(message)}\n")


def one_line(text: str) -> str:
    """``text`` with its lines joined: a driver's message may span several."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def clean(text: str) -> str:
    """``text`` safe to show on a terminal: hidden characters escaped."""
    return _HIDDEN.sub(lambda found: repr(found.group())[1:-1], text)


def cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def when(value: datetime | None) -> str:
    """A time as people read it: local time, to the second."""
    return "-" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    """A duration, short: ``850ms``, ``12.3s``, ``4m05s``, ``2h07m``."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def compact(value: Any) -> str:
    """A stored JSON value on one line."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _width(text: str) -> int:
    """Terminal columns: East Asian wide characters take two, combining
    marks none."""
    total = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        total += 2 if unicodedata.east_asian_width(char) in "WF" else 1
    return total


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows under a header, each column as wide as its widest cell (the
    last one unpadded)."""
    cells = [list(header), *([clean(cell) for cell in row] for row in rows)]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        padded = [
            cell + " " * (w - _width(cell)) for cell, w in zip(row[:-1], widths, strict=False)
        ]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return lines


# -- executions -------------------------------------------------------------


def execution_rows(records: Sequence[ExecutionRecord]) -> list[str]:
    header = ("ID", "NAME", "TASK", "STATUS", "ATTEMPT", "CREATED", "UPDATED")
    rows = [
        (
            rec.id,
            cut(rec.name, NAME_WIDTH),
            cut(rec.task_name, NAME_WIDTH),
            rec.status,
            str(rec.attempt),
            when(rec.created_at),
            when(rec.updated_at),
        )
        for rec in records
    ]
    return table(header, rows)


def execution_fields(rec: ExecutionRecord) -> list[str]:
    """One execution, field by field, then its error's traceback."""
    fields: list[tuple[str, str]] = [
        ("id", rec.id),
        ("name", rec.name),
        ("task", rec.task_name),
        ("kind", rec.kind),
        ("status", rec.status),
        ("attempt", str(rec.attempt)),
        ("run", str(rec.run)),
        ("parent", rec.parent_id or "-"),
        ("root", rec.root_id or "-"),
        ("created", when(rec.created_at)),
        ("updated", when(rec.updated_at)),
    ]
    if rec.wake_at is not None:
        fields.append(("wake at", when(rec.wake_at)))
    if rec.waiting_for is not None:
        fields.append(("waiting for", rec.waiting_for))
    fields.append(("input", compact(rec.input)))
    if rec.status == COMPLETED or rec.output is not None:
        fields.append(("output", compact(rec.output)))
    if rec.state is not None:
        fields.append(("state", compact(rec.state)))
    if rec.error is not None:
        fields.append(("error", error_summary(rec.error)))
    lines = [f"{name + ':':<13}{clean(value)}" for name, value in fields]
    trace = (rec.error or {}).get("traceback")
    if isinstance(trace, str) and trace.strip():
        lines.append("traceback:")
        lines.extend("  " + clean(line) for line in trace.rstrip().splitlines())
    return lines


def error_summary(document: dict[str, Any]) -> str:
    """A stored error document as one line: type and message."""
    if document.get("kind") == "step":
        return one_line(
            f"step {document.get('step')!r} failed after {document.get('attempts')} "
            f"attempt(s): {document.get('error_type')}: {document.get('message')}"
        )
    return one_line(f"{document.get('type', 'error')}: {document.get('message', '')}")


# -- history ----------------------------------------------------------------


def step_rows(records: Sequence[StepRecord]) -> list[str]:
    header = ("SEQ", "NAME", "KIND", "STATUS", "ATTEMPTS", "STARTED", "DURATION", "DETAIL")
    rows = [
        (
            str(rec.seq),
            cut(rec.name, NAME_WIDTH),
            rec.kind,
            rec.status,
            str(rec.attempts),
            when(rec.started_at or rec.created_at),
            seconds(_duration(rec)),
            cut(step_detail(rec), DETAIL_WIDTH),
        )
        for rec in records
    ]
    return table(header, rows)


def _duration(rec: StepRecord) -> float | None:
    if rec.started_at is None or rec.updated_at is None or rec.status not in R_FINAL:
        return None
    return max(0.0, (rec.updated_at - rec.started_at).total_seconds())


def step_detail(rec: StepRecord) -> str:
    """What a log record came to: its result, its error, or what it waits for."""
    child = f"child {rec.child_id}" if rec.child_id else ""
    if rec.status == R_COMPLETED:
        shown = compact(rec.result)
        return f"{child} = {shown}" if child else shown
    if rec.error is not None and rec.error.get("kind") == "step":
        # The row is the step: what it raised is the news.
        return one_line(f"{rec.error.get('error_type')}: {rec.error.get('message')}")
    if rec.error is not None:
        return error_summary(rec.error)
    if rec.status == R_RETRYING:
        last = rec.errors[-1] if rec.errors else None
        tail = f"; last: {last.type}: {one_line(last.message)}" if last else ""
        return f"retry at {when(rec.wake_at)}{tail}"
    if rec.status == R_WAITING:
        return f"until {when(rec.wake_at)}" if rec.wake_at else "no deadline"
    return child


# -- workers ----------------------------------------------------------------


def worker_rows(workers: Sequence[WorkerInfo]) -> list[str]:
    header = (
        "ID",
        "HOST",
        "PID",
        "TASKS",
        "CONCURRENCY",
        "INFLIGHT",
        "STARTED",
        "HEARTBEAT",
        "STATE",
    )
    rows = [
        (
            w.id,
            w.host,
            str(w.pid),
            cut(", ".join(w.tasks), NAME_WIDTH),
            str(w.concurrency),
            str(w.inflight),
            when(w.started_at),
            when(w.heartbeat_at),
            "alive" if w.alive else "dead",
        )
        for w in workers
    ]
    return table(header, rows)


# -- schedules --------------------------------------------------------------


def cadence(rec: ScheduleRecord) -> str:
    """How often it ticks: its cron expression, or ``every 1h00m``."""
    if rec.cron is not None:
        return rec.cron
    return f"every {seconds(rec.every.total_seconds() if rec.every else None)}"


def schedule_rows(records: Sequence[ScheduleRecord], served: Collection[str]) -> list[str]:
    """One schedule a row; SERVED says ``no`` for a task no live worker
    serves (its ticks still start, and wait for one)."""
    header = ("ID", "TASK", "WHEN", "ZONE", "NEXT", "LAST", "LAST EXECUTION", "PAUSED", "SERVED")
    rows = [
        (
            rec.id,
            cut(rec.task_name, NAME_WIDTH),
            cadence(rec),
            rec.timezone,
            when(rec.next_tick),
            when(rec.last_tick),
            rec.last_execution_id or "-",
            "yes" if rec.paused else "no",
            "yes" if rec.task_name in served else "no",
        )
        for rec in records
    ]
    return table(header, rows)
