"""The ``zart`` argument parser: every subcommand, its flags and their help.

``--db`` and ``-v`` go before or after the subcommand. A bad flag is one
line on stderr and exit status 2, as every other user mistake is.
"""

from __future__ import annotations

import argparse
import math
from typing import Any, NoReturn

from .. import settings
from ..records import STATUSES
from . import check, commands, running, schedules
from .inputs import DEFAULT_DB


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose mistakes are one line: the usage is a
    ``--help`` away, and a script reading stderr gets the reason alone."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"zart: error: {message} (see: {self.prog} --help)\n")


# -- value types: each names what it wants, argparse names the flag ----------


def positive_int(text: str) -> int:
    return _whole(text, least=1, what="a positive integer")


def count_from_zero(text: str) -> int:
    return _whole(text, least=0, what="a whole number, 0 or more")


def port(text: str) -> int:
    """A TCP port; 0 picks a free one (the command says which)."""
    value = _whole(text, least=0, what="a port number (0-65535)")
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (0-65535), got {text!r}")
    return value


def _whole(text: str, *, least: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if not least <= value <= settings.MOST:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    return _seconds(text, zero=False)


def seconds_or_zero(text: str) -> float:
    return _seconds(text, zero=True)


def _seconds(text: str, zero: bool) -> float:
    """A worker timing: finite, positive (or 0 with ``zero``), at most a day."""
    value = _number(text)
    if not (math.isfinite(value) and (value >= 0 if zero else value > 0)):
        what = "a number of seconds, 0 or more" if zero else "a positive number of seconds"
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    longest = settings.LONGEST_SETTING.total_seconds()
    if value > longest:
        raise argparse.ArgumentTypeError(f"must be at most {longest:g} s (a day), got {text!r}")
    return value


def wait_seconds(text: str) -> float:
    """How long ``wait`` waits: 0 or more seconds, ``inf`` for as long as it takes."""
    value = _number(text)
    if not value >= 0:  # NaN too: it never passes a deadline
        raise argparse.ArgumentTypeError(f"must be a number of seconds, 0 or more, got {text!r}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


# -- the parser ----------------------------------------------------------------


def _common_options(top: bool) -> argparse.ArgumentParser:
    """``--db`` and ``-v``, taken before or after the subcommand. After it,
    they default to SUPPRESS, so that a value given before it is kept."""
    options = argparse.ArgumentParser(add_help=False)
    unset: Any = None if top else argparse.SUPPRESS
    options.add_argument(
        "--db",
        default=unset,
        metavar="URL",
        help=f"database URL (env ZART_DATABASE_URL, default {DEFAULT_DB})",
    )
    options.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if top else argparse.SUPPRESS,
        help="log more: -v adds what the worker did (retries, wake times), -vv debug detail",
    )
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="zart",
        description="durable execution for Python: run workflows, start them, watch them",
        parents=[_common_options(True)],
    )
    common = _common_options(False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_migrate,
        _add_worker,
        _add_schedule,
        _add_reads,
        _add_actions,
        _add_schedules,
        _add_ops,
    ):
        add(sub, common)
    return parser


def _command(sub: Any, common: argparse.ArgumentParser, name: str, text: str) -> Any:
    return sub.add_parser(name, help=text, description=text, parents=[common])


def _json(command: Any, what: str) -> None:
    command.add_argument("--json", action="store_true", help=f"print {what} as one JSON document")


def _app(command: Any, text: str, required: bool = False) -> None:
    command.add_argument("--app", required=required, metavar="MODULE[:ATTR]", help=text)


def _execution_id(command: Any) -> None:
    command.add_argument("id", metavar="ID", help="the execution's id")


def _data(command: Any, what: str) -> None:
    command.add_argument(
        "--data",
        default="null",
        metavar="JSON",
        help=f"{what} as JSON, @FILE for a file's contents, - for stdin (default null)",
    )


def _add_migrate(sub: Any, common: argparse.ArgumentParser) -> None:
    migrate = _command(sub, common, "migrate", "create or upgrade the database schema")
    _json(migrate, "the database migrated")
    migrate.set_defaults(fn=commands.migrate)


