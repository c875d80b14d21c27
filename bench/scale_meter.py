"""Timers around a store, for ``bench/scale.py``'s idle worker.

Every named statement goes through ``SqliteStore._run(conn, name, params)``
or ``PostgresStore._exec(conn, name, params)``; ``instrument`` wraps that
hook on one store instance (and the store's public methods) and adds up the
seconds per name, from every thread. psycopg's ``execute`` returns once the
server answered, so on PostgreSQL a statement's time is its round trip. A
sqlite3 cursor runs its statement as its rows are read, so on SQLite the
cursor's reads are timed too.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

METHODS = (
    "claim",
    "next_wake",
    "unknown_tasks",
    "wake_stranded",
    "beat_worker",
    "heartbeat",
    "register_worker",
    "remove_worker",
    "release",
    "now",
)


class Meter:
    """Seconds and calls, per statement name and per store method."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.statements: defaultdict[str, float] = defaultdict(float)
        self.statement_calls: Counter[str] = Counter()
        self.methods: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()

    def add(self, name: str, seconds: float, *, statement: bool, count: bool = True) -> None:
        with self._lock:
            if statement:
                self.statements[name] += seconds
                self.statement_calls[name] += count
            else:
                self.methods[name] += seconds
                self.calls[name] += count

    def reset(self) -> None:
        with self._lock:
            self.statements.clear()
            self.statement_calls.clear()
            self.methods.clear()
            self.calls.clear()

    def snapshot(self) -> tuple[dict[str, float], dict[str, float], dict[str, int]]:
        """(statement seconds, method seconds, statement calls) so far."""
        with self._lock:
            return dict(self.statements), dict(self.methods), dict(self.statement_calls)


class TimedCursor:
    """A sqlite3 cursor whose reads count towards its statement's time."""

    def __init__(self, cursor: Any, meter: Meter, name: str) -> None:
        self._cursor = cursor
        self._meter = meter
        self._name = name

    def _timed(self, read: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            return read()
        finally:
            self._meter.add(self._name, time.perf_counter() - start, statement=True, count=False)

    def fetchone(self) -> Any:
        return self._timed(self._cursor.fetchone)

    def fetchall(self) -> Any:
        return self._timed(self._cursor.fetchall)

    def __iter__(self) -> TimedCursor:
        return self

    def __next__(self) -> Any:
        return self._timed(lambda: next(self._cursor))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def _statement_hook(store: Any, meter: Meter) -> tuple[str, Callable[..., Any]]:
    sqlite = not hasattr(store, "_exec")
    hook = "_run" if sqlite else "_exec"
    original = getattr(store, hook)

    def run(conn: Any, name: str, params: dict[str, Any]) -> Any:
        start = time.perf_counter()
        try:
            result = original(conn, name, params)
        finally:
            meter.add(name, time.perf_counter() - start, statement=True)
        return TimedCursor(result, meter, name) if sqlite else result

    return hook, run


def _method(original: Callable[..., Any], meter: Meter, name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            meter.add(name, time.perf_counter() - start, statement=False)

    return call


@contextlib.contextmanager
def instrument(store: Any, meter: Meter) -> Iterator[None]:
    """Time ``store``'s statements and methods (instance attributes that
    shadow the class's) until the block ends."""
    hook, run = _statement_hook(store, meter)
    wrapped = {hook: run, **{m: _method(getattr(store, m), meter, m) for m in METHODS}}
    store.__dict__.update(wrapped)
    try:
        yield
    finally:
        for name in wrapped:
            store.__dict__.pop(name, None)
