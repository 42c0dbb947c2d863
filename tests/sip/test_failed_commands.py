"""A command the worker cannot carry out ends in CommandFailed, never in silence: real pjsua2
calls against the sandbox carrier play files the worker cannot open, and the call goes on."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.sip.conftest import SipHarness
from tests.sip.test_sip import tone_file
from wirexa.calls.ports import CallAnswered, CommandFailed, PlaybackFinished, RecordingFinished

pytestmark = pytest.mark.sip


def eight_bit_wav(path: Path) -> str:
    """A well-formed 8-bit PCM WAV: Python's wave module reads it, pjmedia's player refuses it."""
    data = bytes([128]) * 8000
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 8000, 1, 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return str(path)


async def test_unplayable_files_fail_and_the_call_goes_on(sandbox_sip: SipHarness, tmp_path: Path) -> None:
    h = sandbox_sip
    sid = await h.dial("+15005550006")
    await h.wait(sid, CallAnswered)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is no audio at all \x00\xff" * 64)
    cases = {"1": str(garbage), "2": eight_bit_wav(tmp_path / "8bit.wav"), "3": str(tmp_path / "missing.wav")}
    for play_id, path in cases.items():
        await h.bridge.play(sid, play_id, path)
        failed = await h.wait(sid, CommandFailed, timeout=5, pred=lambda e, ref=play_id: e.ref == ref)
        assert (failed.command, failed.code) == ("play", 13420), failed
        assert path in failed.message
    assert not [e for e in h.events[sid] if isinstance(e, PlaybackFinished)]  # a failure is not a finished play
    await h.bridge.play(sid, "4", tone_file(tmp_path / "good.wav", 500))
    done = await h.wait(sid, PlaybackFinished, timeout=5)
    assert (done.play_id, done.how) == ("4", "done")  # the call is still up and plays
    await h.bridge.hangup(sid)
    assert (await h.ended(sid)).reason == "completed"


async def test_a_recorder_that_cannot_open_fails(sandbox_sip: SipHarness, tmp_path: Path) -> None:
    h = sandbox_sip
    sid = await h.dial("+15005550006")
    await h.wait(sid, CallAnswered)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the recordings folder should be")
    await h.bridge.start_recording(sid, "r1", str(blocker / "r1.wav"), 5, 0, "")
    failed = await h.wait(sid, CommandFailed, timeout=5)
    assert (failed.command, failed.ref, failed.code) == ("record", "r1", 12400), failed
    await h.bridge.start_recording(sid, "r1b", str(tmp_path / "r1b.ogg"), 5, 0, "")  # pjmedia writes WAV only
    failed = await h.wait(sid, CommandFailed, timeout=5, pred=lambda e: e.ref == "r1b")
    assert failed.command == "record" and "PJ_ENOTSUP" in failed.message, failed
    await h.bridge.start_recording(sid, "r2", str(tmp_path / "r2.wav"), 1.0, 0, "")
    rec = await h.wait(sid, RecordingFinished, timeout=10)
    assert (rec.rec_id, rec.how) == ("r2", "max-length")
    await h.bridge.hangup(sid)
    assert (await h.ended(sid)).reason == "completed"