def _add_worker(sub: Any, common: argparse.ArgumentParser) -> None:
    worker = _command(sub, common, "worker", "run workflows until stopped (SIGTERM, Ctrl-C)")
    _app(worker, "the module (and its TaskRegistry, default 'registry') to run", required=True)
    worker.add_argument(
        "--concurrency",
        type=positive_int,
        default=4,
        metavar="N",
        help="executions run at once (default 4)",
    )
    for flag, kind, default, text in (
        ("--lease", positive_seconds, 30.0, "seconds a claim holds without a heartbeat"),
        ("--poll-interval", positive_seconds, 1.0, "longest wait between looks for due work"),
        ("--shutdown-timeout", seconds_or_zero, 30.0, "seconds in-flight steps get to finish "
         "after SIGTERM or Ctrl-C"),
    ):  # fmt: skip
        worker.add_argument(
            flag, type=kind, default=default, metavar="S", help=f"{text} (default {default:g})"
        )
    worker.add_argument("--until-idle", action="store_true", help="exit when nothing is due")
    worker.add_argument(
        "--metrics-port",
        type=port,
        metavar="P",
        help="serve Prometheus metrics of this worker on this port of 127.0.0.1 "
        "(0: a free one, printed on stderr)",
    )
    worker.set_defaults(fn=running.worker)


def _add_schedule(sub: Any, common: argparse.ArgumentParser) -> None:
    schedule = _command(sub, common, "schedule", "start an execution; prints its id")
    schedule.add_argument("task", metavar="TASK", help="the task (workflow) name")
    _data(schedule, "the input")
    schedule.add_argument("--id", help="the execution's id (an idempotency key; default random)")
    _app(schedule, "check the task and its input against this app's registry first")
    _json(schedule, "the new execution")
    schedule.set_defaults(fn=commands.schedule)


def _add_reads(sub: Any, common: argparse.ArgumentParser) -> None:
    status = _command(sub, common, "status", "show an execution and its error's traceback")
    _execution_id(status)
    _json(status, "the execution")
    status.set_defaults(fn=commands.status)
    wait = _command(
        sub,
        common,
        "wait",
        "wait for an execution to end (exit 0 completed, 1 failed or "
        "cancelled, 2 timeout, 3 not found)",
    )
    _execution_id(wait)
    wait.add_argument(
        "--timeout", type=wait_seconds, metavar="S", help="give up after S seconds (exit 2)"
    )
    _json(wait, "the execution")
    wait.set_defaults(fn=commands.wait)
    _add_list(sub, common)
    history = _command(sub, common, "history", "show an execution's log, step by step")
    _execution_id(history)
    history.add_argument(
        "--run", type=positive_int, metavar="N", help="an earlier run's log (continue_as_new)"
    )
    _json(history, "the log records")
    history.set_defaults(fn=commands.history)


def _add_list(sub: Any, common: argparse.ArgumentParser) -> None:
    listing = _command(sub, common, "list", "list executions, newest first")
    listing.add_argument(
        "--status",
        choices=STATUSES,
        metavar="STATUS",
        help=f"only executions in this status: {', '.join(STATUSES)}",
    )
    listing.add_argument("--task", help="only executions of this task")
    listing.add_argument("--parent", metavar="ID", help="only the children of this execution")
    listing.add_argument("--search", metavar="PREFIX", help="only ids starting with PREFIX")
    listing.add_argument(
        "--limit", type=positive_int, default=50, metavar="N", help="at most N (default 50)"
    )
    listing.add_argument(
        "--offset", type=count_from_zero, default=0, metavar="N", help="skip the first N"
    )
    _json(listing, "the executions")
    listing.set_defaults(fn=commands.listing)


