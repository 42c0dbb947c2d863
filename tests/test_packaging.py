"""The package as users install it: `packages = find:` only picks up directories with an
`__init__.py`, so a package directory without one is missing from every wheel and binary."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent.parent / "wirexa"


def test_every_package_directory_has_an_init() -> None:
    missing = sorted(
        str(d.relative_to(ROOT.parent))
        for d in [ROOT, *ROOT.rglob("*")]
        if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py")) and not (d / "__init__.py").exists()
    )
    assert missing == []
