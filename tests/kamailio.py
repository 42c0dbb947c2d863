"""A real Kamailio (Debian's `kamailio`) for the tests: started in the foreground on a config of
ours (`kamailio -f cfg -P pidfile -Y rundir -DD -E`: the creator stays in front, logs to
stderr, into a file here), its control socket in its own folder, and killed by its PID (the
creator's process group: its children) at the end. `dispatcher()` reads the dispatcher's view of
the engines through kamcmd."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

KAMAILIO = "/usr/sbin/kamailio"
KAMCMD = "/usr/sbin/kamcmd"
_DEST = re.compile(r"URI:\s*(\S+)\s+FLAGS:\s*(\S+)")


def kamailio_bin(name: str) -> str:
    path = name if os.path.exists(name) else shutil.which(os.path.basename(name))
    if path is None:
        raise RuntimeError(f"{os.path.basename(name)} is missing: install Debian's kamailio (scripts/setup)")
    return path


class Kamailio:
    """`with Kamailio(cfg, rundir, ctl) as k:` a running Kamailio on `cfg` (whose ctl socket is `ctl`)."""

    def __init__(self, cfg: Path, rundir: Path, ctl: Path) -> None:
        self.cfg = cfg
        self.rundir = rundir
        self.ctl = ctl
        self.log = rundir / "kamailio.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Kamailio:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.rundir.mkdir(parents=True, exist_ok=True)
        argv = [kamailio_bin(KAMAILIO), "-f", str(self.cfg), "-P", str(self.rundir / "kamailio.pid")]
        argv += ["-Y", str(self.rundir), "-DD", "-E", "-m", "32", "-M", "4"]
        with open(self.log, "ab") as out:
            # its own process group: the stop reaches its children by the creator's PID
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kamailio exited with {self.proc.returncode}:\n{self.logs()[-3000:]}")
            if self.ctl.exists() and self.rpc("core.uptime").returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("kamailio did not start:\n" + self.logs()[-3000:])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # start_new_session: the group is the creator's PID
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait()
        try:  # children that outlived the creator
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def rpc(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [kamailio_bin(KAMCMD), "-s", f"unix:{self.ctl}", *command], capture_output=True, text=True, timeout=10
        )

    def dispatcher(self) -> dict[str, str]:
        """Destination URI -> its flags (AP: active and probing, IP: inactive, TP: trying)."""
        out = self.rpc("dispatcher.list")
        if out.returncode != 0:
            raise RuntimeError(f"kamcmd dispatcher.list failed: {out.stderr or out.stdout}")
        return dict(_DEST.findall(out.stdout))

    def reload(self) -> None:
        out = self.rpc("dispatcher.reload")
        if out.returncode != 0:
            raise RuntimeError(f"kamcmd dispatcher.reload failed: {out.stderr or out.stdout}")

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