def _add_actions(sub: Any, common: argparse.ArgumentParser) -> None:
    event = _command(sub, common, "event", "deliver an event to an execution")
    _execution_id(event)
    event.add_argument("name", metavar="NAME", help="the event's name")
    _data(event, "the payload")
    _json(event, "whether it was delivered")
    event.set_defaults(fn=commands.event)
    send = _command(sub, common, "send", "send a message to an execution on a topic")
    _execution_id(send)
    send.add_argument("topic", metavar="TOPIC", help="the topic zart.receive takes it from")
    _data(send, "the message")
    send.add_argument(
        "--key",
        metavar="KEY",
        help="an idempotency key: a send tried again with the same key stores nothing new",
    )
    _json(send, "the message's id")
    send.set_defaults(fn=commands.send)
    cancel = _command(sub, common, "cancel", "cancel an execution and its unfinished children")
    _execution_id(cancel)
    _app(cancel, "start the failure handler this app's workflow runs on cancel (on_cancel=True)")
    _json(cancel, "whether it was cancelled")
    cancel.set_defaults(fn=commands.cancel)
    retry = _command(sub, common, "retry", "run a failed, cancelled or stalled execution again")
    _execution_id(retry)
    _json(retry, "the execution")
    retry.set_defaults(fn=commands.retry)
    fork = _command(
        sub,
        common,
        "fork",
        "start a new execution that replays this one's log up to a step and runs "
        "that step and the rest anew",
    )
    _execution_id(fork)
    fork.add_argument(
        "--from-step", required=True, metavar="NAME", help="the first record to run anew"
    )
    fork.add_argument("--id", dest="new_id", help="the new execution's id (default: a fresh one)")
    _json(fork, "the new execution")
    fork.set_defaults(fn=commands.fork)


_SCHEDULE_ACTIONS = (
    ("pause", "stop firing it until resumed", "the schedule", schedules.pause),
    ("resume", "fire it again, from its next tick after now", "the schedule", schedules.resume),
    ("trigger", "start a tick now, paused or not; prints the execution's id", "the new "
     "execution", schedules.trigger),
    ("delete", "delete it (the executions it started stay)", "what was deleted",
     schedules.delete),
)  # fmt: skip


def _add_schedules(sub: Any, common: argparse.ArgumentParser) -> None:
    """``schedules`` alone lists them, as ``schedules list`` does. ``--json``
    goes before or after the action: the action's defaults to SUPPRESS so
    that one given before it is kept."""
    group = _command(
        sub, common, "schedules", "list recurring schedules (they are created in code)"
    )
    _json(group, "the schedules")
    group.set_defaults(fn=schedules.listing)
    actions = group.add_subparsers(dest="action", metavar="ACTION")
    listing = _command(actions, common, "list", "list the schedules (the default)")
    listing.set_defaults(fn=schedules.listing)
    _late_json(listing, "the schedules")
    for name, text, what, fn in _SCHEDULE_ACTIONS:
        action = _command(actions, common, name, text)
        action.add_argument("id", metavar="ID", help="the schedule's id")
        _late_json(action, what)
        action.set_defaults(fn=fn)


def _late_json(command: Any, what: str) -> None:
    command.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help=f"print {what} as one JSON document",
    )


def _add_ops(sub: Any, common: argparse.ArgumentParser) -> None:
    workers = _command(sub, common, "workers", "list the live workers")
    workers.add_argument("--all", action="store_true", help="include dead workers still recorded")
    _json(workers, "the workers")
    workers.set_defaults(fn=commands.workers)
    checking = _command(
        sub,
        common,
        "check",
        "replay stored executions against the current code; list those "
        "that would stall (exit 1 if any)",
    )
    _app(checking, "the module (and its TaskRegistry) with the current code", required=True)
    checking.add_argument("--task", help="only executions of this task")
    _json(checking, "the executions that would stall")
    checking.set_defaults(fn=check.check)
    serve = _command(sub, common, "serve", "serve the HTTP API and the dashboard")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; any other needs ZART_API_TOKEN)",
    )
    serve.add_argument(
        "--port", type=port, default=8000, help="port to bind (default 8000; 0: a free one)"
    )
    _app(serve, "check task names and inputs of new executions against this app's registry")
    serve.add_argument(
        "--read-only", action="store_true", help="refuse (and hide) every action: only reads"
    )
    serve.set_defaults(fn=running.serve)
