"""The caller's side of answering-machine detection: webrtcvad on each 20 ms frame, fed with the
frame to the pure classifier in wirexa.media.amd (which may not import webrtcvad itself)."""

from __future__ import annotations

import webrtcvad

from wirexa.media.amd import (
    FRAME_BYTES,
    SAMPLE_RATE,
    AmdClassifier,
    AmdDecision,
    AmdParams,
)

DEFAULT_VAD_MODE = 3  # most aggressive: rejects steady line noise and background babble best (bench/amd_bench.py)


class Vad:
    """webrtcvad for 8 kHz 16-bit mono frames of 10, 20 or 30 ms. One per call: it adapts to that
    call's noise. Not thread-safe."""

    __slots__ = ("_vad",)

    def __init__(self, mode: int = DEFAULT_VAD_MODE) -> None:
        if mode not in (0, 1, 2, 3):
            raise ValueError(f"VAD mode must be 0..3, not {mode!r}")
        self._vad = webrtcvad.Vad(mode)

    def is_speech(self, frame: bytes) -> bool:
        return bool(self._vad.is_speech(frame, SAMPLE_RATE))


class AmdTap:
    """VAD + classifier for one call, the object a worker's frame callback holds: `feed(frame)`
    per received 20 ms frame returns the AmdDecision once, else None. Frames of another size
    (a short last frame) are zero-padded or cut to 320 bytes. `feed_block(pcm)` takes several
    frames at once (the worker's tap receives 100 ms blocks: one callback instead of five)."""

    __slots__ = ("classifier", "vad")

    def __init__(self, params: AmdParams | None = None, vad_mode: int = DEFAULT_VAD_MODE) -> None:
        self.vad = Vad(vad_mode)
        self.classifier = AmdClassifier(params)

    def feed(self, frame: bytes) -> AmdDecision | None:
        if len(frame) != FRAME_BYTES:
            frame = frame[:FRAME_BYTES].ljust(FRAME_BYTES, b"\0")
        return self.classifier.feed(frame, self.vad.is_speech(frame))

    def feed_block(self, pcm: bytes) -> AmdDecision | None:
        """Feed 20 ms frames from a block of them (the last one padded if short), in order;
        the decision as soon as one is made (the block's remaining frames are not fed)."""
        for start in range(0, len(pcm), FRAME_BYTES):
            decision = self.feed(pcm[start : start + FRAME_BYTES])
            if decision is not None:
                return decision
        return None

    @property
    def decision(self) -> AmdDecision | None:
        return self.classifier.decision
