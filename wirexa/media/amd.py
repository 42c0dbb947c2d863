"""PURE: streaming answering-machine detection (Twilio's AnsweredBy) over 20 ms frames of the far end's audio.

Theory of operation
-------------------
The worker that owns a call feeds every 20 ms frame the far end sends (320 bytes: 160 samples of
16-bit little-endian mono PCM at 8 kHz) to `AmdClassifier.feed(frame, is_speech)`, with webrtcvad's
verdict on the same frame computed by the caller (wirexa.media.amd_vad). Time is the frame count:
frame n covers [20n, 20n + 20) ms after answer, and a decision taken on it is stamped 20(n + 1) ms.
`feed` returns None until it decides, then one `AmdDecision`, then None forever (`decision` keeps it).

Per frame, two cheap features are taken on the PCM: the mean square of every second sample (the
level) and the zero-crossing count (from the sign bytes, at C speed). Together with the VAD they
give three kinds of frames:

- tone: level above -40 dBFS, 13..92 crossings (~325..2300 Hz), crossings and level steady
  against the previous frame, a sine-like crest factor (2 * mean square / peak^2 >= 0.6: a sine
  gives 1, speech much less) and, only for frames that pass all that, a Goertzel filter at the
  crossing-rate frequency holding >= 90% of the energy (a pure tone; rejects vowels and music).
  Tone frames are never speech.
- speech: the VAD says so, the level is above -55 dBFS, and the frame is past the VAD's first
  120 ms (webrtcvad flags its first frames while it learns the noise).
- silence: everything else (noise, music the VAD rejects, gaps).

Speech frames make utterances: an utterance starts with 3 speech frames in a row (60 ms) and lasts
until `speech_end_threshold_ms` of non-speech. Its length ("speech activity") is the time the VAD
heard speech in it, plus single non-speech frames between two speech frames (webrtcvad drops one
inside a word, more often in noise: 20 ms is no pause). Longer pauses join phrases into one
utterance but do not count. (Counting them, from first to last speech frame, decides machines
~0.3 s sooner but turns a receptionist's 2.5-3 s "Acme Dental, this is Jane, how can I help you?"
into a machine; so does bridging pauses of 2 frames or more, on bench/amd_corpus.py.)

Decision rules, first match wins, evaluated on every frame until decided:

1. fax: a tone of 2050..2150 Hz (CED, an answering fax) lasting 1 s; or, before any speech, a
   tone of 1050..1150 Hz lasting 400..700 ms that has ended (CNG, a calling fax).
2. beep: a tone of 350..2000 Hz in 5 whole frames in a row (the first is the reference for the
   steadiness test, 4 more make the run): 100 ms when the tone is aligned with the frames, and any
   tone of 120 ms or more however aligned, is a voicemail beep, so a machine. In Enable
   mode `machine_start` is reported as soon as the run is long enough; in DetectMessageEnd
   mode `machine_end_beep` is reported on the first frame after the tone ends.
3. machine: the current utterance holds `speech_threshold_ms` of speech.
4. human: the utterance ended: `speech_end_threshold_ms` of silence after it; or, quicker, a short
   utterance (at most half the speech threshold, e.g. "Hello?") followed by two thirds of the end
   threshold of silence (800 ms at the defaults, Asterisk AMD's after-greeting silence). No human
   decision while a tone is in progress (a beep may be starting).
5. unknown: no speech at all by `silence_timeout_ms` (Twilio's initial-silence rule), or nothing
   decided by `timeout_ms`.

In DetectMessageEnd mode a machine found by rule 3 is not reported yet: the classifier waits for
the greeting's end: a beep (rule 2's `machine_end_beep`), one and a half times
`speech_end_threshold_ms` of silence after the last speech and no tone in progress
(`machine_end_silence`: 1800 ms at the defaults; the half is a grace for a beep that comes late,
~1-1.7 s after the last word, which a dialer must not talk over), or the timeout
(`machine_end_other`). `machine_detected_ms` tells when the machine itself was recognised.

What bounds the decision times: a human is decided no sooner than the end of the first utterance
plus the quick rule's silence (800 ms; any shorter and a greeting that starts "Hello." and pauses
~0.7 s reads as a person), so the median after answer cannot beat the callers' median first-word
end plus that; a machine no sooner than its speech start plus `speech_threshold_ms` of speech
(pauses excluded, see above). Both are Twilio's trade-offs, set by its parameters.
The quick rule's silence against accuracy, on bench/amd_corpus.py offline, the worst of four
frame alignments (2026-12-03): 600 ms: 0.958, human median 2.22 s; 800 ms (this module): 0.972,
2.42 s; 1000 ms: 0.972, 2.62 s; none (Twilio's rule alone, 1200 ms): 0.986, 2.84 s. The files
it gets wrong are phrases followed by a pause of about that silence ("Hi!" ... "This is Priya").

Cost: a few microseconds of Python per frame (bench/amd_bench.py measures it with the VAD).
"""

