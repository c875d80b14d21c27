"""The OpenAPI document against the router: every route documented, every
documented operation routed, with the same parameters, and the document
valid OpenAPI 3.1."""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_31

import zart
from zart.http import App, make_app, openapi
from zart.http.wsgi import Route
from zart.stores.memory import MemoryStore

METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


def routes() -> tuple[Route, ...]:
    app = make_app(zart.Client(MemoryStore()), dashboard=False)
    assert isinstance(app, App)
    return app.router.routes


def operations() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path, item in openapi.document()["paths"].items():
        for method, operation in item.items():
            assert method in METHODS, (path, method)
            found[(method.upper(), path)] = operation
    return found


def test_every_route_is_documented_and_every_operation_routed() -> None:
    routed = {(route.method, route.path) for route in routes()}
    assert routed == set(operations())
    assert len(routed) == len(routes())  # no route twice


def test_fork_and_the_schedules_are_offered_but_creating_a_schedule_is_not() -> None:
    offered = set(operations())
    assert ("POST", "/api/v1/executions/{execution_id}/fork") in offered
    schedules = {(m, p) for m, p in offered if p.startswith("/api/v1/schedules")}
    assert schedules == {
        ("GET", "/api/v1/schedules"),
        ("GET", "/api/v1/schedules/{schedule_id}"),
        ("DELETE", "/api/v1/schedules/{schedule_id}"),
        ("POST", "/api/v1/schedules/{schedule_id}/pause"),
        ("POST", "/api/v1/schedules/{schedule_id}/resume"),
        ("POST", "/api/v1/schedules/{schedule_id}/trigger"),
    }
    # Schedules are created in code; the document says so.
    assert "client.create_schedule" in openapi.document()["info"]["description"]


@pytest.mark.parametrize("route", routes(), ids=lambda r: f"{r.method} {r.path}")
def test_parameters_match(route: Route) -> None:
    operation = operations()[(route.method, route.path)]
    documented = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
    assert documented == re.findall(r"{(\w+)}", route.path)
    query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
    assert query == list(route.query)


@pytest.mark.parametrize("route", routes(), ids=lambda r: f"{r.method} {r.path}")
def test_statuses_match_the_route_kind(route: Route) -> None:
    operation = operations()[(route.method, route.path)]
    answers = set(operation["responses"])
    assert "400" in answers
    if route.public:
        assert operation["security"] == []
        assert not {"401", "403"} & answers
    else:
        assert "security" not in operation  # the document's default: the bearer token
        assert {"401", "403"} <= answers
    if route.action:
        assert {"405", "413"} <= answers
    if "{execution_id}" in route.path or "{schedule_id}" in route.path:
        assert "404" in answers


def test_the_document_is_valid_openapi_3_1() -> None:
    validator = jsonschema_rs.Draft202012Validator(OPENAPI_31)
    errors = [error.message for error in validator.iter_errors(openapi.document())]
    assert errors == []


def test_every_schema_reference_resolves() -> None:
    text = openapi.document_bytes().decode()
    schemas = openapi.document()["components"]["schemas"]
    for name in re.findall(r'"#/components/schemas/(\w+)"', text):
        assert name in schemas
