"""setup.cfg declares exactly the distributions wirexa/ imports: none missing (an installed wheel
would fail at run time), none extra (xmltodict used to be listed and imported by nothing)."""

from __future__ import annotations

import ast
import configparser
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent


def imported_top_level() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "wirexa").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n != "wirexa" and n not in sys.stdlib_module_names}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = [line.strip() for line in cfg["options"]["install_requires"].splitlines() if line.strip()]
    return {canonical(re.split(r"[<>=!~\[;\s]", line, maxsplit=1)[0]) for line in lines}


def test_install_requires_is_exactly_what_the_code_imports() -> None:
    owners = packages_distributions()
    needed: set[str] = set()
    for module in imported_top_level():
        assert module in owners, f"{module} is imported but no installed distribution provides it"
        needed.update(canonical(d) for d in owners[module])
    assert declared() == needed


def test_package_data_entries_exist() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    for entry in cfg["options.package_data"]["wirexa"].split(","):
        assert list((ROOT / "wirexa").glob(entry.strip())), entry
