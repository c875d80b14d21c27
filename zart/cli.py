"""The ``zart`` command line: ``migrate``, ``worker`` and client commands.

The database comes from ``--db`` or ``ZART_DATABASE_URL`` (default
``sqlite:///zart.db``). ``--app MODULE[:ATTR]`` names a ``TaskRegistry`` or a
list of handlers (ATTR defaults to ``registry``); the current directory is
importable, as with ``python -m``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import os
import signal
import sys
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import attrs

from . import settings
from .client import Client
from .errors import ZartError
from .loop import WorkerConfig
from .names import check_name
from .records import NewExecution
from .serde import to_json
from .stores.connect import connect, redact
from .stores.protocol import Store
from .tasks import TaskHandler, TaskRegistry
from .worker import Worker

log = logging.getLogger("zart")

DEFAULT_DB = "sqlite:///zart.db"


def load_registry(spec: str | None) -> TaskRegistry:
    """The registry named by ``MODULE[:ATTR]`` (empty registry for None)."""
    if not spec:
        return TaskRegistry()
    module_name, _, attr = spec.partition(":")
    if not module_name or module_name.startswith("."):
        raise ZartError(f"--app {spec!r}: name a module by its absolute name (MODULE[:ATTR])")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ZartError(f"--app {spec!r}: cannot import {module_name!r}: {exc}") from None
    name = attr or "registry"
    if not hasattr(module, name):
        raise ZartError(
            f"--app {spec!r}: module {module_name!r} has no attribute {name!r}"
            + ("" if attr else " (name the registry: --app MODULE:ATTR)")
        )
    value = getattr(module, name)
    if isinstance(value, TaskRegistry):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(h, TaskHandler) for h in value):
        return TaskRegistry(value)
    raise ZartError(
        f"--app {spec!r}: {module_name}.{attr or 'registry'} must be a TaskRegistry "
        f"or a list of task handlers, got {type(value).__name__}"
    )


def _json_arg(text: str, flag: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ZartError(f"{flag} is not valid JSON: {exc}") from None
    # Held to the rules of every stored document (no NUL, no surrogate, no
    # NaN), also when `schedule` without --app hands it to the store directly.
    return to_json(value, flag)


def _dump(value: Any) -> str:
    plain = attrs.asdict(value) if attrs.has(type(value)) else value
    return json.dumps(plain, default=str, indent=2)


def _store(args: argparse.Namespace, *, creates: bool = False) -> Store:
    """The store of ``--db``. On SQLite, commands that run or start work
    (``creates``) make a new file and migrate it, as ``zart.connect`` does;
    the others refuse a path with no database and create nothing."""
    url = args.db or os.environ.get("ZART_DATABASE_URL") or DEFAULT_DB
    if creates or not url.startswith("sqlite:"):
        return connect(url)
    return connect(url, migrate=False, create=False)


def cmd_migrate(args: argparse.Namespace) -> int:
    store = _store(args, creates=True)
    store.migrate()
    print(f"migrated {redact(store.url)}")
    store.close()
    return 0


class _StoppedStarting(BaseException):
    """SIGTERM while the worker starts. A BaseException: app code importing
    under ``except Exception`` must not swallow it."""


def _stop_starting(signum: int, frame: object) -> None:
    raise _StoppedStarting(signum)


def cmd_worker(args: argparse.Namespace) -> int:
    # SIGTERM before run() installs the worker's own handlers (while the app
    # is imported and the store opened, seconds on a loaded machine) would
    # end the process as SIGTERM's default does, exit -15: to a supervisor, a
    # crash. Nothing is claimed yet, so stopping is simply not starting: exit 0.
    # (Signals reach the main thread only; anywhere else, run() ignores them too.)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop_starting) if main else None
    try:
        store, worker = _start_worker(args)
    except _StoppedStarting:
        log.info("SIGTERM while starting: stopped before any claim")
        return 0
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
    try:
        if args.until_idle:
            worker.run_until_idle()
        else:
            worker.run()
    finally:
        store.close()
    if worker.abandoned:
        # Past the shutdown timeout their leases were given back; Python
        # would wait for their threads at exit however long they take.
        log.warning("exiting with %d run(s) going on past the shutdown timeout", worker.abandoned)
        logging.shutdown()
        os._exit(0)
    return 0


def _start_worker(args: argparse.Namespace) -> tuple[Store, Worker]:
    registry = load_registry(args.app)
    if not len(registry):
        raise ZartError("zart worker needs --app MODULE[:ATTR] naming the workflows it runs")
    # Before the store: a bad setting touches no database file.
    config = WorkerConfig(
        concurrency=args.concurrency,
        lease=args.lease,
        poll_interval=args.poll_interval,
        shutdown_timeout=args.shutdown_timeout,
    )
    store = _store(args, creates=True)
    try:
        worker = Worker(store, registry, config)
        names = ", ".join(registry.names())
        log.info("worker %s on %s: %s", worker.worker_id, redact(store.url), names)
    except BaseException:
        store.close()
        raise
    return store, worker


def cmd_schedule(args: argparse.Namespace) -> int:
    client = Client(_store(args, creates=True), load_registry(args.app))
    task: str = args.task
    if args.app and task not in client.registry:
        client.registry.get(task)  # raises UnknownTaskError naming the known tasks
    data = _json_arg(args.data, "--data")
    if task in client.registry:
        eid = client.schedule(task, data, execution_id=args.id)
    else:  # no --app: store the raw JSON for whichever worker knows the task
        # Held to the client's rules for names and ids: a NUL or a surrogate
        # (an argv byte that is not UTF-8 arrives as one) is refused here.
        check_name("task name", task)
        if args.id is not None:
            check_name("execution_id", args.id)
        eid = args.id or uuid.uuid4().hex
        client.store.create(NewExecution(id=eid, task_name=task, input=data))
    print(eid)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    print(_dump(Client(_store(args)).get(args.id)))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    rows = Client(_store(args)).list(status=args.status, task=args.task, limit=args.limit)
    for rec in rows:
        print(f"{rec.id}\t{rec.task_name}\t{rec.status}\t{rec.updated_at.isoformat()}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    for step in Client(_store(args)).history(args.id):
        print(_dump(step))
    return 0


def cmd_event(args: argparse.Namespace) -> int:
    fresh = Client(_store(args)).offer_event(args.id, args.name, _json_arg(args.data, "--data"))
    print("delivered" if fresh else "ignored (an event of that name was offered before)")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    done = Client(_store(args)).cancel(args.id)
    print("cancelled" if done else "already finished")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    return _seconds(text, zero=False)


def _seconds_or_zero(text: str) -> float:
    return _seconds(text, zero=True)


def _seconds(text: str, zero: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and (value >= 0 if zero else value > 0)):
        what = "a number of seconds, 0 or more" if zero else "a positive number of seconds"
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    longest = settings.LONGEST_SETTING.total_seconds()
    if value > longest:
        raise argparse.ArgumentTypeError(f"must be at most {longest:g} s (a day), got {text!r}")
    return value


def _common_options(top: bool) -> argparse.ArgumentParser:
    """``--db`` and ``-v``, taken before or after the subcommand. After it,
    they default to SUPPRESS, so that a value given before it is kept."""
    options = argparse.ArgumentParser(add_help=False)
    unset: Any = None if top else argparse.SUPPRESS
    options.add_argument(
        "--db",
        default=unset,
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
    parser = argparse.ArgumentParser(
        prog="zart", description="durable execution for Python", parents=[_common_options(True)]
    )
    common = _common_options(False)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create or upgrade the schema", parents=[common]).set_defaults(
        fn=cmd_migrate
    )
    _add_worker(sub, common)
    _add_client_commands(sub, common)
    return parser


def _add_worker(sub: Any, common: argparse.ArgumentParser) -> None:
    worker = sub.add_parser("worker", help="run workflows", parents=[common])
    worker.add_argument("--app", required=True, help="MODULE[:ATTR] with the task registry")
    worker.add_argument("--concurrency", type=_positive_int, default=4)
    worker.add_argument("--lease", type=_positive_seconds, default=30.0, help="lease seconds")
    worker.add_argument("--poll-interval", type=_positive_seconds, default=1.0)
    worker.add_argument(
        "--shutdown-timeout",
        type=_seconds_or_zero,
        default=30.0,
        help="seconds in-flight steps get to finish after SIGTERM/SIGINT",
    )
    worker.add_argument("--until-idle", action="store_true", help="exit when nothing is due")
    worker.set_defaults(fn=cmd_worker)


def _add_client_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    schedule = sub.add_parser("schedule", help="start an execution", parents=[common])
    schedule.add_argument("task")
    schedule.add_argument("--data", default="null", help="input as JSON")
    schedule.add_argument("--id", help="execution id (idempotency key)")
    schedule.add_argument("--app", help="MODULE[:ATTR]: validate the task and its input")
    schedule.set_defaults(fn=cmd_schedule)
    for name, fn, text in (
        ("status", cmd_status, "show an execution"),
        ("history", cmd_history, "show an execution's log"),
        ("cancel", cmd_cancel, "cancel an execution and its children"),
    ):
        p = sub.add_parser(name, help=text, parents=[common])
        p.add_argument("id")
        p.set_defaults(fn=fn)
    listing = sub.add_parser("list", help="list executions", parents=[common])
    listing.add_argument("--status")
    listing.add_argument("--task")
    listing.add_argument("--limit", type=_positive_int, default=50)
    listing.set_defaults(fn=cmd_list)
    event = sub.add_parser("event", help="offer an event to an execution", parents=[common])
    event.add_argument("id")
    event.add_argument("name")
    event.add_argument("--data", default="null", help="payload as JSON")
    event.set_defaults(fn=cmd_event)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    levels = {0: logging.WARNING, 1: logging.INFO}
    logging.basicConfig(
        level=levels.get(args.verbose, logging.DEBUG),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code: int = args.fn(args)
        sys.stdout.flush()  # here, where a reader gone away is caught below
        return code
    except (ZartError, ValueError) as exc:
        print(f"zart: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (zart list | head): no traceback, and no
        # second error when Python flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
