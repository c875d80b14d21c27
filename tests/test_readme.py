"""Every Python block of the README runs as pasted.

The blocks run in order in one namespace, in a fresh folder, as a reader
pasting them one after another into one session would; then each
``test_*`` function they define is called, with the ``zart_env`` fixture (a
``zart.testing.TestEnv``) when it asks for one. A block that cannot run here
says why on the line before it: ``<!-- not run: needs a Django project -->``.
"""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path
from typing import Any

from zart.testing import TestEnv

README = Path(__file__).resolve().parent.parent / "README.md"
_FENCE = re.compile(r"^```(\w*)\s*$")
_SKIP = re.compile(r"^<!--\s*not run:\s*(.+?)\s*-->\s*$")


def sections(text: str) -> dict[str, list[str]]:
    """The Python blocks of each section, by heading, in order."""
    found: dict[str, list[str]] = {}
    heading, lang, block, skip = "(top)", None, [], False
    previous = ""
    for line in text.splitlines():
        fence = _FENCE.match(line)
        if lang is None and fence:
            lang, block = fence.group(1), []
            skip = bool(_SKIP.match(previous))
        elif lang is not None and line.strip() == "```":
            if lang == "python" and not skip:
                found.setdefault(heading, []).append("\n".join(block))
            lang = None
        elif lang is not None:
            block.append(line)
        elif line.startswith("## "):
            heading = line[3:].strip()
        if line.strip():
            previous = line.strip()
    return found


SECTIONS = sections(README.read_text(encoding="utf-8"))


def test_the_readme_has_python_to_run() -> None:
    assert sum(len(blocks) for blocks in SECTIONS.values()) >= 3


def test_the_readme_runs_as_pasted(tmp_path: Path) -> None:
    namespace: dict[str, Any] = {"__name__": "readme"}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for heading, blocks in SECTIONS.items():
            for number, block in enumerate(blocks, 1):
                code = compile(block, f"README.md [{heading}] block {number}", "exec")
                exec(code, namespace)
        for name, fn in list(namespace.items()):
            if name.startswith("test_") and callable(fn):
                _call(fn)
    finally:
        os.chdir(cwd)


def _call(fn: Any) -> None:
    wanted = inspect.signature(fn).parameters
    unknown = set(wanted) - {"zart_env"}
    assert not unknown, f"README test {fn.__name__} asks for fixtures {unknown}"
    if "zart_env" in wanted:
        with TestEnv() as env:
            fn(zart_env=env)
    else:
        fn()
