"""What the dashboard's WSGI tests share: a cookie-keeping WSGI client
standing in for the browser, and workflows that leave executions in each
state (waiting, failed, with children, continued as new, with ``<script>``
in their names, inputs, results and errors)."""

from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import unquote_to_bytes, urlencode
from wsgiref.util import setup_testing_defaults

import zart
from zart.testing import TestEnv

XSS = "<script>alert('x')</script>"
TOKEN = "s3cret-token"


class Page:
    """One response: status, headers, text."""

    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = int(status.split()[0])
        self.headers = headers
        self.text = body.decode("utf-8")

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def cookies(self) -> list[str]:
        return [v for k, v in self.headers if k.lower() == "set-cookie"]

    @property
    def csrf(self) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.text)
        assert found, "the page has no CSRF field"
        return found.group(1)

    def forms(self) -> list[str]:
        return re.findall(r'<form method="post" action="([^"]+)"', self.text)


class Browser:
    """Calls a WSGI app as a browser would: keeps cookies, sends forms."""

    def __init__(self, app: Any, *, https: bool = False, root: str = "") -> None:
        self.app = app
        self.https = https
        self.root = root
        self.jar: dict[str, str] = {}

    def get(self, path: str) -> Page:
        return self.call("GET", path)

    def post(self, path: str, form: dict[str, str]) -> Page:
        return self.call("POST", path, urlencode(form).encode("utf-8"))

    def call(self, method: str, target: str, body: bytes = b"") -> Page:
        path, _, query = target.partition("?")
        environ: dict[str, Any] = {}
        setup_testing_defaults(environ)
        environ.update(
            REQUEST_METHOD=method,
            SCRIPT_NAME=self.root,
            # A server hands the path over decoded, as latin-1 code points of its bytes.
            PATH_INFO=unquote_to_bytes(path).decode("latin-1"),
            QUERY_STRING=query,
            HTTP_COOKIE="; ".join(f"{k}={v}" for k, v in self.jar.items()),
            CONTENT_LENGTH=str(len(body)),
            CONTENT_TYPE="application/x-www-form-urlencoded",
        )
        environ["wsgi.input"] = io.BytesIO(body)
        environ["wsgi.url_scheme"] = "https" if self.https else "http"
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            answer.update(status=status, headers=headers)

        data = b"".join(self.app(environ, start_response))
        page = Page(answer["status"], answer["headers"], data)
        for cookie in page.cookies():
            name, _, rest = cookie.partition("=")
            value = rest.split(";")[0]
            if "Max-Age=0" in cookie:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return page


# -- workflows ------------------------------------------------------------------


@zart.step("prepare")
def prepare(who: str) -> dict[str, str]:
    return {"who": who}


@zart.step(XSS)
def scripted(who: str) -> str:
    return XSS


@zart.step("explode")
def explode() -> str:
    raise RuntimeError(f"boom {XSS}")


@zart.durable("approval")
def approval(who: str) -> zart.Workflow[str]:
    yield prepare(who)
    approved = yield zart.wait_event("approved", type=bool)
    return "yes" if approved else "no"


@zart.durable("scripted")
def scripted_flow(who: str) -> zart.Workflow[str]:
    value: str = yield scripted(who)
    return value


@zart.durable("failing")
def failing(_: Any) -> zart.Workflow[str]:
    value: str = yield explode()
    return value


@zart.durable("ship")
def ship(region: str) -> zart.Workflow[str]:
    note: str = yield zart.call("pack", lambda: f"shipped to {region}")
    return note


@zart.durable("fanout")
def fanout(_: Any) -> zart.Workflow[list[str]]:
    eu = yield zart.schedule(ship("eu").named("region-eu"))
    us = yield zart.schedule(ship("us").named("region-us"))
    done: list[str] = yield zart.wait_all([eu, us])
    return done


@zart.durable("looping")
def looping(n: int) -> zart.Workflow[int]:
    yield zart.call(f"round-{n}", lambda: n)
    if n < 3:
        yield zart.continue_as_new(n + 1)
    return n


@zart.durable("inbox")
def inbox(_: Any) -> zart.Workflow[Any]:
    item = yield zart.receive("first", "items")
    return item


REGISTRY = zart.TaskRegistry([approval, scripted_flow, failing, ship, fanout, looping, inbox])


def waiting_approval(env: TestEnv, eid: str = "ap-1", who: str = "ada") -> str:
    env.schedule(approval, who, execution_id=eid)
    env.run_until_idle()
    assert env.get(eid).status == "waiting"
    return eid


def waiting_inbox(env: TestEnv, eid: str = "in-1") -> str:
    """An execution whose ``zart.receive`` waits on the topic ``items``."""
    env.schedule(inbox, None, execution_id=eid)
    env.run_until_idle()
    assert env.get(eid).status == "waiting"
    return eid


def failed_run(env: TestEnv, eid: str = "f-1") -> str:
    env.schedule(failing, None, execution_id=eid)
    env.run_until_idle()
    assert env.get(eid).status == "failed"
    return eid


def page_csrf(browser: Browser) -> str:
    """A CSRF token as a page gives it (any page sets the cookie)."""
    browser.get("/")
    return browser.jar["zart_csrf"]
