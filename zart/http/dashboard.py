"""The dashboard: server-rendered pages over a ``Client``, as a WSGI app.

Routes (under the app's mount point):

- ``GET /``: executions by status with counts; filters ``status``, ``task``,
  ``parent``, ``q`` (id prefix); paging ``limit``/``offset``.
- ``GET /executions/{id}`` (``?run=N`` for an earlier run): one execution.
- ``GET /workers`` (``?all=1`` with the dead ones still recorded).
- ``GET /schedules``: the recurring schedules, marked when no live worker
  serves their task.
- ``POST /actions/cancel|retry|event|message|fork``: the actions, each with
  the execution's ``id`` and the CSRF field; each redirects back to the
  execution's page (POST/redirect/GET) with a one-time message.
- ``POST /actions/schedules/pause|resume|trigger|delete``: the same, with
  the schedule's ``id``; back to the schedules page (a trigger: to the
  execution it started).
- ``GET|POST /login``, ``POST /logout``: only with a token.
- ``GET /static/{file}``: the stylesheet and the script.

Pages showing work that may still change carry ``data-refresh`` on their
body; ``static/dashboard.js`` then re-reads the page every few seconds and
swaps its ``data-live`` parts in place (none holding a form being filled).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, unquote

from ..client import Client
from ..errors import (
    EventRejected,
    ExecutionAlreadyExists,
    ExecutionNotFound,
    ForkRefused,
    MessageRejected,
    RetryRefused,
    ScheduleNotFound,
    SerializationError,
)
from ..serde import loads
from . import dashboard_pages as pages
from .dashboard_render import environment, execution_path
from .dashboard_session import CSRF_FIELD, Guard
from .dashboard_web import (
    SECURITY_HEADERS,
    BadRequest,
    Request,
    Response,
    StartResponse,
    Static,
    WSGIEnviron,
    redirect,
)

__all__ = ["Dashboard", "make_dashboard"]

log = logging.getLogger("zart")

# Seconds between two looks of a page showing running work.
REFRESH_SECONDS = 2
FLASH_COOKIE = "zart_flash"
_MESSAGE_LIMIT = 600  # a message kept in the flash cookie (cookies hold ~4 KB)

Page = Callable[[Request], Response]
Action = Callable[[Request, str], Response]
Missing = Callable[[str], str | None]


def make_dashboard(
    client: Client, *, token: str | None = None, read_only: bool = False
) -> Dashboard:
    """The dashboard as a WSGI app. With ``token``, every page but ``/login``
    and ``/static/`` needs the login cookie; ``read_only`` hides every
    action and refuses their posts with 405."""
    return Dashboard(client, token=token, read_only=read_only)


class Dashboard:
    """The dashboard's WSGI app (see the module's docstring for its routes)."""

    def __init__(
        self, client: Client, *, token: str | None = None, read_only: bool = False
    ) -> None:
        self.client = client
        self.guard = Guard(token)
        self.read_only = read_only
        self.static = Static()
        self.templates = environment()
        self.pages: dict[str, Page] = {
            "/": self.list_page,
            "/executions": self.list_page,
            "/workers": self.workers_page,
            "/schedules": self.schedules_page,
        }
        # Each action with how it finds what its form's ``id`` names.
        on_execution, on_schedule = self.missing_execution, self.missing_schedule
        self.actions: dict[str, tuple[Missing, Action]] = {
            "cancel": (on_execution, self.cancel),
            "retry": (on_execution, self.retry),
            "event": (on_execution, self.event),
            "message": (on_execution, self.message),
            "fork": (on_execution, self.fork),
            "schedules/pause": (on_schedule, self.pause_schedule),
            "schedules/resume": (on_schedule, self.resume_schedule),
            "schedules/trigger": (on_schedule, self.trigger_schedule),
            "schedules/delete": (on_schedule, self.delete_schedule),
        }

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        try:
            response = self.respond(Request(environ))
        except BadRequest as exc:
            response = Response(exc.message, exc.status, "text/plain; charset=utf-8")
        except Exception:
            # A bug or a store that cannot be reached: said in the log with
            # its traceback, and in a plain page (the layout needs the store).
            log.exception("dashboard: internal error on %s", environ.get("PATH_INFO", "")[:200])
            response = Response("internal error (see the server log)", 500, "text/plain")
        response.headers.extend(SECURITY_HEADERS)
        return response(start_response)

    def respond(self, request: Request) -> Response:
        """Route a request: static files and the login page are open to all;
        anything else needs the login (when a token is set)."""
        path = request.path
        if path.startswith("/static/"):
            found = self.static.serve(path[len("/static/") :])
            return found or self.failure(request, 404, "no such file")
        if path == "/login":
            return self.login(request)
        if not self.guard.logged_in(request):
            return redirect(request.url("/login?next=" + quote(request.full_path, safe="")))
        if path == "/logout":
            return self.logout(request)
        if path.startswith("/actions/"):
            return self.act(request, path[len("/actions/") :])
        page = self.pages.get(path)
        if page is None and path.startswith("/executions/"):
            page = self.execution_page
        if page is None:
            return self.failure(request, 404, f"no page at {path}")
        if request.method not in ("GET", "HEAD"):
            return self.failure(request, 405, f"{request.method} is not allowed here")
        try:
            response = page(request)
        except pages.PageError as exc:
            return self.failure(request, exc.status, exc.message)
        response.headers.append(("Cache-Control", "no-store"))
        return response

    # -- rendering -------------------------------------------------------------
    def render(self, request: Request, template: str, code: int = 200, **context: Any) -> Response:
        """A page: the template with what every page shows (the live worker
        count, the one-time message, the CSRF token for its forms)."""
        csrf = self.guard.csrf_token(request)
        authed = self.guard.logged_in(request)
        flash = _read_flash(request.cookies.get(FLASH_COOKIE, ""))
        shown = {
            "mount": request.root,
            "now": self.client.store.now(),
            "read_only": self.read_only,
            "authed": authed,
            "logged_in": self.guard.needs_login and authed,
            "csrf_field": CSRF_FIELD,
            "csrf": csrf,
            "flash": flash,
            "static_version": self.static.version,
            "refresh": None,
            "path": request.path,
            "live_workers": len(self.client.workers()) if authed else 0,
            **context,
        }
        response = Response(self.templates.get_template(template).render(shown), code)
        self.guard.keep_csrf(response, request, csrf)
        if flash is not None:
            response.set_cookie(FLASH_COOKIE, "", request, max_age=0)
        return response

    def failure(self, request: Request, status: int, message: str) -> Response:
        """An error page (within the layout, so the way back is one click)."""
        return self.render(request, "error.html", status, status=status, message=message)

    def back_to(self, request: Request, execution_id: str, kind: str, message: str) -> Response:
        """Redirect to the execution's page, with a message shown there once."""
        return self.go_to(request, execution_path(execution_id), kind, message)

    def go_to(self, request: Request, path: str, kind: str, message: str) -> Response:
        """Redirect to ``path``, with a message shown there once."""
        response = redirect(request.url(path))
        response.set_cookie(FLASH_COOKIE, _write_flash(kind, message), request, max_age=60)
        return response

    # -- pages -----------------------------------------------------------------
    def list_page(self, request: Request) -> Response:
        context = pages.executions(self.client, pages.ListQuery.read(request.query))
        return self.render(request, "executions.html", refresh=REFRESH_SECONDS, **context)

    def workers_page(self, request: Request) -> Response:
        context = pages.workers(self.client, request.query.get("all") == "1")
        return self.render(request, "workers.html", refresh=REFRESH_SECONDS, **context)

    def schedules_page(self, request: Request) -> Response:
        context = pages.schedules(self.client)
        return self.render(request, "schedules.html", refresh=REFRESH_SECONDS, **context)

    def execution_page(self, request: Request) -> Response:
        execution_id = request.path[len("/executions/") :] or request.query.get("id", "")
        run = pages.read_count(request.query, "run", 0, 1, 10**9) or None
        return self.show_execution(request, execution_id, run)

    def show_execution(
        self, request: Request, execution_id: str, run: int | None, status: int = 200, **extra: Any
    ) -> Response:
        """The execution's page; ``extra`` fills its event or message form
        again (400)."""
        context = {
            "event_payload": "",
            "event_error": None,
            "message_payload": "",
            "message_error": None,
        }
        context.update(pages.execution(self.client, execution_id, run), **extra)
        # A page shown in answer to a post is not re-read: its address is the form's.
        refresh = REFRESH_SECONDS if context["live"] and status == 200 else None
        return self.render(request, "execution.html", status, refresh=refresh, **context)

    # -- login -----------------------------------------------------------------
    def login(self, request: Request) -> Response:
        """The login form; a right token sets the login cookie and goes on
        to ``next`` (a path of this dashboard, never another site)."""
        target = _local(request.query.get("next") or request.form.get("next") or "/")
        if not self.guard.needs_login:
            return redirect(request.url(target))
        if request.method == "POST":
            if not self.guard.csrf_ok(request):
                return self.failure(request, 403, "the form expired: reload the page and retry")
            if self.guard.right_token(request.form.get("token", "")):
                response = redirect(request.url(target))
                self.guard.log_in(response, request)
                return response
            return self.render(request, "login.html", 403, next=target, wrong=True)
        return self.render(request, "login.html", next=target, wrong=False)

    def logout(self, request: Request) -> Response:
        if request.method != "POST":
            return self.failure(request, 405, "log out with the button")
        if not self.guard.csrf_ok(request):
            return self.failure(request, 403, "the form expired: reload the page and retry")
        response = redirect(request.url("/login"))
        self.guard.log_out(response, request)
        return response

    # -- actions ---------------------------------------------------------------
    def act(self, request: Request, name: str) -> Response:
        """An action post: refused in read-only mode (405) and without its
        CSRF token (403); on an unknown execution or schedule, the 404 page."""
        found = self.actions.get(name)
        if found is None:
            return self.failure(request, 404, f"no action {name!r}")
        if request.method != "POST":
            return self.failure(request, 405, "actions are posted by their forms")
        if self.read_only:
            return self.failure(request, 405, "this dashboard is read-only")
        if not self.guard.csrf_ok(request):
            return self.failure(request, 403, "the form expired or came from elsewhere: reload")
        missing, action = found
        target = request.form.get("id", "")
        why = missing(target)
        if why is not None:
            return self.failure(request, 404, why)
        return action(request, target)

    def missing_execution(self, execution_id: str) -> str | None:
        """Why a form's ``id`` names no execution (shown in a 404), or None."""
        try:
            self.client.get(execution_id)
        except (ExecutionNotFound, ValueError):
            return f"no execution with id {execution_id!r}"
        return None

    def missing_schedule(self, schedule_id: str) -> str | None:
        """Why a form's ``id`` names no schedule (shown in a 404), or None."""
        try:
            self.client.get_schedule(schedule_id)
        except (ScheduleNotFound, ValueError):
            return f"no schedule with id {schedule_id!r}"
        return None

    def cancel(self, request: Request, execution_id: str) -> Response:
        if self.client.cancel(execution_id):
            return self.back_to(request, execution_id, "ok", "Cancelled.")
        return self.back_to(request, execution_id, "error", "It had already ended.")

    def retry(self, request: Request, execution_id: str) -> Response:
        try:
            record = self.client.retry(execution_id)
        except RetryRefused as exc:
            return self.back_to(request, execution_id, "error", str(exc))
        return self.back_to(request, execution_id, "ok", f"Retrying: attempt {record.attempt}.")

    def fork(self, request: Request, execution_id: str) -> Response:
        """Re-run from a step: a new execution, shown with a note."""
        step = request.form.get("from_step", "")
        try:
            new_id = self.client.fork(execution_id, from_step=step)
        except (ForkRefused, ValueError) as exc:
            return self.back_to(request, execution_id, "error", str(exc))
        note = f"Forked from step {step!r} of {execution_id!r}: this execution runs it anew."
        return self.back_to(request, new_id, "ok", note)

    def event(self, request: Request, execution_id: str) -> Response:
        """Deliver an event. A payload that is not JSON (or too large), or a
        bad name, shows the page again with the form as it was filled (400)."""
        name = request.form.get("name", "").strip()
        text = request.form.get("payload", "")
        try:
            payload = loads(text) if text.strip() else None
            delivered = self.client.offer_event(execution_id, name, payload)
        except EventRejected as exc:  # it has finished meanwhile
            return self.back_to(request, execution_id, "error", str(exc))
        except (ValueError, SerializationError, RecursionError) as exc:  # the form's mistake
            return self.show_execution(
                request,
                execution_id,
                None,
                400,
                event_name=name,
                event_payload=text,
                event_error=str(exc),
            )
        if not delivered:
            note = f"Event {name!r} had already been delivered: its first payload is kept."
            return self.back_to(request, execution_id, "error", note)
        return self.back_to(request, execution_id, "ok", f"Event {name!r} delivered.")

    def message(self, request: Request, execution_id: str) -> Response:
        """Send a message on a topic (``zart.receive`` takes it); a form
        got wrong shows the page again, filled as it was (400)."""
        topic = request.form.get("topic", "").strip()
        text = request.form.get("payload", "")
        try:
            payload = loads(text) if text.strip() else None
            message_id = self.client.send(execution_id, topic, payload)
        except MessageRejected as exc:  # it has finished meanwhile
            return self.back_to(request, execution_id, "error", str(exc))
        except (ValueError, SerializationError, RecursionError) as exc:
            return self.show_execution(
                request,
                execution_id,
                None,
                400,
                message_topic=topic,
                message_payload=text,
                message_error=str(exc),
            )
        note = f"Message {message_id} sent on {topic!r}."
        return self.back_to(request, execution_id, "ok", note)

    # -- schedule actions: back to the schedules page ---------------------------
    def pause_schedule(self, request: Request, schedule_id: str) -> Response:
        try:
            self.client.pause_schedule(schedule_id)
        except ScheduleNotFound as exc:  # deleted meanwhile
            return self.go_to(request, "/schedules", "error", str(exc))
        return self.go_to(request, "/schedules", "ok", f"Paused {schedule_id!r}.")

    def resume_schedule(self, request: Request, schedule_id: str) -> Response:
        try:
            record = self.client.resume_schedule(schedule_id)
        except ScheduleNotFound as exc:
            return self.go_to(request, "/schedules", "error", str(exc))
        note = f"Resumed {schedule_id!r}: next tick {record.next_tick.isoformat()}."
        return self.go_to(request, "/schedules", "ok", note)

    def trigger_schedule(self, request: Request, schedule_id: str) -> Response:
        """Start a tick now, and show its execution."""
        try:
            new_id = self.client.trigger_schedule(schedule_id)
        except (ScheduleNotFound, ExecutionAlreadyExists) as exc:  # a trigger at that instant
            return self.go_to(request, "/schedules", "error", str(exc))
        note = f"Started now by schedule {schedule_id!r}."
        return self.back_to(request, new_id, "ok", note)

    def delete_schedule(self, request: Request, schedule_id: str) -> Response:
        if not self.client.delete_schedule(schedule_id):
            note = f"Schedule {schedule_id!r} had already been deleted."
            return self.go_to(request, "/schedules", "error", note)
        note = f"Deleted schedule {schedule_id!r}; the executions it started stay."
        return self.go_to(request, "/schedules", "ok", note)


def _local(target: str) -> str:
    """``target`` if it is a path of this dashboard, else ``/``: a login
    link must not send anyone to another site."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _write_flash(kind: str, message: str) -> str:
    return quote(f"{kind}:{message[:_MESSAGE_LIMIT]}", safe="")


def _read_flash(value: str) -> dict[str, str] | None:
    kind, sep, message = unquote(value).partition(":")
    if not sep or kind not in ("ok", "error"):
        return None
    return {"kind": kind, "message": message}
