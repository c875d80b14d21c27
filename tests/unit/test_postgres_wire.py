"""zart.postgres_wire without a server: what it sends, and what it leaves to
psycopg. (Its statements on a real server: tests/stores/test_postgres.py.)"""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from psycopg.types.json import Json

from zart import postgres_sql as q
from zart import postgres_wire as wire
from zart.postgres_sql import json_param


def test_named_placeholders_become_numbered_in_first_seen_order() -> None:
    stmt = wire.Statement("X", b"SELECT %(b)s, %(a)s, %(b)s, 'a%%'")
    assert stmt.text == b"SELECT $1, $2, $1, 'a%'"
    assert stmt.order == ("b", "a")
    assert stmt.name == b"zart_x"


@pytest.mark.parametrize("text", [b"SELECT %s", b"SELECT %b", b"SELECT 5 % 2"])
def test_placeholders_other_than_named_ones_are_refused(text: bytes) -> None:
    with pytest.raises(ValueError, match="X: a placeholder other than"):
        wire.Statement("X", text)


def test_a_wired_first_write_has_its_upsert_twin_wired_too() -> None:
    firsts = [name for name in wire.WIRED if name in q.UPSERT_OF]
    assert firsts == ["COMMIT_STEP_FIRST"]
    assert all(q.UPSERT_OF[name] in wire.WIRED for name in firsts)


@pytest.mark.parametrize("name", wire.WIRED)
def test_wired_statements_answer_only_whether_their_fence_held(name: str) -> None:
    text = q.render(getattr(q, name), "s", "p_")
    stmt = wire.Statement(name, text)
    assert b"%" not in stmt.text
    assert stmt.text.rstrip().endswith(b"SELECT 1 FROM fence")
    fields = "name seq kind status step result error attempts wake_at child_id"
    assert set(stmt.order) == {"id", "token", "now"} | {"w_" + f for f in fields.split(" ")}


STMT = wire.Statement("T", b"SELECT %(v)s")
UTC_NOW = datetime(2026, 11, 21, 10, 30, 0, 123456, tzinfo=UTC)


class Color(enum.StrEnum):
    RED = "red"


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        (None, None),
        ("plain", b"plain"),
        ("café ✓", "café ✓".encode()),
        (0, b"0"),
        (-(2**63), b"-9223372036854775808"),
        (json_param({"a": [1, None, "é"]}), b'{"a":[1,null,"\\u00e9"]}'),
        (json_param("\x00"), b'"\\u0000"'),  # JSON escapes NUL: it never reaches libpq raw
        (UTC_NOW, b"2026-11-21T10:30:00.123456+00:00"),
    ],
)
def test_values_sent_as_text(value: Any, sent: bytes | None) -> None:
    assert STMT.encode({"v": value}) == [sent]


@pytest.mark.parametrize(
    "value",
    [
        True,  # an int to Python, a boolean to psycopg
        1.5,
        "a\x00b",  # libpq would stop reading at the NUL
        "\udc80",  # no UTF-8 form: psycopg's error to raise
        Color.RED,  # a str subclass: psycopg adapts by its type
        Json({"a": 1}),  # psycopg's own dumps, which an application may have set
        datetime(2026, 11, 21, 10, 30),  # naive
        UTC_NOW.astimezone(timezone(timedelta(hours=1))),
        b"bytes",
    ],
    ids=repr,
)
def test_values_it_does_not_send_leave_the_statement_to_psycopg(value: Any) -> None:
    assert STMT.encode({"v": value}) is None


@pytest.mark.parametrize(
    "doc",
    [0, -5, 10**30, "", 'é\x00\n"', "plain", 1.5, True, None, {"a": [1, "é", None]}, [1, 2.0]],
    ids=repr,
)
def test_json_parameters_are_written_as_json_dumps_writes_them_compactly(doc: Any) -> None:
    param = json_param(doc)
    text = None if param is None else param.dumps(param.obj)  # type: ignore[misc]
    assert text == (None if doc is None else json.dumps(doc, separators=(",", ":")))
