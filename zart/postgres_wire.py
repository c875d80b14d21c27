"""The step commit sent through libpq itself, not psycopg's execute().

psycopg's ``execute`` adapts every parameter through its type registry,
keeps its own cache of prepared statements, and waits for the answer in
Python, polling the socket. For the one statement every step runs, that was
most of what a step cost the client. So the statements that answer only
whether their fence held (``WIRED``) are prepared by name once per
connection and run with ``PQexecPrepared``, their parameters encoded here as
text. libpq releases the GIL while it waits, as psycopg does. Measured on
one 2-vCPU VM with synchronous_commit off: a step's ``store.commit`` took 89
us of client CPU through ``execute`` and takes 70 us now, 37 us of it the
statement itself.

This is a fast path, never the only one. Whatever it cannot send exactly as
psycopg would (a type it does not know, a string holding NUL, a time not in
UTC, a connection not in UTF-8 or inside a transaction), and any answer but
a clean one, is left to psycopg (``FALLBACK``): the caller runs the same
statement again through ``execute``, which raises what psycopg raises. Each
statement is a whole autocommit transaction, so a try that failed wrote
nothing; a try whose answer was lost with its connection is one psycopg
would have lost too, and the retry around both paths treats it the same.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from psycopg import Connection
from psycopg.pq import DiagnosticField, ExecStatus, TransactionStatus
from psycopg.types.json import Json

# The statements this module may run: each answers ``SELECT 1 FROM fence``,
# one row when the lease held and none when it did not.
WIRED: Final = ("COMMIT_STEP", "COMMIT_STEP_FIRST")

FALLBACK: Final = object()  # "run it through psycopg instead"
TAKEN: Final = object()  # a unique violation: a first write whose name is there
ROW: Final = (1,)  # the answer's one row, as psycopg would fetch it

_UNIQUE_VIOLATION: Final = b"23505"
_NO_SUCH_STATEMENT: Final = b"26000"  # the session lost it: a pooler between us?
_DUPLICATE_STATEMENT: Final = b"42P05"

_UTC: Final = UTC
_PLACEHOLDER: Final = re.compile(rb"%\((\w+)\)s|%%|%")
_IDLE: Final = TransactionStatus.IDLE
_TUPLES_OK: Final = ExecStatus.TUPLES_OK
_COMMAND_OK: Final = ExecStatus.COMMAND_OK
_SQLSTATE: Final = DiagnosticField.SQLSTATE


class Unprepared(Exception):
    """The server no longer knows a statement this connection prepared."""


class Statement:
    """One statement of the store's query table, in libpq's own form:
    ``$n`` placeholders, in the order ``order`` names them."""

    __slots__ = ("name", "order", "text")

    def __init__(self, name: str, text: bytes) -> None:
        order: list[str] = []

        def number(match: re.Match[bytes]) -> bytes:
            if match.group(0) == b"%%":
                return b"%"
            if match.group(1) is None:
                raise ValueError(f"{name}: a placeholder other than %(name)s")
            key = match.group(1).decode()
            if key not in order:
                order.append(key)
            return b"$%d" % (order.index(key) + 1)

        self.name = b"zart_" + name.lower().encode()
        self.text = _PLACEHOLDER.sub(number, text)
        self.order = tuple(order)

    def encode(self, params: Mapping[str, Any]) -> list[bytes | None] | None:
        """The parameters as libpq's text values; None when one of them is
        not a kind sent here (see the module's docstring)."""
        values: list[bytes | None] = []
        add = values.append
        try:
            for key in self.order:
                value = params[key]
                kind = type(value)
                if value is None:
                    add(None)
                elif kind is str:
                    if "\0" in value:
                        return None  # libpq would cut the text there
                    add(value.encode())
                elif kind is int:
                    add(b"%d" % value)
                elif kind is Json:
                    dumps = value.dumps
                    if dumps is None:
                        return None  # psycopg's global dumps: its to say
                    add(dumps(value.obj).encode())
                elif kind is datetime and value.tzinfo is _UTC:
                    add(value.isoformat().encode())
                else:
                    return None
        except UnicodeEncodeError:  # a lone surrogate: psycopg's error to raise
            return None
        return values


def run(
    conn: Connection[Any], stmt: Statement, values: list[bytes | None], ready: set[bytes]
) -> Any:
    """Run ``stmt`` on ``conn``: ROW or None (the fence held or not), TAKEN,
    or FALLBACK. ``ready`` names what this connection has prepared; it
    raises Unprepared when the server forgot one."""
    pgconn = conn.pgconn
    if pgconn.transaction_status != _IDLE:
        return FALLBACK
    if stmt.name not in ready:
        done = pgconn.prepare(stmt.name, stmt.text)
        if done.status != _COMMAND_OK and done.error_field(_SQLSTATE) != _DUPLICATE_STATEMENT:
            return FALLBACK
        ready.add(stmt.name)
    # None is SQL NULL (libpq's null pointer), as psycopg itself sends it.
    res = pgconn.exec_prepared(stmt.name, values)  # type: ignore[arg-type]
    if res.status == _TUPLES_OK:
        return ROW if res.ntuples else None
    state = res.error_field(_SQLSTATE)
    if state == _NO_SUCH_STATEMENT:
        ready.discard(stmt.name)
        raise Unprepared(stmt.name.decode())
    return TAKEN if state == _UNIQUE_VIOLATION else FALLBACK
