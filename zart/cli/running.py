"""The commands that run until stopped: ``worker`` and ``serve``.

Both stop on SIGTERM as on Ctrl-C, with exit status 0: to a supervisor a
stop it asked for is no crash.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

from ..errors import ZartError
from ..loop import WorkerConfig
from ..observe import Observer
from ..stores.connect import redact
from ..worker import Worker
from . import output
from .inputs import Session, load_registry

if TYPE_CHECKING:
    from ..metrics import Metrics, MetricsServer

log = logging.getLogger("zart")
T = TypeVar("T")


class _StoppedStarting(BaseException):
    """SIGTERM while the worker starts. A BaseException: app code importing
    under ``except Exception`` must not swallow it."""


def _stop_starting(signum: int, frame: FrameType | None) -> None:
    raise _StoppedStarting(signum)


@contextmanager
def _sigterm(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """``handler`` for SIGTERM inside the block (signals reach the main
    thread only: anywhere else this does nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def worker(session: Session) -> int:
    # SIGTERM outside run() (while the app is imported and the store opened,
    # seconds on a loaded machine) would end the process as SIGTERM's
    # default does, exit -15: to a supervisor, a crash. Nothing is claimed
    # then, so stopping is simply not starting: exit 0. run() puts its own
    # handler in place of this one while it runs, and this one back after.
    running: Worker | None = None
    metrics: MetricsServer | None = None
    try:
        with _sigterm(_stop_starting):
            running, metrics = _start_worker(session)
            if session.args.until_idle:
                running.run_until_idle()
            else:
                running.run()
    except _StoppedStarting:
        log.info("SIGTERM while starting: stopped before any claim")
    finally:
        if metrics is not None:
            metrics.close()
    if running is not None and running.abandoned:
        # Past the shutdown timeout their leases were given back; Python
        # would wait for their threads at exit however long they take.
        log.warning("exiting with %d run(s) going on past the shutdown timeout", running.abandoned)
        session.close()
        logging.shutdown()
        os._exit(0)
    return 0


def _start_worker(session: Session) -> tuple[Worker, MetricsServer | None]:
    """The worker, and its metrics server when ``--metrics-port`` asks for one."""
    args = session.args
    registry = load_registry(args.app)
    if not len(registry):
        raise ZartError("zart worker needs --app MODULE[:ATTR] naming the workflows it runs")
    # Before the store: a bad setting touches no database file.
    config = WorkerConfig(
        concurrency=args.concurrency,
        lease=args.lease,
        poll_interval=args.poll_interval,
        shutdown_timeout=args.shutdown_timeout,
    )
    store = session.store(creates=True)
    metrics = None if args.metrics_port is None else _metrics(session)
    observers: list[Observer] = [] if metrics is None else [metrics]
    started = Worker(store, registry, config, observers=observers)
    server = None
    if metrics is not None:
        port = args.metrics_port
        server = _listen(f"metrics on port {port}", lambda: metrics.serve(port))
        output.note(f"metrics on {server.url}")
    names = ", ".join(registry.names())
    log.info("worker %s on %s: %s", started.worker_id, redact(store.url), names)
    return started, server


def _metrics(session: Session) -> Metrics:
    from ..metrics import Metrics  # prometheus_client loads only when asked for

    return Metrics(session.store(creates=True))


def _listen(what: str, start: Callable[[], T]) -> T:
    """``start()``, with a port that cannot be bound a one-line error."""
    try:
        return start()
    except OSError as exc:
        raise ZartError(f"cannot serve {what}: {exc.strerror or exc}") from None


def _stop_serving(signum: int, frame: FrameType | None) -> None:
    # The server's loop ends on SystemExit as on Ctrl-C, closing its sockets.
    raise SystemExit(0)


def serve(session: Session) -> int:
    """The HTTP API and the dashboard on waitress, until Ctrl-C or SIGTERM.
    A host other than loopback needs ``ZART_API_TOKEN``."""
    from ..http.server import Server
    from ..http.server import serve as serve_http  # waitress, jinja2: only here

    args = session.args
    client = session.client(app=args.app)

    def ready(server: Server) -> None:
        output.note(f"serving on {server.url}{' (read-only)' if args.read_only else ''}")

    with _sigterm(_stop_serving):
        _listen(
            f"on {args.host}:{args.port}",
            lambda: serve_http(
                client,
                host=args.host,
                port=args.port,
                token=os.environ.get("ZART_API_TOKEN"),
                read_only=args.read_only,
                ready=ready,
            ),
        )
    return 0