from __future__ import annotations

import array
import math
import sys
from dataclasses import dataclass
from enum import StrEnum
from operator import mul

FRAME_MS = 20
SAMPLE_RATE = 8000
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2  # 320

# Twilio's ranges and defaults (ms unless named _s): the one home of the MachineDetection*
# defaults, which the API, the call records and the worker protocol take from here.
TIMEOUT_S_RANGE = (3, 59)
SPEECH_THRESHOLD_MS_RANGE = (1000, 6000)
SPEECH_END_THRESHOLD_MS_RANGE = (500, 5000)
SILENCE_TIMEOUT_MS_RANGE = (2000, 10000)
DEFAULT_TIMEOUT_S = 30
DEFAULT_SPEECH_THRESHOLD_MS = 2400
DEFAULT_SPEECH_END_THRESHOLD_MS = 1200
DEFAULT_SILENCE_TIMEOUT_MS = 5000

_FULL = 32768.0


def _mean_square(dbfs: float) -> int:
    """Mean square of 16-bit samples for a level in dBFS (a full-scale sine is -3 dBFS)."""
    return int((_FULL * 10 ** (dbfs / 20)) ** 2)


VAD_WARMUP_FRAMES = 6  # webrtcvad calls its first ~80-120 ms speech while it learns the noise floor
ONSET_FRAMES = 3  # speech frames in a row that start an utterance
QUICK_HUMAN_SPEECH_RATIO = 0.5  # "short" utterance: at most this share of the speech threshold
QUICK_HUMAN_SILENCE_RATIO = 0.67  # ...then human after this share of the end threshold (800 ms by default)
BRIDGE_FRAMES = 1  # non-speech frames between two speech frames that still count as speech (VAD dropouts)
BEEP_WAIT_RATIO = 0.5  # DetectMessageEnd: after the end threshold of silence, wait this share of it more for a beep
SPEECH_MIN_MS2 = _mean_square(-55)
TONE_MIN_MS2 = _mean_square(-40)
TONE_ZC_RANGE = (13, 92)  # crossings per 20 ms frame = frequency / 25 Hz
TONE_ZC_JITTER = 2
TONE_CREST_MIN = 0.6
TONE_PURITY_MIN = 0.9  # share of the frame's energy at the crossing-rate frequency (a sine gives ~1)
BEEP_ZC_RANGE = (14, 80)  # 350..2000 Hz
BEEP_MIN_FRAMES = 4  # a 120 ms beep covers >= 5 whole frames; the first is only the reference for the steadiness test
CNG_ZC_RANGE = (42, 46)  # 1050..1150 Hz
CNG_FRAMES_RANGE = (20, 35)  # 400..700 ms
CED_ZC_RANGE = (82, 86)  # 2050..2150 Hz
CED_MIN_FRAMES = 50  # 1 s

