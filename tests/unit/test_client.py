"""zart.Client on a MemoryStore: scheduling, results, listing, cancelling,
events, and Client.run driving a workflow inline (and what it writes on
SQLite and PostgreSQL)."""

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

import zart
from tests.store_kinds import open_store
from zart.host import Host
from zart.testing import TestEnv


@attrs.define
class Receipt:
    order: str
    total: int


@attrs.define
class Rejected(zart.BusinessError):
    why: str


@zart.step("price-{sku}")
def price(sku: str) -> int:
    return {"A": 3, "B": 4}.get(sku, 1)


@zart.step("double")
async def double(n: int) -> int:
    return n * 2


@zart.durable("checkout", output=Receipt)
def checkout(order: str):  # type: ignore[no-untyped-def]
    a = yield price("A")
    b = yield price("B")
    return Receipt(order, a + b)


@zart.durable("untyped")
def untyped(order: str):  # type: ignore[no-untyped-def]
    total = yield price("A")
    return Receipt(order, total)


@zart.durable("reject")
def reject(why: str):  # type: ignore[no-untyped-def]
    yield zart.now("t")
    raise Rejected(why)


@zart.durable("crash")
def crash(_: Any):  # type: ignore[no-untyped-def]
    yield zart.now("t")
    raise RuntimeError("went wrong")


@zart.durable("waits")
def waits(_: Any):  # type: ignore[no-untyped-def]
    return (yield zart.wait_event("go"))


@zart.durable("fan-out")
def fan_out(n: int):  # type: ignore[no-untyped-def]
    handles = []
    for i in range(n):
        handles.append((yield zart.schedule(double(i).named(f"double-{i}"))))
    results = yield zart.wait_all(handles)
    child = yield checkout("inner")
    return {"doubled": results, "child": child.total}


@pytest.fixture
def client() -> zart.Client:
    registry = zart.TaskRegistry([checkout, untyped, reject, crash, waits, fan_out])
    return zart.Client(zart.MemoryStore(), registry)


def drive(client: zart.Client, eid: str) -> None:
    """Run everything under ``eid`` that can run now (no waiting)."""
    host = Host(client.store, client.registry)
    while host.tick(under=eid):
        pass


# -- schedule ----------------------------------------------------------------


def test_schedule_creates_a_pending_execution(client: zart.Client) -> None:
    eid = client.schedule("checkout", "o-1")
    rec = client.get(eid)
    assert rec.id == eid and rec.task_name == "checkout" and rec.status == "pending"
    assert rec.input == "o-1" and rec.output is None and rec.error is None
    assert rec.attempt == 0 and rec.parent_id is None
    assert isinstance(rec.created_at, datetime) and rec.created_at.tzinfo is not None
    assert rec.updated_at >= rec.created_at


def test_generated_ids_are_unique(client: zart.Client) -> None:
    ids = {client.schedule("checkout", "o") for _ in range(20)}
    assert len(ids) == 20


def test_schedule_with_an_existing_id_raises_and_changes_nothing(client: zart.Client) -> None:
    eid = client.schedule("checkout", "first", execution_id="signup-42")
    assert eid == "signup-42"
    with pytest.raises(zart.ExecutionAlreadyExists) as info:
        client.schedule("checkout", "second", execution_id="signup-42")
    assert info.value.execution_id == "signup-42"
    assert info.value.status == "pending"
    assert "signup-42" in str(info.value)
    assert client.get("signup-42").input == "first"
    drive(client, eid)
    with pytest.raises(zart.ExecutionAlreadyExists) as info:
        client.schedule("untyped", "third", execution_id="signup-42")
    assert info.value.status == "completed"
    assert len(client.list()) == 1


@pytest.mark.parametrize("bad", ["", 42])
def test_schedule_refuses_a_bad_execution_id(client: zart.Client, bad: Any) -> None:
    with pytest.raises(ValueError):
        client.schedule("checkout", "o", execution_id=bad)
    assert client.list() == []


