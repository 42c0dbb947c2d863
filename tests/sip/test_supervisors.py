"""The sandbox carrier's and the worker pool's supervision, with real processes: a failed start
is reported with its cause and leaves nothing behind; nothing is restarted (or counted as a
crash) once shutdown has begun; workers ignore the terminal's SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.sip.conftest import make_settings
from wirexa.calls.ports import SipEvent
from wirexa.errors import SipError
from wirexa.sip.pool import WorkerPool
from wirexa.sip.protocol import MakeCall
from wirexa.sip.sandbox_carrier import SandboxCarrier

pytestmark = pytest.mark.sip


def live_children() -> list[str]:
    """Command lines of this process's children that are still running (not zombies)."""
    pids = subprocess.run(["pgrep", "-P", str(os.getpid())], capture_output=True, text=True, check=False).stdout.split()
    alive = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] != "Z":
                alive.append(Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " "))
        except (FileNotFoundError, IndexError):
            continue
    return alive


async def test_a_failed_start_names_its_cause_and_leaves_no_process(tmp_path: Path) -> None:
    bad = tmp_path / "sandbox.toml"
    bad.write_text("[default\n")
    settings = make_settings(tmp_path, sandbox_processes=3, sandbox_config=str(bad))
    with pytest.raises(SipError) as caught:
        async with SandboxCarrier(settings):
            pass
    assert "failed to start: _sandbox: TOMLDecodeError" in str(caught.value), caught.value  # not b''
    assert [c for c in live_children() if "_sandbox" in c] == []


async def test_nothing_is_restarted_once_shutdown_has_begun(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sandbox_processes=1)
    async with SandboxCarrier(settings) as carrier:
        [proc] = carrier._procs.values()
        carrier.begin_shutdown()
        proc.kill()
        await asyncio.sleep(1.5)  # a restart happens 0.5 s after the exit
        assert carrier.restarts == 0 and carrier._procs[0] is proc


async def test_a_worker_exiting_during_shutdown_is_no_crash(tmp_path: Path) -> None:
    events: list[SipEvent] = []
    async with WorkerPool(make_settings(tmp_path), events.append) as pool:
        [worker] = pool.workers.values()
        pool.begin_shutdown()
        worker.proc.kill()
        await asyncio.wait_for(worker.proc.wait(), 10)
        await asyncio.sleep(0.2)
        assert pool.crashes == 0 and pool.workers == {}
        with pytest.raises(SipError, match="shutting down"):
            await pool.place("CA" + "0" * 32, None, MakeCall("CA" + "0" * 32, "sip:x@127.0.0.1", "sip:y@127.0.0.1"))


async def test_workers_ignore_sigint_and_sit_in_their_own_process_group(tmp_path: Path) -> None:
    async with WorkerPool(make_settings(tmp_path), lambda event: None) as pool:
        [worker] = pool.workers.values()
        assert os.getpgid(worker.proc.pid) == worker.proc.pid != os.getpgid(0)
        worker.proc.send_signal(signal.SIGINT)
        await asyncio.sleep(1.0)
        assert worker.proc.returncode is None and pool.crashes == 0
