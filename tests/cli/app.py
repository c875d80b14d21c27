"""Workflows for the command-line tests (``--app tests.cli.app``)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import zart


@zart.step("double")
def double(n: int) -> int:
    return 2 * n


@zart.durable("cli-double")
def doubled(n: int) -> Generator[Any, Any, int]:
    return (yield double(n))


@zart.durable("approval")
def approval(order: str) -> Generator[Any, Any, dict[str, Any]]:
    answer = yield zart.wait_event("go")
    return {"order": order, "answer": answer}


@zart.durable("inbox")
def inbox(data: Any) -> Generator[Any, Any, Any]:
    return (yield zart.receive("first", "in"))


@zart.step("explode")
def explode(why: str) -> None:
    raise RuntimeError(why)


@zart.durable("doomed")
def doomed(why: str) -> Generator[Any, Any, str]:
    yield explode(why)
    return "unreachable"


@zart.durable("family")
def family(n: int) -> Generator[Any, Any, int]:
    return (yield doubled(n).named("kid-1"))


@zart.durable("cli-undo")
def undo(failure: zart.Failure) -> Generator[Any, Any, str]:
    return f"undone {failure.execution_id}"
    yield  # a workflow


@zart.durable("cli-guarded", on_failure=zart.on_failure(undo, on_cancel=True))
def guarded(order: str) -> Generator[Any, Any, Any]:
    return (yield zart.wait_event("go"))


registry = zart.TaskRegistry([doubled, approval, inbox, doomed, family, undo, guarded])
