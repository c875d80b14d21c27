"""Patching a live workflow: version 2 of an invoice workflow adds a fraud
check, while invoices started under version 1 are still waiting for their
approval.

A new step placed where running executions have already recorded history
would not match their logs: replaying them would stall. Under
``zart.patched("fraud-check")`` it is safe. The first time an execution
reaches the patch live, zart records a marker and the answer is True. An
execution whose log went past that point without the marker (it ran the
old code there) gets False and carries on as it began.

Once no execution that started under version 1 is left (``zart list``, or
``zart check`` against the next version), the branch becomes plain code
with ``zart.deprecate_patch("fraud-check")`` in front of it: the marker is
accepted where it is and required nowhere. Later still, the deprecation
goes too.

``zart check --app examples.patching:version_2 --db URL`` replays every
stored execution against version 2 before the deploy and lists any that
would stall; this example runs the same check in-process
(``zart.verify.stalls``).

    python -m examples.patching [DATABASE_URL]
"""

from __future__ import annotations

import logging
import sys

import zart
from zart.verify import stalls

log = logging.getLogger(__name__)


@zart.step("draft-invoice")
def draft_invoice(order: str) -> str:
    return f"inv-{order}"


@zart.step("fraud-check")
def fraud_check(invoice: str) -> bool:
    log.info("fraud check of %s", invoice)
    return True


@zart.step("send-invoice")
def send_invoice(invoice: str) -> str:
    log.info("sent %s", invoice)
    return f"sent {invoice}"


@zart.durable("invoice")
def invoice_v1(order: str):
    invoice = yield draft_invoice(order)
    yield zart.wait_event("approved")
    return (yield send_invoice(invoice))


@zart.durable("invoice")
def invoice_v2(order: str):
    invoice = yield draft_invoice(order)
    if (yield zart.patched("fraud-check")):
        yield fraud_check(invoice)
    yield zart.wait_event("approved")
    return (yield send_invoice(invoice))


@zart.durable("invoice")
def invoice_v2_unpatched(order: str):
    """The mistake ``zart check`` catches: the new step without a patch."""
    invoice = yield draft_invoice(order)
    yield fraud_check(invoice)
    yield zart.wait_event("approved")
    return (yield send_invoice(invoice))


version_1 = zart.TaskRegistry([invoice_v1])
version_2 = zart.TaskRegistry([invoice_v2])
registry = version_2


def would_stall(store: zart.Store, code: zart.TaskRegistry) -> list[str]:
    """What ``zart check`` reports: the executions ``code`` would stall."""
    return [stall.record.id for stall in stalls(zart.Client(store, code))]


def main(url: str = "sqlite:///zart-example.db") -> dict[str, object]:
    store = zart.connect(url)
    store.migrate()
    old = zart.Client(store, version_1)
    first = old.schedule("invoice", "o-1", execution_id="o-1")
    zart.Worker(store, version_1).run_until_idle()  # o-1 waits for approval

    unpatched = zart.TaskRegistry([invoice_v2_unpatched])
    report = {"unpatched": would_stall(store, unpatched), "patched": would_stall(store, version_2)}

    new = zart.Client(store, version_2)  # the deploy
    second = new.schedule("invoice", "o-2", execution_id="o-2")
    for eid in (first, second):
        zart.Worker(store, version_2).run_until_idle()
        new.offer_event(eid, "approved")
    zart.Worker(store, version_2).run_until_idle()
    checked = {eid: [s.name for s in new.history(eid)] for eid in (first, second)}
    return {"zart check": report, "history": checked}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(main(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///zart-example.db"))
