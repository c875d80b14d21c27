"""on_failure on every store: the handler starts once, in the commit that
fails the execution; its own failure is shown, never looped; a cancel
starts it only when asked to."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import zart
from tests.engine import Engine

compensated: list[str] = []


@zart.durable("release-stock")
def release_stock(failure: zart.Failure):  # type: ignore[no-untyped-def]
    yield zart.call("release", lambda: compensated.append(failure.execution_id))
    return "released"


@zart.durable("broken-handler")
def broken_handler(failure: zart.Failure):  # type: ignore[no-untyped-def]
    yield zart.call("try", lambda: compensated.append("tried"))
    raise RuntimeError("the compensation itself failed")


@zart.step("charge")
def charge() -> None:
    raise ValueError("card declined")


def _order(handler: zart.TaskHandler, *, on_cancel: bool = False) -> zart.TaskHandler:
    @zart.durable("order", max_retries=0, on_failure=zart.on_failure(handler, on_cancel=on_cancel))
    def order(_: Any):  # type: ignore[no-untyped-def]
        yield zart.call("reserve", lambda: "r-1")
        yield zart.wait_event("pay")
        yield charge()

    return order


@pytest.fixture(autouse=True)
def _fresh() -> None:
    compensated.clear()


def test_the_handler_runs_once_when_the_execution_fails(engine: Engine) -> None:
    client = engine.deploy(_order(release_stock), release_stock)
    eid = client.schedule("order", execution_id="o-1")
    engine.run()
    client.offer_event(eid, "pay")
    engine.run()
    assert engine.status(eid) == "failed" and compensated == ["o-1"]
    [handler] = client.list(parent_id=eid)
    assert handler.id == "o-1:on-failure@0" and handler.kind == "failure-handler"
    assert client.result(handler.id) == "released"
    engine.run()
    assert compensated == ["o-1"]


def test_a_failing_handler_is_logged_and_shown_never_looped(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    client = engine.deploy(_order(broken_handler), broken_handler)
    eid = client.schedule("order", execution_id="o-2")
    engine.run()
    with caplog.at_level(logging.ERROR, logger="zart"):
        client.offer_event(eid, "pay")
        engine.run()
    [handler] = client.list(parent_id=eid)
    assert handler.status == "failed" and compensated == ["tried"]
    assert handler.error is not None and "compensation itself failed" in handler.error["message"]
    assert client.list(parent_id=handler.id) == []
    assert any("o-2:on-failure@0" in r.getMessage() for r in caplog.records)


def test_a_cancel_runs_the_handler_only_when_asked(engine: Engine) -> None:
    client = engine.deploy(_order(release_stock), release_stock)
    quiet = client.schedule("order", execution_id="quiet")
    engine.run()
    client.cancel(quiet)
    engine.run()
    assert compensated == [] and client.list(parent_id=quiet) == []
    client = engine.deploy(_order(release_stock, on_cancel=True), release_stock)
    told = client.schedule("order", execution_id="told")
    engine.run()
    client.cancel(told)
    engine.run()
    [handler] = client.list(parent_id=told)
    assert compensated == ["told"] and client.result(handler.id) == "released"
