"""The sans-I/O core imports no store, thread, event loop or clock."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import zart

CORE = [
    "zart.commands",
    "zart.interpreter",
    "zart.decisions",
    "zart.serde",
    "zart.errors",
    "zart.failures",
    "zart.retry",
    "zart.tasks",
    "zart.authoring",
    "zart.context",
    "zart.records",
]

FORBIDDEN = {
    "sqlite3",
    "psycopg",
    "psycopg_pool",
    "threading",
    "_thread",
    "asyncio",
    "socket",
    "time",
    "concurrent",
    "zart.memory",
    "zart.sqlite",
    "zart.postgres",
    "zart.host",
    "zart.clock",
    "zart.client",
    "zart.worker",
    "zart.async_worker",
    "zart.steps",
    "zart.testing",
    "zart.connect",
}

PACKAGE_DIR = Path(zart.__file__).parent


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    if node.level:
        base = module.split(".")[: -node.level]
        prefix = ".".join(base)
        target = f"{prefix}.{node.module}" if node.module else prefix
    else:
        target = node.module or ""
    names = [target]
    # `from . import records` imports zart.records.
    names += [f"{target}.{alias.name}" for alias in node.names]
    return names


def imported_names(module: str) -> set[str]:
    path = PACKAGE_DIR / (module.split(".", 1)[1] + ".py")
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.update(_resolve(module, node))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
        ):
            found.add("<dynamic __import__>")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
        ):
            found.add("<dynamic import_module>")
    return found


def is_forbidden(name: str) -> bool:
    return any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN) or name.startswith(
        "<dynamic"
    )


def test_the_checker_sees_imports() -> None:
    # Guard against a checker that finds nothing: the host does import the clock,
    # the memory store does import threading.
    assert any(is_forbidden(n) for n in imported_names("zart.host"))
    assert "threading" in imported_names("zart.memory")
    assert "zart.records" in imported_names("zart.interpreter")


@pytest.mark.parametrize("module", CORE)
def test_core_module_source_imports_nothing_impure(module: str) -> None:
    bad = sorted(n for n in imported_names(module) if is_forbidden(n))
    assert bad == [], f"{module} imports {bad}"


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_only_core_zart_modules(module: str) -> None:
    ours = {n for n in imported_names(module) if n.startswith("zart.") and n.count(".") == 1}
    assert ours <= set(CORE), f"{module} imports {sorted(ours - set(CORE))}"


_PROBE = """
import sys, types, pathlib
import attrs, cattrs, json, typing, datetime, decimal, uuid, traceback, contextvars
baseline = set(sys.modules)
{prelude}
import {modules}
new = set(sys.modules) - baseline
print(sorted(m for m in new if m.split(".")[0] in {roots!r} or m in {forbidden!r}))
"""

# Skip zart/__init__.py: make `zart` a bare namespace so only the core modules
# and what they import themselves get loaded.
_BARE_PACKAGE = """
pkg = types.ModuleType("zart")
pkg.__path__ = [{path!r}]
sys.modules["zart"] = pkg
"""


def _probe(prelude: str) -> list[str]:
    roots = sorted({m.split(".")[0] for m in FORBIDDEN if not m.startswith("zart")})
    code = _PROBE.format(
        prelude=prelude,
        modules=", ".join(CORE),
        roots=set(roots),
        forbidden=FORBIDDEN,
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return ast.literal_eval(out.stdout.strip())


def test_importing_the_core_loads_no_store_thread_loop_or_clock() -> None:
    loaded = _probe(_BARE_PACKAGE.format(path=str(PACKAGE_DIR)))
    assert loaded == []


def test_the_probe_would_notice_an_impure_import() -> None:
    loaded = _probe(_BARE_PACKAGE.format(path=str(PACKAGE_DIR)) + "\nimport zart.host")
    assert "zart.host" in loaded and "zart.clock" in loaded


def test_import_zart_interpreter_loads_nothing_impure() -> None:
    assert _probe("") == []
