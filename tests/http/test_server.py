"""``serve()`` on waitress, on a real port of 127.0.0.1: real HTTP requests
through urllib and http.client, the URL logged, the token rule for
addresses beyond loopback."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import zart
from tests.http.support import client_on
from zart.http.server import Server, create_server, is_loopback, serve

TOKEN = "t0ken"


class Running:
    """``serve()`` on a thread, until the test ends."""

    def __init__(self, client: zart.Client, **options: Any) -> None:
        self.ready = threading.Event()
        self.server: Server | None = None
        self.failed: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, args=(client,), kwargs=options)
        self.thread.start()
        if not self.ready.wait(30):
            raise AssertionError("serve() did not start listening")
        if self.failed is not None:
            raise self.failed

    def _serve(self, client: zart.Client, **options: Any) -> None:
        try:
            serve(client, port=0, ready=self._started, **options)
        except BaseException as exc:
            self.failed = exc
            self.ready.set()

    def _started(self, server: Server) -> None:
        self.server = server
        self.ready.set()

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        self.thread.join(30)
        assert not self.thread.is_alive(), "serve() did not return after close()"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[zart.Client]:
    with client_on("sqlite", tmp_path) as c:
        yield c


@pytest.fixture
def running(client: zart.Client, caplog: pytest.LogCaptureFixture) -> Iterator[Running]:
    with caplog.at_level(logging.INFO, logger="zart"):
        server = Running(client)
    try:
        yield server
    finally:
        server.stop()


def call(
    url: str, method: str = "GET", body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_serve_answers_real_requests(running: Running, client: zart.Client) -> None:
    assert running.url.startswith("http://127.0.0.1:")
    assert call(running.url + "/healthz") == (200, {"status": "ok"})
    status, created = call(
        running.url + "/api/v1/executions", "POST", {"task": "approval", "id": "web/1"}
    )
    assert status == 201
    assert created["execution"]["id"] == "web/1"
    one = running.url + "/api/v1/executions/" + quote("web/1", safe="")
    assert call(one)[1]["status"] == "pending"
    status, offered = call(running.url + "/api/v1/events/web%2F1/approved", "POST", {"ok": True})
    assert (status, offered["accepted"]) == (200, True)
    zart.Worker(client.store, client.registry).run_until_idle()
    assert call(one + "/wait?timeout=10") == (200, call(one)[1])
    assert call(one)[1]["output"] == {"decision": {"ok": True}}
    assert call(running.url + "/api/v1/executions/nobody")[0] == 404


def test_serve_logs_its_url(running: Running, caplog: pytest.LogCaptureFixture) -> None:
    logged = [r.getMessage() for r in caplog.get_records("setup") if r.name == "zart"]
    assert f"zart serving on {running.url}" in logged


def test_serve_takes_concurrent_keep_alive_clients(running: Running, client: zart.Client) -> None:
    host, port = running.url.removeprefix("http://").split(":")
    failures: list[str] = []

    def one_client(n: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            for i in range(10):
                body = json.dumps({"task": "double", "input": i, "id": f"c{n}-{i}"})
                connection.request(
                    "POST", "/api/v1/executions", body, {"Content-Type": "application/json"}
                )
                created = connection.getresponse()
                created.read()
                connection.request("GET", f"/api/v1/executions/c{n}-{i}")
                got = connection.getresponse()
                if (created.status, got.status) != (201, 200) or json.loads(got.read())[
                    "input"
                ] != i:
                    failures.append(f"c{n}-{i}: {created.status} {got.status}")
        finally:
            connection.close()

    threads = [threading.Thread(target=one_client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    assert len(client.list(limit=1000)) == 80


def test_serve_serves_the_dashboard_beside_the_api(running: Running) -> None:
    with urllib.request.urlopen(running.url + "/", timeout=30) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/html")


def test_serve_with_a_token_needs_it(client: zart.Client) -> None:
    server = Running(client, token=TOKEN)
    try:
        assert call(server.url + "/api/v1/workers")[0] == 401
        assert call(server.url + "/api/v1/workers", token="nope")[0] == 403
        assert call(server.url + "/api/v1/workers", token=TOKEN) == (200, {"workers": []})
    finally:
        server.stop()


def test_serve_read_only_refuses_actions(client: zart.Client) -> None:
    server = Running(client, read_only=True)
    try:
        status, answer = call(server.url + "/api/v1/executions", "POST", {"task": "double"})
        assert (status, answer["error"]) == (405, "read_only")
    finally:
        server.stop()
    assert client.list() == []


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com", ""])
def test_beyond_loopback_a_token_is_required(client: zart.Client, host: str) -> None:
    with pytest.raises(ValueError, match="ZART_API_TOKEN"):
        serve(client, host=host, port=0)
    with pytest.raises(ValueError, match="ZART_API_TOKEN"):
        create_server(client, host=host, port=0)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.6.7", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("myhost", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_localhost_binds_one_loopback_socket(client: zart.Client) -> None:
    server = create_server(client, host="localhost", port=0)
    try:
        assert server.url.startswith("http://127.0.0.1:")
    finally:
        server.close()
