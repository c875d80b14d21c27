"""The class form: a ``zart.TaskHandler`` whose ``run`` gets a
``zart.TaskContext``. The context builds the same commands as the
decorators (which are built on it) from plain callables, names sleeps
automatically, and keeps a mutable JSON blob (``set_data``) that operators
see as the execution's ``state``. The JSON input is structured into the
annotation of ``run``'s data parameter.

    python -m examples.class_form [DATABASE_URL]
"""

from __future__ import annotations

import logging
import sys
from datetime import timedelta

import attrs

import zart

log = logging.getLogger(__name__)


@attrs.frozen
class Signup:
    email: str
    plan: str = "pro"
    settle_for: timedelta = timedelta(minutes=30)


def create_customer(email: str) -> str:
    log.info("customer for %s", email)
    return "cus-" + email.split("@")[0]


def provision(customer_id: str, service: str) -> str:
    log.info("%s for %s", service, customer_id)
    return f"{service}:{customer_id}"


class ProvisioningTask(zart.TaskHandler):
    task_name = "provisioning"

    def run(self, ctx: zart.TaskContext, data: Signup):
        ctx.set_data({"stage": "creating customer"})
        customer_id = yield ctx.step_with_retry(
            "create-customer",
            zart.RetryPolicy.exponential(3, timedelta(seconds=2)),
            create_customer,
            data.email,
        )
        ctx.set_data({"stage": "settling", "customer": customer_id})
        yield ctx.sleep(data.settle_for)  # auto-named "sleep-1"
        handles = []
        for service in ("mailbox", "storage"):
            # Lambdas and closures work: a step is any callable, named here.
            h = yield ctx.schedule_step(f"provision-{service}", provision, customer_id, service)
            handles.append(h)
        resources = yield ctx.wait_all(handles)
        ctx.set_data({"stage": "done", "customer": customer_id})
        return {"customer_id": customer_id, "resources": resources, "execution": ctx.execution_id}

    def max_retries(self) -> int:
        return 3


registry = zart.TaskRegistry([ProvisioningTask()])


def main(url: str = "sqlite:///zart-example.db") -> dict[str, object]:
    store = zart.connect(url)
    store.migrate()
    signup = Signup("ada@example.com", settle_for=timedelta(seconds=1))
    return zart.Client(store, registry).run("provisioning", signup)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(main(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///zart-example.db"))
