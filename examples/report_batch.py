"""A report batch: a loop of steps whose names come from ``{index}``
templates, plus one reusable step renamed per call with ``.named()``.

Each iteration is logged under its own name (``process-report-0``,
``process-report-1``, ...), so a crash in the middle of the batch resumes
at the first report not yet processed.

    python -m examples.report_batch [DATABASE_URL]
"""

from __future__ import annotations

import logging
import sys

import attrs

import zart

log = logging.getLogger(__name__)


@attrs.frozen
class Report:
    title: str
    rows: list[float]
    owner: str


@attrs.frozen
class ProcessedReport:
    title: str
    total: float
    average: float


@zart.step("fetch-reports")
def fetch_reports(batch: str) -> list[Report]:
    log.info("loading batch %s", batch)
    return [
        Report("sales", [120.0, 80.5, 99.5], "ana@example.com"),
        Report("returns", [3.0, 1.0], "bo@example.com"),
        Report("signups", [10.0, 14.0, 9.0, 11.0], "ana@example.com"),
    ]


@zart.step("process-report-{index}", retry="exponential(3, 2s)")
def process_report(index: int, report: Report) -> ProcessedReport:
    total = sum(report.rows)
    return ProcessedReport(report.title, total, total / len(report.rows))


@zart.step("notify")
def notify(email: str, message: str) -> None:
    log.info("to %s: %s", email, message)


@zart.durable("report-batch")
def report_batch(batch: str):
    reports = yield fetch_reports(batch)  # a list[Report], read back typed
    totals = {}
    for index, report in enumerate(reports):
        processed = yield process_report(index, report)
        totals[processed.title] = processed.total
        # "notify" has no placeholder; .named() gives each call its own name
        # (the step's identity, checked on replay, stays "notify").
        message = f"{processed.title}: total {processed.total:g}"
        yield notify(report.owner, message).named(f"notify-{index}")
    return {"batch": batch, "totals": totals}


registry = zart.TaskRegistry([report_batch])


def main(url: str = "sqlite:///zart-example.db") -> dict[str, object]:
    store = zart.connect(url)
    store.migrate()
    return zart.Client(store, registry).run(report_batch, "2024-06")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(main(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///zart-example.db"))
