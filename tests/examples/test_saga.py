from __future__ import annotations

from examples import saga as ex
from tests.examples.driver import drive


def test_a_trip_that_books_everything_needs_no_undo(make_env):
    env = make_env(ex.registry)
    eid = env.schedule(ex.book_trip, ex.Trip("t-1", "Porto"))
    drive(env, eid)
    assert env.result(eid) == ["flight-t-1", "hotel-t-1", "car-t-1"]
    assert env.client.list(parent_id=eid) == []


def test_a_failed_trip_is_undone_in_reverse_order_once(make_env):
    env = make_env(ex.registry)
    eid = env.schedule(ex.book_trip, ex.Trip("t-2", "Lisbon"))
    drive(env, eid)
    assert env.get(eid).status == "failed"
    [handler] = env.client.list(parent_id=eid)
    drive(env, handler.id)
    assert env.result(handler.id) == ["hotel", "flight"]
    assert "t-2" not in ex.BOOKED["flight"] | ex.BOOKED["hotel"] | ex.BOOKED["car"]
    steps = [s.name for s in env.history(handler.id)]
    assert steps == ["undo-car", "undo-hotel", "undo-flight"]
    env.run_until_idle()
    assert len(env.client.list()) == 2  # the trip and one handler: never looped


def test_main_runs_on_sqlite(tmp_path):
    out = ex.main(f"sqlite:///{tmp_path / 'saga.db'}")
    assert out == {
        "porto": ["flight-t-porto", "hotel-t-porto", "car-t-porto"],
        "lisbon": ["hotel", "flight"],
    }
