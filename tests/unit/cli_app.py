"""A registry for the command-line tests (``--app tests.unit.cli_app``)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import zart


@zart.step("double")
def double(n: int) -> int:
    return 2 * n


@zart.durable("cli-double")
def doubled(n: int) -> Generator[Any, Any, int]:
    return (yield double(n))


registry = zart.TaskRegistry([doubled])
