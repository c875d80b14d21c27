"""Names made of SQL metacharacters (quotes, ``%s``, ``?``, ``$1``,
backslashes, LIKE wildcards, a ``DROP TABLE``) are ordinary names: on every
store an execution id, a task, an event, a topic and step names built from
one are stored, matched and read back exactly, and match nothing else."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

import zart
from tests.badinput.cases import SQL_NAMES
from tests.store_kinds import STORE_KINDS, open_store


def variant(prefix: str, name: str) -> str:
    """Another name made from ``name``, still at most 255 characters."""
    return (prefix + name)[:255]


def echo(*parts: Any) -> list[Any]:
    return list(parts)


class Echo(zart.TaskHandler):
    """Waits for the event and the message named after its own task, runs a
    step and schedules a child step named after it, returns what it got."""

    def run(self, ctx: zart.TaskContext, data: str) -> Generator[Any, Any, Any]:
        event = yield zart.wait_event(data)
        message = yield zart.receive(variant("r", data), data)
        out = yield zart.call(variant("s", data), echo, event, message)
        child = yield zart.schedule(zart.call(variant("c", data), echo, data))
        [kid] = yield zart.wait_all([child])
        return [out, kid]


@zart.durable("decoy")
def decoy(data: Any) -> Generator[Any, Any, Any]:
    return (yield zart.wait_event("never"))


@pytest.mark.parametrize("name", SQL_NAMES, ids=[repr(n[:30]) for n in SQL_NAMES])
@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_name_of_sql_metacharacters_is_an_ordinary_name(
    kind: str, name: str, tmp_path: Path
) -> None:
    with open_store(kind, tmp_path) as store:
        registry = zart.TaskRegistry([decoy])
        registry.register(name, Echo())
        client = zart.Client(store, registry)
        client.schedule(decoy, None, execution_id="abc-decoy")
        assert client.schedule(name, name, execution_id=name) == name
        zart.Worker(store, registry).run_until_idle()
        assert client.send(name, name, name) >= 1
        assert client.offer_event(name, name, name) is True
        zart.Worker(store, registry).run_until_idle()

        assert client.result(name, timeout=0) == [[name, name], [name]]
        record = client.get(name)
        assert (record.id, record.task_name, record.input) == (name, name, name)
        log = store.load(name)
        assert log.events == {name: name}
        steps = [variant("c", name), variant("r", name), variant("s", name), name]
        assert sorted(s.name for s in client.history(name)) == sorted(steps)
        _matched_exactly(client, name)
        forked = client.fork(name, from_step=variant("s", name))
        assert client.get(forked).input == name
        assert [s.name for s in client.history(forked)] == [name, variant("r", name)]


def _matched_exactly(client: zart.Client, name: str) -> None:
    """Filters take ``name`` as the literal text it is: no wildcard, no
    quote, no injected clause matches anything else."""
    (child,) = client.list(parent_id=name)
    assert child.parent_id == name and child.status == "completed"
    # A step child carries its parent's task name.
    both = sorted([name, child.id])
    assert sorted(r.id for r in client.list(task=name)) == both
    assert client.counts(task=name) == {"completed": 2}
    # Ids that start with the text (the child's, unless a long name made it
    # a digest), never the decoy: "abc-decoy" is what "a%" or "_" would
    # match as a LIKE pattern.
    prefixed = [i for i in both if i.startswith(name)]
    assert sorted(r.id for r in client.list(search=name)) == prefixed
    assert client.get("abc-decoy").status == "waiting"  # the table and its rows are there
    assert client.counts() == {"completed": 2, "waiting": 1}
