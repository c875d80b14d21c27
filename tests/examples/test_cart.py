from __future__ import annotations

from examples import cart as ex


def test_items_until_checkout_in_the_order_sent(make_env):
    env = make_env(ex.registry)
    eid = env.schedule(ex.cart, "o-1")
    env.run_until_idle()
    assert env.get(eid).status == "waiting"  # no message yet: it holds no worker
    env.send(eid, "cart", ex.CartMessage("add-item", "lamp"))
    env.send(eid, "cart", ex.CartMessage("add-item", "book", quantity=2))
    env.run_until_idle()
    assert env.get(eid).status == "waiting"
    env.send(eid, "cart", ex.CartMessage("checkout"))
    env.send(eid, "cart", ex.CartMessage("add-item", "pen"))  # after checkout: never taken
    env.run_until_idle()
    assert env.result(eid, type=ex.Receipt) == ex.Receipt("o-1", ["lamp", "book", "book"], 54_00)
    names = [s.name for s in env.history(eid)]
    assert names == ["message-0", "message-1", "message-2", "charge"]
    env.check_determinism(eid)


def test_a_crash_before_the_receive_is_recorded_keeps_the_message(make_env):
    env = make_env(ex.registry)
    eid = env.schedule(ex.cart, "o-2")
    env.send(eid, "cart", ex.CartMessage("add-item", "pen"))
    env.send(eid, "cart", ex.CartMessage("checkout"))
    env.crash_after("charge")
    env.run_until_idle()
    env.restart()
    env.run_until_idle()
    assert env.result(eid, type=ex.Receipt).items == ["pen"]


def test_main_runs_on_sqlite(tmp_path):
    assert ex.main(f"sqlite:///{tmp_path / 'cart.db'}") == ex.Receipt(
        "o-17", ["book", "pen", "pen"], 17_00
    )
