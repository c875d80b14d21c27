"""Fixtures for the durability tests: a store (SQLite file, PostgreSQL
scratch schema or MySQL scratch database), a journal, and real ``zart
worker`` subprocesses.

Nothing here sleeps to wait for something: ``Env.wait_for`` polls a
condition every 50 ms until a deadline, and fails with the workers' logs.
Every worker process started by a test is killed in teardown.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

import zart
from tests.integration import app
from tests.mysql import mysql_url_or_skip, scratch_database
from tests.pg import postgres_url_or_skip, scratch_schema

REPO = Path(__file__).resolve().parents[2]
POLL = 0.05
LEASE = 2.0  # seconds: short, so an expired lease is reclaimed fast
DEADLINE = 60.0  # seconds any single wait may take before the test fails
FINAL = frozenset({"completed", "failed", "cancelled"})
# What `zart worker -v` logs just before it runs (and handles SIGTERM itself).
STARTED = re.compile(r"INFO zart: worker \S+ on ")


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


class WorkerProc:
    """One ``zart worker`` subprocess, its stderr kept in a file."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log: Path, out: IO[bytes]):
        self.name = name
        self.popen = popen
        self.log = log
        self._out = out

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stderr(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a power cut would."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=DEADLINE)

    def stop(self, timeout: float = DEADLINE) -> int:
        """SIGTERM (finish in-flight work, then exit); the exit code.

        Sent once the worker says it started: before its CLI runs, Python is
        still starting and SIGTERM's default ends it (exit -15). On a loaded
        machine the others can finish a test's work by then.
        """
        deadline = time.monotonic() + timeout
        while self.alive() and not STARTED.search(self.stderr()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker {self.name} never started:\n{self.stderr()}")
            time.sleep(POLL)
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout=timeout)

    def wait(self, timeout: float = DEADLINE) -> int:
        return self.popen.wait(timeout=timeout)

    def close(self) -> None:
        if self.alive():
            self.popen.kill()
        try:
            self.popen.wait(timeout=DEADLINE)
        finally:
            self._out.close()


class Env:
    """A store, a client, a journal and the worker processes of one test."""

    def __init__(self, kind: str, url: str, tmp: Path, server_url: str | None = None) -> None:
        self.kind = kind
        self.url = url
        self.server_url = server_url  # PostgreSQL: the server's URL, without ?schema=
        self.tmp = tmp
        self.journal_path = tmp / "journal.log"
        self.journal_path.touch()
        self.workers: list[WorkerProc] = []
        self._store: Any = None
        self._client: zart.Client | None = None

    # -- store and client ----------------------------------------------------
    @property
    def store(self) -> Any:
        if self._store is None:
            self._store = zart.connect(self.url)
        return self._store

    @property
    def client(self) -> zart.Client:
        if self._client is None:
            self._client = zart.Client(self.store, app.registry)
        return self._client

    def reconnect(self) -> None:
        """Drop this process's store (after a server restart) and open a new one."""
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.close()
        self._store = None
        self._client = None

    def close(self) -> None:
        for worker in self.workers:
            worker.close()
        if self._store is not None:
            self._store.close()

    # -- subprocesses ---------------------------------------------------------
    def subprocess_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        env[app.JOURNAL_ENV] = str(self.journal_path)
        env.pop("ZART_DATABASE_URL", None)
        return env

    def cli(self, *args: str, timeout: float = DEADLINE) -> subprocess.CompletedProcess[str]:
        """Run ``zart --db URL ARGS...`` to completion."""
        return subprocess.run(
            [sys.executable, "-m", "zart.cli", "--db", self.url, *args],
            cwd=REPO,
            env=self.subprocess_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start_worker(
        self,
        name: str,
        *,
        concurrency: int = 4,
        lease: float = LEASE,
        until_idle: bool = False,
        app_module: str = "tests.integration.app",
    ) -> WorkerProc:
        log = self.tmp / f"worker-{name}.log"
        out = log.open("wb")
        cmd = [
            sys.executable,
            "-m",
            "zart.cli",
            "--db",
            self.url,
            "worker",
            "-v",  # INFO: the start line, stranded parents woken (the default is WARNING)
            "--app",
            app_module,
            "--concurrency",
            str(concurrency),
            "--lease",
            str(lease),
            "--poll-interval",
            "0.2",
        ]
        if until_idle:
            cmd.append("--until-idle")
        popen = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=self.subprocess_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        worker = WorkerProc(name, popen, log, out)
        self.workers.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(
            f"--- worker {w.name} (pid {w.pid}, exit {w.popen.poll()}) ---\n{w.stderr()[-4000:]}"
            for w in self.workers
        )

    # -- gates and the journal -----------------------------------------------
    def gate(self, name: str = "gate") -> Path:
        return self.tmp / f"{name}.open"

    @staticmethod
    def open_gate(path: Path) -> None:
        path.touch()

    def journal(self) -> list[tuple[str, str, int]]:
        """(event, key, pid) for every complete line of the journal."""
        text = self.journal_path.read_text()
        entries = []
        for line in text.splitlines(keepends=True):
            if not line.endswith("\n"):
                continue  # a line being written right now
            event, key, pid = line.split()
            entries.append((event, key, int(pid)))
        return entries

    def counts(self) -> Counter[tuple[str, str]]:
        return Counter((event, key) for event, key, _ in self.journal())

    # -- waiting ------------------------------------------------------------------
    def wait_for(
        self,
        condition: Callable[[], Any],
        what: str,
        *,
        timeout: float = DEADLINE,
        alive: Iterable[WorkerProc] = (),
    ) -> Any:
        """Poll ``condition`` every 50 ms until it is truthy; fail after ``timeout``
        or as soon as one of the ``alive`` workers exits. Store errors (a server
        restarting) count as "not yet"."""
        watched = list(alive)
        deadline = time.monotonic() + timeout
        last_error: BaseException | None = None
        while True:
            try:
                value = condition()
            except zart.ZartError as exc:  # StoreError while the server restarts
                value, last_error = None, exc
            if value:
                return value
            dead = [w for w in watched if not w.alive()]
            if dead:
                pytest.fail(
                    f"while waiting for {what}: worker {dead[0].name} exited with "
                    f"{dead[0].popen.returncode}\n{self.logs()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"timed out after {timeout}s waiting for {what} "
                    f"(last store error: {last_error!r})\n{self.logs()}"
                )
            time.sleep(POLL)

    def statuses(self, ids: Iterable[str]) -> dict[str, str]:
        return {eid: self.store.get(eid).status for eid in ids}

    def wait_final(
        self, ids: Iterable[str], *, timeout: float = DEADLINE, alive: Iterable[WorkerProc] = ()
    ) -> dict[str, str]:
        ids = list(ids)

        def all_final() -> dict[str, str] | None:
            found = self.statuses(ids)
            return found if all(s in FINAL for s in found.values()) else None

        result: dict[str, str] = self.wait_for(
            all_final, f"{len(ids)} executions to finish", timeout=timeout, alive=alive
        )
        return result


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    kind = request.param
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'zart.db'}"
        yield from _env(kind, url, tmp_path)
        return
    if kind == "mysql":
        with scratch_database(mysql_url_or_skip()) as url:
            yield from _env(kind, url, tmp_path)
        return
    base = postgres_url_or_skip()
    with scratch_schema(base) as schema:
        yield from _env(kind, with_schema(base, schema), tmp_path, base)


def _env(kind: str, url: str, tmp_path: Path, server_url: str | None = None) -> Iterator[Env]:
    e = Env(kind, url, tmp_path, server_url)
    try:
        done = e.cli("migrate")
        assert done.returncode == 0, f"zart migrate failed: {done.stdout}{done.stderr}"
        yield e
    finally:
        e.close()


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
