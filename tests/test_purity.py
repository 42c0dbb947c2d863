"""The one architecture guard (docs/ARCHITECTURE.md), by walking the AST of every module.

- PURE modules import only the standard library (no event loop, threads, processes, network,
  files, clock or randomness: neither the modules nor datetime.now()), defusedxml, and other
  pure modules. Any module may import a pure one: they are leaves.
- Each package imports other wirexa packages only along ARROWS (run-time imports; annotations
  under TYPE_CHECKING are free), besides `errors` and `config`, which everyone may use.
- Libraries stay in the package that owns them (OWNERS); nothing imports cli or runtime."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent / "wirexa"

PURE = sorted(
    [
        "api/serializers.py",
        "api/parameters.py",
        "calls/state.py",
        "calls/ports.py",
        "calls/records.py",
        "calls/statuses.py",
        "calls/params.py",
        "calls/sipuri.py",
        "calls/permissions.py",
        "webhooks/signing.py",
        "webhooks/backoff.py",
        "console/timeline.py",
        "console/waveform.py",
        "console/charts.py",
        "console/filters.py",
        "media/audio.py",
        "media/amd.py",
        "media/quality.py",
        "media/speaker.py",
        "media/stt/base.py",
        "media/stt/endpoint.py",
        "sip/protocol.py",
        "sip/front.py",
        "sip/mediagraph.py",
        "cluster/kamailio.py",
        "timefmt.py",
        "tokenbucket.py",
        "notices.py",
        "cluster/forward.py",
    ]
    + [str(p.relative_to(ROOT)) for p in (ROOT / "laml").glob("*.py")]
)
PURE_MODULES = {"wirexa." + m.removesuffix(".py").replace("/", ".").removesuffix(".__init__") for m in PURE}
# stdlib modules a pure module must not use: no event loop, threads, processes, network, files,
# clock or randomness.
IMPURE_STDLIB = {
    "asyncio",
    "threading",
    "multiprocessing",
    "concurrent",
    "subprocess",
    "socket",
    "selectors",
    "ssl",
    "http",
    "urllib.request",
    "os",
    "shutil",
    "tempfile",
    "sqlite3",
    "time",
    "random",
    "signal",
    "uuid",
    "secrets",
}
# Calls that read the clock even though their module is pure to import.
CLOCK_CALLS = {"now", "utcnow", "today", "fromtimestamp", "utcfromtimestamp"}
# package (first path part, or the top-level module) -> the wirexa modules it may import.
EVERYONE = ("wirexa.errors", "wirexa.config")
ARROWS: dict[str, tuple[str, ...]] = {
    "cli": ("wirexa",),
    "__main__.py": ("wirexa.cli",),
    "runtime.py": ("wirexa",),
    "api": (
        "wirexa.calls.service",
        "wirexa.calls.ports",
        "wirexa.calls.queues",  # the live queues' members (the Queues and Members resources)
        "wirexa.calls.conference",  # the live rooms (the Conferences and Participants resources)
        "wirexa.store.repo",
        "wirexa.webhooks",
        "wirexa.media.recording",
        "wirexa.media.storage",
        "wirexa.console",
        "wirexa.cluster.membership",  # node_id_of: this engine's node id (api/forward.py)
    ),
    # The web console: pages over the API's services and validators, and the store's repo.
    "console": (
        "wirexa.api",
        "wirexa.calls.service",
        "wirexa.store.repo",
        "wirexa.webhooks",
        "wirexa.clock",
        "wirexa.urls",
    ),
    "calls": ("wirexa.laml",),
    # Several engines on one database: the nodes table (membership), the forwarding decision (pure).
    "cluster": ("wirexa.store",),
    "sip": ("wirexa.calls.ports", "wirexa.media.amd_vad", "wirexa.media.streams"),
    "store": ("wirexa.calls.ports", "wirexa.calls.records", "wirexa.calls.state", "wirexa.clock", "wirexa.janitor"),
    "webhooks": ("wirexa.store.repo", "wirexa.clock", "wirexa.urls"),
    "http": ("wirexa.urls",),
    "media": ("wirexa.clock", "wirexa.janitor"),
    "laml": (),
    "clock.py": (),
    "janitor.py": ("wirexa.clock",),
    "config.py": (),
    "errors.py": (),
    "__init__.py": (),
    "timefmt.py": (),
    "tokenbucket.py": (),
    "notices.py": (),
    "urls.py": (),
}
OWNERS = {"pjsua2": "sip", "peewee": "store", "playhouse": "store", "aiohttp.web": ("api", "console")}


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
    assert {
        "os.path",
        "aiohttp",
        "aiohttp.web",
        "wirexa.laml",
        "wirexa.laml.verbs",
        "wirexa.errors.WirexaError",
        "json",
        "asyncio",
        "time",
    } <= found
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
                name.startswith(("wirexa.errors", own + "."))
                or name == own
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
    names = {
        "asyncio",
        "time",
        "aiohttp.web",
        "wirexa.store.repo",
        "wirexa.sip.pool",
        "json",
        "wirexa.errors",
        "wirexa.laml.verbs",
        "defusedxml",
    }
    assert pure_violations("laml/parse.py", names) == [
        "aiohttp.web",
        "asyncio",
        "time",
        "wirexa.sip.pool",
        "wirexa.store.repo",
    ]
    assert "api/serializers.py" in PURE and any(m.startswith("laml/") for m in PURE)


def all_modules() -> list[tuple[Path, Path]]:
    return [(p, p.relative_to(ROOT)) for p in sorted(ROOT.rglob("*.py"))]


def test_libraries_stay_in_their_packages() -> None:
    offenders = []
    for path, rel in all_modules():
        for name in imports(path, runtime_only=False):
            for lib, owner in OWNERS.items():
                owners = owner if isinstance(owner, tuple) else (owner,)
                if (name == lib or name.startswith(lib + ".")) and rel.parts[0] not in owners:
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


def arrow_violations(rel: Path, names: set[str]) -> list[str]:
    """The run-time wirexa imports of module `rel` that ARROWS does not allow."""
    package = rel.parts[0]
    allowed = ARROWS[package]
    own = "wirexa." + package.removesuffix(".py")
    bad = []
    for name in names:
        if not name.startswith("wirexa.") or name.startswith(EVERYONE) or name == own or name.startswith(own + "."):
            continue
        if any(name == m or name.startswith(m + ".") for m in PURE_MODULES):
            continue
        if any(m.startswith(name + ".") for m in (*allowed, *PURE_MODULES)):
            continue  # the package part of `from wirexa.x import y` (y is checked on its own)
        if name in ("wirexa",) or any(name == m or name.startswith(m + ".") for m in allowed):
            continue
        if any(m == "wirexa" for m in allowed):
            continue
        bad.append(name)
    return sorted(bad)


def test_every_package_has_arrows() -> None:
    assert sorted({rel.parts[0] for _, rel in all_modules()} - set(ARROWS)) == []


def test_imports_follow_the_arrows() -> None:
    offenders = [
        f"{rel} imports {name}" for path, rel in all_modules() for name in arrow_violations(rel, imports(path))
    ]
    assert offenders == []


def test_the_arrow_rule_catches_violations() -> None:
    assert arrow_violations(
        Path("calls/session.py"), {"wirexa.store.repo", "wirexa.sip.pool", "wirexa.laml.parse"}
    ) == ["wirexa.sip.pool", "wirexa.store.repo"]
    assert arrow_violations(Path("calls/session.py"), {"wirexa.media.recording", "wirexa.media.audio"}) == [
        "wirexa.media.recording"
    ]
    assert arrow_violations(
        Path("webhooks/outbox.py"), {"wirexa.store.repo", "wirexa.calls.params", "wirexa.calls.session"}
    ) == ["wirexa.calls.session"]
    assert arrow_violations(Path("sip/pool.py"), {"wirexa.calls.ports", "wirexa.store.db"}) == ["wirexa.store.db"]
    assert arrow_violations(Path("cli/calls.py"), {"wirexa.store.db", "wirexa.runtime"}) == []


def clock_reads(path: Path) -> list[str]:
    """Calls such as datetime.now() or dt.datetime.utcnow() in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CLOCK_CALLS:
            found.append(f"{path.name}:{node.lineno} .{node.func.attr}()")
    return found


