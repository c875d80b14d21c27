"""What the command line reads: the database (``--db``), the application
(``--app``) and JSON values (``--data``).

Each reader turns what a user can get wrong into a ``ZartError`` that says
what to fix, so that ``main`` prints it as one line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..client import Client
from ..errors import ZartError
from ..serde import to_json
from ..stores.connect import connect
from ..stores.protocol import Store
from ..tasks import TaskHandler, TaskRegistry

DEFAULT_DB = "sqlite:///zart.db"


def database_url(args: argparse.Namespace) -> str:
    """``--db``, else ``ZART_DATABASE_URL``, else the default SQLite file."""
    given: str | None = getattr(args, "db", None)
    return given or os.environ.get("ZART_DATABASE_URL") or DEFAULT_DB


class Session:
    """One command's store and client, opened on first use and closed by
    ``main`` whatever the command did."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._store: Store | None = None

    @property
    def url(self) -> str:
        return database_url(self.args)

    def store(self, *, creates: bool = False) -> Store:
        """The store of ``--db``. On SQLite, commands that run or start work
        (``creates``) make a new file and migrate it, as ``zart.connect``
        does; the others refuse a path with no database and create nothing:
        a mistyped path is an error, not an empty database."""
        if self._store is None:
            url = self.url
            if creates or not url.startswith("sqlite:"):
                self._store = connect(url)
            else:
                self._store = connect(url, migrate=False, create=False)
        return self._store

    def client(self, *, creates: bool = False, app: str | None = None) -> Client:
        # The app first: a module that does not import touches no database.
        registry = load_registry(app)
        return Client(self.store(creates=creates), registry)

    def close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            store.close()


def load_registry(spec: str | None) -> TaskRegistry:
    """The registry named by ``MODULE[:ATTR]`` (an empty one for None).
    ATTR (default ``registry``) names a ``TaskRegistry`` or a list of
    handlers; the current directory is importable, as with ``python -m``."""
    if not spec:
        return TaskRegistry()
    module_name, _, attr = spec.partition(":")
    if not module_name or module_name.startswith("."):
        raise ZartError(f"--app {spec!r}: name a module by its absolute name (MODULE[:ATTR])")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ZartError(f"--app {spec!r}: cannot import {module_name!r}: {exc}") from None
    name = attr or "registry"
    if not hasattr(module, name):
        raise ZartError(
            f"--app {spec!r}: module {module_name!r} has no attribute {name!r}"
            + ("" if attr else " (name the registry: --app MODULE:ATTR)")
        )
    value = getattr(module, name)
    if isinstance(value, TaskRegistry):
        return value
    if isinstance(value, list | tuple) and all(isinstance(h, TaskHandler) for h in value):
        return TaskRegistry(value)
    raise ZartError(
        f"--app {spec!r}: {module_name}.{name} must be a TaskRegistry "
        f"or a list of task handlers, got {type(value).__name__}"
    )


def read_data(text: str, flag: str = "--data") -> Any:
    """The JSON value of ``--data``: inline JSON, ``@path`` for a file's
    contents, or ``-`` for standard input."""
    raw: str | bytes
    if text == "-":
        where, raw = f"{flag} - (standard input)", sys.stdin.buffer.read()
    elif text.startswith("@"):
        where, raw = f"{flag} {text}", _read_file(text[1:], flag)
    else:
        # As the bytes given: an argument that is not UTF-8 reached Python
        # as surrogate escapes, and is reported as not UTF-8, not as bad JSON.
        where, raw = flag, os.fsencode(text)
    try:
        value = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise ZartError(f"{where} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise ZartError(f"{where} is not valid JSON: {exc}") from None
    except RecursionError:
        # The decoder recurses once per level: 60,000 nested brackets end
        # Python's stack, which is no reason for a traceback.
        raise ZartError(f"{where} is nested too deeply to read") from None
    # Held to the rules of every stored document (no NUL, no surrogate, no
    # NaN), also when `schedule` without --app hands it to the store directly.
    return to_json(value, where)


def _read_file(path: str, flag: str) -> bytes:
    if not path:
        raise ZartError(f"{flag} @: name a file after the @ (@input.json)")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ZartError(f"{flag} @{path}: cannot read {path!r}: {exc.strerror or exc}") from None
