"""Recording files: silence trimming with ffmpeg."""

from __future__ import annotations

from pathlib import Path

import pytest

from wirexa.media.audio import tone_pcm, wav_bytes
from wirexa.media.recording import trim_silence


@pytest.mark.parametrize(
    ("pcm", "expected_s"),
    [
        (tone_pcm(440, 600), 0.6),  # sound from the first sample: kept whole
        (bytes(8000) + tone_pcm(440, 1000) + bytes(16000), 1.0),  # 0.5 s before, 1 s after: cut
        (bytes(16000), 0.0),  # only silence
    ],
)
async def test_trim_silence(tmp_path: Path, pcm: bytes, expected_s: float) -> None:
    wav = tmp_path / "r.wav"
    wav.write_bytes(wav_bytes(pcm))
    seconds = await trim_silence(wav)
    assert seconds is not None and abs(seconds - expected_s) < 0.05


async def test_trim_failure_leaves_the_file(tmp_path: Path) -> None:
    wav = tmp_path / "broken.wav"
    wav.write_bytes(b"not a wav")
    assert await trim_silence(wav) is None
    assert wav.read_bytes() == b"not a wav"
