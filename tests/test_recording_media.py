"""Recording files: silence trimming with ffmpeg, repairing a WAV cut short, and the restart that
closes recordings a dead engine left in progress."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from wirexa import config
from wirexa.media.audio import tone_pcm, wav_bytes
from wirexa.media.recording import repair_wav, trim_silence
from wirexa.media.recording_jobs import RecordingMedia, recover_recordings
from wirexa.store.bootstrap import ensure_project, open_store
from wirexa.store.recordings import StoreRecordings
from wirexa.store.repo import RecordingRecord
from wirexa.store.repo.calls import insert_call
from wirexa.store.repo.recordings import get_recording, insert_recording


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


# --- a WAV whose writer died, and the restart that closes its recording ---------------------------


def _broken_wav(path: Path, pcm: bytes) -> None:
    """What a killed recorder leaves: a 44-byte header whose sizes were never filled in."""
    good = wav_bytes(b"")
    header = bytearray(good[:44])
    header[4:8] = b"\xff\xff\xff\xff"  # RIFF size: bogus
    header[40:44] = b"\x00\x00\x00\x00"  # data size: never written
    path.write_bytes(bytes(header) + pcm)


def test_repair_wav_makes_the_header_match_the_captured_audio(tmp_path: Path) -> None:
    wav = tmp_path / "cut.wav"
    pcm = tone_pcm(440, 1500)
    _broken_wav(wav, pcm + b"\x01")  # and half a frame at the end
    with wave.open(str(wav)) as w:
        assert w.getnframes() == 0  # what a player sees before the repair: nothing
    seconds = repair_wav(wav)
    assert seconds == pytest.approx(1.5)
    with wave.open(str(wav)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (1, 8000, len(pcm) // 2)
        assert w.readframes(w.getnframes()) == pcm
    assert wav.stat().st_size == 44 + len(pcm)
    assert repair_wav(wav) == pytest.approx(1.5)  # a good header is left alone
    empty = tmp_path / "empty.wav"
    _broken_wav(empty, b"")
    assert repair_wav(empty) is None and repair_wav(tmp_path / "nope.wav") is None
    (tmp_path / "junk.wav").write_bytes(b"junk" * 20)
    assert repair_wav(tmp_path / "junk.wav") is None


async def test_restart_closes_recordings_left_in_progress(tmp_path: Path) -> None:
    """kill -9 mid-recording, then start: the WAV is valid and as long as what was captured,
    the recording completed with that duration, its MP3 made and then its callback sent; a
    recording with nothing captured is failed (absent, 16101) with its callback at once."""
    settings = config.load(overrides={"data_dir": str(tmp_path)}, env={})
    store = open_store(settings)
    project = ensure_project(store)
    sent: list[tuple[str, str, str]] = []
    rows = StoreRecordings(
        store, recording_callbacks=lambda rec, call, event: sent.append((rec.sid, event, rec.status))
    )
    try:
        call = store.write_sync(
            lambda: insert_call(
                account_sid=project.sid,
                to_number="+15005550006",
                from_number="+15005550100",
                status="completed",
                direction="outbound-api",
            )
        )
        wav = tmp_path / "live.wav"
        _broken_wav(wav, tone_pcm(440, 2600))

        def live(path: str | None) -> RecordingRecord:
            return store.write_sync(
                lambda: insert_recording(
                    account_sid=project.sid,
                    call_sid=call.sid,
                    status="in-progress",
                    source="OutboundAPI",
                    wav_path=path,
                    status_callback="http://h/rec",
                    status_callback_events="completed",
                )
            )

        kept, lost, never = live(str(wav)), live(str(tmp_path / "gone.wav")), live(None)
        assert await recover_recordings(rows) == 3
        with wave.open(str(wav)) as w:
            assert w.getnframes() == 2600 * 8
        done = store.read_sync(get_recording, kept.sid)
        assert done is not None
        assert (done.status, done.duration_s, done.media_state) == ("completed", 3, "pending")
        for sid in (lost.sid, never.sid):
            failed = store.read_sync(get_recording, sid)
            assert failed is not None
            assert (failed.status, failed.error_code, failed.duration_s) == ("absent", 16101, 0)
        assert sorted(sent) == sorted([(lost.sid, "completed", "failed"), (never.sid, "completed", "failed")])
        async with RecordingMedia(rows, poll_s=0.05):
            for _ in range(200):
                if len(sent) == 3:
                    break
                await asyncio.sleep(0.05)
        assert sent[-1] == (kept.sid, "completed", "completed")
        done = store.read_sync(get_recording, kept.sid)
        assert done is not None
        assert (
            done.media_state == "ready"
            and done.mp3_path
            and Path(done.mp3_path).read_bytes()[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")
        )
        assert await recover_recordings(rows) == 0
    finally:
        store.close()
