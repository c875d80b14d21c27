"""zart over HTTP: ``make_app(client)`` is a WSGI app serving the JSON API
(``/api/v1/...``), Prometheus metrics (``/metrics``), a health check
(``/healthz``) and the dashboard (every other path).

Mount it in any WSGI server or framework, or run it with ``zart serve``
(``zart.http.server.serve``, on waitress).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from .. import settings
from ..client import Client
from ..metrics import Metrics
from .api import Api, http_error
from .auth import check_token, require_bearer
from .wsgi import (
    Environ,
    HttpError,
    Request,
    Response,
    Route,
    Router,
    StartResponse,
    WsgiApp,
    error_response,
)

__all__ = ["App", "make_app"]

log = logging.getLogger("zart")

MiB = 1024 * 1024


def make_app(
    client: Client,
    *,
    token: str | None = None,
    read_only: bool = False,
    max_body: int = MiB,
    dashboard: bool = True,
    metrics: Metrics | None = None,
) -> WsgiApp:
    """The WSGI app over ``client``.

    ``token``: every call but ``/healthz`` and the OpenAPI document needs
    ``Authorization: Bearer <token>`` (the dashboard has a login form).
    ``read_only``: actions are refused (405) and the dashboard hides them.
    ``max_body``: bodies over this many bytes are refused (413).
    ``dashboard``: serve the dashboard on every path that is not the API's.
    ``metrics``: the ``zart.metrics.Metrics`` to serve at ``/metrics``
    (default: one of its own, with the store's gauges).
    """
    token = check_token(token)
    settings.count("max_body", max_body, least=1)
    metrics = Metrics(client.store) if metrics is None else metrics
    api = Api(client, max_body=max_body, metrics=metrics)
    fallback = None
    if dashboard:
        from .dashboard import make_dashboard

        fallback = make_dashboard(client, token=token, read_only=read_only)
    return App(Router(api.routes()), token=token, read_only=read_only, fallback=fallback)


class App:
    """The API's WSGI callable: auth, read-only mode, routing, errors."""

    def __init__(
        self, router: Router, *, token: str | None, read_only: bool, fallback: WsgiApp | None
    ) -> None:
        self.router = router
        self.token = token
        self.read_only = read_only
        self.fallback = fallback

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self.fallback is not None and not _ours(str(environ.get("PATH_INFO") or "")):
            return self.fallback(environ, start_response)
        try:
            request = Request.read(environ)
        except HttpError as exc:
            return error_response(exc)(start_response)
        return self.answer(request)(start_response)

    def answer(self, request: Request) -> Response:
        try:
            route, params = self.find(request)
            if self.read_only and route.action:
                raise self.refused(request)
            return route.handler(request, params)
        except HttpError as exc:
            return error_response(exc)
        except Exception as exc:
            known = http_error(exc)
            if known is not None:
                return error_response(known)
            log.exception("internal error answering %s %s", request.method, _shown(request))
            return error_response(HttpError(500, "internal", "internal error (see the server log)"))

    def find(self, request: Request) -> tuple[Route, dict[str, str]]:
        """The route, once the caller may know it: without the right token
        a 404 or 405 would tell which paths exist, so the 401/403 comes first."""
        try:
            route, params = self.router.find(request)
        except HttpError:
            if not self.public(request.segments):
                require_bearer(request.environ, self.token)
            raise
        if not route.public:
            require_bearer(request.environ, self.token)
        return route, params

    def public(self, segments: tuple[str, ...]) -> bool:
        """Whether a public route has this path (its 405s need no token)."""
        return any(r.public and r.match(segments) is not None for r in self.router.routes)

    def refused(self, request: Request) -> HttpError:
        allowed = [
            route.method
            for route in self.router.routes
            if not route.action and route.match(request.segments) is not None
        ]
        return HttpError(
            405,
            "read_only",
            "this server is read-only: actions are refused",
            [("Allow", ", ".join(allowed))],
        )


def _ours(path_info: str) -> bool:
    """Whether a path is the API's; the rest is the dashboard's, which reads
    (and refuses) its own paths and queries."""
    return path_info.startswith("/api/") or path_info in ("/api", "/metrics", "/healthz")


def _shown(request: Request) -> str:
    return "/" + "/".join(request.segments)[:200]
