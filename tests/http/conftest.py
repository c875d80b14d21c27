"""The dashboard's tests share an engine on a virtual clock (``env``) and a
browser on the dashboard over it (``browser``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from zart.http.dashboard import make_dashboard
from zart.testing import TestEnv

from .dashboard_support import REGISTRY, Browser


@pytest.fixture
def env() -> Iterator[TestEnv]:
    with TestEnv(REGISTRY) as env:
        yield env


@pytest.fixture
def browser(env: TestEnv) -> Browser:
    return Browser(make_dashboard(env.client))
