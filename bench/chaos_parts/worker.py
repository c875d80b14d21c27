"""One chaos worker process: ``python -m bench.chaos_parts.worker --db URL
--mode threads|asyncio``. It runs the chaos workload until SIGTERM (or
until SIGKILL, which is the point), logging warnings to stderr."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import zart

from . import app
from .app import registry


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--mode", choices=("threads", "asyncio"), default="threads")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--lease", type=float, default=2.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    app.WORK_SECONDS = 0.05
    config = zart.WorkerConfig(concurrency=args.concurrency, lease=args.lease, poll_interval=0.5)
    try:
        store = zart.connect(args.db)
        if args.mode == "asyncio":
            asyncio.run(zart.AsyncWorker(store, registry, config).run())
        else:
            zart.Worker(store, registry, config).run()
    except zart.StoreError as exc:
        # As `zart worker` does: a worker that never reached its store (it
        # started in an outage) ends with one line; the harness starts another.
        logging.getLogger("zart").error("worker ended: %s", exc)
        sys.exit(1)


if __name__ == "__main__":
    main()
