"""An approval: ask a manager, then wait for their answer as an event with
a deadline. No answer in time raises ``zart.EventTimeout`` inside the
workflow, which escalates instead. A timed-out wait stays timed out on
replay, even if the answer arrives later.

    python -m examples.approval [DATABASE_URL]
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from datetime import timedelta

import attrs

import zart

log = logging.getLogger(__name__)


@attrs.frozen
class ExpenseRequest:
    employee: str
    amount: int
    manager: str
    answer_within: timedelta = timedelta(hours=48)


@attrs.frozen
class Decision:
    approved: bool
    comment: str = ""


@zart.step("request-approval")
def request_approval(manager: str, employee: str, amount: int) -> None:
    log.info("asking %s to approve %s's expense of %d", manager, employee, amount)


@zart.step("pay-expense")
def pay_expense(employee: str, amount: int) -> str:
    log.info("paying %d to %s", amount, employee)
    return f"payout-{employee}-{amount}"


@zart.step("escalate")
def escalate(employee: str, amount: int) -> None:
    log.info("no answer: escalating %s's expense of %d to finance", employee, amount)


@zart.durable("expense-approval")
def expense_approval(req: ExpenseRequest):
    yield request_approval(req.manager, req.employee, req.amount)
    try:
        decision = yield zart.wait_event(
            "manager-decision", timeout=req.answer_within, type=Decision
        )
    except zart.EventTimeout:
        yield escalate(req.employee, req.amount)
        return {"status": "escalated"}
    if not decision.approved:
        return {"status": "rejected", "comment": decision.comment}
    payout = yield pay_expense(req.employee, req.amount)
    return {"status": "paid", "payout": payout}


registry = zart.TaskRegistry([expense_approval])


def answer_when_asked(client: zart.Client, execution_id: str, timeout: float = 30.0) -> None:
    """Stand-in for the manager: answer once the workflow waits for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get(execution_id).waiting_for == "event:manager-decision":
                break
        except zart.ExecutionNotFound:
            pass  # not scheduled yet
        client.store.wait(0.1)
    client.offer_event(execution_id, "manager-decision", {"approved": True, "comment": "ok"})


def main(url: str = "sqlite:///zart-example.db") -> dict[str, str]:
    store = zart.connect(url)
    store.migrate()
    eid = f"expense-{uuid.uuid4().hex[:8]}"
    manager = threading.Thread(target=answer_when_asked, args=(zart.Client(store), eid))
    manager.start()
    request = ExpenseRequest("bo", 120, "ana", answer_within=timedelta(seconds=30))
    try:
        return zart.Client(store, registry).run(expense_approval, request, execution_id=eid)
    finally:
        manager.join()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(main(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///zart-example.db"))
