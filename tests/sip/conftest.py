"""Real SIP fixtures: SipBridge with its worker pool and the sandbox carrier (or a SIPp trunk)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import subprocess
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.backends import free_udp_block
from wirexa import config
from wirexa.calls.ports import CallEnded, CallSid, Dialout, SipEvent
from wirexa.sip.bridge import SipBridge

SIPP_DIR = Path(__file__).parent.parent / "data" / "sipp"


@dataclass
class SipHarness:
    bridge: SipBridge
    settings: Any
    data_dir: Path
    events: dict[str, list[SipEvent]] = field(default_factory=lambda: defaultdict(list))
    waiters: list[tuple[Any, asyncio.Future[SipEvent]]] = field(default_factory=list)
    _n: itertools.count[int] = field(default_factory=itertools.count)

    def sink(self, event: SipEvent) -> None:
        self.events[event.call_sid].append(event)
        for pred, fut in list(self.waiters):
            if not fut.done() and pred(event):
                fut.set_result(event)

    async def wait(self, sid: str, kind: type, timeout: float = 15.0, pred: Any = None) -> Any:
        for e in self.events[sid]:
            if isinstance(e, kind) and (pred is None or pred(e)):
                return e
        fut: asyncio.Future[SipEvent] = asyncio.get_running_loop().create_future()
        entry = (lambda e: e.call_sid == sid and isinstance(e, kind) and (pred is None or pred(e)), fut)
        self.waiters.append(entry)
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self.waiters.remove(entry)

    async def dial(self, number: str, timeout_s: float = 10.0, parent: CallSid | None = None) -> CallSid:
        sid = CallSid(f"CA{os.getpid():08x}{next(self._n):024x}")
        to_uri, from_uri, headers = self.bridge.resolve(number, "+15005550100")
        await self.bridge.start_call(Dialout(sid, to_uri, from_uri, timeout_s, headers, parent_call_sid=parent))
        return sid

    async def sandbox_wav(self, sid: str, timeout: float = 5.0) -> Path:
        """What the sandbox callee heard on call `sid`, once it has saved it (after the hangup)."""
        log, wav = self.data_dir / "sandbox" / f"{sid}.json", self.data_dir / "sandbox" / f"{sid}.wav"
        deadline = asyncio.get_running_loop().time() + timeout
        while not (log.exists() and "wav saved" in log.read_text()):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the sandbox saved no recording of {sid}")
            await asyncio.sleep(0.05)
        return wav

    async def ended(self, sid: str, timeout: float = 20.0) -> CallEnded:
        ev: CallEnded = await self.wait(sid, CallEnded, timeout)
        return ev


def make_settings(tmp_path: Path, **overrides: Any) -> Any:
    # Random blocks checked free now: tests may run beside other engines (benchmarks, CI).
    sip = free_udp_block(21000, 29000, 400, (0, 1, 150, 200, 201, 202, 203))
    rtp = free_udp_block(30000, 59000, 6000, (0, 100, 200, 5000, 5100, 5200, 5300))
    values: dict[str, Any] = {
        "data_dir": str(tmp_path),
        "sip_port_base": sip,
        "sip_rtp_port_base": rtp,
        "sandbox_port_base": sip + 200,
        "sandbox_processes": 2,
        "sip_workers_max": 8,
    }
    values.update(overrides)
    return config.load(overrides=values, env={})


@contextlib.asynccontextmanager
async def running(settings: Any, data_dir: Path) -> AsyncIterator[SipHarness]:
    """A started SipBridge (pool, and the sandbox unless a trunk is set) whose events a
    SipHarness collects."""
    async with SipBridge(settings) as bridge:
        harness = SipHarness(bridge, settings, data_dir)
        bridge.set_event_sink(harness.sink)
        yield harness


@pytest.fixture
async def sandbox_sip(tmp_path: Path) -> AsyncIterator[SipHarness]:
    async with running(make_settings(tmp_path), tmp_path) as harness:
        yield harness


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator[Any]:
    """Start SIPp as a trunk: sipp(scenario, port, *extra) -> Popen; all are stopped at the end."""
    assert shutil.which("sipp"), "SIPp is required (Debian package sip-tester)"
    procs: list[subprocess.Popen[bytes]] = []

    def start(scenario: str, port: int, *extra: str) -> subprocess.Popen[bytes]:
        argv = [
            "sipp",
            "-sf",
            str(SIPP_DIR / scenario),
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "30s",
            *extra,
        ]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
