"""PURE: where an utterance starts and ends in the caller's audio (endpointing for <Gather>).

Theory of operation. The caller's audio comes as 20 ms frames (8 kHz s16le mono, 320 bytes),
each with the voice-activity detector's verdict (webrtcvad, the same detector AMD uses; the
caller of `feed` runs it, so this module stays pure). The endpointer is in one of three states:
- waiting: the last PREROLL_MS of frames are kept. Speech starts when START_MS of voiced
  frames fall within the last START_WINDOW_MS (a cough or a click is shorter): the step says
  `started`, and its audio is the kept pre-roll (the first syllable's onset precedes the
  detector's certainty), so the recognizer hears the whole first word;
- speaking: every frame goes out as audio. The utterance ends after `end_silence_ms` of
  unvoiced frames in a row (speechTimeout in seconds, or AUTO_END_MS for speechTimeout="auto":
  the first pause), or when it has lasted `max_speech_ms` (maxSpeechTime): the step says
  `ended` with the reason;
- ended: nothing more comes out.
Times are counted in frames, so the result does not depend on how the audio was batched.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Literal

FRAME_MS = 20
FRAME_BYTES = 320  # 20 ms of 8 kHz 16-bit mono
START_MS = 120  # voiced audio within START_WINDOW_MS that counts as the caller speaking
START_WINDOW_MS = 200
PREROLL_MS = 400  # audio before the start that goes to the recognizer with it
AUTO_END_MS = 700  # speechTimeout="auto": the pause that ends the utterance

EndReason = Literal["silence", "max-speech"]


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """What one frame did: `audio` for the recognizer (b"" while waiting; the pre-roll on the
    start), `started` on the frame speech started, `ended` (with `reason`) on the last one."""

    audio: bytes = b""
    started: bool = False
    ended: bool = False
    reason: EndReason | None = None


WAITING = Step()


class Endpointer:
    """One utterance's start and end. `feed(frame, voiced)` per 20 ms frame; not thread-safe."""

    __slots__ = (
        "_end_frames",
        "_max_frames",
        "_preroll",
        "_silent",
        "_spoken",
        "_state",
        "_window",
    )

    def __init__(self, end_silence_ms: int = AUTO_END_MS, max_speech_ms: int = 60_000) -> None:
        if end_silence_ms < FRAME_MS or max_speech_ms < FRAME_MS:
            raise ValueError("end_silence_ms and max_speech_ms must be at least one frame")
        self._end_frames = end_silence_ms // FRAME_MS
        self._max_frames = max_speech_ms // FRAME_MS
        self._preroll: deque[bytes] = deque(maxlen=PREROLL_MS // FRAME_MS)
        self._window: deque[bool] = deque(maxlen=START_WINDOW_MS // FRAME_MS)
        self._state: Literal["waiting", "speaking", "ended"] = "waiting"
        self._silent = 0  # unvoiced frames in a row, while speaking
        self._spoken = 0  # frames since the start

    @property
    def state(self) -> str:
        return self._state

    def feed(self, frame: bytes, voiced: bool) -> Step:
        if self._state == "ended":
            return WAITING
        if self._state == "waiting":
            self._preroll.append(frame)
            self._window.append(voiced)
            if sum(self._window) * FRAME_MS < START_MS:
                return WAITING
            self._state = "speaking"
            self._spoken = len(self._preroll)
            audio = b"".join(self._preroll)
            self._preroll.clear()
            return Step(audio, started=True)
        self._spoken += 1
        self._silent = 0 if voiced else self._silent + 1
        if self._silent >= self._end_frames:
            self._state = "ended"
            return Step(frame, ended=True, reason="silence")
        if self._spoken >= self._max_frames:
            self._state = "ended"
            return Step(frame, ended=True, reason="max-speech")
        return Step(frame)


def frames(pcm: bytes, carry: bytes = b"") -> tuple[list[bytes], bytes]:
    """Cut `carry + pcm` into whole 20 ms frames; the remainder is the next call's carry."""
    data = carry + pcm
    whole = len(data) - len(data) % FRAME_BYTES
    return [data[i : i + FRAME_BYTES] for i in range(0, whole, FRAME_BYTES)], data[whole:]