def test_schedule_unknown_task_name(client: zart.Client) -> None:
    with pytest.raises(zart.UnknownTaskError) as info:
        client.schedule("nope", {})
    assert info.value.task_name == "nope"
    assert client.list() == []


def test_schedule_registers_a_new_handler_on_the_fly(client: zart.Client) -> None:
    @zart.durable("fresh")
    def fresh(n: int):  # type: ignore[no-untyped-def]
        return (yield zart.call("inc", lambda: n + 1))

    assert "fresh" not in client.registry
    eid = client.schedule(fresh, 1)
    assert "fresh" in client.registry
    drive(client, eid)
    assert client.result(eid) == 2


def test_schedule_refuses_input_that_does_not_structure(client: zart.Client) -> None:
    @zart.durable("needs-receipt")
    def needs(r: Receipt):  # type: ignore[no-untyped-def]
        yield zart.now("t")

    with pytest.raises(zart.SerializationError) as info:
        client.schedule(needs, {"order": "o"})
    assert "needs-receipt" in str(info.value) and "total" in str(info.value)
    assert client.list() == []


# -- result -------------------------------------------------------------------


def test_result_uses_the_declared_output_type(client: zart.Client) -> None:
    eid = client.schedule("checkout", "o-1")
    drive(client, eid)
    out = client.result(eid)
    assert out == Receipt("o-1", 7) and type(out) is Receipt
    assert client.get(eid).output == {"order": "o-1", "total": 7}


def test_result_is_json_without_a_type(client: zart.Client) -> None:
    eid = client.schedule("untyped", "o-2")
    drive(client, eid)
    assert client.result(eid) == {"order": "o-2", "total": 3}


def test_result_with_an_explicit_type(client: zart.Client) -> None:
    eid = client.schedule("untyped", "o-3")
    drive(client, eid)
    out = client.result(eid, type=Receipt)
    assert out == Receipt("o-3", 3)
    assert client.result(eid, type=dict[str, Any]) == {"order": "o-3", "total": 3}


def test_result_type_mismatch_is_a_serialization_error(client: zart.Client) -> None:
    eid = client.schedule("untyped", "o")
    drive(client, eid)
    with pytest.raises(zart.SerializationError):
        client.result(eid, type=int)


def test_result_of_a_failed_execution_raises_execution_failed(client: zart.Client) -> None:
    eid = client.schedule("crash")
    drive(client, eid)
    with pytest.raises(zart.ExecutionFailed) as info:
        client.result(eid, timeout=5)
    err = info.value
    assert err.execution_id == eid
    assert err.error_type == "RuntimeError" and err.message == "went wrong"
    assert client.get(eid).status == "failed"
    assert client.get(eid).error["message"] == "went wrong"  # type: ignore[index]


def test_result_of_a_business_failure_keeps_the_business_error(client: zart.Client) -> None:
    eid = client.schedule("reject", "too expensive")
    drive(client, eid)
    with pytest.raises(zart.ExecutionFailed) as info:
        client.result(eid)
    assert info.value.error_type.endswith("Rejected")
    cause = info.value.__cause__
    assert isinstance(cause, Rejected) and cause.why == "too expensive"


def test_result_times_out(client: zart.Client) -> None:
    eid = client.schedule("waits")
    with pytest.raises(zart.ResultTimeout) as info:
        client.result(eid, timeout=0)
    assert info.value.execution_id == eid and info.value.status == "pending"
    assert isinstance(info.value, TimeoutError)
    drive(client, eid)
    with pytest.raises(zart.ResultTimeout) as info:
        client.result(eid, timeout=0)
    assert info.value.status == "waiting"


