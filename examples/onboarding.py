"""Sequential onboarding: steps, a durable sleep, an event with a deadline,
two child steps run in parallel, and a recorded timestamp.

    python -m examples.onboarding [DATABASE_URL]
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta

import attrs

import zart

log = logging.getLogger(__name__)


@attrs.frozen
class OnboardingData:
    email: str
    # Waits live in the input, so a demo can shorten them and every replay
    # of this execution sees the same values.
    reminder_after: timedelta = timedelta(hours=24)
    verify_within: timedelta = timedelta(hours=48)


@attrs.frozen
class Verification:
    verified: bool


@attrs.frozen
class OnboardingResult:
    user_id: str
    customer_id: str
    verified: bool
    finished_at: datetime


@zart.step("create-user")
def create_user(email: str) -> str:
    log.info("creating a user for %s", email)
    return "user-" + email.split("@")[0]


@zart.step("send-welcome-email")
def send_welcome_email(email: str) -> None:
    log.info("welcome mail to %s", email)


@zart.step("send-verification-reminder")
def send_verification_reminder(email: str) -> None:
    log.info("reminder to verify %s", email)


@zart.step("send-getting-started")
def send_getting_started(email: str) -> bool:
    log.info("getting-started guide to %s", email)
    return True


@zart.step("setup-billing", retry="exponential(3, 1s)")
def setup_billing(user_id: str) -> str:
    log.info("billing account for %s", user_id)
    return "cus-" + user_id


@zart.durable("onboarding", output=OnboardingResult)
def onboarding(data: OnboardingData):
    user_id = yield create_user(data.email)
    yield send_welcome_email(data.email)
    yield zart.sleep("wait-before-reminder", data.reminder_after)  # holds no worker
    yield send_verification_reminder(data.email)
    try:
        verification = yield zart.wait_event(
            "email-verified", timeout=data.verify_within, type=Verification
        )
        verified = verification.verified
    except zart.EventTimeout:
        verified = False  # onboard anyway; the account stays unverified
    # Both children start at once, on any worker; wait_all keeps handle order.
    guide = yield zart.schedule(send_getting_started(data.email))
    billing = yield zart.schedule(setup_billing(user_id))
    _, customer_id = yield zart.wait_all([guide, billing])
    finished_at = yield zart.now("finished-at")
    return OnboardingResult(user_id, customer_id, verified, finished_at)


registry = zart.TaskRegistry([onboarding])


def verify_when_asked(client: zart.Client, execution_id: str, timeout: float = 30.0) -> None:
    """Stand-in for the user clicking the link: offer the event once the
    workflow waits for it (an event offered earlier is kept, too)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get(execution_id).waiting_for == "event:email-verified":
                break
        except zart.ExecutionNotFound:
            pass  # not scheduled yet
        client.store.wait(0.1)
    client.offer_event(execution_id, "email-verified", {"verified": True})


def main(url: str = "sqlite:///zart-example.db") -> OnboardingResult:
    store = zart.connect(url)
    store.migrate()
    eid = f"onboarding-{uuid.uuid4().hex[:8]}"
    user = threading.Thread(target=verify_when_asked, args=(zart.Client(store), eid))
    user.start()
    data = OnboardingData("ada@example.com", reminder_after=timedelta(seconds=1))
    try:
        return zart.Client(store, registry).run(onboarding, data, execution_id=eid)
    finally:
        user.join()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(main(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///zart-example.db"))
