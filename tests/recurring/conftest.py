"""The engine on every kind of store (``tests.engine``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine import Engine, open_engine
from tests.store_kinds import STORE_KINDS


@pytest.fixture(params=STORE_KINDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with open_engine(request.param, tmp_path) as running:
        yield running
