"""The single binary: PyInstaller build time, size, and start-to-/health from an empty
environment (`env -i PATH=/usr/bin:/bin`), with the default 4 sandbox processes and with 1, then
a real sandbox call (tests/install/engine.py drives it, as the install tests do)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.install.engine import exercise, port_env  # noqa: E402

BARE = {"PATH": "/usr/bin:/bin"}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="wirexa-binary-bench-") as tmp:
        t0 = time.monotonic()
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "pyinstaller"), "--noconfirm", "--log-level", "WARN",
             "--distpath", f"{tmp}/dist", "--workpath", f"{tmp}/build", str(ROOT / "wirexa.spec")],
            cwd=ROOT, check=True, capture_output=True, timeout=900,
        )
        build_s = time.monotonic() - t0
        alone = Path(tmp) / "bin" / "wirexa"
        alone.parent.mkdir()
        shutil.copy2(Path(tmp) / "dist" / "wirexa", alone)
        size_mb = alone.stat().st_size / 1e6
        starts: dict[str, float] = {}
        for processes in ("4", "1"):
            work = Path(tmp) / f"work{processes}"
            work.mkdir()
            ports = {**port_env(), "WIREXA_SANDBOX_PROCESSES": processes}
            env_args = [f"{k}={v}" for k, v in ports.items()]
            outcome = exercise(["env", "-i", "PATH=/usr/bin:/bin", *env_args, str(alone)], work, {**BARE, **ports})
            starts[processes] = round(outcome.start_s, 2)
    results = {"build_s": round(build_s, 1), "size_mb": round(size_mb, 1), "start_to_health_s": starts, "load": os.getloadavg()[0]}
    print(json.dumps({
        "benchmark": "binary",
        "results": results,
        "targets": [
            {"metric": "binary size (MB)", "measured": results["size_mb"], "target": "report", "met": None,
             "note": f"PyInstaller one-file from wirexa.spec, built in {results['build_s']} s"},
            {"metric": "serve start to /health answering (s), 4 sandbox processes", "measured": starts["4"], "target": "report",
             "met": None, "note": "env -i PATH=/usr/bin:/bin in an empty directory; then a Say+Record call and its MP3"},
            {"metric": "serve start to /health answering (s), 1 sandbox process", "measured": starts["1"], "target": "report",
             "met": None, "note": "same, WIREXA_SANDBOX_PROCESSES=1"},
        ],
    }))


if __name__ == "__main__":
    main()