_SIGN = bytes(0 if i < 128 else 1 for i in range(256))
_SWAP = sys.byteorder != "little"


def _tonality(s: array.array[int], sign: bytes, zc: int, ms2: int) -> float:
    """Share of the energy of `s` (every second sample of the frame: 4 kHz) at the frequency the
    zero crossings give, by a Goertzel filter. The frequency comes from the span between the first
    and last crossing (in `sign`, one byte per 8 kHz sample), precise to ~1%."""
    first = min(i for i in (sign.find(b"\x00\x01"), sign.find(b"\x01\x00"), len(sign)) if i >= 0)
    last = max(sign.rfind(b"\x00\x01"), sign.rfind(b"\x01\x00"))
    if last <= first or ms2 <= 0:
        return 0.0
    freq = (zc - 1) * SAMPLE_RATE / (2 * (last - first))
    half = SAMPLE_RATE / 2
    if freq > half / 2:
        freq = half - freq  # folded by taking every second sample
    coeff = 2 * math.cos(2 * math.pi * freq / half)
    s1 = s2 = 0.0
    for x in s:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    n = len(s)
    return 2 * power / (n * n * ms2)


class AnsweredBy(StrEnum):
    HUMAN = "human"
    MACHINE_START = "machine_start"
    MACHINE_END_BEEP = "machine_end_beep"
    MACHINE_END_SILENCE = "machine_end_silence"
    MACHINE_END_OTHER = "machine_end_other"
    FAX = "fax"
    UNKNOWN = "unknown"


class AmdMode(StrEnum):
    ENABLE = "Enable"
    DETECT_MESSAGE_END = "DetectMessageEnd"


