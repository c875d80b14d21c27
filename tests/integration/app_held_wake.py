"""``tests.integration.app`` with one fault put in: on PostgreSQL, the
statement a finishing child runs after its commit to wake its parent
(``wake_parent``) first waits for an advisory lock that the test holds.
The test SIGKILLs the worker while its children sit there, committed and
not yet checked on: the window the store's periodic check for stranded
parents exists to close.

    zart --db URL worker --app tests.integration.app_held_wake
"""

from __future__ import annotations

from typing import Any

from tests.integration.app import HOLD_KEY, registry
from zart.stores import sqlfiles

_POSTGRES = "zart.stores.postgres"
_queries = sqlfiles.queries


def _held_queries(package: str, filename: str = "queries.sql") -> dict[str, Any]:
    found = _queries(package, filename)
    if package == _POSTGRES and filename == "queries.sql":
        found = {**found, "wake_parent": f"SELECT pg_advisory_lock({HOLD_KEY})"}
    return found


# The store reads its queries when it is built, which `zart worker` does
# after importing the app.
sqlfiles.queries = _held_queries

__all__ = ["registry"]
