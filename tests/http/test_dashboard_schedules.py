"""The dashboard's schedules page and its actions (pause, resume, trigger
now, delete), and the execution page's message form, as a WSGI app over a
TestEnv: what the page shows, POST/redirect/GET with a one-time message,
CSRF, read-only mode, escaping."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from markupsafe import escape

from zart.http.dashboard import make_dashboard
from zart.http.dashboard_pages import SCHEDULES_SHOWN
from zart.http.dashboard_render import span
from zart.records import WorkerInfo
from zart.testing import TestEnv

from .dashboard_support import (
    REGISTRY,
    XSS,
    Browser,
    page_csrf,
    waiting_approval,
    waiting_inbox,
)


def two_schedules(env: TestEnv) -> None:
    """``nightly`` (a cron in Paris, jittered) and ``hourly`` (every hour)."""
    env.client.create_schedule(
        "nightly",
        "approval",
        "ada",
        cron="0 2 * * *",
        timezone="Europe/Paris",
        jitter=timedelta(minutes=10),
    )
    env.client.create_schedule("hourly", "ship", "eu", every=timedelta(hours=1))


def serve(env: TestEnv, *tasks: str) -> None:
    """Record a live worker serving ``tasks``."""
    now = env.now()
    env.store.register_worker(
        WorkerInfo(
            id="w-1",
            host="box",
            pid=1,
            tasks=tasks,
            concurrency=1,
            started_at=now,
            heartbeat_at=now,
            expires_at=now + timedelta(days=2),
        )
    )


def row(page: str, schedule_id: str) -> str:
    """The table row of one schedule."""
    found = re.search(
        rf'<tr id="schedule-\d+"[^>]*data-schedule="{re.escape(schedule_id)}">(.*?)</tr>',
        page,
        re.S,
    )
    assert found, f"no row for {schedule_id!r}"
    return found.group(1)


# -- the page ---------------------------------------------------------------------


def test_the_nav_links_the_schedules_page(env: TestEnv, browser: Browser) -> None:
    page = browser.get("/")
    assert '<a href="/schedules">Schedules</a>' in page.text
    empty = browser.get("/schedules")
    assert empty.status == 200
    assert '<a href="/schedules" class="here">Schedules</a>' in empty.text
    assert "No schedules." in empty.text


def test_each_schedule_shows_when_it_ticks_and_what_it_started(
    env: TestEnv, browser: Browser
) -> None:
    two_schedules(env)
    env.advance(timedelta(hours=1))  # hourly ticks once
    hourly = env.client.get_schedule("hourly")
    assert hourly.last_execution_id is not None and hourly.last_tick is not None
    page = browser.get("/schedules")
    assert page.status == 200 and 'data-refresh="2"' in page.text
    shown = row(page.text, "hourly")
    assert "every 1 h" in shown and "UTC" in shown
    assert f'datetime="{hourly.next_tick.isoformat()}"' in shown
    assert f'datetime="{hourly.last_tick.isoformat()}"' in shown
    link = f'href="/executions/{quote(hourly.last_execution_id, safe="")}"'
    assert link in shown and "fires" not in shown  # no jitter: it fires at its tick
    assert browser.get(f"/executions/{quote(hourly.last_execution_id, safe='')}").status == 200
    nightly = env.client.get_schedule("nightly")
    shown = row(page.text, "nightly")
    assert "<code>0 2 * * *</code>" in shown and "Europe/Paris" in shown
    assert f'fires <time datetime="{nightly.next_fire_at.isoformat()}"' in shown
    assert "jitter 10 min" in shown
    assert '<span class="status st-active">active</span>' in shown


def test_a_schedule_no_live_worker_serves_is_marked(env: TestEnv, browser: Browser) -> None:
    two_schedules(env)
    marker = "no live worker serves this task"
    page = browser.get("/schedules").text
    assert marker in row(page, "nightly") and marker in row(page, "hourly")
    serve(env, "ship")
    page = browser.get("/schedules").text
    assert marker in row(page, "nightly") and marker not in row(page, "hourly")
    assert 'class="schedule unserved"' in page


def test_user_supplied_text_is_escaped(env: TestEnv, browser: Browser) -> None:
    env.client.create_schedule(XSS, "ship", XSS, every=timedelta(minutes=5))
    page = browser.get("/schedules").text
    assert XSS not in page
    assert str(escape(XSS)) in page


def test_intervals_read_as_people_say_them() -> None:
    assert [span(s) for s in (None, 30, 0.5, 60, 90, 5400, 86400, 90061)] == [
        "—",
        "30 s",
        "0.5 s",
        "1 min",
        "1 min 30 s",
        "1 h 30 min",
        "1 d",
        "1 d 1 h 1 min 1 s",
    ]


# -- actions ----------------------------------------------------------------------


def test_pause_and_resume_through_the_buttons(env: TestEnv, browser: Browser) -> None:
    two_schedules(env)
    page = browser.get("/schedules")
    assert "/actions/schedules/pause" in page.forms()
    done = browser.post("/actions/schedules/pause", {"csrf": page.csrf, "id": "hourly"})
    assert (done.status, done.header("Location")) == (303, "/schedules")
    assert env.client.get_schedule("hourly").paused
    page = browser.get("/schedules")
    assert "Paused &#39;hourly&#39;." in page.text
    shown = row(page.text, "hourly")
    assert '<span class="status st-paused">paused</span>' in shown
    assert "/actions/schedules/resume" in shown and "/actions/schedules/pause" not in shown
    assert browser.post("/actions/schedules/resume", {"csrf": page.csrf, "id": "hourly"}).status
    assert not env.client.get_schedule("hourly").paused
    assert "Resumed &#39;hourly&#39;: next tick" in browser.get("/schedules").text


def test_trigger_now_shows_the_execution_it_started(env: TestEnv, browser: Browser) -> None:
    two_schedules(env)
    csrf = browser.get("/schedules").csrf
    done = browser.post("/actions/schedules/trigger", {"csrf": csrf, "id": "hourly"})
    assert done.status == 303
    started = env.client.get_schedule("hourly").last_execution_id
    assert started is not None and started.startswith("hourly@")
    assert done.header("Location") == f"/executions/{quote(started, safe='')}"
    page = browser.get(done.header("Location") or "")
    assert "Started now by schedule &#39;hourly&#39;." in page.text
    env.run_until_idle()
    assert env.result(started) == "shipped to eu"


def test_delete_asks_first_and_keeps_what_the_schedule_started(
    env: TestEnv, browser: Browser
) -> None:
    two_schedules(env)
    started = env.client.trigger_schedule("hourly")
    page = browser.get("/schedules")
    assert 'data-confirm="Delete the schedule hourly?' in row(page.text, "hourly")
    done = browser.post("/actions/schedules/delete", {"csrf": page.csrf, "id": "hourly"})
    assert (done.status, done.header("Location")) == (303, "/schedules")
    assert [s.id for s in env.client.list_schedules()] == ["nightly"]
    assert env.get(started).task_name == "ship"
    assert "Deleted schedule &#39;hourly&#39;" in browser.get("/schedules").text


def test_an_action_on_an_unknown_schedule_is_a_404(env: TestEnv, browser: Browser) -> None:
    csrf = page_csrf(browser)
    for action in ("pause", "resume", "trigger", "delete"):
        answer = browser.post(f"/actions/schedules/{action}", {"csrf": csrf, "id": "nope"})
        assert answer.status == 404, action
        assert "no schedule with id &#39;nope&#39;" in answer.text
    assert browser.post("/actions/schedules/pause", {"csrf": csrf, "id": ""}).status == 404
    assert browser.get("/actions/schedules/pause").status == 405


def test_a_schedule_action_without_its_csrf_token_is_refused(
    env: TestEnv, browser: Browser
) -> None:
    two_schedules(env)
    csrf = browser.get("/schedules").csrf
    assert browser.post("/actions/schedules/delete", {"id": "hourly"}).status == 403
    stranger = Browser(browser.app)
    assert stranger.post("/actions/schedules/delete", {"id": "hourly", "csrf": csrf}).status == 403
    assert len(env.client.list_schedules()) == 2


def test_read_only_hides_the_schedule_actions_and_refuses_them(env: TestEnv) -> None:
    two_schedules(env)
    eid = waiting_inbox(env)
    browser = Browser(make_dashboard(env.client, read_only=True))
    for path in ("/schedules", f"/executions/{eid}"):
        page = browser.get(path)
        assert page.status == 200
        assert 'method="post"' not in page.text, path
        assert "<button" not in page.text, path
    csrf = page_csrf(browser)
    for action in ("pause", "resume", "trigger", "delete"):
        answer = browser.post(f"/actions/schedules/{action}", {"csrf": csrf, "id": "hourly"})
        assert answer.status == 405, action
    form = {"csrf": csrf, "id": eid, "topic": "items", "payload": "1"}
    assert browser.post("/actions/message", form).status == 405
    assert len(env.client.list_schedules()) == 2 and not env.client.get_schedule("hourly").paused
    assert [e.id for e in env.client.list()] == [eid] and env.get(eid).status == "waiting"


# -- the message form -------------------------------------------------------------


def test_the_message_form_names_the_topic_the_execution_waits_on(
    env: TestEnv, browser: Browser
) -> None:
    eid = waiting_inbox(env)
    page = browser.get(f"/executions/{eid}")
    assert env.get(eid).waiting_for == "topic:items"
    assert 'id="message-topic" value="items"' in page.text
    assert 'id="event-name" value=""' in page.text  # it waits for no event
    other = browser.get(f"/executions/{waiting_approval(env)}")
    assert 'id="message-topic" value=""' in other.text  # an event wait: no topic to name


def test_a_message_sent_through_the_form_resumes_the_receive(
    env: TestEnv, browser: Browser
) -> None:
    eid = waiting_inbox(env)
    csrf = browser.get(f"/executions/{eid}").csrf
    form = {"csrf": csrf, "id": eid, "topic": "items", "payload": '{"sku": 7}'}
    done = browser.post("/actions/message", form)
    assert (done.status, done.header("Location")) == (303, f"/executions/{eid}")
    assert re.search(
        r"Message \d+ sent on &#39;items&#39;\.", browser.get(done.header("Location") or "").text
    )
    env.run_until_idle()
    assert env.result(eid) == {"sku": 7}
    assert 'id="message-form"' not in browser.get(f"/executions/{eid}").text  # it has ended


@pytest.mark.parametrize(
    ("topic", "payload", "why"),
    [
        ("items", "{not json", "Expecting property name"),
        ("items", '"' + "x" * 300 + '"', "over the payload limit"),  # max_payload=200
        ("", "1", "topic must not be empty or blank"),
    ],
)
def test_a_message_the_form_got_wrong_shows_the_form_again(
    topic: str, payload: str, why: str
) -> None:
    with TestEnv(REGISTRY, max_payload=200) as env:
        eid = waiting_inbox(env)
        browser = Browser(make_dashboard(env.client))
        csrf = browser.get(f"/executions/{eid}").csrf
        form = {"csrf": csrf, "id": eid, "topic": topic, "payload": payload}
        page = browser.post("/actions/message", form)
        assert page.status == 400
        assert why in page.text
        assert 'id="message-error"' in page.text
        assert str(escape(payload))[:50] in page.text  # the form as it was filled
        assert env.client.store.load(eid).messages == {}


def test_a_message_to_an_execution_that_ended_meanwhile_is_refused(
    env: TestEnv, browser: Browser
) -> None:
    eid = waiting_inbox(env)
    csrf = browser.get(f"/executions/{eid}").csrf
    env.client.cancel(eid)
    form = {"csrf": csrf, "id": eid, "topic": "items", "payload": "1"}
    assert browser.post("/actions/message", form).status == 303
    page = browser.get(f"/executions/{eid}").text
    assert 'class="flash error"' in page and "cancelled" in page


def test_a_long_list_shows_its_first_page(env: TestEnv, browser: Browser) -> None:
    for i in range(SCHEDULES_SHOWN + 2):
        env.client.create_schedule(f"s-{i:04d}", "ship", "eu", every=timedelta(hours=1))
    page = browser.get("/schedules").text
    assert page.count('<tr id="schedule-') == SCHEDULES_SHOWN
    assert f"The first {SCHEDULES_SHOWN} of {SCHEDULES_SHOWN + 2} schedules" in page
    assert 'data-schedule="s-0499"' in page and 'data-schedule="s-0500"' not in page
