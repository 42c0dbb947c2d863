"""Wirexa as users install it, built once per test session: the sdist and the wheel built from it
(`python -m build`), and the single binary (PyInstaller from wirexa.spec). Each is then used from
a temporary directory outside the checkout (tests/install/engine.py drives init, serve, a call)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"sdist": ..., "wheel": ...}: `python -m build` makes the sdist, then the wheel from it
    (so a file missing from the sdist is missing from the wheel too)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], check=True, capture_output=True, timeout=600
    )
    (sdist,) = out.glob("wirexa-*.tar.gz")
    (wheel,) = out.glob("wirexa-*.whl")
    return {"sdist": sdist, "wheel": wheel}


@pytest.fixture(scope="session")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/wirexa built by PyInstaller from wirexa.spec (as scripts/build does), in a temp dir."""
    tmp = tmp_path_factory.mktemp("pyinstaller")
    dist, work = tmp / "dist", tmp / "build"
    done = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "pyinstaller"),
            "--noconfirm",
            "--log-level",
            "WARN",
            "--distpath",
            str(dist),
            "--workpath",
            str(work),
            str(ROOT / "wirexa.spec"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dist / "wirexa"
