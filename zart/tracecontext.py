"""Where a run's trace comes from, without a tracing library.

``zart.otel.Tracing`` installs two functions here: one that captures the
caller's trace context when an execution is created (``Client.schedule``
stores it with the execution), and one that gives the context of the run
a host is driving, for the children it schedules. Without them (no
OpenTelemetry, or not switched on), both give None and cost one look.
"""

from __future__ import annotations

from collections.abc import Callable

Carrier = dict[str, str]  # W3C trace context headers: traceparent, tracestate

_capture: Callable[[], Carrier | None] | None = None
_of_run: Callable[[str], Carrier | None] | None = None


def install(capture: Callable[[], Carrier | None], of_run: Callable[[str], Carrier | None]) -> None:
    global _capture, _of_run
    _capture, _of_run = capture, of_run


def uninstall() -> None:
    global _capture, _of_run
    _capture = _of_run = None


def current() -> Carrier | None:
    """The caller's trace context, to store with an execution it creates."""
    return None if _capture is None else _capture()


def of_run(execution_id: str) -> Carrier | None:
    """The context of the run of ``execution_id`` this process drives now
    (its children join the trace under it)."""
    return None if _of_run is None else _of_run(execution_id)
