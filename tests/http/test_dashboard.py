"""The dashboard's pages as a WSGI app: what each shows, its escaping, its
paging and filters, its 404s. The forms, CSRF, read-only mode and login are
in test_dashboard_actions.py; the real browser test is
tests/browser/test_dashboard_browser.py. Workflows run on a TestEnv (memory
store, virtual clock).
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from markupsafe import escape

from zart.http.dashboard_render import TEMPLATES, ago, duration, environment
from zart.records import WorkerInfo
from zart.testing import TestEnv

from .dashboard_support import (
    XSS,
    Browser,
    Page,
    approval,
    failed_run,
    fanout,
    looping,
    scripted_flow,
    waiting_approval,
)

# -- pages ------------------------------------------------------------------------


def test_every_page_renders(env: TestEnv, browser: Browser) -> None:
    eid = waiting_approval(env)
    failed = failed_run(env)
    env.schedule(fanout, None, execution_id="fan")
    env.run_until_idle()
    for path in [
        "/",
        "/workers",
        "/workers?all=1",
        f"/executions/{eid}",
        f"/executions/{failed}",
        "/executions/fan",
        "/executions/fan:region-eu",
    ]:
        page = browser.get(path)
        assert page.status == 200, path
        assert page.header("Content-Type") == "text/html; charset=utf-8"
        assert "<title>" in page.text and "</html>" in page.text
    css, js = browser.get("/static/dashboard.css"), browser.get("/static/dashboard.js")
    assert css.status == js.status == 200
    assert (css.header("Content-Type") or "").startswith("text/css")
    assert "javascript" in (js.header("Content-Type") or "")
    assert browser.get("/static/../dashboard.py").status == 404
    # Without a token there is no login: /login goes on to the dashboard.
    assert browser.get("/login").status == 303


def test_the_list_shows_counts_by_status_and_links_each_execution(
    env: TestEnv, browser: Browser
) -> None:
    waiting_approval(env, "ap-1")
    waiting_approval(env, "ap-2")
    failed_run(env, "f-1")
    page = browser.get("/")
    assert re.search(r'tab-waiting[^"]*">waiting <span class="n">2</span>', page.text)
    assert re.search(r'tab-failed[^"]*">failed <span class="n">1</span>', page.text)
    assert re.search(r'">all <span class="n">3</span>', page.text)
    for eid in ("ap-1", "ap-2", "f-1"):
        assert f'href="/executions/{eid}"' in page.text
    assert 'data-refresh="2"' in page.text  # the list follows running work


def test_filters_by_status_task_parent_and_id_prefix(env: TestEnv, browser: Browser) -> None:
    waiting_approval(env, "ap-1")
    waiting_approval(env, "bp-2")
    failed_run(env, "f-1")
    env.schedule(fanout, None, execution_id="fan")
    env.run_until_idle()

    def listed(query: str) -> set[str]:
        page = browser.get("/?" + query)
        assert page.status == 200
        return set(re.findall(r'<td class="id"><a href="/executions/([^"]+)"', page.text))

    assert listed("status=failed") == {"f-1"}
    assert listed("task=approval") == {"ap-1", "bp-2"}
    assert listed("q=ap") == {"ap-1"}
    children = {quote("fan:region-eu", safe=""), quote("fan:region-us", safe="")}
    assert listed("parent=fan") == children
    assert listed("status=waiting&task=failing") == set()
    assert "No executions match these filters" in browser.get("/?q=zzz").text
    # The task filter offers every task seen in the store or registered.
    options = re.findall(r'<option value="([^"]+)"', browser.get("/").text)
    assert {"approval", "failing", "fanout", "ship", "looping"} <= set(options)


def test_paging_walks_the_list_newest_first(env: TestEnv, browser: Browser) -> None:
    for i in range(7):
        env.schedule(approval, "x", execution_id=f"e{i}")
        env.advance(timedelta(seconds=1))  # distinct creation times: a stable order

    def ids(page: Page) -> list[str]:
        return re.findall(r'<td class="id"><a href="/executions/([^"]+)"', page.text)

    first = browser.get("/?limit=3")
    assert ids(first) == ["e6", "e5", "e4"]
    assert 'rel="prev"' not in first.text
    nxt = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert nxt and "offset=3" in nxt.group(1)
    second = browser.get(nxt.group(1).replace("&amp;", "&"))
    assert ids(second) == ["e3", "e2", "e1"]
    last = browser.get("/?limit=3&offset=6")
    assert ids(last) == ["e0"]
    assert 'rel="next"' not in last.text and 'rel="prev"' in last.text
    assert "7\u20137" in last.text  # rows 7 to 7


@pytest.mark.parametrize(
    "query", ["status=bogus", "limit=0", "limit=abc", "offset=-1", "limit=100000"]
)
def test_a_bad_filter_is_a_400_page(browser: Browser, query: str) -> None:
    page = browser.get("/?" + query)
    assert page.status == 400
    assert "problem-message" in page.text


def test_unknown_execution_page_or_run_is_a_404_page(env: TestEnv, browser: Browser) -> None:
    eid = waiting_approval(env)
    for path in [
        "/executions/nope",
        "/nowhere",
        f"/executions/{eid}?run=2",
        "/executions/" + "x" * 300,
        "/executions/",
    ]:
        page = browser.get(path)
        assert page.status == 404, path
        assert "every execution" in page.text  # the way back
    assert browser.get(f"/executions/{eid}?run=zero").status == 400


def test_an_execution_page_shows_record_steps_and_actions(env: TestEnv, browser: Browser) -> None:
    eid = waiting_approval(env, who="ada")
    page = browser.get(f"/executions/{eid}")
    text = page.text
    assert '<span class="status st-waiting">waiting</span>' in text
    assert "event <code>approved</code>" in text  # what it waits for
    assert 'id="event-name" value="approved"' in text  # the form knows the event
    assert escape('"ada"') in text  # the input
    assert '<td class="step-name">prepare' in text
    assert escape('{"who": "ada"}') in text  # the step's result
    assert {"/actions/event", "/actions/cancel"} <= set(page.forms())
    assert "/actions/retry" not in page.forms()  # only a failed one is retried
    assert 'data-refresh="2"' in text
    assert re.search(r'<time datetime="[^"]+" title="[^"]+">just now</time>', text)


def test_a_failed_execution_shows_its_error_traceback_and_each_attempt(
    env: TestEnv, browser: Browser
) -> None:
    eid = failed_run(env)
    page = browser.get(f"/executions/{eid}")
    text = page.text
    assert '<span class="status st-failed">failed</span>' in text
    assert "RetryExhausted: step &#39;explode&#39; failed after 1 attempt(s)" in text
    assert 'id="traceback"' in text and "Traceback (most recent call last)" in text
    assert re.search(r"attempt 1</span> <strong>RuntimeError</strong>", text)
    # Retry, and a re-run from its one step: nothing else applies to it.
    assert page.forms() == ["/actions/retry", "/actions/fork"]
    assert "data-refresh" not in text  # a finished execution does not change


def test_user_supplied_text_is_escaped_everywhere(env: TestEnv, browser: Browser) -> None:
    env.schedule(scripted_flow, XSS, execution_id="xss")
    failed = failed_run(env)
    env.run_until_idle()
    pages = [browser.get("/executions/xss"), browser.get(f"/executions/{failed}"), browser.get("/")]
    for page in pages:
        assert "<script>alert" not in page.text
    scripted_page, failed_page = pages[0].text, pages[1].text
    assert f'<td class="step-name">{escape(XSS)}' in scripted_page  # the step's name
    assert escape(f'"{XSS}"') in scripted_page  # its result, and the input
    assert escape(f"boom {XSS}") in failed_page  # an error message


def test_every_template_is_autoescaped() -> None:
    env = environment()
    assert env.autoescape is True
    for path in TEMPLATES.glob("*.html"):
        source = path.read_text(encoding="utf-8")
        assert "|safe" not in source.replace(" ", "") and "autoescape false" not in source, path


def test_children_link_to_their_own_page_under_their_own_name(
    env: TestEnv, browser: Browser
) -> None:
    env.schedule(fanout, None, execution_id="fan")
    env.run_until_idle()
    parent = browser.get("/executions/fan").text
    child_url = "/executions/" + quote("fan:region-eu", safe="")
    assert f'<a href="{child_url}" class="child">region-eu</a>' in parent
    child = browser.get(child_url).text
    assert '<span class="name">region-eu</span>' in child  # its name, not "fanout" or "ship"
    assert '<a href="/executions/fan" id="parent-link" title="parent">fanout</a>' in child


def test_an_earlier_run_is_shown_with_run(env: TestEnv, browser: Browser) -> None:
    env.schedule(looping, 1, execution_id="loop")
    env.run_until_idle()
    assert env.get("loop").run == 3
    latest = browser.get("/executions/loop").text
    assert "round-3" in latest and "round-1" not in latest
    assert 'href="/executions/loop?run=1"' in latest
    assert 'href="/executions/loop?run=2"' in latest
    second = browser.get("/executions/loop?run=2").text
    assert "round-2" in second and "round-3" not in second
    assert "showing the log of run 2" in second
    # Past keep_runs (one run by default), an old run's log is gone: said so.
    assert "The log of run 1 is no longer kept" in browser.get("/executions/loop?run=1").text


def test_odd_ids_are_reachable(env: TestEnv, browser: Browser) -> None:
    for eid in ["a/b c?d#e", "ünï/cødé", "..", "%2F"]:
        env.schedule(approval, "x", execution_id=eid)
    env.run_until_idle()
    listing = browser.get("/?limit=10").text
    links = re.findall(r'<td class="id"><a href="([^"]+)"', listing)
    assert len(links) == 4
    for link in links:
        page = browser.get(link.replace("&amp;", "&"))
        assert page.status == 200, link
        assert '<span class="name">approval</span>' in page.text


def test_workers_page_lists_live_workers(env: TestEnv, browser: Browser) -> None:
    now = env.now()
    env.store.register_worker(
        WorkerInfo(
            id="w-1",
            host="box<1>",
            pid=42,
            tasks=("approval",),
            concurrency=4,
            started_at=now,
            heartbeat_at=now,
            expires_at=now + timedelta(seconds=30),
        )
    )
    page = browser.get("/workers").text
    assert "<code>w-1</code>" in page and escape("box<1>") in page
    assert '<span class="tag">approval</span>' in page
    assert '<span id="nav-workers" class="pill" data-live>1</span>' in page
    env.advance(timedelta(hours=1))  # its lease is long gone
    assert "No live workers" in browser.get("/workers").text
    assert "<code>w-1</code>" in browser.get("/workers?all=1").text


# -- formatting ---------------------------------------------------------------------


def test_times_and_durations_read_as_people_say_them(env: TestEnv) -> None:
    now = env.now()
    assert ago(now, now) == "just now"
    assert ago(now - timedelta(seconds=12), now) == "12 s ago"
    assert ago(now - timedelta(minutes=3, seconds=5), now) == "3 min ago"
    assert ago(now + timedelta(hours=5), now) == "in 5 h"
    assert ago((now - timedelta(days=2)).isoformat(), now) == "2 d ago"
    assert ago(None, now) == "—"
    assert [duration(s) for s in (None, 0.0004, 0.25, 1.5, 185, 7500)] == [
        "—",
        "<1 ms",
        "250 ms",
        "1.5 s",
        "3 min 5 s",
        "2 h 5 min",
    ]
