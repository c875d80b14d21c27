from __future__ import annotations

from datetime import timedelta

import zart
from examples import delayed_notification as ex
from tests.examples.driver import Calls

NOTE = ex.Notification("ada", "your export is ready")


def test_sends_exactly_after_the_delay(make_env):
    env = make_env(ex.registry)
    calls = Calls()
    calls.count(env, "send-notification", ex.send_notification)
    start = env.now()
    eid = env.schedule(ex.delayed_notification, NOTE)
    env.run_until_idle()
    rec = env.get(eid)
    assert (rec.status, rec.wake_at) == ("sleeping", start + timedelta(hours=1))
    env.advance(timedelta(minutes=59, seconds=59))
    assert calls["send-notification"] == 0
    env.advance(timedelta(seconds=1))
    assert env.result(eid) == ex.Delivery(start, start + timedelta(hours=1))
    assert calls["send-notification"] == 1
    assert [(h.name, h.kind) for h in env.history(eid)] == [
        ("requested-at", "capture"),
        ("delay", "sleep"),
        ("send-notification", "step"),
    ]
    env.check_determinism(eid)


def test_the_wake_time_survives_a_restart_with_new_code(make_env):
    env = make_env(ex.registry)
    start = env.now()
    eid = env.schedule(ex.delayed_notification, NOTE)
    env.run_until_idle()

    # A deploy changes the delay; the sleep already reached keeps its wake time.
    @zart.durable("delayed-notification", output=ex.Delivery)
    def slower(note: ex.Notification):
        requested_at = yield zart.now("requested-at")
        yield zart.sleep("delay", note.delay * 5)
        sent_at = yield ex.send_notification(note.user, note.text)
        return ex.Delivery(requested_at, sent_at)

    env.restart(zart.TaskRegistry([slower]))
    env.advance(timedelta(hours=1))
    assert env.result(eid).sent_at == start + timedelta(hours=1)


def test_main_runs_for_real():
    delivery = ex.main("memory://")
    assert delivery.sent_at - delivery.requested_at >= timedelta(seconds=1)
