"""The processes of a chaos run: worker processes (threaded and asyncio,
taking turns), the killer that SIGKILLs a random one every 1-3 s and starts
it again, and the database faults of a PostgreSQL run (server restarts,
``pg_terminate_backend`` of the workers' connections, an outage)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from . import audit

REPO = Path(__file__).resolve().parents[2]
MODES = ("threads", "asyncio")


@attrs.define
class Slot:
    """One worker's place: the process now in it, and its log."""

    index: int
    mode: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None


class Cluster:
    """``count`` worker processes on ``url``, each logging to ``logs``."""

    def __init__(self, url: str, count: int, logs: Path, audit_path: str, lease: float) -> None:
        self.url, self.logs, self.lease = url, logs, lease
        self.env = {**os.environ, audit.ENV: audit_path, "PYTHONPATH": str(REPO)}
        self.slots = [Slot(i, MODES[i % 2], logs / f"worker-{i}.log") for i in range(count)]
        self.kills = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        for slot in self.slots:
            self._spawn(slot)

    def _spawn(self, slot: Slot) -> None:
        args = [sys.executable, "-m", "bench.chaos_parts.worker", "--db", self.url]
        args += ["--mode", slot.mode, "--lease", str(self.lease)]
        with slot.log.open("ab") as out:
            slot.proc = subprocess.Popen(
                args, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def kill_one(self, rng: random.Random) -> None:
        """SIGKILL a random worker, as the OOM killer would, and start a new one."""
        with self._lock:
            slot = rng.choice(self.slots)
            if slot.proc is not None and slot.proc.poll() is None:
                slot.proc.send_signal(signal.SIGKILL)
                slot.proc.wait()
                self.kills += 1
            self._spawn(slot)

    def stop(self) -> list[int]:
        """SIGTERM every worker and wait: their exit codes."""
        with self._lock:
            for slot in self.slots:
                if slot.proc is not None and slot.proc.poll() is None:
                    slot.proc.send_signal(signal.SIGTERM)
            codes = []
            for slot in self.slots:
                if slot.proc is not None:
                    try:
                        codes.append(slot.proc.wait(timeout=60))
                    except subprocess.TimeoutExpired:
                        slot.proc.kill()
                        codes.append(slot.proc.wait())
            return codes

    def log_text(self) -> str:
        return "".join(slot.log.read_text(errors="replace") for slot in self.slots)


def every(
    low: float, high: float, act: Callable[[], None], stop: threading.Event, seed: int
) -> threading.Thread:
    """A thread doing ``act`` every ``low``-``high`` seconds until ``stop``."""
    rng = random.Random(seed)

    def loop() -> None:
        while not stop.wait(rng.uniform(low, high)):
            act()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


@attrs.define
class PostgresFaults:
    """What a PostgreSQL run does to its server, and a count of it done."""

    url: str
    application_name: str
    restarts: int = 0
    terminated: int = 0
    outages: int = 0

    @staticmethod
    def _cluster(action: str) -> None:
        versions = sorted(os.listdir("/etc/postgresql"))
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", action],
            check=True,
            capture_output=True,
        )

    def restart(self) -> None:
        self._cluster("restart")
        self.restarts += 1

    def outage(self, seconds: float) -> None:
        self._cluster("stop")
        try:
            time.sleep(seconds)
        finally:
            self._cluster("start")
        self.outages += 1

    def terminate_backends(self) -> None:
        """Kill every server connection of the workers (not of anyone else)."""
        import psycopg

        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s AND pid <> pg_backend_pid()",
                    (self.application_name,),
                ).fetchall()
        except psycopg.Error:
            return  # the server is away already: nothing to terminate
        self.terminated += sum(1 for (done,) in rows if done)
