"""``tests.integration.app``, imported slowly: a worker still starting up.

The import touches ``importing`` beside the journal, then waits (a minute at
most) for ``go`` to appear there, so a test can signal the worker while it
is loading its app.

    zart --db URL worker --app tests.integration.app_slow_start
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.integration.app import JOURNAL_ENV, registry

_here = Path(os.environ[JOURNAL_ENV]).parent
(_here / "importing").touch()
_deadline = time.monotonic() + 60
while not (_here / "go").exists() and time.monotonic() < _deadline:
    time.sleep(0.01)

__all__ = ["registry"]
