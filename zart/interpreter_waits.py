"""The replay rules of the waits: sleeps, event waits, receives, captures
and patch markers. Timers and deadlines are fixed when first reached and
stored; a replay never recomputes them."""

from __future__ import annotations

from datetime import datetime, timedelta

from . import records as r
from .commands import (
    PATCH_PREFIX,
    Capture,
    Patched,
    Receive,
    Sleep,
    WaitEvent,
)
from .errors import EventTimeout, InvalidCommand
from .interpreter_base import Handled, PassBase, Send, Throw, later
from .records import StepRecord


class WaitRules(PassBase):
    """What a pass does when the workflow yields a wait, a capture or a patch."""

    def _on_sleep(self, cmd: Sleep) -> Handled:
        rec = self._book.lookup(cmd.name, r.K_SLEEP, cmd)
        if rec is not None and rec.status == r.R_COMPLETED:
            return Send(None)
        if rec is not None and rec.wake_at is not None:
            wake = rec.wake_at
        elif cmd.until is not None:
            wake = cmd.until
        else:
            duration = cmd.duration or timedelta(0)
            found = later(self._now, duration)
            if found is None:
                raise InvalidCommand(
                    f"sleep {cmd.name!r}: {duration} from {self._now:%Y-%m-%d} ends past "
                    f"the last date a store holds ({datetime.max:%Y-%m-%d})"
                )
            wake = found
        if wake <= self._now:
            self._book.write(cmd.name, r.K_SLEEP, r.R_COMPLETED, wake_at=wake)
            return Send(None)
        if rec is None:
            self._book.write(cmd.name, r.K_SLEEP, r.R_WAITING, wake_at=wake)
        return self._suspend(r.Suspend(wake_at=wake))

    def _deadline_of(self, rec: StepRecord | None, timeout: timedelta | None) -> datetime | None:
        if rec is not None:
            return rec.wake_at
        return None if timeout is None else later(self._now, timeout)

    def _on_event(self, cmd: WaitEvent) -> Handled:
        name = cmd.name
        what = f"payload of event {name!r}"
        rec = self._book.lookup(name, r.K_EVENT, cmd)
        if rec is not None and rec.status == r.R_COMPLETED:
            return self._typed(rec.result, cmd.type, what)
        if rec is not None and rec.status == r.R_TIMED_OUT:
            return Throw(EventTimeout(name, rec.wake_at))
        deadline = self._deadline_of(rec, cmd.timeout)
        if name in self._events:
            payload = self._events[name]
            self._book.write(name, r.K_EVENT, r.R_COMPLETED, result=payload, wake_at=deadline)
            return self._typed(payload, cmd.type, what)
        if deadline is not None and deadline <= self._now:
            self._book.write(name, r.K_EVENT, r.R_TIMED_OUT, wake_at=deadline)
            return Throw(EventTimeout(name, deadline))
        if rec is None:
            self._book.write(name, r.K_EVENT, r.R_WAITING, wake_at=deadline)
        return self._suspend(r.Suspend(wake_at=deadline, event=name))

    def _on_receive(self, cmd: Receive) -> Handled:
        name, topic = cmd.name, cmd.topic
        what = f"message {name!r} on topic {topic!r}"
        rec = self._book.lookup(name, r.K_MESSAGE, cmd, topic)
        if rec is not None and rec.status == r.R_COMPLETED:
            return self._typed(rec.result, cmd.type, what)
        if rec is not None and rec.status == r.R_TIMED_OUT:
            return Throw(EventTimeout(name, rec.wake_at))
        deadline = self._deadline_of(rec, cmd.timeout)
        queue = self._messages.get(topic)
        if queue:
            message = queue.pop(0)
            self._consumed.append(message.id)
            self._book.write(
                name,
                r.K_MESSAGE,
                r.R_COMPLETED,
                step=topic,
                result=message.payload,
                wake_at=deadline,
            )
            return self._typed(message.payload, cmd.type, what)
        if deadline is not None and deadline <= self._now:
            self._book.write(name, r.K_MESSAGE, r.R_TIMED_OUT, step=topic, wake_at=deadline)
            return Throw(EventTimeout(name, deadline))
        if rec is None:
            self._book.write(name, r.K_MESSAGE, r.R_WAITING, step=topic, wake_at=deadline)
        return self._suspend(r.Suspend(wake_at=deadline, topic=topic))

    def _on_capture(self, cmd: Capture) -> Handled:
        rec = self._book.lookup(cmd.name, r.K_CAPTURE, cmd, logs=False)
        what = f"capture {cmd.name!r}"
        if rec is not None:
            return self._typed(rec.result, cmd.type, what)
        try:
            doc = self._json(self._now if cmd.fn is None else cmd.fn(), what)
        except Exception as exc:
            # Thrown in and not logged: a capture is a read (an id, a clock),
            # and a failing one has nothing to record.
            return Throw(exc)
        self._book.check_not_inserted(cmd.name, cmd)
        self._book.write(cmd.name, r.K_CAPTURE, r.R_COMPLETED, result=doc)
        return self._typed(doc, cmd.type, what)

    def _on_patched(self, cmd: Patched) -> Handled:
        if cmd.name in self._patches:  # one patch may guard several places
            return Send(self._patches[cmd.name])
        name = PATCH_PREFIX + cmd.name
        answer: bool | None
        if name in self._book.records:
            self._book.lookup(name, r.K_PATCH, cmd)
            answer = None if cmd.deprecated else True
        elif cmd.deprecated:
            answer = None  # accepted where the marker is, required nowhere
        elif self._book.ahead():
            answer = False  # the recorded run went past here under the old code
        else:
            self.seen.add(name)
            self._book.write(name, r.K_PATCH, r.R_COMPLETED, step=cmd.name)
            answer = True
        self._patches[cmd.name] = answer
        return Send(answer)
