"""Wirexa as users install it, built once per test session: the sdist and the wheel built from it
(`python -m build`), and the single binary (`bash scripts/build` on a copy with no .venv). Each is
then used from a temporary directory outside the checkout (tests/install/engine.py drives init,
serve, a call)."""

from __future__ import annotations

import os
import shutil
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
    """dist/wirexa built by `bash scripts/build` in a copy of the checkout's files with no .venv, as
    on a fresh clone: the script sets up what it needs (scripts/setup serve, PyInstaller), builds
    from wirexa.spec and smoke-tests the binary."""
    tmp = tmp_path_factory.mktemp("fresh-clone")
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src, dst = ROOT / name.decode(), tmp / name.decode()
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    done = subprocess.run(
        ["bash", "scripts/build"],
        cwd=tmp,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return tmp / "dist" / "wirexa"
