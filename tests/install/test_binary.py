"""The single binary (PyInstaller, wirexa.spec), built once per session: --version, serve --check,
and from an empty environment (`env -i PATH=/usr/bin:/bin`) in a temporary directory: init, serve,
a sandbox call with <Say> and <Record> and its MP3. It needs nothing of the checkout nor a Python;
espeak-ng and ffmpeg come from Debian's packages (`wirexa doctor` names them when missing)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import wirexa
from tests.install.engine import exercise, port_env

pytestmark = [pytest.mark.slow, pytest.mark.sip]

BARE = {"PATH": "/usr/bin:/bin"}  # what `env -i PATH=/usr/bin:/bin` leaves


def test_version_and_serve_check(binary: Path, tmp_path: Path) -> None:
    version = subprocess.run(
        ["env", "-i", "PATH=/usr/bin:/bin", str(binary), "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert version.stdout.strip() == f"wirexa {wirexa.__version__}"
    check = subprocess.run(
        [str(binary), "serve", "--check", "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=180,
        env={**BARE, **port_env()},
        cwd=tmp_path,
    )
    assert check.returncode == 0, check.stderr[-3000:]
    assert "'status': 'ok'" in check.stderr or '"status": "ok"' in check.stderr


def test_the_binary_alone_serves_a_call_with_say_record_and_mp3(binary: Path, tmp_path: Path) -> None:
    # A copy in an empty directory: no checkout, no virtualenv, no Python on the way.
    alone = tmp_path / "bin" / "wirexa"
    alone.parent.mkdir()
    shutil.copy2(binary, alone)
    work = tmp_path / "work"
    work.mkdir()
    outcome = exercise(
        ["env", "-i", "PATH=/usr/bin:/bin", *(f"{k}={v}" for k, v in port_env().items()), str(alone)], work, BARE
    )
    size_mb = alone.stat().st_size / 1e6
    print(f"binary: {size_mb:.1f} MB, serve start to /health {outcome.start_s:.2f} s")
    doctor = subprocess.run(
        [str(alone), "doctor", "--json", "--data-dir", str(work / "data")],
        cwd=work,
        env={**BARE, **port_env()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(doctor.stdout)
    tools = {c["name"]: c["status"] for c in report["checks"]}
    assert tools["espeak-ng"] == "ok" and tools["ffmpeg"] == "ok", report
    # pocketsphinx's en-US model came along (doctor finds its files inside the bundle).
    assert tools["STT pocketsphinx"] == "ok", report
    assert doctor.returncode == 0, report


def test_the_binary_names_the_debian_packages_when_tools_are_missing(binary: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    env = {"PATH": str(empty)}
    subprocess.run(
        [str(binary), "init", "--data-dir", str(tmp_path / "data")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        check=True,
        timeout=60,
    )
    doctor = subprocess.run(
        [str(binary), "doctor", "--json", "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path,
        env={**env, **port_env()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert doctor.returncode == 1
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["espeak-ng"]["status"] == "fail" and checks["espeak-ng"]["fix"] == "apt-get install espeak-ng"
    assert checks["ffmpeg"]["status"] == "fail" and checks["ffmpeg"]["fix"] == "apt-get install ffmpeg"
    assert "Traceback" not in doctor.stderr
    # serve refuses to start the sandbox carrier without them: one red line, no traceback.
    serve = subprocess.run(
        [str(binary), "serve", "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path,
        env={**env, **port_env()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert serve.returncode == 1 and serve.stderr.count("\n") == 1, serve.stderr
    assert "apt-get install espeak-ng ffmpeg" in serve.stderr
