"""PURE: when a conference participant starts and stops speaking (the `speaker` status callbacks).

Theory of operation. The participant's audio (the call's inbound track) comes as 20 ms frames,
each with the voice-activity detector's verdict (webrtcvad, as for AMD and <Gather> speech; the
worker's tap runs it, so this module stays pure and is fed verdicts only). The detector is
either quiet or speaking, and `feed` answers only the transitions:
- quiet -> speaking when START_MS of voiced frames fall within the last START_WINDOW_MS. A click,
  a cough or a burst of line noise that webrtcvad calls speech lasts a frame or three; a spoken
  syllable's vowel alone is longer than START_MS. The window (not a run of voiced frames in a
  row) lets the onset of a word with a quiet consonant count: its frames need not be unbroken.
  The start is reported START_MS after speech began at the soonest, which a "who is talking" UI
  does not notice.
- speaking -> quiet after STOP_MS of unvoiced frames in a row: the hangover. Between the words of a
  sentence people pause 100-500 ms, and webrtcvad's aggressive mode (3) also calls the stops and
  the soft ends of words unvoiced for tens of milliseconds; a stop in every such gap would make
  the callbacks flap stop/start several times a second. STOP_MS is the pause that <Gather
  speechTimeout="auto"> takes for the end of an utterance (media/stt/endpoint.py AUTO_END_MS), so
  the two agree on what a pause is; the stop then comes well under a second after the talker
  fell silent.
Times are counted in frames, so the outcome does not depend on how the audio was batched.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

FRAME_MS = 20
START_MS = 120  # voiced audio within START_WINDOW_MS that starts speech
START_WINDOW_MS = 200
STOP_MS = 700  # unvoiced audio in a row that ends it (the hangover)


class SpeakerDetector:
    """One participant's speaking state. `feed(voiced)` per 20 ms frame answers True when speech
    starts on that frame, False when it stops, None otherwise. Not thread-safe (one tap thread)."""

    __slots__ = ("_quiet", "_start_frames", "_stop_frames", "_window", "speaking")

    def __init__(self, start_ms: int = START_MS, window_ms: int = START_WINDOW_MS, stop_ms: int = STOP_MS) -> None:
        if not FRAME_MS <= start_ms <= window_ms or stop_ms < FRAME_MS:
            raise ValueError("need FRAME_MS <= start_ms <= window_ms and stop_ms >= FRAME_MS")
        self._start_frames = start_ms // FRAME_MS
        self._stop_frames = stop_ms // FRAME_MS
        self._window: deque[bool] = deque(maxlen=window_ms // FRAME_MS)
        self._quiet = 0  # unvoiced frames in a row, while speaking
        self.speaking = False

    def feed(self, voiced: bool) -> bool | None:
        if self.speaking:
            self._quiet = 0 if voiced else self._quiet + 1
            if self._quiet < self._stop_frames:
                return None
            self.speaking = False
            self._window.clear()
            return False
        self._window.append(voiced)
        if sum(self._window) < self._start_frames:
            return None
        self.speaking = True
        self._quiet = 0
        return True

    def feed_all(self, verdicts: Iterable[bool]) -> list[bool]:
        """Feed frames in order; the transitions they made, in order (at most one per frame)."""
        out: list[bool] = []
        for voiced in verdicts:
            changed = self.feed(voiced)
            if changed is not None:
                out.append(changed)
        return out
