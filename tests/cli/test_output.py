"""How tables and times read (pure functions of ``zart.cli.output``)."""

from __future__ import annotations

import pytest

from zart.cli import output


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "-"),
        (0.0004, "0ms"),
        (0.85, "850ms"),
        (12.34, "12.3s"),
        (245, "4m05s"),
        (7620, "2h07m"),
    ],
)
def test_durations_read_short(value: float | None, shown: str) -> None:
    assert output.seconds(value) == shown


def test_columns_line_up_for_wide_and_combining_characters() -> None:
    lines = output.table(("A", "B"), [("日本", "x"), ("e\u0301", "y"), ("ab", "z")])
    assert lines == ["A     B", "日本  x", "e\u0301     y", "ab    z"]


def test_text_that_would_drive_a_terminal_is_escaped() -> None:
    assert output.clean("red\x1b[31m\u202eevil\ttab") == "red\\x1b[31m\\u202eevil\\ttab"
    assert output.clean("caf\u00e9 \u65e5\u672c") == "caf\u00e9 \u65e5\u672c"  # printable stays


def test_long_names_are_cut_and_error_messages_kept_on_one_line() -> None:
    assert output.cut("x" * 50, 10) == "x" * 9 + "…"
    assert output.one_line("connection failed\n\tIs the server running?\n") == (
        "connection failed Is the server running?"
    )
