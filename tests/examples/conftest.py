"""Fixtures for the example tests: a TestEnv per example registry."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import zart
from zart.testing import TestEnv

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # makes `import examples.onboarding` work


@pytest.fixture
def make_env() -> Iterator[Callable[[zart.TaskRegistry], TestEnv]]:
    """``make_env(registry)``: a fresh in-memory engine on a virtual clock."""
    envs: list[TestEnv] = []

    def make(registry: zart.TaskRegistry) -> TestEnv:
        env = TestEnv(registry)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()
