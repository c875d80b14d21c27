"""What one pass of the interpreter knows of an execution's log, and the
rules that tie the code to it: each name met once, a recorded name met as
the same kind of command (and the same step), no new name in front of
records the pass has not replayed yet, and new names numbered in order.

Pure: no store, no clock. The interpreter asks it and it raises
``DuplicateNameError`` or ``NonDeterminismError`` where the code and the
log disagree.
"""

from __future__ import annotations

from typing import Any

from . import records as r
from .commands import Capture, Patched, Receive, Schedule, Sleep, Step, WaitEvent, WorkflowCall
from .errors import DuplicateNameError, NonDeterminismError
from .records import RecordWrite, StepRecord


def describe(cmd: Any) -> str:
    """A command, as a mismatch message names it."""
    if isinstance(cmd, Step):
        return f"step {cmd.step_id!r}"
    if isinstance(cmd, Schedule):
        return f"schedule of {describe(cmd.target)}"
    if isinstance(cmd, WorkflowCall):
        return f"workflow {cmd.task_name!r}"
    if isinstance(cmd, Receive):
        return f"a receive on {cmd.topic!r}"
    if isinstance(cmd, Patched):
        return f"patch {cmd.name!r}"
    kind = {Sleep: "a sleep", WaitEvent: "an event wait", Capture: "a capture"}.get(type(cmd))
    return kind or repr(cmd)


def describe_record(rec: StepRecord) -> str:
    """A log record, as a mismatch message names it."""
    if rec.kind == r.K_STEP:
        return f"step {rec.step!r}"
    if rec.kind == r.K_SCHEDULE:
        return f"schedule of {rec.step}"
    names = {
        r.K_SLEEP: "a sleep",
        r.K_EVENT: "an event wait",
        r.K_CAPTURE: "a capture",
        r.K_PATCH: "a patch marker",
        r.K_MESSAGE: f"a receive on {rec.step!r}",
    }
    return names.get(rec.kind, rec.kind)


class LogBook:
    """The log as one pass sees it: records loaded, names met, writes queued."""

    def __init__(self, log: r.Log, execution_id: str, attempt: int) -> None:
        self.execution_id = execution_id
        self.attempt = attempt
        self.records: dict[str, StepRecord] = dict(log.records)
        self.seen: set[str] = set()
        self._loaded = frozenset(log.records)
        self._loaded_met = 0  # how many loaded records this pass has met
        self._replayed_to = 0  # the highest seq of a loaded record met so far
        self._seqs = {name: rec.seq for name, rec in log.records.items()}
        self._last_seq = max(log.last_seq, *self._seqs.values(), 0)
        self.writes: list[RecordWrite] = []

    def lookup(
        self, name: str, kind: str, cmd: Any, identity: str | None = None, *, logs: bool = True
    ) -> StepRecord | None:
        """The record of ``name``, checked against the command met; None for
        a new name. ``logs=False``: the command may end without a record (a
        capture that raised, a child input with no stored form), so its
        handler checks a new name for insertion once it is about to write."""
        if name in self.seen:
            raise DuplicateNameError(name, f"execution {self.execution_id!r}")
        self.seen.add(name)
        rec = self.records.get(name)
        if rec is None:
            if logs:
                self.check_not_inserted(name, cmd)
            return None
        if rec.kind != kind or (identity is not None and rec.step != identity):
            raise NonDeterminismError(name, describe_record(rec), describe(cmd))
        if name in self._loaded:
            self._loaded_met += 1
            self._replayed_to = max(self._replayed_to, rec.seq)
        return rec

    def ahead(self) -> list[StepRecord]:
        """The loaded records not met yet in this pass that were written
        after the last loaded record met: where the recorded run went on."""
        if self._loaded_met == len(self._loaded):
            return []  # the live frontier: the common case, in O(1)
        return [
            self.records[name]
            for name in self._loaded
            if name not in self.seen and self.records[name].seq > self._replayed_to
        ]

    def check_not_inserted(self, name: str, cmd: Any) -> None:
        """A new name in front of recorded history is code inserted there."""
        ahead_of_us = self.ahead()
        if ahead_of_us:
            ahead = min(ahead_of_us, key=lambda rec: rec.seq)
            raise NonDeterminismError(
                name,
                f"{describe_record(ahead)} ({ahead.name!r}) next",
                f"{describe(cmd)}, new code before recorded history (put it under zart.patched)",
            )

    def write(self, name: str, kind: str, status: str, **fields: Any) -> RecordWrite:
        """Queue a record for the next commit; a new name takes the next seq."""
        seq = self._seqs.get(name)
        if seq is None:
            self._last_seq += 1
            seq = self._seqs[name] = self._last_seq
        write = RecordWrite(
            name=name, kind=kind, status=status, seq=seq, execution_attempt=self.attempt, **fields
        )
        self.writes.append(write)
        if kind in (r.K_SCHEDULE, r.K_PATCH):  # what later commands of this pass read back
            self.records[name] = StepRecord(
                name=name,
                kind=kind,
                status=status,
                seq=seq,
                step=write.step,
                child_id=write.child_id,
                execution_attempt=self.attempt,
            )
        return write

    def take(self) -> tuple[RecordWrite, ...]:
        """The writes queued since the last take."""
        writes, self.writes = tuple(self.writes), []
        return writes
