"""Parallel health check: one scheduled step per service, all running at
once, gathered with ``wait_all(return_exceptions=True)`` so one failing
service does not hide the others.

    python -m examples.health_check [DATABASE_URL]
"""

from __future__ import annotations

import logging
import sys

import zart

log = logging.getLogger(__name__)

# A stand-in for real probes: these services answer, the rest are down.
REACHABLE = {"api": 12, "database": 3, "search": 40}


@zart.step("check-{service}", retry="fixed(2, 100ms)")
def check(service: str) -> int:
    """Probe one service; its latency in milliseconds."""
    if service not in REACHABLE:
        raise ConnectionError(f"{service} did not answer")
    return REACHABLE[service]


@zart.durable("health-check")
def health_check(services: list[str]):
    handles = []
    for service in services:
        handles.append((yield zart.schedule(check(service))))
    results = yield zart.wait_all(handles, return_exceptions=True)
    report = {}
    for service, result in zip(services, results, strict=True):
        if isinstance(result, zart.StepFailed):
            # Retries spent: the step's last error comes back as a value.
            report[service] = f"down ({result.error_type}: {result.message})"
        else:
            report[service] = f"up ({result} ms)"
    return report


registry = zart.TaskRegistry([health_check])


def main(url: str = "sqlite:///zart-example.db") -> dict[str, str]:
    store = zart.connect(url)
    store.migrate()
    return zart.Client(store, registry).run(health_check, ["api", "database", "mail", "search"])


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for service, state in main(
        sys.argv[1] if len(sys.argv) > 1 else "sqlite:///zart-example.db"
    ).items():
        print(f"{service:10} {state}")
