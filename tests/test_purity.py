"""Architecture guards (STYLE §1), by walking the AST of every module: pure modules import only
the stdlib (plus defusedxml, wirexa.errors, their own package and other pure modules) and no
I/O or clock modules; libraries stay inside the package that owns them; imports follow the
dependency direction (nothing imports cli; calls never imports sip, store.db or aiohttp)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent / "wirexa"

# Pure by STYLE §1 (each if present: some packages are still being written).
PURE_CANDIDATES = [
    "api/serializers.py", "calls/state.py", "calls/ports.py", "webhooks/signing.py", "webhooks/backoff.py",
    "media/audio.py", "media/amd.py", "sip/protocol.py", "timefmt.py",
]
PURE = [m for m in PURE_CANDIDATES if (ROOT / m).exists()] + sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "laml").glob("*.py")
)
PURE_MODULES = {"wirexa." + m.removesuffix(".py").replace("/", ".").removesuffix(".__init__") for m in PURE}
# stdlib modules a pure module must not use: no event loop, threads, processes, network, files or clock.
IMPURE_STDLIB = {
    "asyncio", "threading", "multiprocessing", "concurrent", "subprocess", "socket", "selectors", "ssl", "http",
    "urllib.request", "os", "shutil", "tempfile", "sqlite3", "time", "random", "signal",
}
OWNERS = {"pjsua2": "sip", "peewee": "store", "playhouse": "store", "aiohttp.web": "api"}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of_source(source: str, module: str, is_package: bool = False, runtime_only: bool = True) -> set[str]:
    """Absolute names a module imports: `import a.b` -> a.b; `from a import b` -> a and a.b;
    relative imports resolved against `module`. With runtime_only, `if TYPE_CHECKING:` blocks
    are skipped (annotations only, nothing imported when the program runs)."""
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and runtime_only and _is_type_checking(node):
                visit(node.orelse)
                continue
            for child in ast.walk(node) if not isinstance(node, ast.If) else [node]:
                if isinstance(child, ast.Import):
                    names.update(a.name for a in child.names)
                elif isinstance(child, ast.ImportFrom):
                    base = child.module or ""
                    if child.level:
                        anchor = package.split(".")
                        anchor = anchor[: len(anchor) - (child.level - 1)]
                        base = ".".join(anchor + ([base] if base else []))
                    names.add(base)
                    names.update(f"{base}.{a.name}" for a in child.names)
            if isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)

    visit(ast.parse(source).body)
    return names


def imports(path: Path, runtime_only: bool = True) -> set[str]:
    return imports_of_source(path.read_text(), module_name(path), path.name == "__init__.py", runtime_only)


def test_the_import_walker() -> None:
    src = """
from __future__ import annotations
import os.path
from aiohttp import web
from . import verbs
from ..errors import WirexaError
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from wirexa.store.db import Store
else:
    import json
def f():
    import asyncio
if True:
    import time
"""
    found = imports_of_source(src, "wirexa.laml.parse")
    assert {"os.path", "aiohttp", "aiohttp.web", "wirexa.laml", "wirexa.laml.verbs", "wirexa.errors.WirexaError", "json", "asyncio", "time"} <= found
    assert "wirexa.store.db" not in found
    assert "wirexa.store.db" in imports_of_source(src, "wirexa.laml.parse", runtime_only=False)


def pure_violations(module: str, names: set[str]) -> list[str]:
    own = "wirexa." + module.split("/")[0]
    bad = []
    for name in names:
        top = name.split(".")[0]
        if top == "__future__":
            continue
        if top in sys.stdlib_module_names:
            if any(name == m or name.startswith(m + ".") for m in IMPURE_STDLIB):
                bad.append(name)
            continue
        if top == "defusedxml":
            continue
        if top == "wirexa":
            allowed = (
                name.startswith(("wirexa.errors", own + ".")) or name == own
                or any(name == m or name.startswith(m + ".") for m in PURE_MODULES)
            )
            if not allowed:
                bad.append(name)
            continue
        bad.append(name)
    return sorted(bad)


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_stdlib_only(module: str) -> None:
    assert pure_violations(module, imports(ROOT / module, runtime_only=False)) == []


def test_the_purity_rule_catches_violations() -> None:
    names = {"asyncio", "time", "aiohttp.web", "wirexa.store.repo", "wirexa.sip.pool", "json", "wirexa.errors", "wirexa.laml.verbs", "defusedxml"}
    assert pure_violations("laml/parse.py", names) == ["aiohttp.web", "asyncio", "time", "wirexa.sip.pool", "wirexa.store.repo"]
    assert "api/serializers.py" in PURE and any(m.startswith("laml/") for m in PURE)


def all_modules() -> list[tuple[Path, Path]]:
    return [(p, p.relative_to(ROOT)) for p in sorted(ROOT.rglob("*.py"))]


def test_libraries_stay_in_their_packages() -> None:
    offenders = []
    for path, rel in all_modules():
        for name in imports(path, runtime_only=False):
            for lib, owner in OWNERS.items():
                if (name == lib or name.startswith(lib + ".")) and rel.parts[0] != owner:
                    offenders.append(f"{rel} imports {name}")
    assert offenders == []


def test_nothing_imports_the_cli_or_the_runtime() -> None:
    offenders = []
    for path, rel in all_modules():
        for name in imports(path, runtime_only=False):
            if name.startswith("wirexa.cli") and rel.parts[0] != "cli" and str(rel) != "__main__.py":
                offenders.append(f"{rel} imports {name}")
            if name.startswith("wirexa.runtime") and rel.parts[0] != "cli" and str(rel) != "runtime.py":
                offenders.append(f"{rel} imports {name}")
    assert offenders == []


def test_calls_never_imports_sip_store_db_or_aiohttp() -> None:
    for path in sorted((ROOT / "calls").glob("*.py")):
        for name in imports(path):
            assert not name.startswith(("wirexa.sip", "wirexa.store.db", "wirexa.api", "aiohttp", "peewee", "pjsua2")), f"{path.name} imports {name}"


def test_sip_reaches_calls_only_through_ports() -> None:
    for path in sorted((ROOT / "sip").rglob("*.py")):
        for name in imports(path):
            if name.startswith("wirexa.calls"):
                assert name.startswith("wirexa.calls.ports"), f"{path.name} imports {name}"
            assert not name.startswith(("wirexa.api", "wirexa.store", "wirexa.webhooks")), f"{path.name} imports {name}"


def test_store_and_pure_layers_import_no_upper_layer() -> None:
    for pkg in ("store", "laml", "media"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for name in imports(path):
                assert not name.startswith(("wirexa.api", "wirexa.calls", "wirexa.sip", "wirexa.webhooks", "wirexa.http")), f"{pkg}/{path.name} imports {name}"


def test_webhooks_reach_only_the_store_repo() -> None:
    for path in sorted((ROOT / "webhooks").glob("*.py")):
        for name in imports(path):
            assert not name.startswith(("wirexa.api", "wirexa.calls", "wirexa.sip")), f"{path.name} imports {name}"