def test_pure_modules_read_no_clock() -> None:
    assert [hit for m in PURE for hit in clock_reads(ROOT / m)] == []


def test_the_clock_rule_catches_violations(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("import datetime as dt\nx = dt.datetime.now(dt.UTC)\ny = dt.date.today()\n")
    assert clock_reads(src) == ["m.py:2 .now()", "m.py:3 .today()"]


def code_literals(path: Path) -> list[str]:
    """Number literals in a module's code (not its text) in the ranges of Twilio's call-flow
    notification codes (11100-13999 and 16100-16199; 14400 s, the default TimeLimit, and SIP
    port numbers fall outside them)."""
    import io
    import tokenize

    found = []
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if (
            tok.type == tokenize.NUMBER
            and tok.string.isdigit()
            and (11100 <= int(tok.string) <= 13999 or 16100 <= int(tok.string) <= 16199)
        ):
            found.append(f"{path.relative_to(ROOT)}:{tok.start[0]} {tok.string}")
    return found


def test_notification_codes_have_one_home() -> None:
    """Every notification code in wirexa/ is named from wirexa/notices.py."""
    assert [hit for path, _ in all_modules() if path.name != "notices.py" for hit in code_literals(path)] == []


def test_the_code_rule_catches_a_literal(tmp_path: Path) -> None:
    (tmp_path / "wirexa").mkdir()
    src = tmp_path / "wirexa" / "m.py"
    src.write_text('"""Reports 11200 in text."""\nLIMIT = 14400\nraise Err(11200, "x")\n')
    import tests.test_purity as me

    saved = me.ROOT
    me.ROOT = tmp_path / "wirexa"
    try:
        assert code_literals(src) == ["m.py:3 11200"]
    finally:
        me.ROOT = saved
