"""``zart serve``: the API and the dashboard on waitress, a multi-threaded
WSGI server made for production (``wsgiref`` is single-threaded).

It binds 127.0.0.1 unless told otherwise; any other address needs a
bearer token (``ZART_API_TOKEN``): an API that cancels and retries
executions must not be open to a network by default.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import Any

import waitress
from waitress import wasyncore

from ..client import Client
from ..metrics import Metrics
from . import MiB, make_app
from .auth import ENV_VAR, check_token

log = logging.getLogger("zart")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


class Server:
    """A waitress server listening for zart's app: ``url``, ``run()`` (blocks
    until ``close()``) and ``close()`` (from any thread)."""

    def __init__(self, server: Any) -> None:
        self._server = server
        host = server.effective_host
        self.port: int = int(server.effective_port)
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}"

    def run(self) -> None:
        self._server.run()

    def close(self) -> None:
        """Stop: the loop thread closes its sockets itself (closing them from
        another thread would race its poll), then the request threads end."""
        server = self._server
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        server.task_dispatcher.shutdown()


def _quiet_queue_warnings() -> None:
    """Waitress warns "Task queue depth is N" for every request that waits
    for a free thread: under a steady load, every request. It logs from its
    one I/O thread, which then spends more time logging than serving
    (bench/http.py: a third of the GET rate). Unless the application set
    a level for that logger itself, only errors pass."""
    queue = logging.getLogger("waitress.queue")
    if queue.level == logging.NOTSET:
        queue.setLevel(logging.ERROR)


def create_server(
    client: Client,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    read_only: bool = False,
    threads: int = 8,
    metrics: Metrics | None = None,
) -> Server:
    """A server bound and listening, not yet serving (see ``serve``)."""
    token = check_token(token)
    if token is None and not is_loopback(host):
        raise ValueError(
            f"serving on {host!r}, beyond this machine, needs a bearer token: "
            f"set {ENV_VAR} (or bind 127.0.0.1)"
        )
    app = make_app(client, token=token, read_only=read_only, metrics=metrics)
    _quiet_queue_warnings()
    server = waitress.create_server(
        app,
        # One socket: waitress would listen on every address "localhost" has.
        host="127.0.0.1" if host.lower() == "localhost" else host,
        port=port,
        threads=threads,
        ident="zart",
        # Past make_app's own limit, so that its JSON 413 is what clients see
        # for bodies up to twice that; waitress refuses larger ones unread.
        max_request_body_size=2 * MiB,
    )
    return Server(server)


def serve(
    client: Client,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    read_only: bool = False,
    threads: int = 8,
    metrics: Metrics | None = None,
    ready: Callable[[Server], None] | None = None,
) -> None:
    """Serve ``make_app(client, ...)`` on waitress until interrupted.

    A ``host`` other than loopback needs ``token`` (``ZART_API_TOKEN``):
    ValueError otherwise. ``port`` 0 picks a free port; the URL served is
    logged through the ``zart`` logger. ``ready`` is called with the
    ``Server`` once it listens (its ``url``; ``close()`` stops it).
    """
    server = create_server(
        client,
        host=host,
        port=port,
        token=token,
        read_only=read_only,
        threads=threads,
        metrics=metrics,
    )
    log.info("zart serving on %s%s", server.url, " (read-only)" if read_only else "")
    if ready is not None:
        ready(server)
    server.run()
