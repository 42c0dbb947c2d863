"""A prompt that is still arriving (streamed TTS): the worker's StreamPort plays a headerless PCM
file the engine keeps appending to, over real SIP, and the callee hears every sample once."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from tests.sip.conftest import make_settings, running
from wirexa.calls.ports import CallAnswered, PlaybackFinished
from wirexa.media.audio import rms_dbfs, tone_pcm

pytestmark = pytest.mark.sip

FRAME = 320  # 20 ms of 8 kHz 16-bit audio


def loud_frames(path: Path) -> int:
    with wave.open(str(path)) as w:
        pcm = w.readframes(w.getnframes())
    return sum(1 for i in range(0, len(pcm) - FRAME + 1, FRAME) if rms_dbfs(pcm[i : i + FRAME]) > -30.0)


async def test_a_growing_file_is_played_whole_and_ends_at_its_final_size(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox.toml"
    sandbox.write_text('[numbers."+15005550010"]\nanswer = "silence"\n')
    # 2.01 s of tone in three uneven pieces (none a multiple of the worker's 8 kB reads, one with
    # an odd byte count: half a sample waits for its other half)
    tone = tone_pcm(1000, 2010, amplitude=0.3)
    cuts = [0, 8001, 20001, len(tone)]
    pcm = tmp_path / "stream.pcm"
    pcm.write_bytes(tone[: cuts[1]])
    async with running(make_settings(tmp_path, sandbox_config=str(sandbox)), tmp_path) as h:
        sid = await h.dial("+15005550010")
        await h.wait(sid, CallAnswered)
        await h.bridge.play(sid, "s", str(pcm), 1, stream=True)
        for start, end in zip(cuts[1:-1], cuts[2:], strict=True):
            await asyncio.sleep(0.4)  # less than what was handed over so far: no underrun
            with pcm.open("ab") as f:
                f.write(tone[start:end])
        await h.bridge.end_stream(sid, "s", len(tone))
        done = await h.wait(sid, PlaybackFinished, timeout=10)
        assert done.play_id == "s" and done.how == "done"
        await asyncio.sleep(0.5)
        await h.bridge.hangup(sid)
        await h.ended(sid)
        saved = await h.sandbox_wav(sid)
    # every 20 ms frame of the 2.01 s tone once: a skipped or repeated piece would change the count
    assert abs(loud_frames(saved) - 100) <= 3, loud_frames(saved)
