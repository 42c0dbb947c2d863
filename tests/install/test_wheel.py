"""The wheel, built from the sdist, installed into a fresh virtualenv in a temporary directory:
it holds every module and the package data, declares setup.cfg's dependencies, and the installed
`wirexa` runs init, serve and a real sandbox call (<Say>, <Record>, the MP3) from outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from tests.install.engine import exercise
from tests.install.test_metadata import canonical, declared

ROOT = Path(__file__).parent.parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.sip]


def test_the_wheel_holds_every_module_and_declares_the_dependencies(dists: dict[str, Path]) -> None:
    with zipfile.ZipFile(dists["wheel"]) as whl:
        names = set(whl.namelist())
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(whl.read(meta_name).decode())
        entry_points = whl.read(meta_name.replace("METADATA", "entry_points.txt")).decode()
    sources = {
        str(p.relative_to(ROOT)) for p in (ROOT / "wirexa").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }
    assert sources - names == set()
    assert not any(n.startswith(("tests/", "bench/", "sdk/")) for n in names)
    requires = {
        canonical(r.split(" ")[0].split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0])
        for r in meta.get_all("Requires-Dist", [])
        if "extra ==" not in r
    }
    assert requires == declared()
    assert "wirexa = wirexa.cli.main:main" in entry_points
    with tarfile.open(dists["sdist"]) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    assert {"setup.cfg", "pyproject.toml", "README.md", "wirexa/py.typed"} <= members


def test_the_wheel_in_a_fresh_venv_serves_a_call_with_say_record_and_mp3(
    dists: dict[str, Path], tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip_env = {k: v for k, v in os.environ.items() if not k.startswith(("WIREXA_", "PYTHON", "VIRTUAL_ENV"))}
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(dists["wheel"])],
        env=pip_env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    work = tmp_path / "work"  # not the checkout: nothing of it is importable from here
    work.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import wirexa; print(wirexa.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(venv)), where.stdout
    outcome = exercise([str(venv / "bin" / "wirexa")], work, env)
    print(f"wheel: serve start to /health {outcome.start_s:.2f} s")