@pytest.mark.parametrize("bad", [float("nan"), -1, "5", True])
def test_result_and_run_refuse_a_bad_timeout(client: zart.Client, bad: Any) -> None:
    # A NaN timeout used to make result() wait forever: no deadline ever passed.
    eid = client.schedule("waits")
    with pytest.raises(ValueError, match=r"timeout must be None or a number of seconds >= 0"):
        client.result(eid, timeout=bad)
    with pytest.raises(ValueError, match=r"timeout must be None or a number of seconds >= 0"):
        client.run("waits", execution_id="never", timeout=bad)
    assert [r.id for r in client.list()] == [eid]  # run refused before it scheduled


def test_an_infinite_timeout_waits_as_none_does(client: zart.Client) -> None:
    eid = client.schedule("waits")
    drive(client, eid)
    client.offer_event(eid, "go", "now")
    drive(client, eid)
    assert client.result(eid, timeout=float("inf")) == "now"


def test_result_of_unknown_execution(client: zart.Client) -> None:
    with pytest.raises(zart.ExecutionNotFound) as info:
        client.result("ghost", timeout=0)
    assert info.value.execution_id == "ghost"
    with pytest.raises(zart.ExecutionNotFound):
        client.get("ghost")
    with pytest.raises(zart.ExecutionNotFound):
        client.history("ghost")


def test_history_lists_step_records_in_order(client: zart.Client) -> None:
    eid = client.schedule("checkout", "o")
    drive(client, eid)
    hist = client.history(eid)
    assert all(isinstance(s, zart.StepRecord) for s in hist)
    assert [(s.name, s.kind, s.status, s.result) for s in hist] == [
        ("price-A", "step", "completed", 3),
        ("price-B", "step", "completed", 4),
    ]
    assert [s.step for s in hist] == ["price-{sku}", "price-{sku}"]
    assert hist[0].seq < hist[1].seq


# -- list ------------------------------------------------------------------------


def test_list_filters_by_status_and_task(client: zart.Client) -> None:
    done = client.schedule("checkout", "o", execution_id="done")
    drive(client, done)
    failed = client.schedule("crash", execution_id="failed")
    drive(client, failed)
    client.schedule("checkout", "o", execution_id="pending")
    waiting = client.schedule("waits", execution_id="waiting")
    drive(client, waiting)

    def ids(**kw: Any) -> set[str]:
        return {r.id for r in client.list(**kw)}

    assert ids() == {"done", "failed", "pending", "waiting"}
    assert ids(status="failed") == {"failed"}
    assert ids(status="completed") == {"done"}
    assert ids(status="waiting") == {"waiting"}
    assert ids(task="checkout") == {"done", "pending"}
    assert ids(status="pending", task="checkout") == {"pending"}
    assert ids(status="cancelled") == set()
    assert ids(task="nothing") == set()
    assert len(client.list(limit=2)) == 2
    assert len(client.list(limit=2, offset=3)) == 1
    every = [r.id for r in client.list(limit=2)] + [r.id for r in client.list(limit=2, offset=2)]
    assert sorted(every) == ["done", "failed", "pending", "waiting"]


def test_list_children_by_parent(client: zart.Client) -> None:
    eid = client.schedule("fan-out", 2, execution_id="fan")
    drive(client, eid)
    kids = {r.id for r in client.list(parent_id="fan")}
    assert kids == {"fan:double-0", "fan:double-1", "fan:checkout"}


@pytest.mark.parametrize("bad", ["done", "FAILED", "", "finished"])
def test_list_refuses_an_unknown_status(client: zart.Client, bad: str) -> None:
    with pytest.raises(ValueError, match="status"):
        client.list(status=bad)


