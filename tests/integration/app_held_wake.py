"""``tests.integration.app`` with one fault put in: on PostgreSQL, the
statement a finishing child runs after its commit to wake its parent
(``WAKE_PARENT_OF``) first waits for an advisory lock that the test holds.
The test SIGKILLs the worker while its children sit there, committed and
not yet checked on: the window the store's periodic check for stranded
parents exists to close.

    zart --db URL worker --app tests.integration.app_held_wake
"""

from __future__ import annotations

import zart.postgres_sql as q
from tests.integration.app import HOLD_KEY, registry

# The store renders its queries from this module when it is built, which
# `zart worker` does after importing the app.
q.WAKE_PARENT_OF = f"SELECT pg_advisory_lock({HOLD_KEY})"

__all__ = ["registry"]
