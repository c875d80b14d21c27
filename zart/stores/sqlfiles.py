"""Named SQL, read from the files beside each store.

A query file holds statements under ``-- name: <name>`` headers; each
statement is readable SQL with named parameters, in its driver's style.
A store's schema is ``schema.sql`` (what a new database gets) and its
upgrades are ``migrations/NNNN_what.sql``, numbered; a test holds a
migrated database to a new one.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

_HEADER = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.M)
_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def read(package: str, filename: str) -> str:
    return resources.files(package).joinpath(filename).read_text(encoding="utf-8")


def queries(package: str, filename: str = "queries.sql") -> dict[str, str]:
    """The statements of a query file, by name."""
    text = read(package, filename)
    found: dict[str, str] = {}
    parts = _HEADER.split(text)
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in found:
            raise ValueError(f"{package}/{filename}: query {name!r} is named twice")
        found[name] = body.strip().rstrip(";")
    return found


def migrations(package: str) -> list[tuple[int, str]]:
    """``(version, sql)`` of every migration of a store, lowest first."""
    folder = resources.files(package).joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


def latest_version(package: str) -> int:
    files = migrations(package)
    return files[-1][0] if files else 0


def listing(
    *,
    status: str | None,
    task: str | None,
    parent_id: str | None,
    search: str | None,
    limit: int,
    offset: int,
) -> tuple[str, dict[str, Any]]:
    """The list statement (its name in every SQL store's query file) whose
    index the filters given drive, and its parameters: an id prefix, else a
    parent, else status and task (one index each for a status, a task, and
    the two together)."""
    params = {
        "status": status,
        "task": task,
        "parent_id": parent_id,
        "search": search,
        "limit": limit,
        "offset": offset,
    }
    if search is not None:
        return "list_by_search", params
    if parent_id is not None:
        return "list_by_parent", params
    if task is not None:
        return ("list_by_task" if status is None else "list_by_status_and_task"), params
    return ("list_all" if status is None else "list_by_status"), params