@pytest.mark.parametrize(
    ("limit", "offset", "says"),
    [
        (0, 0, "limit must be at least 1, got 0"),
        (-1, 0, "limit must be at least 1, got -1"),
        (10, -1, "offset must be at least 0, got -1"),
        (2.5, 0, "limit must be a whole number, got 2.5"),
        ("5", 0, "limit must be a whole number, got '5'"),
        # Past 64 bits SQLite and PostgreSQL refused it from deep in the store.
        (10**20, 0, "limit must be at most 2**63 - 1, got 100000000000000000000"),
        (10, 2**63, "offset must be at most 2**63 - 1"),
    ],
)
def test_list_refuses_bad_paging(client: zart.Client, limit: Any, offset: Any, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        client.list(limit=limit, offset=offset)


# -- cancel ----------------------------------------------------------------------


@zart.durable("sleepy-child")
def sleepy_child(n: int):  # type: ignore[no-untyped-def]
    yield zart.sleep("nap", timedelta(hours=1))
    return n


def test_cancel_cascades_to_unfinished_children() -> None:
    @zart.durable("parent")
    def parent(_: Any):  # type: ignore[no-untyped-def]
        h1 = yield zart.schedule(sleepy_child(1))
        h2 = yield zart.schedule(zart.call("quick", lambda: "q"))
        h3 = yield zart.schedule(zart.call("waiter", lambda: None).named("other"))
        return (yield zart.wait_all([h1, h2, h3]))

    with TestEnv(zart.TaskRegistry([sleepy_child])) as env:
        eid = env.schedule(parent, execution_id="p")
        env.run_until_idle()
        assert env.get("p:sleepy-child").status == "sleeping"
        assert env.get("p:quick").status == "completed"
        assert env.get(eid).status == "waiting"
        assert env.cancel(eid) is True
        assert env.get(eid).status == "cancelled"
        assert env.get("p:sleepy-child").status == "cancelled"
        assert env.get("p:quick").status == "completed"  # finished children stay finished
        with pytest.raises(zart.Cancelled) as info:
            env.result(eid)
        assert info.value.execution_id == eid
        with pytest.raises(zart.Cancelled):
            env.result("p:sleepy-child")
        env.advance(timedelta(hours=2))  # nothing wakes up again
        assert env.get(eid).status == "cancelled"
        assert env.get("p:sleepy-child").status == "cancelled"
        assert env.cancel(eid) is False


def test_cancel_a_finished_execution_returns_false(client: zart.Client) -> None:
    eid = client.schedule("checkout", "o")
    drive(client, eid)
    assert client.cancel(eid) is False
    assert client.get(eid).status == "completed"
    with pytest.raises(zart.ExecutionNotFound):
        client.cancel("ghost")


def test_cancel_a_pending_execution(client: zart.Client) -> None:
    eid = client.schedule("checkout", "o")
    assert client.cancel(eid) is True
    drive(client, eid)
    assert client.get(eid).status == "cancelled"
    assert client.history(eid) == []
    assert client.list(status="cancelled")[0].id == eid


def test_cancelled_child_reaches_the_waiting_parent_as_cancelled() -> None:
    @zart.durable("parent")
    def parent(_: Any):  # type: ignore[no-untyped-def]
        h = yield zart.schedule(sleepy_child(1))
        try:
            yield zart.wait_all([h])
        except zart.Cancelled:
            return "child was cancelled"
        return "child finished"

    with TestEnv(zart.TaskRegistry([sleepy_child])) as env:
        eid = env.schedule(parent, execution_id="p")
        env.run_until_idle()
        env.cancel("p:sleepy-child")
        env.run_until_idle()
        assert env.result(eid) == "child was cancelled"


# -- events ------------------------------------------------------------------------


def test_offer_event_to_an_unknown_execution(client: zart.Client) -> None:
    with pytest.raises(zart.ExecutionNotFound) as info:
        client.offer_event("ghost", "go", 1)
    assert info.value.execution_id == "ghost"


def test_offer_event_to_a_finished_execution(client: zart.Client) -> None:
    eid = client.schedule("checkout", "o")
    drive(client, eid)
    with pytest.raises(zart.EventRejected) as info:
        client.offer_event(eid, "go", 1)
    assert info.value.execution_id == eid and info.value.event == "go"
    assert info.value.status == "completed"
    cancelled = client.schedule("waits")
    client.cancel(cancelled)
    with pytest.raises(zart.EventRejected) as info:
        client.offer_event(cancelled, "go", 1)
    assert info.value.status == "cancelled"


def test_offer_event_wakes_a_waiting_execution_and_keeps_the_first(client: zart.Client) -> None:
    eid = client.schedule("waits")
    drive(client, eid)
    assert client.get(eid).status == "waiting"
    assert client.offer_event(eid, "go", {"n": 1}) is True
    assert client.offer_event(eid, "go", {"n": 2}) is False
    assert client.get(eid).status == "pending"
    drive(client, eid)
    assert client.result(eid) == {"n": 1}


def test_offer_event_validates_name_and_payload(client: zart.Client) -> None:
    eid = client.schedule("waits")
    with pytest.raises(ValueError):
        client.offer_event(eid, "", 1)
    with pytest.raises(zart.SerializationError):
        client.offer_event(eid, "go", object())
    drive(client, eid)
    assert client.get(eid).status == "waiting"


# -- run inline --------------------------------------------------------------------


def test_run_returns_the_typed_result(client: zart.Client) -> None:
    assert client.run("checkout", "o-9") == Receipt("o-9", 7)
    assert client.run(untyped, "o-10") == {"order": "o-10", "total": 3}
    assert client.run(untyped, "o-11", type=Receipt) == Receipt("o-11", 3)


def test_run_a_workflow_with_child_steps_and_a_child_workflow(client: zart.Client) -> None:
    out = client.run("fan-out", 4, execution_id="fan")
    assert out == {"doubled": [0, 2, 4, 6], "child": 7}
    assert client.get("fan").status == "completed"
    assert all(r.status == "completed" for r in client.list(parent_id="fan"))


def test_run_with_retries_and_zero_delays(client: zart.Client) -> None:
    calls: list[int] = []

    @zart.step("flaky", retry="fixed(3, 0s)")
    def flaky() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("again")
        return len(calls)

    @zart.durable("retrying")
    def retrying(_: Any):  # type: ignore[no-untyped-def]
        return (yield flaky())

    assert client.run(retrying) == 3


def test_run_raises_the_failure(client: zart.Client) -> None:
    with pytest.raises(zart.ExecutionFailed) as info:
        client.run("crash")
    assert info.value.message == "went wrong"
    with pytest.raises(zart.ExecutionFailed):
        client.run(reject, "no")


def test_run_times_out_on_a_wait_with_the_status(client: zart.Client) -> None:
    with pytest.raises(zart.ResultTimeout) as info:
        client.run("waits", execution_id="w", timeout=0)
    assert info.value.status == "waiting"
    client.offer_event("w", "go", "now")
    drive(client, "w")
    assert client.result("w") == "now"


def test_run_only_drives_its_own_execution(client: zart.Client) -> None:
    other = client.schedule("checkout", "other")
    assert client.run("checkout", "mine") == Receipt("mine", 7)
    assert client.get(other).status == "pending"


def test_run_with_an_event_offered_from_a_step(client: zart.Client) -> None:
    @zart.durable("self-signal")
    def self_signal(_: Any):  # type: ignore[no-untyped-def]
        eid = zart.context().execution_id
        yield zart.call("signal", lambda: client.offer_event(eid, "ping", "pong"))
        return (yield zart.wait_event("ping"))

    assert client.run(self_signal) == "pong"


def test_result_of_a_scheduled_step_child_is_its_own_value(client: zart.Client) -> None:
    @zart.durable("typed-parent", output=Receipt)
    def typed_parent(_: Any):  # type: ignore[no-untyped-def]
        h = yield zart.schedule(price("A"))
        [total] = yield zart.wait_all([h])
        return Receipt("o", total)

    assert client.run(typed_parent, execution_id="tp") == Receipt("o", 3)
    assert client.get("tp:price-A").status == "completed"
    assert client.result("tp:price-A") == 3


def test_cancel_cascades_to_grandchildren() -> None:
    @zart.durable("middle")
    def middle(n: int):  # type: ignore[no-untyped-def]
        return (yield sleepy_child(n))

    @zart.durable("top")
    def top(_: Any):  # type: ignore[no-untyped-def]
        return (yield middle(1))

    with TestEnv(zart.TaskRegistry([sleepy_child, middle, top])) as env:
        eid = env.schedule("top", execution_id="t")
        env.run_until_idle()
        assert env.get("t:middle:sleepy-child").status == "sleeping"
        env.cancel(eid)
        assert {r.id: r.status for r in env.list()} == {
            "t": "cancelled",
            "t:middle": "cancelled",
            "t:middle:sleepy-child": "cancelled",
        }


# -- what Client.run writes --------------------------------------------------------


@zart.durable("n-steps")
def n_steps(n: int):  # type: ignore[no-untyped-def]
    total = 0
    for i in range(n):
        total += yield zart.call(f"s{i}", lambda i=i: i + 1)
    return total


def writes_of_run(n: int) -> int:
    """N + 1 for N steps, and 2 for none: the created-and-claimed row, one
    commit per step but the last, and the final commit, which carries the
    last step's record with the outcome."""
    return n + 1 if n else 2


@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_run_on_postgres_costs_one_statement_per_write(n: int, tmp_path: Path) -> None:
    """Every statement Client.run sends (PostgresStore._exec runs them all),
    none ignored: one ``create_leased``, one ``commit_record`` per step but
    the last, one ``commit_end``; the output comes from the final decision,
    not from reading the execution back."""
    with open_store("postgres", tmp_path) as store:
        client = zart.Client(store, zart.TaskRegistry([n_steps]))
        store.now()  # the first use checks the schema and reads the server's clock
        sent: list[str] = []
        exec_ = store._exec

        def counted(conn: Any, name: str, params: dict[str, Any]) -> Any:
            sent.append(name)
            return exec_(conn, name, params)

        store._exec = counted
        try:
            assert client.run(n_steps, n, execution_id="run") == n * (n + 1) // 2
        finally:
            store._exec = exec_
        assert sent == ["create_leased", *["commit_record"] * (n - 1), "commit_end"]
        assert len(sent) == writes_of_run(n)
        assert [h.name for h in client.history("run")] == [f"s{i}" for i in range(n)]


class WriteTransactions:
    """A sqlite3 trace callback counting write transactions: each COMMIT
    ending a BEGIN, and each writing statement run outside one (autocommit:
    a transaction of its own). Reads count nothing."""

    WRITING = ("INSERT", "UPDATE", "DELETE", "REPLACE")

    def __init__(self) -> None:
        self.count = 0
        self.since_last_write: list[str] = []  # statements after the last one counted
        self._open = False

    def __call__(self, sql: str) -> None:
        word = sql.split(None, 1)[0].upper()
        self.since_last_write.append(word)
        if word == "BEGIN":
            self._open = True
        elif word == "ROLLBACK":
            self._open = False
        elif word in ("COMMIT", "END") or (word in self.WRITING and not self._open):
            self.count += 1
            self._open = False
            self.since_last_write = []


@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_run_on_sqlite_costs_one_write_transaction_per_write(n: int, tmp_path: Path) -> None:
    """Write transactions as ``WriteTransactions`` counts them, on the
    connection of the thread that runs (Client.run drives in it); and
    nothing is read after the last commit."""
    with open_store("sqlite", tmp_path) as store:
        client = zart.Client(store, zart.TaskRegistry([n_steps]))
        conn = store._db.get()  # this thread's connection
        trace = WriteTransactions()
        conn.set_trace_callback(trace)
        try:
            assert client.run(n_steps, n, execution_id="run") == n * (n + 1) // 2
        finally:
            conn.set_trace_callback(None)
        assert trace.count == writes_of_run(n)
        assert trace.since_last_write == []  # the output was not read back
        assert [h.name for h in client.history("run")] == [f"s{i}" for i in range(n)]
