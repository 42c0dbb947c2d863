"""hold_thread_state: a clock-thread callback keeps its Python thread state from one frame to the
next (pjsua2's directors otherwise build and tear one down per callback), and the process still
shuts down cleanly. Real pjsua2 (null sound device clocking the bridge), in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.sip  # real pjsua2 (a clock thread and its frame callbacks), in a child process

SCRIPT = textwrap.dedent(
    """
    import json, sys, threading, time
    import pjsua2 as pj
    from wirexa.sip.endpoint import audio_format, hold_thread_state

    HOLD = sys.argv[1] == "hold"
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 0
    cfg.logConfig.consoleLevel = 0
    cfg.medConfig.sndAutoCloseTime = -1  # as the worker: one clock thread for the process's life
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    ep.libStart()
    local = threading.local()
    seen = []

    class Port(pj.AudioMediaPort):
        def onFrameReceived(self, frame):
            if HOLD:
                hold_thread_state()
            local.n = getattr(local, "n", 0) + 1
            seen.append((threading.get_ident(), local.n))

    port = Port()
    fmt = audio_format()
    port.createPort("t", fmt)
    ep.audDevManager().getCaptureDevMedia().startTransmit(port)
    deadline = time.monotonic() + 10
    while len(seen) < 50 and time.monotonic() < deadline:
        ep.libHandleEvents(20)
    ep.audDevManager().getCaptureDevMedia().stopTransmit(port)
    got = list(seen)
    del port
    ep.libDestroy()
    print(json.dumps({"main": threading.get_ident(), "seen": got}))
    """
)


def run(mode: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]  # libDestroy and exit with the state held
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_the_clock_thread_keeps_its_python_state_between_callbacks() -> None:
    held = run("hold")
    seen = held["seen"]
    assert isinstance(seen, list) and len(seen) >= 50
    threads = {ident for ident, _ in seen}
    assert len(threads) == 1 and held["main"] not in threads, held  # pjlib's clock thread, not ours
    assert [n for _, n in seen] == list(range(1, len(seen) + 1)), seen  # its thread-local data survived

    # Without it, every callback starts from a new thread state: the thread-local data is gone
    # each time (what the hold saves: building and tearing down that state 50 times a second).
    plain = run("plain")
    plain_seen = plain["seen"]
    assert isinstance(plain_seen, list), plain
    assert {n for _, n in plain_seen} == {1}, plain
