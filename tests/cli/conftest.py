"""Running ``zart`` as a subprocess, as users do, against a SQLite file in
the test's directory (``ZART_DATABASE_URL``), with ``tests.cli.app`` as the
app. Times print in UTC (``TZ=UTC``) so that tests can compare them.

Nothing here sleeps to wait for something: ``wait_for`` polls a condition
until a deadline.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest

import zart
from tests.cli import app
from zart.records import WorkerInfo

REPO = Path(__file__).resolve().parents[2]
APP = "tests.cli.app"
DEADLINE = 60.0  # seconds any one command or wait may take before the test fails
T = TypeVar("T")


@attrs.frozen
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def error(self) -> str:
        """The one line a user mistake prints, without its ``zart: error: ``."""
        lines = self.err.splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("zart: error: "), self.err
        return lines[0].removeprefix("zart: error: ")


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZART_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO), *extra.pop("PYTHONPATH", "").split(os.pathsep)]),
        TZ="UTC",
        PYTHONDONTWRITEBYTECODE="1",  # an app rewritten within a second is read again
    )
    env.update(extra)
    return env


class Zart:
    """``python -m zart`` in ``cwd``, with ``url`` as ``ZART_DATABASE_URL``
    (None: no database given, as a user who forgot it)."""

    def __init__(self, cwd: Path, url: str | None) -> None:
        self.cwd = cwd
        self.url = url
        self.env = base_env(**({"ZART_DATABASE_URL": url} if url else {}))

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "zart", *args]

    def __call__(
        self,
        *args: str,
        input: str | bytes | None = None,
        env: Mapping[str, str] | None = None,
        logs: bool = False,
    ) -> Result:
        """Run it to the end. A traceback on stderr fails the test, unless
        ``logs``: a worker logs the tracebacks of the workflows that fail."""
        data = input.encode() if isinstance(input, str) else input
        done = subprocess.run(
            self.command(*args),
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            input=data,
            capture_output=True,
            timeout=DEADLINE,
        )
        err = done.stderr.decode(errors="replace")
        assert logs or "Traceback" not in err, err
        return Result(done.returncode, done.stdout.decode(errors="replace"), err)

    def ok(self, *args: str, input: str | bytes | None = None, logs: bool = False) -> Result:
        result = self(*args, input=input, logs=logs)
        assert result.code == 0, result
        return result

    def popen(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.command(*args),
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def zart_cli(tmp_path: Path, url: str) -> Zart:
    return Zart(tmp_path, url)


@pytest.fixture
def bare(tmp_path: Path) -> Zart:
    """``zart`` with no database in its environment."""
    return Zart(tmp_path, None)


@contextmanager
def client(url: str) -> Iterator[zart.Client]:
    """A client of the test app on ``url``, closed after."""
    store = zart.connect(url, migrate=True)
    try:
        yield zart.Client(store, app.registry)
    finally:
        store.close()


def drive(url: str) -> None:
    """Run what is due in this process, until idle."""
    with client(url) as c:
        zart.Worker(c.store, app.registry).run_until_idle()


def live_worker(url: str, tasks: tuple[str, ...], *, alive: bool = True) -> str:
    """Record a worker serving ``tasks`` (alive for an hour, or dead
    already) without running one; its id."""
    with client(url) as c:
        now = c.store.now()
        info = WorkerInfo(
            id=f"fake-{'live' if alive else 'dead'}",
            host="testhost",
            pid=4242,
            tasks=tasks,
            concurrency=3,
            started_at=now,
            heartbeat_at=now,
            expires_at=now + (timedelta(hours=1) if alive else -timedelta(seconds=1)),
        )
        c.store.register_worker(info)
    return info.id


def wait_for(condition: Callable[[], T | None], what: str) -> T:
    """``condition()`` once it is true, polled until the deadline."""
    deadline = time.monotonic() + DEADLINE
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def local(value: datetime | None) -> str:
    """A stored time as the command line prints it (in UTC here)."""
    assert value is not None
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def rows(text: str) -> list[list[str]]:
    """A printed table's rows (header first), split on runs of 2+ spaces."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]
