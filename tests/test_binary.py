"""The single binary: PyInstaller builds dist/wirexa from wirexa.spec; --version and serve --check work."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import wirexa

ROOT = Path(__file__).parent.parent

pytestmark = pytest.mark.slow


def test_pyinstaller_binary_builds_and_passes_its_smoke_test(tmp_path: Path) -> None:
    dist, work = tmp_path / "dist", tmp_path / "build"
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pyinstaller"), "--noconfirm", "--log-level", "WARN",
         "--distpath", str(dist), "--workpath", str(work), str(ROOT / "wirexa.spec")],
        cwd=ROOT, check=True, capture_output=True, timeout=900,
    )
    binary = dist / "wirexa"
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True, timeout=120)
    assert version.stdout.strip() == f"wirexa {wirexa.__version__}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREXA_")}
    env.update({"WIREXA_SIP_PORT_BASE": "47060", "WIREXA_SANDBOX_PORT_BASE": "47160", "WIREXA_SIP_RTP_PORT_BASE": "52000",
                "WIREXA_SANDBOX_PROCESSES": "1"})
    check = subprocess.run(
        [str(binary), "serve", "--check", "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert check.returncode == 0, check.stderr[-3000:]
    assert '"status": "ok"' in check.stderr or "'status': 'ok'" in check.stderr
