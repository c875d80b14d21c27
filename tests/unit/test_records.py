"""Record values: what a commit is, as every store reads it."""

from __future__ import annotations

from tests.stores.scenario import step_write
from zart import records as r
from zart.records import Commit, NewExecution, SetState


def test_only_a_commit_of_one_record_and_nothing_else_is_a_step_commit() -> None:
    one = step_write("s", 1)
    assert Commit(records=(one,)).only_record == one
    for other in (
        Commit(),
        Commit(records=(one, step_write("t", 2, seq=2))),
        Commit(records=(one,), children=(NewExecution(id="c", task_name="t"),)),
        Commit(records=(one,), rerun_children=("c",)),
        Commit(records=(one,), consumed=(7,)),
        Commit(records=(one,), state=SetState(value=None)),
        Commit(records=(one,), outcome=r.Complete(output=None)),
    ):
        assert other.only_record is None, other
