"""Sandbox callees answering with a WAV file, over real SIP: played once then silence (the default),
`loop = true` plays it again and again, a WAV of another rate or format is converted when the
config is loaded (the pitch heard is the file's), and a file that cannot be used stops the
sandbox at load with one error naming it."""

from __future__ import annotations

import array
import math
import subprocess
import wave
from pathlib import Path

import pytest

from tests.sip.conftest import SipHarness, make_settings, running
from tests.sip.test_sip import saved
from wirexa.calls.ports import CallAnswered, RecordingFinished
from wirexa.errors import SipError
from wirexa.media.audio import rms_dbfs, tone_pcm, wav_bytes

pytestmark = pytest.mark.sip

ONCE, LOOP, HIFI, FLOAT = "+15005550020", "+15005550021", "+15005550022", "+15005550023"
SECOND = 8000 * 2  # bytes of 8 kHz 16-bit mono


def ffmpeg_tone(path: Path, hz: int, seconds: float, *args: str) -> Path:
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={hz}:duration={seconds}",
            *args,
            str(path),
        ],
        check=True,
    )
    return path


def pitch(pcm: bytes) -> float:
    """Frequency of a pure tone from its zero crossings."""
    x = array.array("h", pcm)
    crossings = sum(1 for a, b in zip(x, x[1:], strict=False) if (a < 0) != (b < 0))
    return crossings / 2 / (len(x) / 8000)


async def heard(h: SipHarness, number: str, tmp_path: Path, seconds: float) -> bytes:
    """What the callee sent for `seconds` from the answer on (our recording of the call)."""
    sid = await h.dial(number)
    await h.wait(sid, CallAnswered)
    await h.bridge.start_recording(sid, "r", str(tmp_path / f"{number}.wav"), seconds, 0, "")
    rec = await h.wait(sid, RecordingFinished, timeout=seconds + 10)
    await h.bridge.hangup(sid)
    await h.ended(sid)
    await saved(h, sid)
    with wave.open(rec.path) as w:
        assert w.getframerate() == 8000
        return w.readframes(w.getnframes())


async def test_wav_callees_play_once_loop_or_convert(tmp_path: Path) -> None:
    once = tmp_path / "once.wav"
    once.write_bytes(wav_bytes(tone_pcm(600, 1000, amplitude=0.3)))
    hifi = ffmpeg_tone(tmp_path / "hifi.wav", 440, 1.5, "-ar", "16000", "-ac", "2")  # 16 kHz stereo
    flt = ffmpeg_tone(tmp_path / "float.wav", 900, 1.5, "-ar", "44100", "-c:a", "pcm_f32le")  # 44.1 kHz float
    toml = tmp_path / "sandbox.toml"
    toml.write_text(
        f'[numbers."{ONCE}"]\nanswer = "{once}"\nring_s = 0.2\n'
        f'[numbers."{LOOP}"]\nanswer = "once.wav"\nloop = true\nring_s = 0.2\n'  # relative: beside the toml
        f'[numbers."{HIFI}"]\nanswer = "{hifi}"\nring_s = 0.2\n'
        f'[numbers."{FLOAT}"]\nanswer = "{flt}"\nring_s = 0.2\n'
    )
    async with running(make_settings(tmp_path, sandbox_config=str(toml)), tmp_path) as h:
        pcm = await heard(h, ONCE, tmp_path, 4.0)
        assert rms_dbfs(pcm[: SECOND // 2]) > -20.0  # the tone, from the answer on
        assert rms_dbfs(pcm[int(1.6 * SECOND) :]) < -60.0  # then silence: played once
        assert 560 <= pitch(pcm[: SECOND // 2]) <= 640

        pcm = await heard(h, LOOP, tmp_path, 4.0)
        for start in (0.2, 1.4, 2.4, 3.3):  # the 1 s file again and again
            chunk = pcm[int(start * SECOND) : int((start + 0.5) * SECOND)]
            assert rms_dbfs(chunk) > -25.0, start

        for number, hz in ((HIFI, 440), (FLOAT, 900)):
            pcm = await heard(h, number, tmp_path, 3.0)
            assert rms_dbfs(pcm[int(0.2 * SECOND) : SECOND]) > -30.0, number
            assert abs(pitch(pcm[int(0.2 * SECOND) : SECOND]) - hz) <= hz * 0.05, (
                number,
                pitch(pcm[int(0.2 * SECOND) : SECOND]),
            )
            assert rms_dbfs(pcm[int(2.2 * SECOND) :]) < -60.0, number


@pytest.mark.parametrize("content", [None, b"RIFF not really a wave file"], ids=["missing", "garbage"])
async def test_an_unusable_wav_is_refused_at_load_naming_the_file(tmp_path: Path, content: bytes | None) -> None:
    bad = tmp_path / "greeting.wav"
    if content is not None:
        bad.write_bytes(content)
    toml = tmp_path / "sandbox.toml"
    toml.write_text(f'[numbers."{ONCE}"]\nanswer = "{bad}"\n')
    with pytest.raises(SipError) as caught:
        async with running(make_settings(tmp_path, sandbox_config=str(toml), sandbox_processes=1), tmp_path):
            pass
    message = str(caught.value)
    assert str(bad) in message and "\n" not in message, message


def test_a_sine_pitch_is_measured() -> None:
    assert abs(pitch(tone_pcm(440, 500, amplitude=0.3)) - 440) < 10
    assert math.isfinite(pitch(b"\0\0" * 800))


async def test_a_default_callee_that_never_answers_starts_the_sandbox(tmp_path: Path) -> None:
    """`[default] answer = "busy"` (no greeting to render) once crashed the sandbox at start."""
    toml = tmp_path / "sandbox.toml"
    toml.write_text('[default]\nanswer = "busy"\n')
    async with running(make_settings(tmp_path, sandbox_config=str(toml), sandbox_processes=1), tmp_path) as h:
        ended = await h.ended(await h.dial("+15005559999"))
        assert (ended.reason, ended.sip_code) == ("busy", 486)
