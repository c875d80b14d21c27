"""What the replay tests share: value types, business errors, and readers
of an execution's outcome."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

import zart
from zart.testing import TestEnv


@attrs.define
class Report:
    title: str
    pages: list[int]
    created: datetime


@dataclasses.dataclass
class Summary:
    total: int
    tags: tuple[str, ...]


@attrs.define
class InsufficientFunds(zart.BusinessError):
    needed: int
    account: str


class OutOfStock(zart.BusinessError):
    """A business error without attrs fields: only its message travels."""


class Opaque:
    """Has no JSON form."""


def snapshot(env: TestEnv, eid: str) -> list[tuple[Any, ...]]:
    return [
        (s.name, s.kind, s.status, s.step, s.result, s.error, s.attempts, s.wake_at, s.child_id)
        for s in env.history(eid)
    ]


def failure(env: TestEnv, eid: str) -> zart.ExecutionFailed:
    with pytest.raises(zart.ExecutionFailed) as info:
        env.result(eid)
    return info.value


def stalled(env: TestEnv, eid: str) -> dict[str, Any]:
    """The error of a stalled execution (the code no longer matches its log)."""
    rec = env.get(eid)
    assert rec.status == "stalled", rec.status
    assert rec.error is not None
    return rec.error


T_REPORT = datetime(2030, 5, 1, 9, 30, tzinfo=UTC)
