"""A poller that runs for months: it reads a feed every minute and handles
what is new, and every 100 polls it continues as new.

A workflow's log grows by a record per command, so a loop that never ends
would replay an ever longer log. ``zart.continue_as_new(cursor)`` ends the
run and starts the next one of the same execution with the cursor as its
input and an empty log; ``durable(keep_runs=1)`` keeps the run before for
``zart history ID --run N``. The execution id never changes, so
``client.send`` and the dashboard find it however many runs it has had.

    python -m examples.poller [DATABASE_URL]
"""

from __future__ import annotations

import logging
import sys
from datetime import timedelta

import attrs

import zart

log = logging.getLogger(__name__)

FEED = [f"item-{n}" for n in range(1, 8)]  # what the outside world has published


@attrs.frozen
class Cursor:
    seen: int = 0  # how many feed items are handled
    polls: int = 0  # across every run
    stop_after: int | None = None  # polls; None: forever
    per_run: int = 100  # polls before continuing as new
    pause_seconds: float = 60.0


@zart.step("fetch-{poll}")
def fetch(poll: int, seen: int) -> list[str]:
    return FEED[seen : seen + 3]


@zart.step("handle-{item}")
def handle(item: str) -> None:
    log.info("handled %s", item)


@zart.durable("feed-poller", keep_runs=1, output=Cursor)
def feed_poller(cursor: Cursor):
    seen, polls = cursor.seen, cursor.polls
    for _ in range(cursor.per_run):
        if cursor.stop_after is not None and polls >= cursor.stop_after:
            return attrs.evolve(cursor, seen=seen, polls=polls)
        items = yield fetch(polls, seen)
        for item in items:
            yield handle(item)
        seen, polls = seen + len(items), polls + 1
        yield zart.sleep(f"pause-{polls}", timedelta(seconds=cursor.pause_seconds))
    yield zart.continue_as_new(attrs.evolve(cursor, seen=seen, polls=polls))


registry = zart.TaskRegistry([feed_poller])


def main(url: str = "sqlite:///zart-example.db") -> Cursor:
    store = zart.connect(url)
    store.migrate()
    client = zart.Client(store, registry)
    # A short run: five polls, two per run, a tenth of a second apart.
    start = Cursor(stop_after=5, per_run=2, pause_seconds=0.1)
    return client.run(feed_poller, start, timeout=30)  # type: ignore[no-any-return]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(main(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///zart-example.db"))