@dataclass(frozen=True, slots=True)
class AmdParams:
    mode: AmdMode = AmdMode.ENABLE
    timeout_ms: int = DEFAULT_TIMEOUT_S * 1000
    speech_threshold_ms: int = DEFAULT_SPEECH_THRESHOLD_MS
    speech_end_threshold_ms: int = DEFAULT_SPEECH_END_THRESHOLD_MS
    silence_timeout_ms: int = DEFAULT_SILENCE_TIMEOUT_MS

    @classmethod
    def from_twilio(
        cls,
        machine_detection: str,
        timeout_s: int | str | None = None,
        speech_threshold_ms: int | str | None = None,
        speech_end_threshold_ms: int | str | None = None,
        silence_timeout_ms: int | str | None = None,
    ) -> AmdParams:
        """Parameters from the Calls API's MachineDetection* values (None = Twilio's default).
        Raises ValueError naming the parameter when a value is not an integer or is out of Twilio's range."""
        modes = {m.value.lower(): m for m in AmdMode}
        mode = modes.get(str(machine_detection).strip().lower())
        if mode is None:
            raise ValueError(f"MachineDetection must be Enable or DetectMessageEnd, got {machine_detection!r}")
        d = cls()
        return cls(
            mode=mode,
            timeout_ms=1000 * _ranged("MachineDetectionTimeout", timeout_s, d.timeout_ms // 1000, TIMEOUT_S_RANGE),
            speech_threshold_ms=_ranged(
                "MachineDetectionSpeechThreshold", speech_threshold_ms, d.speech_threshold_ms, SPEECH_THRESHOLD_MS_RANGE
            ),
            speech_end_threshold_ms=_ranged(
                "MachineDetectionSpeechEndThreshold",
                speech_end_threshold_ms,
                d.speech_end_threshold_ms,
                SPEECH_END_THRESHOLD_MS_RANGE,
            ),
            silence_timeout_ms=_ranged(
                "MachineDetectionSilenceTimeout", silence_timeout_ms, d.silence_timeout_ms, SILENCE_TIMEOUT_MS_RANGE
            ),
        )


def _ranged(name: str, value: int | str | None, default: int, bounds: tuple[int, int]) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    lo, hi = bounds
    if not lo <= n <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {n}")
    return n


@dataclass(frozen=True, slots=True)
class AmdDecision:
    answered_by: AnsweredBy
    confidence: float  # 0..1
    detection_ms: int  # from answer (the first frame fed) to the frame that decided
    reason: str  # which rule decided, for logs and tests


class AmdClassifier:
    """One call's detector. Not thread-safe: the worker feeds it from its frame callback only."""

    __slots__ = (
        "_dme",
        "_end_frames",
        "_end_silence_frames",
        "_heard_speech",
        "_last_speech",
        "_n",
        "_prev_ms2",
        "_prev_zc",
        "_quick_gap_frames",
        "_quick_len_frames",
        "_silence_frames",
        "_speech_run",
        "_thr_frames",
        "_timeout_frames",
        "_tone_run",
        "_tone_zc_sum",
        "_utt_start",
        "_voiced",
        "decision",
        "machine_detected_ms",
        "params",
    )

    def __init__(self, params: AmdParams | None = None) -> None:
        p = params or AmdParams()
        self.params = p
        self.decision: AmdDecision | None = None
        self.machine_detected_ms: int | None = None
        self._n = 0
        self._speech_run = 0
        self._utt_start = -1  # first frame of the current utterance, -1 = none
        self._last_speech = -1
        self._heard_speech = False
        self._prev_zc = -100
        self._prev_ms2 = 0
        self._tone_run = 0
        self._tone_zc_sum = 0
        self._thr_frames = p.speech_threshold_ms // FRAME_MS
        self._end_frames = p.speech_end_threshold_ms // FRAME_MS
        self._end_silence_frames = int(self._end_frames * (1 + BEEP_WAIT_RATIO))
        self._quick_len_frames = int(self._thr_frames * QUICK_HUMAN_SPEECH_RATIO)
        self._quick_gap_frames = int(self._end_frames * QUICK_HUMAN_SILENCE_RATIO)
        self._silence_frames = p.silence_timeout_ms // FRAME_MS
        self._timeout_frames = p.timeout_ms // FRAME_MS
        self._voiced = 0
        self._dme = p.mode is AmdMode.DETECT_MESSAGE_END

    @property
    def elapsed_ms(self) -> int:
        return self._n * FRAME_MS

    def feed(self, frame: bytes, is_speech: bool) -> AmdDecision | None:
        """Take the next 20 ms frame (320 bytes; a short last frame is padded by the caller) and the
        VAD's verdict on it. Returns the decision on the frame that makes it, else None."""
        if self.decision is not None:
            return None
        n = self._n
        self._n = n + 1
        a = array.array("h", frame)
        if _SWAP:
            a.byteswap()
        s = a[::2]
        ms2 = sum(map(mul, s, s)) // (len(s) or 1)
        hb = frame[1::2].translate(_SIGN)
        zc = hb.count(b"\x00\x01") + hb.count(b"\x01\x00")

        # -- tones
        tone = False
        if (
            ms2 >= TONE_MIN_MS2
            and TONE_ZC_RANGE[0] <= zc <= TONE_ZC_RANGE[1]
            and abs(zc - self._prev_zc) <= TONE_ZC_JITTER
            and self._prev_ms2 <= 2 * ms2
            and ms2 <= 2 * self._prev_ms2
        ):
            peak = max(max(s), -min(s))
            tone = 2 * ms2 >= TONE_CREST_MIN * peak * peak and _tonality(s, hb, zc, ms2) >= TONE_PURITY_MIN
        self._prev_zc = zc
        self._prev_ms2 = ms2
        if tone:
            self._tone_run += 1
            self._tone_zc_sum += zc
            r = self._tone_run
            zc_mean = self._tone_zc_sum / r
            if r >= CED_MIN_FRAMES and CED_ZC_RANGE[0] <= zc_mean <= CED_ZC_RANGE[1]:
                return self._decide(AnsweredBy.FAX, 0.9, "ced tone")
            if (
                r == BEEP_MIN_FRAMES
                and BEEP_ZC_RANGE[0] <= zc_mean <= BEEP_ZC_RANGE[1]
                and self.machine_detected_ms is None
            ):
                self.machine_detected_ms = (n + 1) * FRAME_MS
                fax_like = not self._heard_speech and CNG_ZC_RANGE[0] <= zc_mean <= CNG_ZC_RANGE[1]
                if not self._dme and not fax_like:
                    return self._decide(AnsweredBy.MACHINE_START, 0.95, "beep")
        elif self._tone_run:
            r = self._tone_run
            zc_mean = self._tone_zc_sum / r
            self._tone_run = 0
            self._tone_zc_sum = 0
            if (
                not self._heard_speech
                and CNG_ZC_RANGE[0] <= zc_mean <= CNG_ZC_RANGE[1]
                and CNG_FRAMES_RANGE[0] <= r <= CNG_FRAMES_RANGE[1]
            ):
                return self._decide(AnsweredBy.FAX, 0.8, "cng tone")
            if r >= BEEP_MIN_FRAMES and BEEP_ZC_RANGE[0] <= zc_mean <= BEEP_ZC_RANGE[1]:
                if self._dme:
                    return self._decide(AnsweredBy.MACHINE_END_BEEP, 0.95, "beep ended")
                return self._decide(AnsweredBy.MACHINE_START, 0.9, "beep")

        # -- speech and utterances
        if is_speech and not tone and n >= VAD_WARMUP_FRAMES and ms2 >= SPEECH_MIN_MS2:
            self._speech_run += 1
            if self._utt_start >= 0:
                pause = n - self._last_speech - 1
                self._voiced += 1 + pause if pause <= BRIDGE_FRAMES else 1
                self._last_speech = n
            elif self._speech_run >= ONSET_FRAMES:
                self._voiced = ONSET_FRAMES
                self._utt_start = n - ONSET_FRAMES + 1
                self._last_speech = n
                self._heard_speech = True
        else:
            self._speech_run = 0

        in_tone = self._tone_run > 1
        if self.machine_detected_ms is not None:
            # DetectMessageEnd, waiting for the greeting to end (Enable mode has returned already).
            if self._heard_speech and n - self._last_speech >= self._end_silence_frames and not in_tone:
                return self._decide(AnsweredBy.MACHINE_END_SILENCE, 0.8, "silence after greeting")
        elif self._utt_start >= 0:
            length = self._last_speech - self._utt_start + 1
            gap = n - self._last_speech
            if self._voiced >= self._thr_frames:
                self.machine_detected_ms = (n + 1) * FRAME_MS
                if not self._dme:
                    return self._decide(AnsweredBy.MACHINE_START, 0.85, "long speech")
            elif not in_tone:
                if gap >= self._end_frames:
                    return self._decide(AnsweredBy.HUMAN, 0.85, "speech then silence")
                if gap >= self._quick_gap_frames and length <= self._quick_len_frames:
                    return self._decide(AnsweredBy.HUMAN, 0.75, "short speech then silence")
            elif gap >= self._end_frames:
                self._utt_start = -1  # over, undecided because a tone was playing; a new one may start
        elif not self._heard_speech and self._n >= self._silence_frames and not in_tone:
            return self._decide(AnsweredBy.UNKNOWN, 0.5, "initial silence")

        if self._n >= self._timeout_frames:
            if self.machine_detected_ms is not None:
                return self._decide(AnsweredBy.MACHINE_END_OTHER, 0.6, "timeout after greeting start")
            return self._decide(AnsweredBy.UNKNOWN, 0.3, "timeout")
        return None

    def _decide(self, answered_by: AnsweredBy, confidence: float, reason: str) -> AmdDecision:
        self.decision = AmdDecision(answered_by, confidence, self._n * FRAME_MS, reason)
        return self.decision
