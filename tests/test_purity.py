"""Architecture guards (STYLE §1): pure modules import only the stdlib, and library imports stay
inside the package that owns the library."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent / "wirexa"
PURE = [
    "api/serializers.py", "calls/state.py", "calls/ports.py", "webhooks/signing.py", "webhooks/backoff.py",
    "media/audio.py", "sip/protocol.py",
] + [str(p.relative_to(ROOT)) for p in (ROOT / "laml").glob("*.py")]
ALLOWED_IN_PURE = {"defusedxml", "wirexa"}
OWNERS = {"pjsua2": "sip", "peewee": "store", "playhouse": "store", "aiohttp.web": "api"}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_stdlib_only(module: str) -> None:
    for name in imports(ROOT / module):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top == "__future__":
            continue
        assert top in ALLOWED_IN_PURE, f"{module} imports {name}"
        if top == "wirexa":
            assert not name.startswith(("wirexa.store", "wirexa.sip.", "wirexa.api.app", "wirexa.http")), f"{module} imports {name}"
        assert name not in ("asyncio",), f"{module} imports {name}"


def test_libraries_stay_in_their_packages() -> None:
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        for name in imports(path):
            for lib, owner in OWNERS.items():
                if (name == lib or name.startswith(lib + ".")) and rel.parts[0] != owner:
                    offenders.append(f"{rel} imports {name}")
            if name.startswith("wirexa.cli") and rel.parts[0] != "cli" and str(rel) != "__main__.py":
                offenders.append(f"{rel} imports {name}")
    assert offenders == []


def test_calls_never_imports_sip_or_store_db() -> None:
    for path in (ROOT / "calls").glob("*.py"):
        for name in imports(path):
            assert not name.startswith(("wirexa.sip", "aiohttp", "peewee")), f"{path.name} imports {name}"
