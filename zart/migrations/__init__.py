"""Numbered SQL migrations, one folder per dialect (``0001_initial.sql`` ...).

Each store applies the files above its recorded version, in order, under a
lock, and records each version in its ``schema_version`` table. The highest
number here is the version the code needs; an older database is refused with
``SchemaOutdated`` until ``zart migrate`` runs.
"""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migration_files(dialect: str) -> list[tuple[int, str]]:
    """``(version, sql)`` for every migration of ``dialect``, lowest first."""
    folder = resources.files(__package__).joinpath(dialect)
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


def latest_version(dialect: str) -> int:
    files = migration_files(dialect)
    return files[-1][0] if files else 0
