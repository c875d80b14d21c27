"""``zart serve`` and ``zart worker --metrics-port``: real servers in
subprocesses on ports the OS picks (``0``, read back from the line each
prints once it listens), stopped by SIGTERM with exit status 0."""

from __future__ import annotations

import json
import re
import selectors
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cli.conftest import APP, DEADLINE, Zart, wait_for

pytest.importorskip("zart.http.server", reason="zart serve needs zart.http.server")


def _listening(process: subprocess.Popen[bytes], pattern: str) -> str:
    """The URL ``process`` says it listens on (a line of its stderr)."""
    assert process.stderr is not None
    seen = b""
    deadline = time.monotonic() + DEADLINE
    with selectors.DefaultSelector() as selector:
        selector.register(process.stderr, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if selector.select(left):
                chunk = process.stderr.read1(4096)  # type: ignore[attr-defined]
                if not chunk:
                    break  # it ended
                seen += chunk
                found = re.search(pattern.encode(), seen)
                if found:
                    return found.group(1).decode()
    raise AssertionError(f"never listened: {seen.decode(errors='replace')}")


@contextmanager
def _running(
    cli: Zart, *args: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """The command running; SIGTERM afterwards must stop it with exit 0."""
    process = cli.popen(*args, env=env)
    try:
        yield process
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=DEADLINE)
        assert process.returncode == 0, err.decode(errors="replace")
        assert b"Traceback" not in err
    finally:
        process.kill()
        process.wait(DEADLINE)


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _post(url: str) -> int:
    request = urllib.request.Request(url, data=b"{}", method="POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


SERVING = r"zart: serving on (http://127\.0\.0\.1:\d+)"


def test_serve_answers_healthz_and_the_api(zart_cli: Zart) -> None:
    zart_cli.ok("schedule", "approval", "--data", '"o"', "--id", "a1")
    with _running(zart_cli, "serve", "--port", "0", "--app", APP) as server:
        base = _listening(server, SERVING)
        assert _get(f"{base}/healthz")[0] == 200
        status, body = _get(f"{base}/api/v1/executions/a1")
        assert status == 200 and json.loads(body)["status"] == "pending"


def test_serve_read_only_refuses_actions(zart_cli: Zart) -> None:
    zart_cli.ok("schedule", "approval", "--data", '"o"', "--id", "a1")
    with _running(zart_cli, "serve", "--port", "0", "--read-only") as server:
        base = _listening(server, SERVING + r" \(read-only\)")
        assert _post(f"{base}/api/v1/executions/a1/cancel") == 405
    assert zart_cli.ok("status", "a1", "--json").json()["status"] == "pending"


def test_serve_takes_its_token_from_the_environment(zart_cli: Zart) -> None:
    zart_cli.ok("migrate")
    env = {"ZART_API_TOKEN": "s3cret-token"}
    with _running(zart_cli, "serve", "--port", "0", env=env) as server:
        base = _listening(server, SERVING)
        assert _get(f"{base}/api/v1/executions")[0] == 401
        assert _get(f"{base}/api/v1/executions", token="wrong")[0] == 403
        assert _get(f"{base}/api/v1/executions", token="s3cret-token")[0] == 200


def test_serve_beyond_loopback_needs_a_token(zart_cli: Zart) -> None:
    zart_cli.ok("migrate")
    refused = zart_cli("serve", "--host", "0.0.0.0", "--port", "0")
    assert refused.code == 2 and "ZART_API_TOKEN" in refused.error()


def test_a_port_in_use_is_one_line(zart_cli: Zart) -> None:
    zart_cli.ok("migrate")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        refused = zart_cli("serve", "--port", port)
        assert refused.code == 2
        assert refused.error() == f"cannot serve on 127.0.0.1:{port}: Address already in use"
        metrics = zart_cli("worker", "--app", APP, "--metrics-port", port)
        assert metrics.code == 2
        assert metrics.error() == f"cannot serve metrics on port {port}: Address already in use"


def _steps_run(text: str) -> float | None:
    """How many times the metrics say the test app's step ran."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = {"task": "cli-double", "step": "double"}
            if sample.name == "zart_steps_run_total" and sample.labels == labels:
                return sample.value
    return None


def test_worker_serves_its_metrics_on_a_port(zart_cli: Zart) -> None:
    zart_cli.ok("schedule", "cli-double", "--data", "2", "--id", "e1")
    with _running(zart_cli, "worker", "--app", APP, "--metrics-port", "0") as worker:
        url = _listening(worker, r"zart: metrics on (http://127\.0\.0\.1:\d+/metrics)")
        assert _get(url)[0] == 200
        # The worker's own observer counts the step it ran.
        ran = wait_for(lambda: _steps_run(_get(url)[1].decode()), "the step in the metrics")
        assert ran == 1.0
    assert zart_cli.ok("status", "e1", "--json").json()["status"] == "completed"
