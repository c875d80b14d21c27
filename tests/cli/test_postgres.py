"""The reading commands and ``wait`` on PostgreSQL (a scratch schema),
which migrates only when told: ``zart migrate``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import APP, Zart, rows
from tests.pg import postgres_url_or_skip, scratch_schema

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Zart]:
    url = postgres_url_or_skip()
    with scratch_schema(url) as schema:
        yield Zart(tmp_path, f"{url}{'&' if '?' in url else '?'}schema={schema}")


def test_a_new_postgres_schema_needs_migrate(pg: Zart) -> None:
    refused = pg("list")
    assert refused.code == 2 and "zart migrate" in refused.error()
    pg.ok("migrate")
    assert pg.ok("list", "--json").json()["executions"] == []


def test_status_list_history_and_wait_on_postgres(pg: Zart) -> None:
    pg.ok("migrate")
    pg.ok("schedule", "cli-double", "--data", "21", "--id", "e1")
    pg.ok("schedule", "doomed", "--data", '"kaboom"', "--id", "d1")
    pg.ok("schedule", "approval", "--data", '"o"', "--id", "a1")
    pg.ok("worker", "--app", APP, "--until-idle", logs=True)  # d1's traceback
    assert pg.ok("status", "e1", "--json").json()["output"] == 42
    assert "status:      failed" in pg.ok("status", "d1").out.splitlines()
    listed = pg.ok("list", "--json").json()["executions"]
    assert sorted(doc["id"] for doc in listed) == ["a1", "d1", "e1"]
    assert [row[0] for row in rows(pg.ok("list", "--status", "waiting").out)] == ["ID", "a1"]
    history = rows(pg.ok("history", "e1").out)
    assert history[1][1:4] == ["double", "step", "completed"] and history[1][-1] == "42"
    assert [pg(*argv).code for argv in (["wait", "e1"], ["wait", "d1"])] == [0, 1]
    assert pg("wait", "a1", "--timeout", "0.1").code == 2
    assert pg("wait", "nope").code == 3
