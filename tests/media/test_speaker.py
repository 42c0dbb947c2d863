"""The speaker detector (media/speaker.py): speech starts on 120 ms of voice within 200 ms (clicks
and noise do not start it), stops after 700 ms of silence in a row (the pauses between words do
not stop it), and the answer does not depend on how the verdicts were batched. Then for real:
webrtcvad's verdicts on an espeak-ng sentence in telephone audio make one start and one stop."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from wirexa.media.amd import FRAME_BYTES
from wirexa.media.amd_vad import Vad
from wirexa.media.speaker import START_MS, STOP_MS, SpeakerDetector


def run(pattern: str, **kw: int) -> list[tuple[int, bool]]:
    """(frame index, transition) for a pattern of verdicts ("1" voiced, "0" not; spaces ignored)."""
    det = SpeakerDetector(**kw)
    marks = []
    for i, flag in enumerate(pattern.replace(" ", "")):
        changed = det.feed(flag == "1")
        if changed is not None:
            marks.append((i, changed))
    return marks


def test_the_thresholds_are_what_the_docstring_argues() -> None:
    assert (START_MS, STOP_MS) == (120, 700)


def test_start_needs_120_ms_of_voice_within_200_ms() -> None:
    assert run("0" * 20 + "11111" + "0" * 40) == []  # 100 ms: a click, a cough
    assert run("0" * 20 + "111111") == [(25, True)]  # the sixth voiced frame in a row starts it
    assert run("1101101101") == [(7, True)]  # broken onsets count: six of the last ten frames (index 7)
    assert run("1001001001" * 30) == []  # steady noise webrtcvad calls speech now and then: never
    assert run("11111" + "00000" + "1" + "0" * 10) == []  # five, then one 120 ms later: out of the window


def test_the_hangover_bridges_the_pauses_between_words() -> None:
    word, gap = "1" * 15, "0" * 25  # 300 ms words, 500 ms pauses
    assert run(word + gap + word + gap + word + "0" * 34) == [(5, True)]  # 680 ms after the last word: still on
    stop_at = 3 * 15 + 2 * 25 + 34
    assert run(word + gap + word + gap + word + "0" * 35) == [(5, True), (stop_at, False)]
    assert run("1" * 10 + "0" * 34 + "1" + "0" * 35) == [(5, True), (10 + 34 + 35, False)]  # one voiced frame resets it


def test_after_a_stop_speech_starts_afresh() -> None:
    # the frames before the stop do not count towards the next start
    marks = run("1" * 10 + "0" * 35 + "11111" + "0" * 5 + "1" * 6)
    assert marks == [(5, True), (44, False), (60, True)]


def test_batches_of_any_size_make_the_same_transitions() -> None:
    pattern = [c == "1" for c in ("1" * 12 + "0" * 20 + "1" * 3 + "0" * 40 + "101" * 8 + "1" * 9 + "0" * 50) * 3]
    one = SpeakerDetector().feed_all(pattern)
    det = SpeakerDetector()
    batched = [t for i in range(0, len(pattern), 5) for t in det.feed_all(pattern[i : i + 5])]
    assert batched == one and one == [True, False] * 6


def test_other_thresholds_and_bad_ones() -> None:
    assert run("1111", start_ms=60, window_ms=60, stop_ms=40) == [(2, True)]
    assert run("111" + "00", start_ms=60, window_ms=60, stop_ms=40) == [(2, True), (4, False)]
    for bad in ({"start_ms": 0}, {"start_ms": 300, "window_ms": 200}, {"stop_ms": 10}):
        with pytest.raises(ValueError):
            SpeakerDetector(**bad)


def _telephone_speech(tmp_path: Path, text: str) -> bytes:
    """espeak-ng saying `text`, as 8 kHz s16le mono (ffmpeg converts its 22.05 kHz WAV)."""
    wav = tmp_path / "said.wav"
    subprocess.run([shutil.which("espeak-ng") or "espeak-ng", "-w", str(wav), text], check=True)
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(wav), "-ar", "8000", "-ac", "1", "-f", "s16le", "-"],
        check=True,
        capture_output=True,
    )
    return out.stdout


def test_webrtcvad_on_a_spoken_sentence_gives_one_start_and_one_stop(tmp_path: Path) -> None:
    speech = _telephone_speech(tmp_path, "I would like to talk to sales please, and then to the billing team")
    pcm = bytes(8000) + speech + bytes(16000)  # 0.5 s of silence before, 1 s after
    vad, det = Vad(), SpeakerDetector()
    frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]
    verdicts = [vad.is_speech(f) for f in frames]
    assert verdicts.count(False) - 75 > 5  # the sentence has unvoiced gaps of its own: what the hangover bridges
    marks = [(i, t) for i, v in enumerate(verdicts) if (t := det.feed(v)) is not None]
    assert [t for _, t in marks] == [True, False]
    (start, _), (stop, _) = marks
    speech_frames = len(speech) // FRAME_BYTES
    assert 25 <= start <= 25 + 15  # within 300 ms of the first word
    assert stop * 20 - (25 + speech_frames) * 20 <= STOP_MS  # at most the hangover after the sentence ends
