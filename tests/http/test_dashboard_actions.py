"""The dashboard's forms as a WSGI app: events, cancel and retry through
POST/redirect/GET with a one-time message; CSRF; read-only mode; the login
with the token; security headers; a mount under a prefix.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from markupsafe import escape

from zart.http.dashboard import make_dashboard
from zart.testing import TestEnv

from .dashboard_support import (
    REGISTRY,
    TOKEN,
    Browser,
    failed_run,
    page_csrf,
    waiting_approval,
)

# -- actions ------------------------------------------------------------------------


def test_delivering_an_event_posts_redirects_and_shows_a_message_once(
    env: TestEnv, browser: Browser
) -> None:
    eid = waiting_approval(env)
    csrf = browser.get(f"/executions/{eid}").csrf
    answer = browser.post(
        "/actions/event", {"csrf": csrf, "id": eid, "name": "approved", "payload": "true"}
    )
    assert answer.status == 303
    assert answer.header("Location") == f"/executions/{eid}"
    shown = browser.get(f"/executions/{eid}").text
    assert "Event &#39;approved&#39; delivered." in shown
    assert "delivered." not in browser.get(f"/executions/{eid}").text  # once
    env.run_until_idle()
    assert env.result(eid) == "yes"
    assert (
        '<span class="status st-completed">completed</span>'
        in browser.get(f"/executions/{eid}").text
    )


@pytest.mark.parametrize(
    ("name", "payload", "why"),
    [
        ("approved", "{not json", "Expecting property name"),
        ("approved", '"' + "x" * 300 + '"', "over the payload limit"),  # max_payload=200
        ("approved", "[" * 100_000 + "]" * 100_000, "recursion"),
        ("", "true", "event name must not be empty or blank"),
    ],
)
def test_an_event_the_form_got_wrong_shows_the_form_again(
    name: str, payload: str, why: str
) -> None:
    with TestEnv(REGISTRY, max_payload=200) as env:
        eid = waiting_approval(env)
        browser = Browser(make_dashboard(env.client))
        csrf = browser.get(f"/executions/{eid}").csrf
        form = {"csrf": csrf, "id": eid, "name": name, "payload": payload}
        page = browser.post("/actions/event", form)
        assert page.status == 400
        assert "Not delivered:" in page.text and why in page.text
        if len(payload) < 100:
            assert f">{escape(payload)}</textarea>" in page.text  # as it was typed
        assert env.get(eid).status == "waiting"


def test_an_event_for_an_execution_that_ended_meanwhile_is_refused(
    env: TestEnv, browser: Browser
) -> None:
    eid = waiting_approval(env)
    csrf = browser.get(f"/executions/{eid}").csrf
    env.cancel(eid)  # after the page was shown, before its form is posted
    form = {"csrf": csrf, "id": eid, "name": "approved", "payload": "true"}
    assert browser.post("/actions/event", form).status == 303
    assert "cannot deliver event" in browser.get(f"/executions/{eid}").text


def test_an_internal_error_is_a_plain_500_logged_with_its_traceback(
    env: TestEnv, browser: Browser, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def broken(**_: Any) -> Any:
        raise RuntimeError("the store is gone")

    monkeypatch.setattr(env.client.store, "list", broken)
    page = browser.get("/")
    assert page.status == 500 and page.text == "internal error (see the server log)"
    assert "the store is gone" not in page.text
    assert any("the store is gone" in (r.exc_text or "") for r in caplog.records)


def test_an_event_delivered_twice_keeps_the_first(env: TestEnv, browser: Browser) -> None:
    eid = waiting_approval(env)
    csrf = browser.get(f"/executions/{eid}").csrf
    form = {"csrf": csrf, "id": eid, "name": "other", "payload": '{"n": 1}'}
    assert browser.post("/actions/event", form).status == 303
    browser.get(f"/executions/{eid}")
    assert browser.post("/actions/event", form).status == 303
    assert "first payload is kept" in browser.get(f"/executions/{eid}").text


def test_cancel_then_retry_through_the_forms(env: TestEnv, browser: Browser) -> None:
    eid = waiting_approval(env)
    csrf = browser.get(f"/executions/{eid}").csrf
    assert browser.post("/actions/cancel", {"csrf": csrf, "id": eid}).status == 303
    assert env.get(eid).status == "cancelled"
    page = browser.get(f"/executions/{eid}")
    assert "Cancelled." in page.text
    assert page.forms() == ["/actions/retry", "/actions/fork", "/actions/fork"]
    assert browser.post("/actions/retry", {"csrf": csrf, "id": eid}).status == 303
    assert env.get(eid).status == "pending"
    assert "Retrying: attempt 1." in browser.get(f"/executions/{eid}").text


def test_re_run_from_here_forks_the_execution_and_shows_the_new_one(
    env: TestEnv, browser: Browser
) -> None:
    eid = failed_run(env)
    csrf = browser.get(f"/executions/{eid}").csrf
    done = browser.post("/actions/fork", {"csrf": csrf, "id": eid, "from_step": "explode"})
    assert done.status == 303
    [new] = [e for e in env.client.list() if e.id != eid]
    assert new.task_name == "failing" and new.status == "pending"
    assert (done.header("Location") or "").endswith(f"/executions/{new.id}")
    assert (
        "Forked from step &#39;explode&#39; of &#39;f-1&#39;"
        in browser.get(f"/executions/{new.id}").text
    )
    refused = browser.post("/actions/fork", {"csrf": csrf, "id": eid, "from_step": "nope"})
    assert refused.status == 303
    page = browser.get(f"/executions/{eid}").text
    assert 'class="flash error"' in page and "no record named &#39;nope&#39;" in page
    assert len(env.client.list()) == 2


def test_a_refused_retry_or_cancel_is_a_message_on_the_page(env: TestEnv, browser: Browser) -> None:
    eid = waiting_approval(env)
    csrf = browser.get(f"/executions/{eid}").csrf
    assert browser.post("/actions/retry", {"csrf": csrf, "id": eid}).status == 303
    page = browser.get(f"/executions/{eid}").text
    assert 'class="flash error"' in page and "it is waiting" in page
    env.offer_event(eid, "approved", False)
    env.run_until_idle()
    assert browser.post("/actions/cancel", {"csrf": csrf, "id": eid}).status == 303
    assert "It had already ended." in browser.get(f"/executions/{eid}").text
    assert env.get(eid).status == "completed"


def test_an_action_on_an_unknown_execution_is_a_404(browser: Browser) -> None:
    csrf = page_csrf(browser)
    assert browser.post("/actions/retry", {"csrf": csrf, "id": "nope"}).status == 404
    assert browser.post("/actions/nothing", {"csrf": csrf, "id": "nope"}).status == 404
    assert browser.get("/actions/retry").status == 405


# -- CSRF, read-only, login --------------------------------------------------------


def test_a_post_without_its_csrf_token_is_refused(env: TestEnv, browser: Browser) -> None:
    eid = waiting_approval(env)
    csrf = browser.get(f"/executions/{eid}").csrf
    assert browser.post("/actions/cancel", {"id": eid}).status == 403
    assert browser.post("/actions/cancel", {"id": eid, "csrf": "x" * 43}).status == 403
    stranger = Browser(browser.app)  # another site's form: no cookie of ours
    assert stranger.post("/actions/cancel", {"id": eid, "csrf": csrf}).status == 403
    assert env.get(eid).status == "waiting"
    assert browser.get("/").cookies() == []  # the token is set once per session
    assert browser.post("/actions/cancel", {"id": eid, "csrf": csrf}).status == 303


def test_the_csrf_cookie_is_strict_and_http_only(env: TestEnv) -> None:
    page = Browser(make_dashboard(env.client)).get("/")
    [cookie] = page.cookies()
    assert cookie.startswith("zart_csrf=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    secure = Browser(make_dashboard(env.client), https=True).get("/").cookies()
    assert "Secure" in secure[0]


def test_read_only_hides_every_action_and_refuses_their_posts(env: TestEnv) -> None:
    eid = waiting_approval(env)
    failed = failed_run(env)
    browser = Browser(make_dashboard(env.client, read_only=True))
    for path in [f"/executions/{eid}", f"/executions/{failed}", "/", "/workers"]:
        page = browser.get(path)
        assert page.status == 200
        assert 'method="post"' not in page.text, path
        buttons = re.findall(r"<button[^>]*>([^<]*)</button>", page.text)
        assert set(buttons) <= {"Filter"}, path  # the list's filters act on nothing
        assert "read-only" in page.text
    csrf = page_csrf(browser)
    for action in ("cancel", "retry", "event"):
        form = {"csrf": csrf, "id": eid, "name": "approved", "payload": "true"}
        assert browser.post(f"/actions/{action}", form).status == 405
    assert env.get(eid).status == "waiting" and env.get(failed).status == "failed"


def test_with_a_token_every_page_needs_the_login(env: TestEnv) -> None:
    eid = waiting_approval(env)
    browser = Browser(make_dashboard(env.client, token=TOKEN))
    for path in ["/", "/workers", f"/executions/{eid}"]:
        page = browser.get(path)
        assert page.status == 303
        assert page.header("Location") == "/login?next=" + quote(path, safe="")
    assert browser.post("/actions/cancel", {"id": eid}).status == 303  # to the login
    assert env.get(eid).status == "waiting"
    assert browser.get("/static/dashboard.css").status == 200
    login = browser.get("/login?next=%2Fworkers")
    assert login.status == 200 and 'type="password"' in login.text
    assert "Executions</a>" not in login.text  # no page is shown before the login


def test_the_login_form_sets_a_cookie_proving_the_token(env: TestEnv) -> None:
    browser = Browser(make_dashboard(env.client, token=TOKEN), https=True)
    csrf = browser.get("/login").csrf
    wrong = browser.post("/login", {"csrf": csrf, "token": "guess", "next": "/workers"})
    assert wrong.status == 403 and "That is not the token." in wrong.text
    assert browser.post("/login", {"token": TOKEN, "next": "/workers"}).status == 403  # no CSRF
    right = browser.post("/login", {"csrf": csrf, "token": TOKEN, "next": "/workers"})
    assert right.status == 303 and right.header("Location") == "/workers"
    [cookie] = [c for c in right.cookies() if c.startswith("zart_auth=")]
    for flag in ("HttpOnly", "SameSite=Strict", "Secure", "Max-Age="):
        assert flag in cookie
    assert TOKEN not in cookie  # it proves the token without holding it
    assert browser.get("/workers").status == 200
    # A forged cookie proves nothing.
    forged = Browser(browser.app)
    forged.jar["zart_auth"] = "0" * 64
    assert forged.get("/").status == 303
    # Log out: the cookie is dropped.
    assert browser.post("/logout", {"csrf": browser.get("/").csrf}).status == 303
    assert browser.get("/").status == 303


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "\\\\evil"])
def test_the_login_never_sends_anyone_to_another_site(env: TestEnv, target: str) -> None:
    browser = Browser(make_dashboard(env.client, token=TOKEN))
    csrf = browser.get("/login").csrf
    answer = browser.post("/login", {"csrf": csrf, "token": TOKEN, "next": target})
    assert answer.header("Location") == "/"


def test_every_page_carries_its_security_headers(browser: Browser) -> None:
    page = browser.get("/")
    policy = page.header("Content-Security-Policy") or ""
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.header("X-Content-Type-Options") == "nosniff"
    assert page.header("Cache-Control") == "no-store"


def test_mounted_under_a_prefix_every_address_keeps_it(env: TestEnv) -> None:
    eid = waiting_approval(env)
    browser = Browser(make_dashboard(env.client), root="/ops")
    page = browser.get("/")
    assert f'href="/ops/executions/{eid}"' in page.text
    assert 'href="/ops/static/dashboard.css?v=' in page.text
    assert "Path=/ops" in page.cookies()[0]
    answer = browser.post("/actions/cancel", {"csrf": browser.jar["zart_csrf"], "id": eid})
    assert answer.header("Location") == f"/ops/executions/{eid}"
