"""What the HTTP tests share: workflows, a store of each kind, and a way to
call a WSGI app in-process (werkzeug's test client) and read its JSON."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
from werkzeug.test import Client as WerkzeugClient

import zart
from tests.store_kinds import open_store
from zart.http import make_app

# -- workflows --------------------------------------------------------------------

# Attempts per execution id: the flaky step fails its first attempt only.
ATTEMPTS: dict[str, int] = {}


@zart.step("charge-{order}", retry=zart.RetryPolicy.fixed(2, 0))
def charge(order: str) -> str:
    ATTEMPTS[order] = ATTEMPTS.get(order, 0) + 1
    if ATTEMPTS[order] == 1:
        raise ConnectionError(f"card network down for {order}")
    return f"charged {order}"


@zart.durable("flaky")
def flaky(order: str) -> zart.Workflow[str]:
    result: str = yield charge(order)
    return result


@zart.durable("approval")
def approval(data: Any) -> zart.Workflow[Any]:
    decision = yield zart.wait_event("approved")
    return {"decision": decision}


@zart.durable("inbox")
def inbox(data: Any) -> zart.Workflow[Any]:
    item = yield zart.receive("first", "items")
    return item


@zart.step("explode")
def explode() -> None:
    raise RuntimeError("boom")


@zart.durable("boom")
def boom(data: Any) -> zart.Workflow[None]:
    yield explode()


@zart.durable("double")
def double(n: int) -> zart.Workflow[int]:
    return n * 2
    yield  # a generator


def registry() -> zart.TaskRegistry:
    return zart.TaskRegistry([flaky, approval, inbox, boom, double])


# -- stores ---------------------------------------------------------------------------


@contextmanager
def client_on(kind: str, tmp_path: Path, *, empty: bool = False) -> Iterator[zart.Client]:
    """A client on a fresh store of ``kind`` (with the test workflows, or none)."""
    with open_store(kind, tmp_path) as store:
        yield zart.Client(store, zart.TaskRegistry() if empty else registry())


def run_until_idle(client: zart.Client) -> None:
    zart.Worker(client.store, client.registry).run_until_idle()


# -- calling the app ------------------------------------------------------------------


@attrs.frozen
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        assert self.headers["content-type"] == "application/json", self.headers
        return json.loads(self.body)

    @property
    def error(self) -> str:
        document = self.json
        assert set(document) == {"error", "message"}, document
        assert isinstance(document["message"], str) and document["message"]
        return str(document["error"])


_NO_BODY = object()


class Http:
    """Calls a WSGI app in-process, as a server would."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.werkzeug = WerkzeugClient(app)

    def call(
        self,
        method: str,
        path: str,
        json_body: Any = _NO_BODY,
        *,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        options: dict[str, Any] = {"headers": headers or {}}
        if json_body is not _NO_BODY:
            options["json"] = json_body
        elif data is not None:
            options["data"] = data
        response = self.werkzeug.open(path, method=method, **options)
        found = {k.lower(): v for k, v in response.headers.items()}
        return Answer(response.status_code, found, response.get_data())

    def get(self, path: str, **options: Any) -> Answer:
        return self.call("GET", path, **options)

    def post(self, path: str, json_body: Any = _NO_BODY, **options: Any) -> Answer:
        return self.call("POST", path, json_body, **options)

    def raw(self, environ: dict[str, Any]) -> Answer:
        """Call with a hand-made environ (what werkzeug would not send)."""
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            captured["status"] = int(status.split()[0])
            captured["headers"] = {k.lower(): v for k, v in headers}

        body = b"".join(self.app(environ, start_response))
        return Answer(captured["status"], captured["headers"], body)


def environ(method: str, path: str, body: bytes = b"", **extra: Any) -> dict[str, Any]:
    """A minimal WSGI environ; ``extra`` overrides (CONTENT_LENGTH, ...)."""
    base = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "test",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
    }
    base.update(extra)
    return base


def http_for(client: zart.Client, **options: Any) -> Http:
    options.setdefault("dashboard", False)
    return Http(make_app(client, **options))
