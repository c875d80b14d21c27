"""Values as the MySQL store keeps and reads them: times (naive UTC in
DATETIME(6) columns) and logs from the rows of the load statements."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ... import records as r
from ...records import Log, StepRecord
from .. import rows


def naive(when: datetime | None) -> datetime | None:
    """A time as the store keeps it: naive UTC (DATETIME(6) has no zone)."""
    return None if when is None else when.astimezone(UTC).replace(tzinfo=None)


def aware(when: Any) -> datetime | None:
    return None if when is None else when.replace(tzinfo=UTC)


def logs(
    heads: Sequence[tuple[str, int]],
    records: Sequence[Sequence[Any]],
    events: Sequence[Sequence[Any]],
    messages: Sequence[Sequence[Any]],
) -> dict[str, Log]:
    """The logs of (id, last seq) from the rows of the load statements."""
    found: dict[str, dict[str, StepRecord]] = {eid: {} for eid, _ in heads}
    for row in records:
        found[row[0]][row[1]] = rows.record(row[1:], aware)
    offered: dict[str, dict[str, Any]] = {eid: {} for eid, _ in heads}
    for eid, name, payload in events:
        offered[eid][name] = rows.load(payload)
    queues: dict[str, dict[str, builtins.list[r.Message]]] = {eid: {} for eid, _ in heads}
    for eid, mid, topic, payload in messages:
        message = r.Message(id=mid, topic=topic, payload=rows.load(payload))
        queues[eid].setdefault(topic, []).append(message)
    return {
        eid: Log(
            records=found[eid],
            events=offered[eid],
            messages={t: tuple(q) for t, q in queues[eid].items()},
            last_seq=max(seq, *(x.seq for x in found[eid].values()), 0),
        )
        for eid, seq in heads
    }
