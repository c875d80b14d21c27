"""A delayed notification: record when the request came in, sleep durably,
then send. The sleep holds no worker and survives restarts: the wake time
is fixed when the sleep is first reached and stored.

    python -m examples.delayed_notification [DATABASE_URL]
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta

import attrs

import zart

log = logging.getLogger(__name__)


@attrs.frozen
class Notification:
    user: str
    text: str
    delay: timedelta = timedelta(hours=1)


@attrs.frozen
class Delivery:
    requested_at: datetime
    sent_at: datetime


@zart.step("send-notification")
def send_notification(user: str, text: str) -> datetime:
    log.info("notify %s: %s", user, text)
    return datetime.now(UTC)


@zart.durable("delayed-notification", output=Delivery)
def delayed_notification(note: Notification):
    requested_at = yield zart.now("requested-at")
    yield zart.sleep("delay", note.delay)
    sent_at = yield send_notification(note.user, note.text)
    return Delivery(requested_at, sent_at)


registry = zart.TaskRegistry([delayed_notification])


def main(url: str = "sqlite:///zart-example.db") -> Delivery:
    store = zart.connect(url)
    store.migrate()
    note = Notification("ada", "your export is ready", delay=timedelta(seconds=1))
    return zart.Client(store, registry).run(delayed_notification, note)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    delivery = main(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///zart-example.db")
    print(f"sent {delivery.sent_at - delivery.requested_at} after the request")
