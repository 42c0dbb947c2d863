"""The sandbox person answers the caller's prompts like a person: a short spoken reply after each
prompt ends (up to reply_max), or once at reply_after seconds; recorded by us over real SIP."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from tests.sip.conftest import SipHarness
from tests.sip.test_sip import answered_callee, sandbox_log, saved, tone_file
from wirexa.calls.ports import CallSid, PlaybackFinished, RecordingFinished
from wirexa.media.audio import rms_dbfs
from wirexa.sip.sandbox import load_config

pytestmark = pytest.mark.sip


def level(path: str) -> float:
    with wave.open(path) as w:
        return rms_dbfs(w.readframes(w.getnframes()))


async def prompt(h: SipHarness, sid: CallSid, tmp_path: Path, play_id: str) -> None:
    await h.bridge.play(sid, play_id, tone_file(tmp_path / f"{play_id}.wav", 1000), 1)
    await h.wait(sid, PlaybackFinished, pred=lambda e: e.play_id == play_id)


async def replies(h: SipHarness, sid: CallSid) -> list[str]:
    await h.bridge.hangup(sid)
    await h.ended(sid)
    await saved(h, sid)
    return [e["event"] for e in sandbox_log(h, sid)["events"] if e["event"] in ("prompt ended", "replied")]


async def test_the_person_replies_after_each_prompt_up_to_reply_max(tmp_path: Path) -> None:
    async with answered_callee(tmp_path, "reply_max = 2") as (h, sid):
        await asyncio.sleep(1.5)  # "Hello?", then nothing to answer: it listens
        await h.bridge.start_recording(sid, "quiet", str(tmp_path / "quiet.wav"), 1.0, 0, "")
        quiet = await h.wait(sid, RecordingFinished, pred=lambda e: e.rec_id == "quiet")
        assert level(quiet.path) < -60.0
        for n in range(3):
            await prompt(h, sid, tmp_path, f"p{n}")  # a 1 s beep, like <Record>'s
            await h.bridge.start_recording(sid, f"r{n}", str(tmp_path / f"r{n}.wav"), 8.0, 2.0, "")
            rec = await h.wait(sid, RecordingFinished, pred=lambda e, n=n: e.rec_id == f"r{n}")
            if n < 2:
                assert rec.how == "silence" and rec.duration_ms >= 3000 and level(rec.path) > -40.0, (n, rec)
            else:  # reply_max reached: it only listens
                assert rec.duration_ms <= 2600 and level(rec.path) < -60.0, rec
        assert await replies(h, sid) == [
            "prompt ended",
            "replied",
            "prompt ended",
            "replied",
        ]  # then it stops listening


async def test_reply_after_seconds_says_it_once_without_a_prompt(tmp_path: Path) -> None:
    async with answered_callee(tmp_path, 'reply = "Testing one two three."\nreply_after = 1.5') as (h, sid):
        await h.bridge.start_recording(sid, "r", str(tmp_path / "r.wav"), 4.0, 0, "")
        rec = await h.wait(sid, RecordingFinished)
        with wave.open(rec.path) as w:
            pcm = w.readframes(w.getnframes())
        second = 8000 * 2  # bytes of 8 kHz 16-bit audio
        assert rms_dbfs(pcm[int(1.7 * second) : 3 * second]) > -40.0  # the reply, 1.5 s after answering
        await prompt(h, sid, tmp_path, "p")
        await asyncio.sleep(2.0)
        assert await replies(h, sid) == ["replied"]


def test_the_shipped_sandbox_toml_is_the_built_in_behaviour() -> None:
    assert load_config(str(Path(__file__).parents[2] / "config" / "sandbox.toml")) == load_config("")
