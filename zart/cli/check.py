"""``zart check``: replay stored executions against the current code and
list every one that would stall, before a deploy makes them stall.

Each execution of the app's tasks is replayed from its log
(``zart.verify.stalls``), which runs nothing and writes nothing. Exit
status 1 when any would stall, 0 otherwise.
"""

from __future__ import annotations

from typing import Any

from ..verify import Stall, stored, would_stall
from . import output
from .inputs import Session


def document(stall: Stall) -> dict[str, Any]:
    rec = stall.record
    return {
        "id": rec.id,
        "name": rec.name,
        "task": rec.task_name,
        "status": rec.status,
        "error": type(stall.error).__name__,
        "reason": str(stall.error),
    }


def check(session: Session) -> int:
    args = session.args
    client = session.client(app=args.app)
    if args.task is not None:
        client.registry.get(args.task)  # raises UnknownTaskError naming the known tasks
    tasks = [args.task] if args.task is not None else client.registry.names()
    checked, stalls = 0, []
    for record in stored(client, tasks):
        checked += 1
        stall = would_stall(client, record)
        if stall is not None:
            stalls.append(stall)
    if args.json:
        output.print_json({"checked": checked, "stalls": [document(s) for s in stalls]})
    else:
        output.print_lines(_report(checked, stalls))
    return 1 if stalls else 0


def _report(checked: int, stalls: list[Stall]) -> list[str]:
    if not stalls:
        return [f"checked {checked} execution(s): none would stall"]
    rows = [
        (s.record.id, output.cut(s.record.name, output.NAME_WIDTH), s.record.status, str(s.error))
        for s in stalls
    ]
    lines = output.table(("ID", "NAME", "STATUS", "REASON"), rows)
    lines.append(f"checked {checked} execution(s): {len(stalls)} would stall")
    return lines
