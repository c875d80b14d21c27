"""The token rule (401 missing, 403 wrong, constant-time comparison) and
read-only mode (every action refused with a 405, nothing changed)."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

import pytest

import zart
from tests.http.support import Http, http_for, registry
from zart.http import auth, make_app
from zart.stores.memory import MemoryStore

TOKEN = "s3cret-token"
ROUTES = [
    ("POST", "/api/v1/executions"),
    ("GET", "/api/v1/executions"),
    ("GET", "/api/v1/executions/x"),
    ("GET", "/api/v1/executions/x/steps"),
    ("POST", "/api/v1/executions/x/cancel"),
    ("POST", "/api/v1/executions/x/retry"),
    ("POST", "/api/v1/executions/x/fork"),
    ("GET", "/api/v1/executions/x/wait?timeout=0"),
    ("GET", "/api/v1/schedules"),
    ("GET", "/api/v1/schedules/x"),
    ("DELETE", "/api/v1/schedules/x"),
    ("POST", "/api/v1/schedules/x/pause"),
    ("POST", "/api/v1/schedules/x/resume"),
    ("POST", "/api/v1/schedules/x/trigger"),
    ("POST", "/api/v1/events/x/e"),
    ("POST", "/api/v1/messages/x/t"),
    ("GET", "/api/v1/workers"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/nowhere"),  # an unknown path tells nothing before the token
    ("PUT", "/api/v1/workers"),
]


@pytest.fixture
def client() -> zart.Client:
    return zart.Client(MemoryStore(), registry())


@pytest.fixture
def guarded(client: zart.Client) -> Http:
    return http_for(client, token=TOKEN)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_without_a_token_every_call_is_401(guarded: Http, method: str, path: str) -> None:
    answer = guarded.call(method, path)
    assert answer.status == 401
    assert answer.error == "unauthorized"
    assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer wrong", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer \u00e9t\u00e9"]
)
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_wrong_token_is_403(guarded: Http, method: str, path: str, header: str) -> None:
    answer = guarded.call(method, path, headers={"Authorization": header})
    assert answer.status == 403
    assert answer.error == "forbidden"


@pytest.mark.parametrize("header", ["", "Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", TOKEN])
def test_no_bearer_credentials_is_401(guarded: Http, header: str) -> None:
    answer = guarded.get("/api/v1/executions", headers={"Authorization": header})
    assert answer.status == 401


def test_the_right_token_opens_every_route(guarded: Http, client: zart.Client) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    created = guarded.post("/api/v1/executions", {"task": "approval"}, headers=bearer)
    assert created.status == 201
    eid = created.json["execution"]["id"]
    assert guarded.get(f"/api/v1/executions/{eid}", headers=bearer).status == 200
    assert guarded.post(f"/api/v1/events/{eid}/approved", 1, headers=bearer).status == 200
    assert guarded.get("/metrics", headers=bearer).status == 200
    lowercase = {"Authorization": f"bearer {TOKEN}"}
    assert guarded.get("/api/v1/workers", headers=lowercase).status == 200


def test_health_and_the_openapi_document_need_no_token(guarded: Http) -> None:
    assert guarded.get("/healthz").status == 200
    assert guarded.get("/api/v1/openapi.json").status == 200


def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    http = http_for(zart.Client(MemoryStore()), token=TOKEN)
    assert http.get("/api/v1/workers", headers={"Authorization": "Bearer guess"}).status == 403
    assert calls == [(b"guess", TOKEN.encode())]


@pytest.mark.parametrize("token", ["", "   ", " padded", "t\u00e9", "line\nbreak", 42])
def test_unusable_tokens_are_refused(token: Any) -> None:
    with pytest.raises(ValueError, match="ZART_API_TOKEN"):
        make_app(zart.Client(MemoryStore()), token=token, dashboard=False)


# -- read-only mode ---------------------------------------------------------------------


@pytest.fixture
def read_only(client: zart.Client) -> Http:
    return http_for(client, read_only=True)


def test_read_only_refuses_every_action_and_changes_nothing(
    read_only: Http, client: zart.Client, tmp_path: Path
) -> None:
    eid = client.schedule("boom", None, execution_id="e")
    before = client.get(eid)
    for path, body in [
        ("/api/v1/executions", {"task": "double", "input": 1}),
        (f"/api/v1/executions/{eid}/cancel", None),
        (f"/api/v1/executions/{eid}/retry", None),
        (f"/api/v1/events/{eid}/approved", 1),
        (f"/api/v1/messages/{eid}/items", 1),
    ]:
        answer = read_only.post(path, body)
        assert answer.status == 405, path
        assert answer.error == "read_only"
    assert client.list() == [before]
    assert client.store.load(eid).events == {}
    assert client.store.load(eid).messages == {}


def test_read_only_tells_what_the_path_still_allows(read_only: Http) -> None:
    assert read_only.post("/api/v1/executions", {}).headers["allow"] == "GET"
    assert read_only.post("/api/v1/executions/x/cancel").headers["allow"] == ""


def test_read_only_still_reads(read_only: Http, client: zart.Client) -> None:
    eid = client.schedule("double", 1)
    assert read_only.get(f"/api/v1/executions/{eid}").status == 200
    assert read_only.get("/api/v1/executions").status == 200
    assert read_only.get(f"/api/v1/executions/{eid}/steps").status == 200
    assert read_only.get(f"/api/v1/executions/{eid}/wait?timeout=0").status == 202
    assert read_only.get("/api/v1/workers").status == 200
    assert read_only.get("/metrics").status == 200


def test_read_only_with_a_token_asks_for_the_token_first(client: zart.Client) -> None:
    http = http_for(client, read_only=True, token=TOKEN)
    assert http.post("/api/v1/executions", {"task": "double"}).status == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert http.post("/api/v1/executions", {"task": "double"}, headers=bearer).status == 405
