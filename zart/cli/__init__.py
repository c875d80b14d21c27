"""The ``zart`` command line (also ``python -m zart``).

The database comes from ``--db`` or ``ZART_DATABASE_URL`` (default
``sqlite:///zart.db``). ``--app MODULE[:ATTR]`` names a ``TaskRegistry`` or a
list of handlers (ATTR defaults to ``registry``); the current directory is
importable, as with ``python -m``.

Modules: ``parser`` (subcommands, flags, help), ``inputs`` (the store, the
app, ``--data``), ``commands`` (start, read and act on executions),
``running`` (``worker``, ``serve``), ``check``, ``schedules`` (list, pause,
resume, trigger, delete), ``output`` (JSON, tables, errors). Exit status: 0
done, 2 a user mistake (one line on stderr, never a traceback); ``wait`` and
``check`` add their own.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Sequence

from ..errors import ZartError
from . import output
from .inputs import Session, load_registry
from .parser import build_parser

__all__ = ["build_parser", "load_registry", "main"]

USER_MISTAKE = 2
INTERRUPTED = 130  # as a shell reports a process that SIGINT ended


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    levels = {0: logging.WARNING, 1: logging.INFO}
    logging.basicConfig(
        level=levels.get(args.verbose, logging.DEBUG),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if isinstance(sys.stdout, io.TextIOWrapper):
        # A name the terminal's encoding cannot show is escaped, not an error.
        sys.stdout.reconfigure(errors="backslashreplace")
    session = Session(args)
    try:
        code: int = args.fn(session)
        sys.stdout.flush()  # here, where a reader gone away is caught below
        return code
    except BrokenPipeError:
        # The reader went away (zart list | head): no traceback, and no
        # second error when Python flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return INTERRUPTED
    except RecursionError:
        output.error("a value is nested too deeply to handle")
        return USER_MISTAKE
    except (ZartError, ValueError) as exc:
        output.error(str(exc))
        return USER_MISTAKE
    finally:
        session.close()
