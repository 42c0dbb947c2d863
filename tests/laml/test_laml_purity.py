"""wirexa.laml is pure (STYLE §1): stdlib + defusedxml only, and no I/O, clock or randomness."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import wirexa.laml

LAML = Path(wirexa.laml.__file__).parent
ALLOWED_THIRD_PARTY = {"defusedxml"}
ALLOWED_WIREXA = ("wirexa.laml", "wirexa.errors")
# Standard-library modules that mean I/O, concurrency, a clock or randomness.
FORBIDDEN_STDLIB = {
    "asyncio", "concurrent", "datetime", "http", "io", "os", "pathlib", "random", "secrets",
    "selectors", "shutil", "socket", "ssl", "subprocess", "tempfile", "threading", "time",
    "urllib.request", "uuid",
}  # fmt: skip


def imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: stays inside wirexa.laml
                found.append("wirexa.laml." + (node.module or ""))
            else:
                assert node.module is not None
                found.append(node.module)
    return found


def problems(module: str) -> str | None:
    top = module.split(".")[0]
    if module.startswith(ALLOWED_WIREXA):
        return None
    if top == "wirexa":
        return "imports another wirexa package"
    if top in ALLOWED_THIRD_PARTY:
        return None
    if top not in sys.stdlib_module_names:
        return "third-party import"
    if top in FORBIDDEN_STDLIB or module in FORBIDDEN_STDLIB:
        return "I/O, clock, concurrency or randomness"
    return None


def test_laml_imports_only_pure_modules() -> None:
    files = sorted(LAML.glob("*.py"))
    assert {f.name for f in files} >= {"parse.py", "verbs.py", "events.py", "actions.py",
                                       "interpreter.py"}  # fmt: skip
    bad = [
        f"{path.name}: {module} ({reason})"
        for path in files
        for module in imports(path)
        if (reason := problems(module)) is not None
    ]
    assert bad == []


def test_the_checker_catches_offenders() -> None:
    assert problems("asyncio") is not None
    assert problems("urllib.request") is not None
    assert problems("aiohttp") is not None
    assert problems("wirexa.calls.session") is not None
    assert problems("urllib.parse") is None
    assert problems("defusedxml.ElementTree") is None
    assert problems("wirexa.errors") is None
