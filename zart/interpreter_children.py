"""The replay rules of children: schedules, wait_all and child workflows.
A child's id derives from its parent's and its name, so replaying a
schedule never makes a second child."""

from __future__ import annotations

from typing import Any

from . import records as r
from .commands import (
    Handle,
    Schedule,
    Step,
    WaitAll,
    WorkflowCall,
)
from .errors import InvalidCommand, SerializationError
from .failures import rebuild
from .interpreter_base import Handled, PassBase, Send, Throw
from .names import child_id
from .records import NewExecution
from .serde import from_json


class ChildRules(PassBase):
    """What a pass does when the workflow schedules children or waits for them."""

    def _on_schedule(self, cmd: Schedule) -> Handled:
        target = cmd.target
        name = target.name
        if isinstance(target, Step):
            identity, rtype = f"step:{target.step_id}", target.result_type
        else:
            identity, rtype = f"workflow:{target.task_name}", target.handler.output_type()
        rec = self._book.lookup(name, r.K_SCHEDULE, cmd, identity, logs=False)
        self._result_types[name] = rtype
        self.schedules[name] = target
        cid = child_id(self.execution_id, name)
        if rec is not None:
            cid = rec.child_id or cid
            if self._reruns_afresh(rec):
                self._reruns.append(cid)
                self._book.write(name, r.K_SCHEDULE, r.R_PENDING, step=identity, child_id=cid)
            return Send(Handle(name=name, execution_id=cid))
        try:
            child = self._new_child(target, cid)
        except SerializationError as exc:
            # A child input with no stored form is a pure function of the
            # code, not of the world: nothing is logged, and a replay works
            # it out again and throws the same.
            return Throw(exc)
        self._book.check_not_inserted(name, cmd)
        self._book.write(name, r.K_SCHEDULE, r.R_PENDING, step=identity, child_id=cid)
        self._children.append(child)
        if isinstance(target, Step):
            self._new_steps[cid] = target
        else:
            self._new_workflows[target.task_name] = target.handler
        return Send(Handle(name=name, execution_id=cid))

    def _new_child(self, target: Step | WorkflowCall, cid: str) -> NewExecution:
        root = self._root
        if isinstance(target, Step):
            return NewExecution(
                id=cid,
                task_name=self.task_name,
                kind=r.STEP,
                parent_id=self.execution_id,
                parent_step=target.name,
                root_id=root,
            )
        what = f"input of child workflow {target.name!r}"
        doc = self._json(target.input, what)
        from_json(doc, target.handler.input_type(), what)
        return NewExecution(
            id=cid,
            task_name=target.task_name,
            input=doc,
            parent_id=self.execution_id,
            parent_step=target.name,
            root_id=root,
        )

    def _on_workflow_call(self, cmd: WorkflowCall) -> Handled:
        # Yielding a workflow call directly is schedule-and-wait for one child.
        scheduled = self._on_schedule(Schedule(target=cmd))
        if not isinstance(scheduled, Send):
            return scheduled
        waited = self._on_wait_all(WaitAll(handles=(scheduled.value,)))
        if isinstance(waited, Send):
            return Send(waited.value[0])
        return waited

    def _on_wait_all(self, cmd: WaitAll) -> Handled:
        recs = []
        for handle in cmd.handles:
            rec = self._book.records.get(handle.name)
            if rec is None or rec.kind != r.K_SCHEDULE or handle.name not in self.seen:
                raise InvalidCommand(
                    f"wait_all got handle {handle.name!r}, which this execution "
                    f"({self.execution_id!r}) did not schedule"
                )
            recs.append(rec)
        still_open = tuple(rec.name for rec in recs if rec.status not in r.R_FINAL)
        if still_open:
            return self._suspend(r.Suspend(children=still_open))
        results: list[Any] = []
        first_error: BaseException | None = None
        for rec in recs:
            if rec.status == r.R_COMPLETED:
                what = f"result of child {rec.name!r}"
                typed = self._typed(rec.result, self._result_types.get(rec.name, Any), what)
                if isinstance(typed, Throw):
                    return typed
                value = typed.value
            else:
                value = rebuild(rec.error or {"type": "Cancelled"}, rec.child_id or rec.name)
                first_error = first_error or value
            results.append(value)
        if first_error is not None and not cmd.return_exceptions:
            return Throw(first_error)
        return Send(results)
