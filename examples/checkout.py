"""Checkout: a business error versus a fault.

- ``PaymentDeclined`` is a decision (a ``zart.BusinessError`` with attrs
  fields): never retried, stored with its fields, and raised in the
  workflow as the same type, live and on replay, so ``except`` works.
- A flaky gateway is a fault: the step's retry policy runs it again after a
  durable backoff timer. Only when retries run out does the workflow see
  ``zart.RetryExhausted``.

    python -m examples.checkout [DATABASE_URL]
"""

from __future__ import annotations

import logging
import sys

import attrs

import zart

log = logging.getLogger(__name__)


@attrs.define
class PaymentDeclined(zart.BusinessError):
    reason: str
    amount_cents: int


@attrs.frozen
class Order:
    order_id: str
    sku: str
    amount_cents: int
    card_limit_cents: int = 100_00


@zart.step("reserve-stock", retry="exponential(3, 500ms)")
def reserve_stock(order_id: str, sku: str) -> str:
    # Simulates a gateway that times out on the first try of every call.
    if zart.context().current_attempt == 0:
        raise ConnectionError("inventory service timed out")
    return f"rsv-{order_id}"


@zart.step("charge-card", retry="fixed(2, 1s)")
def charge_card(order_id: str, amount_cents: int, limit_cents: int) -> str:
    if amount_cents > limit_cents:
        raise PaymentDeclined(reason="over card limit", amount_cents=amount_cents)
    return f"ch-{order_id}"


@zart.step("release-stock")
def release_stock(reservation: str) -> None:
    log.info("released %s", reservation)


@zart.step("send-receipt")
def send_receipt(order_id: str, charge: str) -> None:
    log.info("receipt for %s (%s)", order_id, charge)


@zart.durable("checkout")
def checkout(order: Order):
    reservation = yield reserve_stock(order.order_id, order.sku)
    try:
        charge = yield charge_card(order.order_id, order.amount_cents, order.card_limit_cents)
    except PaymentDeclined as declined:
        yield release_stock(reservation)  # compensate, then report the decision
        return {"status": "declined", "reason": declined.reason}
    yield send_receipt(order.order_id, charge)
    return {"status": "paid", "charge": charge, "reservation": reservation}


registry = zart.TaskRegistry([checkout])


def main(url: str = "sqlite:///zart-example.db") -> list[dict[str, str]]:
    store = zart.connect(url)
    store.migrate()
    client = zart.Client(store, registry)
    return [
        client.run(checkout, Order("o-1", "book", 25_00)),
        client.run(checkout, Order("o-2", "laptop", 1_500_00)),
    ]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for outcome in main(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///zart-example.db"):
        print(outcome)
