"""An order that takes "add-item" messages until "checkout".

``client.send(order_id, "cart", message)`` queues a message on the order's
``cart`` topic; ``yield zart.receive(name, "cart")`` takes the oldest one
not yet taken. Messages are kept in the order they were sent and each is
consumed exactly once, by the commit that records its receive: a crash
before that commit leaves it queued, a replay gets the recorded one back.
A receive waiting on an empty topic holds no worker; a send wakes it.

    python -m examples.cart [DATABASE_URL]
"""

from __future__ import annotations

import logging
import sys
import threading

import attrs

import zart

log = logging.getLogger(__name__)

PRICES = {"book": 12_00, "pen": 2_50, "lamp": 30_00}


@attrs.frozen
class CartMessage:
    action: str  # "add-item" or "checkout"
    sku: str | None = None
    quantity: int = 1


@attrs.frozen
class Receipt:
    order_id: str
    items: list[str]
    total_cents: int


@zart.step("charge")
def charge(order_id: str, total_cents: int) -> str:
    log.info("charged %s: %d cents", order_id, total_cents)
    return f"ch-{order_id}"


@zart.durable("cart", output=Receipt)
def cart(order_id: str):
    items: list[str] = []
    total = 0
    for n in range(1_000):  # each receive is named: the log is keyed by name
        message = yield zart.receive(f"message-{n}", "cart", type=CartMessage)
        if message.action == "checkout":
            break
        items += [message.sku] * message.quantity
        total += PRICES[message.sku] * message.quantity
    yield charge(order_id, total)
    return Receipt(order_id, items, total)


registry = zart.TaskRegistry([cart])


def main(url: str = "sqlite:///zart-example.db") -> Receipt:
    store = zart.connect(url)
    client = zart.Client(store, registry)
    worker = zart.Worker(store, registry)
    threading.Thread(target=worker.run, daemon=True).start()
    try:
        order = client.schedule(cart, "o-17")
        client.send(order, "cart", CartMessage("add-item", "book"))
        client.send(order, "cart", CartMessage("add-item", "pen", quantity=2))
        client.send(order, "cart", CartMessage("checkout"))
        receipt: Receipt = client.result(order, timeout=30)
        return receipt
    finally:
        worker.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(main(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///zart-example.db"))
