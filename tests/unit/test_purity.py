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
    "zart.interpreter_base",
    "zart.interpreter_children",
    "zart.interpreter_waits",
    "zart.logbook",
    "zart.serde",
    "zart.errors",
    "zart.names",
    "zart.records",
    "zart.decisions",
    "zart.context",
    "zart.retry",
    "zart.authoring",
    "zart.tasks",
    "zart.failures",
    "zart.verify",
    "zart.stores.rules",
]

FORBIDDEN = {
    "sqlite3",
    "psycopg",
    "psycopg_pool",
    "threading",
    "_thread",
    "asyncio",
    "socket",
    "selectors",
    "time",
    "concurrent",
    "multiprocessing",
    "subprocess",
    "freezegun",
    "zart.stores.memory",
    "zart.stores.sqlite",
    "zart.stores.postgres",
    "zart.stores.connect",
    "zart.stores.protocol",
    "zart.host",
    "zart.clock",
    "zart.client",
    "zart.loop",
    "zart.worker",
    "zart.async_worker",
    "zart.steps",
    "zart.testing",
    "zart.cli",
}

PACKAGE_DIR = Path(zart.__file__).parent


def module_path(module: str) -> Path:
    """The source file of a zart module (``zart.stores.rules``: stores/rules.py)."""
    parts = module.split(".")[1:]
    package = PACKAGE_DIR.joinpath(*parts, "__init__.py")
    return package if package.exists() else PACKAGE_DIR.joinpath(*parts).with_suffix(".py")


def is_zart_module(name: str) -> bool:
    """Whether ``name`` is a zart module (not a name imported from one)."""
    return name.startswith("zart.") and module_path(name).exists()


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


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` outside ``if TYPE_CHECKING:`` blocks: what
    importing the module runs (the probe below checks it really)."""
    found: list[ast.AST] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        found.append(node)
        if isinstance(node, ast.If) and ast.unparse(node.test) in _TYPE_CHECKING:
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return found


_TYPE_CHECKING = {"TYPE_CHECKING", "typing.TYPE_CHECKING"}


def imported_names(module: str, source: str | None = None) -> set[str]:
    path = module_path(module)
    tree = ast.parse(path.read_text() if source is None else source, filename=str(path))
    found: set[str] = set()
    for node in _runtime_nodes(tree):
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
    assert "threading" in imported_names("zart.stores.memory")
    assert "zart.records" in imported_names("zart.interpreter")
    # Two levels up from a subpackage, by module and by name.
    assert {"zart.records", "zart.errors"} <= imported_names("zart.stores.rules")


def test_the_checker_skips_only_type_checking_blocks() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from .host import Host\n"
        "else:\n"
        "    import threading\n"
        "if DEBUG:\n"
        "    import sqlite3\n"
    )
    found = imported_names("zart.verify", source)
    assert "zart.host" not in found
    assert {"threading", "sqlite3"} <= found


def test_every_core_module_exists() -> None:
    assert [m for m in CORE if not is_zart_module(m)] == []


@pytest.mark.parametrize("module", CORE)
def test_core_module_source_imports_nothing_impure(module: str) -> None:
    bad = sorted(n for n in imported_names(module) if is_forbidden(n))
    assert bad == [], f"{module} imports {bad}"


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_only_core_zart_modules(module: str) -> None:
    ours = {n for n in imported_names(module) if is_zart_module(n)}
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
    # (threading is no sign: attrs loads it, before the baseline is taken.)
    assert {"zart.host", "zart.steps", "asyncio"} <= set(loaded)


def test_import_zart_interpreter_loads_nothing_impure() -> None:
    assert _probe("") == []
