"""Hanging up a call that has not been answered, at each moment of its setup (real pjsua2 workers):
before a worker has taken the INVITE (no INVITE leaves), before any provisional response (the
CANCEL waits for it, RFC 3261 9.1), after a 100 only, and while it rings."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.sip.conftest import SipHarness, running
from tests.sip.test_sip import trunk_call
from wirexa.calls.ports import CallEnded, CallRinging, CallSid, Dialout
from wirexa.sip.pool import CALLS_PER_WORKER

pytestmark = pytest.mark.sip


async def hang_up_against(tmp_path: Path, sipp: object, scenario: str, *, after: type | float) -> CallEnded:
    """Dial SIPp playing `scenario`, hang up once `after` happened (an event type, or seconds), and
    return the end; SIPp must have seen its whole scenario (it fails on a CANCEL out of turn)."""
    h, sid = await trunk_call(tmp_path, sipp, scenario, timeout_s=20)
    try:
        if isinstance(after, type):
            await h.wait(sid, after)
        else:
            await asyncio.sleep(after)
        await h.bridge.hangup(CallSid(sid))
        ended = await h.ended(sid, timeout=5)  # never the 20 s ring timeout
        assert await asyncio.to_thread(h.sipp_proc.wait, 15) == 0  # type: ignore[attr-defined]
        return ended
    finally:
        await h.bridge.__aexit__(None, None, None)


async def test_hangup_before_any_provisional_cancels_after_the_first_one(tmp_path: Path, sipp: object) -> None:
    # SIPp says nothing for 1 s, then 180; a CANCEL during that second fails its scenario.
    ended = await hang_up_against(tmp_path, sipp, "uas_late_provisional.xml", after=0.0)
    assert (ended.reason, ended.hangup_by) == ("canceled", "local")


async def test_hangup_after_a_100_only_cancels(tmp_path: Path, sipp: object) -> None:
    # The 100 comes at 300 ms and no 180 ever does.
    ended = await hang_up_against(tmp_path, sipp, "uas_trying_only.xml", after=0.6)
    assert (ended.reason, ended.hangup_by) == ("canceled", "local")


async def test_hangup_while_ringing_cancels_at_once(tmp_path: Path, sipp: object) -> None:
    ended = await hang_up_against(tmp_path, sipp, "uas_noanswer.xml", after=CallRinging)
    assert (ended.reason, ended.hangup_by) == ("canceled", "local")


async def _sandbox_saw(h: SipHarness, sid: str) -> bool:
    return (h.data_dir / "sandbox" / f"{sid}.json").exists()


async def test_a_call_hung_up_while_it_waits_for_a_worker_never_sends_its_invite(tmp_path: Path) -> None:
    # Worker 0 full of ringing calls: the next call waits for worker 1 to start, and is hung up then.
    from tests.sip.conftest import make_settings

    settings = make_settings(tmp_path, sandbox_processes=3)
    async with running(settings, tmp_path) as h:
        ringing = [await h.dial("+15005550002", timeout_s=30) for _ in range(CALLS_PER_WORKER)]
        for sid in ringing:
            await h.wait(sid, CallRinging)
        sid = CallSid(f"CA{os.getpid():08x}{'f' * 24}")
        to_uri, from_uri, headers = h.bridge.resolve("+15005550002", "+15005550100")
        placing = asyncio.create_task(h.bridge.start_call(Dialout(sid, to_uri, from_uri, 30.0, headers)))
        await asyncio.sleep(0)  # start_call is now waiting for a worker with room
        assert not placing.done()
        await h.bridge.hangup(sid)
        await placing
        ended: CallEnded = await h.ended(sid, timeout=10)
        assert (ended.reason, ended.sip_code, ended.hangup_by) == ("canceled", None, "local")
        await asyncio.sleep(1.0)  # an INVITE sent anyway would have reached the sandbox by now
        assert not await _sandbox_saw(h, sid)
        for other in ringing:
            await h.bridge.hangup(CallSid(other))
            assert (await h.ended(other)).reason == "canceled"
            events = [e["event"] for e in json.loads((tmp_path / "sandbox" / f"{other}.json").read_text())["events"]]
            assert "ringing" in events
