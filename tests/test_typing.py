"""A user's ``mypy --strict`` passes on decorated workflows: the README's code
and the examples, type-checked as a user's project would be."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_readme import SECTIONS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_readme_code_passes_mypy_strict(tmp_path: Path) -> None:
    code = "\n\n".join(block for blocks in SECTIONS.values() for block in blocks)
    app = tmp_path / "readme_app.py"
    app.write_text(code)
    found = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--follow-imports=silent",
            "--no-incremental",
            str(app),
        ],
        cwd=ROOT,  # zart importable from the checkout, as in a user's venv
        capture_output=True,
        text=True,
        env={"MYPYPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert found.returncode == 0, found.stdout + found.stderr
